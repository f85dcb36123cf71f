"""Telemetry: σ and the paper's ‖g‖₂, ‖g‖₂/‖w‖₂, ‖r/w‖_∞ per variable, sampled every N steps, via a callback."""

import glob

import numpy as np
import pytest
import tensorflow as tf

from models.optimizers import (
    STAT_FIELDS,
    ClippyAdagrad,
    OptimizerTelemetry,
    make_optimizer,
    split_optimizer,
)

WEIGHTS = np.array([[1.0, -2.0], [0.5, 0.0]])
GRADS = np.array([[0.3, -0.1], [2.0, 0.5]])


def test_statistics_match_their_definitions():
    optimizer = ClippyAdagrad(1.0, epsilon=0.0, export_clipping_factors=True)
    variable = tf.Variable(WEIGHTS, name="kernel")
    optimizer.build([variable])
    optimizer.enable_telemetry(1)
    optimizer.apply_gradients([(tf.constant(GRADS), variable)])

    step, records = optimizer.telemetry_snapshot()
    assert step == 0 and len(records) == 1
    record = records[0]
    direction = GRADS / np.sqrt(0.1 + GRADS**2)  # r = g G^{-1/2}, before scaling
    nonzero = WEIGHTS != 0  # the zero weight is left out of ‖r/w‖_∞
    assert record["variable"] == "kernel"
    np.testing.assert_allclose(record["sigma"], optimizer.clipping_factors[0].numpy(), rtol=1e-6)
    assert 0 < record["sigma"] < 1
    np.testing.assert_allclose(record["grad_norm"], np.linalg.norm(GRADS), rtol=1e-6)
    np.testing.assert_allclose(record["grad_to_weight"], np.linalg.norm(GRADS) / np.linalg.norm(WEIGHTS), rtol=1e-6)
    np.testing.assert_allclose(
        record["update_to_weight_inf"], np.max(np.abs(direction[nonzero] / WEIGHTS[nonzero])), rtol=1e-6
    )


def test_sampling_period_inside_tf_function_and_off_by_default():
    optimizer = make_optimizer("agc", 0.1, clipping=0.01)
    variable = tf.Variable(WEIGHTS)

    @tf.function
    def step():
        optimizer.apply_gradients([(tf.constant(GRADS), variable)])

    step()
    assert optimizer.telemetry_step() == -1  # nothing recorded unless enabled
    optimizer.enable_telemetry(3)  # no retracing: the period is a variable
    recorded = []
    for _ in range(7):
        step()
        recorded.append(optimizer.telemetry_step())
    assert recorded == [-1, -1, 3, 3, 3, 6, 6]
    _, records = optimizer.telemetry_snapshot()
    assert records[0]["sigma"] < 1  # AGC's unit-wise factors, reduced to their minimum
    with pytest.raises(ValueError, match="every_n_steps"):
        optimizer.enable_telemetry(-1)


def model_with_embedding():
    tf.keras.utils.set_random_seed(0)
    ids = tf.keras.Input((2,), dtype=tf.int32)
    embedded = tf.keras.layers.Embedding(30, 4, name="embedding")(ids)
    hidden = tf.keras.layers.Dense(8, activation="relu", name="hidden")(tf.keras.layers.Flatten()(embedded))
    return tf.keras.Model(ids, tf.keras.layers.Dense(1, name="head")(hidden))


def test_callback_records_non_embedding_variables_through_split_optimizer(tmp_path):
    model = model_with_embedding()
    dense, embedding = ClippyAdagrad(0.5), make_optimizer("adagrad", 0.1)
    model.compile(optimizer=split_optimizer(dense, embedding), loss="mse")
    rng = np.random.default_rng(0)
    ids, labels = rng.integers(0, 30, size=(96, 2)), rng.normal(size=(96, 1))
    callback = OptimizerTelemetry(log_dir=str(tmp_path), every_n_steps=2)
    model.fit(ids, labels, batch_size=16, epochs=1, verbose=0, callbacks=[callback])

    dense_names = ["hidden/kernel", "hidden/bias", "head/kernel", "head/bias"]
    assert [record["step"] for record in callback.records] == [s for s in (0, 2, 4) for _ in dense_names]
    assert [record["variable"] for record in callback.records] == dense_names * 3
    for record in callback.records:
        assert set(record) == {"step", "variable", *STAT_FIELDS}
        assert 0 < record["sigma"] <= 1
        assert all(np.isfinite(record[field]) for field in STAT_FIELDS)
    assert any(record["sigma"] < 1 for record in callback.records)
    assert dense.telemetry_step() == 4 and embedding.telemetry_step() == 4
    assert int(dense._telemetry_period.numpy()) == 0  # switched off again after training

    events = glob.glob(str(tmp_path / "events.out.tfevents*"))
    assert events
    tags = {value.tag for event in tf.compat.v1.train.summary_iterator(events[0]) for value in event.summary.value}
    assert "optimizer/sigma/hidden/kernel" in tags and "optimizer/update_to_weight_inf/head/bias" in tags
    assert not any("embedding" in tag for tag in tags)


def test_callback_without_a_telemetry_optimizer_records_nothing():
    model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(1)])
    model.compile(optimizer=tf.keras.optimizers.SGD(0.1), loss="mse")
    callback = OptimizerTelemetry(every_n_steps=1)
    model.fit(np.ones((8, 3)), np.ones((8, 1)), batch_size=4, verbose=0, callbacks=[callback])
    assert callback.records == []


@pytest.mark.parametrize("every_n_steps", [0, -2, 1.5, True])
def test_callback_rejects_invalid_periods(every_n_steps):
    with pytest.raises(ValueError, match="every_n_steps"):
        OptimizerTelemetry(every_n_steps=every_n_steps)
