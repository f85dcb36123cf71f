"""TF Transform `preprocessing_fn` (referenced by dotted path from the Transform component).

Per feature kind (see models/features.py):
  ids / categoricals : index = vocabulary(top_k) lookup, OOV values hashed into `oov` extra buckets
  bucketed ints      : clip(x, 0, n - 1)
  log-dense          : z(log1p(max(x, 0)))   with z(v) = (v - mean) / std over the training split
  linear dense       : z(x)
  rates in [0, 1]    : z(logit(clip(x, ε, 1 - ε)))                   (models/features.py says why)
  signed-log dense   : z(sign(x) log1p(|x|))          (the generated f_dense_* features)
  labels             : binary -> float; watch_time = log1p(seconds); survey_rating and has_survey as floats

The feature set is read off the inputs (`features.feature_set_from_spec`): Transform passes every feature of the
curated schema, so a world with more generated features gets them transformed without any code change. Optional
features (variable-length in the schema) arrive as SparseTensors: dense ones are z-scored over their present values
and missing values imputed with the mean (0 after z-scoring); categorical ones get "" for missing, a vocabulary
entry of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from config.settings import BINARY_TASKS, TransformConfig, section_from_json
from models import features as F

# The configuration sections Transform reads (its custom_config, and so its cache key, holds exactly these).
TRANSFORM_SECTIONS: tuple[str, ...] = ("transform",)


def _squeeze(x: tf.Tensor) -> tf.Tensor:
    if isinstance(x, tf.SparseTensor):
        default = "" if x.dtype == tf.string else tf.zeros([], x.dtype)
        x = tf.sparse.to_dense(tf.sparse.reset_shape(x, [tf.shape(x, out_type=tf.int64)[0], 1]), default)
    return tf.reshape(x, [-1])


def _z_scores(columns: dict[str, tuple[tf.Tensor | tf.SparseTensor, Callable]]) -> dict[str, tf.Tensor]:
    """z(fn(x)) of each {name: (x, fn)}: mean and variance per feature, over its present values.

    All required features are stacked into one [B, n] tensor and all optional (sparse) ones into one [B, m]
    SparseTensor, each z-scored by a single elementwise analyzer: the same statistics as one analyzer per feature,
    with two Beam combines however many features a world has. Missing values become 0, the mean.
    """
    dense = {k: fn(tf.cast(_squeeze(x), tf.float32)) for k, (x, fn) in columns.items() if not _is_sparse(x)}
    sparse = {k: (x, fn) for k, (x, fn) in columns.items() if _is_sparse(x)}
    out: dict[str, tf.Tensor] = {}
    if dense:
        z = tft.scale_to_z_score(tf.stack(list(dense.values()), axis=1), elementwise=True)
        out.update({k: z[:, i] for i, k in enumerate(dense)})
    if sparse:
        batch = tf.shape(next(iter(sparse.values()))[0], out_type=tf.int64)[0]
        parts = []
        for i, (x, fn) in enumerate(sparse.values()):
            values = fn(tf.cast(x.values, tf.float32))
            indices = tf.stack([x.indices[:, 0], tf.fill(tf.shape(x.indices[:, :1])[:1], tf.constant(i, tf.int64))], 1)
            parts.append((indices, values))
        stacked = tf.SparseTensor(
            tf.concat([p[0] for p in parts], 0), tf.concat([p[1] for p in parts], 0), tf.stack([batch, len(parts)])
        )
        stacked = tf.sparse.reorder(stacked)
        stacked.set_shape([None, len(parts)])
        z = tf.sparse.to_dense(tft.scale_to_z_score(stacked, elementwise=True), default_value=0.0)
        out.update({k: z[:, i] for i, k in enumerate(sparse)})
    return out


def _is_sparse(x: Any) -> bool:
    return isinstance(x, tf.SparseTensor)


def _log1p_nonnegative(v: tf.Tensor) -> tf.Tensor:
    return tf.math.log1p(tf.maximum(v, 0.0))


def _identity(v: tf.Tensor) -> tf.Tensor:
    return v


def _log_odds(v: tf.Tensor) -> tf.Tensor:
    p = tf.clip_by_value(v, F.RATE_EPSILON, 1.0 - F.RATE_EPSILON)
    return tf.math.log(p) - tf.math.log1p(-p)


def _signed_log1p(x: tf.Tensor) -> tf.Tensor:
    return tf.sign(x) * tf.math.log1p(tf.abs(x))


def build_preprocessing_fn(config: TransformConfig):
    """Returns a preprocessing_fn closed over `config` (vocabulary sizes and OOV buckets)."""

    def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        features = F.feature_set_from_spec(inputs)
        out: dict[str, tf.Tensor] = {}
        for key in F.ID_FEATURES:
            out[F.transformed_name(key)] = tft.compute_and_apply_vocabulary(
                _squeeze(inputs[key]),
                top_k=config.id_vocab_size,
                num_oov_buckets=config.id_oov_buckets,
                vocab_filename=F.vocab_name(key),
            )
        for key in features.categoricals:
            out[F.transformed_name(key)] = tft.compute_and_apply_vocabulary(
                _squeeze(inputs[key]),
                num_oov_buckets=config.categorical_oov_buckets,
                vocab_filename=F.vocab_name(key),
            )
        for key, buckets in features.bucketed_ints:
            out[F.transformed_name(key)] = tf.clip_by_value(_squeeze(inputs[key]), 0, buckets - 1)
        dense = {key: (inputs[key], _log1p_nonnegative) for key in features.log_dense}
        dense.update({key: (inputs[key], _identity) for key in features.linear_dense})
        dense.update({key: (inputs[key], _log_odds) for key in features.rates})
        dense.update({key: (inputs[key], _signed_log1p) for key in features.signed_log_dense})
        out.update({F.transformed_name(k): v for k, v in _z_scores(dense).items()})
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

    The pipeline passes the sections it reads, `custom_config=PipelineConfig.sections_json(TRANSFORM_SECTIONS)`.
    """
    text = (custom_config or {}).get("transform")
    config = section_from_json(TransformConfig, text, "transform") if text else TransformConfig()
    return build_preprocessing_fn(config)(inputs)


__all__ = ["TRANSFORM_SECTIONS", "preprocessing_fn", "build_preprocessing_fn"]
