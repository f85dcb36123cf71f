"""A tiny SavedModel with the serving contract (serialized tf.Examples in, click and score out) and the artifacts
the pusher tests hand to RankerPusher: shared by the pusher, blessing, object-store, signature and manifest tests."""

from __future__ import annotations

import os
from pathlib import Path

import tensorflow as tf
from tfx.types import standard_artifacts


class TinyRanker(tf.Module):
    """The serving contract only: serialized tf.Examples in, a click probability and a score out."""

    def __init__(self, w: float = 0.3):
        super().__init__()
        self.w = tf.Variable(w)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def serve(self, examples):
        spec = {"position": tf.io.FixedLenFeature([], tf.int64, default_value=0)}
        x = tf.cast(tf.io.parse_example(examples, spec)["position"], tf.float32)
        click = tf.sigmoid(self.w * x)
        return {"click": click, "score": 2.0 * click}


def save_tiny_ranker(path: str, w: float = 0.3) -> str:
    module = TinyRanker(w)
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    return path


def model_artifact(saved_model_dir: str) -> standard_artifacts.Model:
    model = standard_artifacts.Model()
    model.uri = os.path.dirname(saved_model_dir)
    return model


def evaluator_blessing(root: Path, blessed: bool) -> standard_artifacts.ModelBlessing:
    """As TFX's Evaluator writes it: BLESSED / NOT_BLESSED file and the `blessed` property."""
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(root / "eval_blessing")
    os.makedirs(blessing.uri)
    Path(blessing.uri, "BLESSED" if blessed else "NOT_BLESSED").touch()
    blessing.set_int_custom_property("blessed", int(blessed))
    return blessing
