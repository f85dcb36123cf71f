"""A served ranker's weights as TensorFlow's own loader restores them, independent of models/warm_start.py's reader.

The export saves no Keras layer functions (compat/keras_traces.py), so `tf.saved_model.load(...).model` is a plain
restored object without Keras's `variables` list: its variables are found by walking its checkpoint dependencies
with `tf.train.TrackableView`, those reachable through its optimizer left out.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def _variables(obj: object) -> list[tf.Variable]:
    return [v for v in tf.train.TrackableView(obj).descendants() if isinstance(v, tf.Variable)]


def loaded_model_weights(loaded_model: object) -> dict[str, np.ndarray]:
    """{variable name: value} of the restored Keras model `loaded_model` (`tf.saved_model.load(dir).model`), without
    its optimizer's variables."""
    optimizer = getattr(loaded_model, "optimizer", None)
    skip = {id(v) for v in _variables(optimizer)} if optimizer is not None else set()
    return {v.name: v.numpy() for v in _variables(loaded_model) if id(v) not in skip}
