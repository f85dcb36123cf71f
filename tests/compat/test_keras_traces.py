"""Inside `skip_keras_traces()` a SavedModel holding a Keras model carries its variables and signatures, not Keras's
per-layer functions."""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
from helpers.saved_weights import loaded_model_weights
from tensorflow.core.protobuf import saved_model_pb2

from compat.keras_traces import skip_keras_traces


def _module() -> tf.Module:
    inputs = tf.keras.Input((3,))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(1)(tf.keras.layers.Dense(4, activation="relu")(inputs)))
    module = tf.Module()
    module.model = model
    module.serve = tf.function(lambda x: model(x), input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    return module


def _saved(path: str) -> tuple[int, set[str]]:
    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    graph = saved.meta_graphs[0].object_graph_def
    children = {c.local_name for node in graph.nodes for c in node.children}
    return len(saved.meta_graphs[0].graph_def.library.function), children


def test_the_export_keeps_variables_and_signatures_and_drops_layer_functions(tmp_path):
    module = _module()
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    with_traces, without = str(tmp_path / "with"), str(tmp_path / "without")
    tf.saved_model.save(module, with_traces, signatures={"serving_default": module.serve.get_concrete_function()})
    with skip_keras_traces() as on:
        tf.saved_model.save(module, without, signatures={"serving_default": module.serve.get_concrete_function()})
    assert on
    functions_with, children_with = _saved(with_traces)
    functions_without, children_without = _saved(without)
    assert "keras_api" in children_with and "keras_api" not in children_without
    assert functions_without < functions_with
    restored = tf.saved_model.load(without)
    np.testing.assert_array_equal(restored.signatures["serving_default"](tf.constant(x))["output_0"], module.serve(x))
    assert len(loaded_model_weights(restored.model)) == len(module.model.variables)


def test_keras_saves_its_traces_again_after_the_scope():
    from tf_keras.src.saving.legacy.saved_model.utils import should_save_traces

    with skip_keras_traces():
        assert not should_save_traces()
    assert should_save_traces()
