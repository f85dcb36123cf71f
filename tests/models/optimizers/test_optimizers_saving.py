"""A model compiled with ClippyAdagrad saves and reloads (Keras and SavedModel formats, checkpoints)."""

import numpy as np
import pytest
import tensorflow as tf

from models.optimizers import ClippyAdagrad

CONFIG = {
    "learning_rate": 0.3,
    "variable_relative_threshold": 0.4,
    "absolute_threshold": 1e-3,
    "use_standard_accumulator_update": False,
    "clip_accumulator_update": True,
    "export_clipping_factors": True,
}


def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(32, 4)).astype(np.float32), rng.normal(size=(32, 1)).astype(np.float32)


def trained_model():
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential(
        [tf.keras.Input((4,)), tf.keras.layers.Dense(8, activation="relu"), tf.keras.layers.Dense(1)]
    )
    model.compile(optimizer=ClippyAdagrad(**CONFIG), loss="mse")
    features, labels = data()
    model.fit(features, labels, batch_size=16, epochs=1, verbose=0)
    return model


def assert_same_optimizer_state(original, restored):
    assert type(restored) is ClippyAdagrad
    assert restored.get_config() == original.get_config()
    assert int(restored.iterations.numpy()) == int(original.iterations.numpy()) == 2
    for mine, theirs in zip(original._accumulators, restored._accumulators):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())


def test_keras_format_restores_config_and_state_and_training_continues(tmp_path):
    model = trained_model()
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = tf.keras.models.load_model(path)
    assert_same_optimizer_state(model.optimizer, restored.optimizer)
    features, labels = data()
    model.train_on_batch(features[:16], labels[:16])
    restored.train_on_batch(features[:16], labels[:16])
    for mine, theirs in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-7)


def test_savedmodel_format_reloads_a_compiled_model(tmp_path):
    # tf-keras rebuilds the optimizer from its config for SavedModel directories (state is not restored for any
    # Keras 2 optimizer there; use the .keras format or a checkpoint for that). The same directory also loads as a
    # plain SavedModel, the serving path.
    model = trained_model()
    path = str(tmp_path / "savedmodel")
    model.save(path, save_format="tf")
    restored = tf.keras.models.load_model(path)
    assert type(restored.optimizer) is ClippyAdagrad
    assert restored.optimizer.get_config()["use_standard_accumulator_update"] is False
    assert restored.optimizer.get_config() == {**model.optimizer.get_config(), "name": restored.optimizer.name}
    features, labels = data()
    expected = model.predict(features, verbose=0)
    np.testing.assert_allclose(restored.predict(features, verbose=0), expected, rtol=1e-6)
    np.testing.assert_allclose(tf.saved_model.load(path)(features).numpy(), expected, rtol=1e-6)
    restored.fit(features, labels, batch_size=16, epochs=1, verbose=0)


def test_checkpoint_restores_the_optimizer_state(tmp_path):
    model = trained_model()
    prefix = tf.train.Checkpoint(model=model, optimizer=model.optimizer).save(str(tmp_path / "ckpt"))
    fresh = tf.keras.models.clone_model(model)
    optimizer = ClippyAdagrad(**CONFIG)
    optimizer.build(fresh.trainable_variables)
    tf.train.Checkpoint(model=fresh, optimizer=optimizer).restore(prefix).assert_existing_objects_matched()
    assert_same_optimizer_state(model.optimizer, optimizer)
    np.testing.assert_array_equal(
        [f.numpy() for f in optimizer.clipping_factors], [f.numpy() for f in model.optimizer.clipping_factors]
    )


@pytest.mark.parametrize("export", [False, True])
def test_telemetry_variables_stay_out_of_the_keras_variable_list(export):
    # Keras's .keras format pairs saved and loaded optimizer variables by position: telemetry must not shift them.
    optimizer = ClippyAdagrad(0.1, export_clipping_factors=export)
    optimizer.build([tf.Variable([1.0, 2.0])])
    names = [variable.name.split("/")[0].split(":")[0] for variable in optimizer.variables]
    assert names == ["iteration", "accumulator"] + (["clipping_factor"] if export else [])
