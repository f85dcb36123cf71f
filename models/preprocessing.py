"""TF Transform `preprocessing_fn` (referenced by dotted path from the Transform component).

Per feature kind (see models/features.py):
  ids / categoricals : index = vocabulary(top_k) lookup, OOV values hashed into `oov` extra buckets
  bucketed ints      : clip(x, 0, n - 1)
  log-dense          : z(log1p(max(x, 0)))   with z(v) = (v - mean) / std over the training split
  linear dense       : z(x)
  labels             : binary -> float; watch_time = log1p(seconds); survey_rating and has_survey as floats
"""

from __future__ import annotations

import os

import tensorflow as tf
import tensorflow_transform as tft

from models import features as F
from pipeline.config import BINARY_TASKS, PipelineConfig, TransformConfig

# Transform passes custom config through `custom_config`; the env var is a fallback for direct calls.
_CONFIG_ENV = "RANKER_TRANSFORM_CONFIG"


def _squeeze(x: tf.Tensor) -> tf.Tensor:
    if isinstance(x, tf.SparseTensor):
        default = "" if x.dtype == tf.string else tf.zeros([], x.dtype)
        x = tf.sparse.to_dense(tf.sparse.reset_shape(x, [tf.shape(x, out_type=tf.int64)[0], 1]), default)
    return tf.reshape(x, [-1])


def build_preprocessing_fn(config: TransformConfig):
    """Returns a preprocessing_fn closed over `config` (vocabulary sizes and OOV buckets)."""

    def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        out: dict[str, tf.Tensor] = {}
        for key in F.ID_FEATURES:
            out[F.transformed_name(key)] = tft.compute_and_apply_vocabulary(
                _squeeze(inputs[key]),
                top_k=config.id_vocab_size,
                num_oov_buckets=config.id_oov_buckets,
                vocab_filename=F.vocab_name(key),
            )
        for key in F.CATEGORICAL_FEATURES:
            out[F.transformed_name(key)] = tft.compute_and_apply_vocabulary(
                _squeeze(inputs[key]),
                num_oov_buckets=config.categorical_oov_buckets,
                vocab_filename=F.vocab_name(key),
            )
        for key, buckets in F.BUCKETED_INT_FEATURES.items():
            out[F.transformed_name(key)] = tf.clip_by_value(_squeeze(inputs[key]), 0, buckets - 1)
        for key in F.LOG_DENSE_FEATURES:
            value = tf.math.log1p(tf.maximum(tf.cast(_squeeze(inputs[key]), tf.float32), 0.0))
            out[F.transformed_name(key)] = tft.scale_to_z_score(value)
        for key in F.LINEAR_DENSE_FEATURES:
            out[F.transformed_name(key)] = tft.scale_to_z_score(tf.cast(_squeeze(inputs[key]), tf.float32))
        # Labels (absent at serving time: TFT prunes outputs whose inputs are missing).
        for task in BINARY_TASKS:
            out[F.label_key(task)] = tf.cast(_squeeze(inputs[task]), tf.float32)
        watch = tf.maximum(tf.cast(_squeeze(inputs["watch_time_s"]), tf.float32), 0.0)
        out[F.label_key("watch_time")] = tf.math.log1p(watch)
        out[F.label_key("survey_rating")] = tf.cast(_squeeze(inputs["survey_rating"]), tf.float32)
        out[F.transformed_name(F.SURVEY_MASK)] = tf.cast(_squeeze(inputs[F.SURVEY_MASK]), tf.float32)
        return out

    return preprocessing_fn


def preprocessing_fn(inputs: dict[str, tf.Tensor], custom_config: dict | None = None) -> dict[str, tf.Tensor]:
    """Entry point for `Transform(preprocessing_fn='models.preprocessing.preprocessing_fn')`.

    The pipeline passes `custom_config={'config_json': PipelineConfig.to_json()}`.
    """
    text = (custom_config or {}).get("config_json") or os.environ.get(_CONFIG_ENV)
    config = PipelineConfig.from_json(text).transform if text else TransformConfig()
    return build_preprocessing_fn(config)(inputs)


def config_from_custom(custom_config: dict | None) -> PipelineConfig:
    text = (custom_config or {}).get("config_json")
    return PipelineConfig.from_json(text) if text else PipelineConfig()


__all__ = ["preprocessing_fn", "build_preprocessing_fn", "config_from_custom"]
