"""Serving signatures of the exported SavedModel.

`serving_default`: input `examples` (serialized tf.Example, DT_STRING, [None]) with the raw serving features
(no labels) -> one output per task plus `score`:
  binary tasks: probabilities σ(logit) ∈ (0, 1) (σ(a·logit + b) when the Trainer calibrated them);
  `watch_time`: predicted log1p(seconds);
  `survey_rating`: predicted rating (1..5 scale); `score` = Σ_k score_weights[k] · output_k.
`transform_features`: serialized tf.Example with labels -> the transformed features (used by TFMA to read
the transformed labels, e.g. log1p watch time).
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from compat.keras_traces import skip_keras_traces
from config.settings import BINARY_TASKS, TASKS, ModelConfig
from models import features as F
from models.calibration import Platt


class ServingModule(tf.Module):
    """Holds the trained model and the Transform graph so both are tracked by the SavedModel."""

    def __init__(
        self,
        model: tf.keras.Model,
        tf_transform_output: tft.TFTransformOutput,
        config: ModelConfig,
        calibration: dict[str, Platt] | None = None,
    ):
        super().__init__()
        self.model = model
        # Constants of the serving graph, not variables: a warm start copies the Keras model's variables only.
        self._platt = {t: (p.slope, p.intercept) for t, p in (calibration or {}).items() if not p.identity}
        self.tft_layer = tf_transform_output.transform_features_layer()
        self._score_weights = {t: float(config.score_weights.get(t, 0.0)) for t in TASKS}
        features = F.feature_set_from_spec(tf_transform_output.raw_feature_spec())  # the world's inputs
        self._serving_spec = features.raw_feature_spec(include_labels=False)
        self._full_spec = features.raw_feature_spec(include_labels=True)

    def predict_transformed(self, transformed: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        inputs = {k: transformed[k] for k in self.model.input}
        raw = self.model(inputs, training=False)
        out: dict[str, tf.Tensor] = {}
        for task in TASKS:
            value = tf.reshape(raw[task], [-1])
            if task in self._platt:
                slope, intercept = self._platt[task]
                value = slope * value + intercept
            out[task] = tf.sigmoid(value) if task in BINARY_TASKS else value
        out["score"] = tf.add_n([self._score_weights[t] * out[t] for t in TASKS])
        return out

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
        parsed = tf.io.parse_example(examples, self._serving_spec)
        return self.predict_transformed(self.tft_layer(parsed))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
        parsed = tf.io.parse_example(examples, self._full_spec)
        return self.tft_layer(parsed)


def export_serving_model(
    model: tf.keras.Model,
    tf_transform_output: tft.TFTransformOutput,
    config: ModelConfig,
    export_dir: str,
    calibration: dict[str, Platt] | None = None,
) -> None:
    """Writes the SavedModel with `serving_default` and `transform_features` signatures (binary outputs Platt-scaled
    by `calibration`, models/calibration.py)."""
    module = ServingModule(model, tf_transform_output, config, calibration)
    signatures = {
        "serving_default": module.serve.get_concrete_function(),
        "transform_features": module.transform_features.get_concrete_function(),
    }
    with skip_keras_traces():  # two signatures and the variables, without Keras's per-layer functions
        tf.saved_model.save(module, export_dir, signatures=signatures)
