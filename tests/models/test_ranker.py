"""The multitask ranker: shapes, masked survey loss, and that every task's loss falls on a fixed batch."""

from __future__ import annotations

import pytest
import tensorflow as tf
from helpers.batches import VOCAB, fake_transformed

from config.settings import TASKS, ModelConfig
from models.ranker import (
    ChainOnClick,
    MaskedMeanSquaredError,
    build_ranker,
    build_state,
    compile_ranker,
    input_keys,
    losses,
    split_labels,
)


@pytest.mark.parametrize(
    "config",
    [
        ModelConfig(hidden_units=(16, 8), embedding_dim=4),
        ModelConfig(architecture="mmoe", num_experts=3, expert_units=(8,), embedding_dim=4),
        ModelConfig(hidden_units=(16,), use_dcn=True, embedding_dim=4),
    ],
    ids=["shared_bottom", "mmoe", "dcn"],
)
def test_output_shapes(config: ModelConfig) -> None:
    model = build_ranker(config, VOCAB)
    feats, _ = split_labels({k: tf.constant(v) for k, v in fake_transformed(7).items()})
    out = model(feats)
    assert sorted(out) == sorted(TASKS)
    for task in TASKS:
        assert out[task].shape == (7, 1)
    assert sorted(model.input) == sorted(input_keys())
    if config.use_dcn:
        assert any(layer.name == "dcn_cross" for layer in model.layers)


def test_unknown_architecture_is_rejected() -> None:
    with pytest.raises(ValueError, match="architecture"):
        build_ranker(ModelConfig(architecture="transformer"), VOCAB)


def test_masked_survey_loss_ignores_unsurveyed() -> None:
    loss = MaskedMeanSquaredError()
    y_true = tf.constant([[4.0, 1.0], [1.0, 0.0], [2.0, 1.0]])
    y_pred = tf.constant([[3.0], [100.0], [2.5]])
    # Only rows 0 and 2 count: ((4-3)^2 + (2-2.5)^2) / 2 = 0.625; row 1's huge error is masked out.
    assert float(loss(y_true, y_pred)) == pytest.approx(0.625)
    no_survey = tf.constant([[4.0, 0.0], [1.0, 0.0]])
    assert float(loss(no_survey, tf.constant([[9.0], [9.0]]))) == 0.0


def test_each_task_loss_decreases_on_fixed_batch() -> None:
    tf.keras.utils.set_random_seed(0)
    config = ModelConfig(hidden_units=(32, 16), embedding_dim=4)
    model = compile_ranker(build_ranker(config, VOCAB), tf.keras.optimizers.Adam(0.01), config)
    feats, labels = split_labels({k: tf.constant(v) for k, v in fake_transformed(256).items()})

    def task_losses() -> dict[str, float]:
        """Each task's compiled loss on the batch, computed eagerly (no evaluate(): its traced step costs more than
        the whole training here)."""
        out = model(feats, training=False)
        return {task: float(loss(labels[task], out[task])) for task, loss in losses().items()}

    before = task_losses()
    data = tf.data.Dataset.from_tensors((feats, labels)).repeat(30)  # 30 full-batch steps
    build_state(model, data.element_spec)  # as the trainer does: the train step is traced once, not twice
    model.fit(data, epochs=1, verbose=0)
    after = task_losses()
    assert set(before) == set(TASKS)
    for task in TASKS:
        assert after[task] < before[task], (task, before[task], after[task])


def test_chained_tasks_are_products_with_the_click_probability() -> None:
    """With conditional_tasks, P(like) = P(click)·σ(a_like), P(dismiss) = (1 − P(click))·σ(a_dismiss) and the
    watch time is P(click) times its head, read off the layer's logits."""
    heads = {t: tf.constant([[-3.0], [0.0], [2.5]]) for t in TASKS}
    heads["like"] = tf.constant([[1.0], [-2.0], [-30.0]])
    heads["dismiss"] = tf.constant([[0.5], [-1.0], [20.0]])
    heads["watch_time"] = tf.constant([[4.0], [5.0], [6.0]])
    out = ChainOnClick()(heads)
    p_click = tf.sigmoid(heads["click"])
    tf.debugging.assert_near(tf.sigmoid(out["like"]), p_click * tf.sigmoid(heads["like"]), rtol=1e-5, atol=1e-7)
    tf.debugging.assert_near(
        tf.sigmoid(out["dismiss"]), (1 - p_click) * tf.sigmoid(heads["dismiss"]), rtol=1e-5, atol=1e-7
    )
    tf.debugging.assert_near(out["watch_time"], p_click * heads["watch_time"], rtol=1e-6)
    tf.debugging.assert_equal(out["click"], heads["click"])
    assert all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in out.values())


@pytest.mark.slow
def test_chained_ranker_keeps_the_output_names_and_trains() -> None:
    config = ModelConfig(hidden_units=(16,), embedding_dim=4, conditional_tasks=True, dropout=0.1, kernel_l2=1e-4)
    model = build_ranker(config, VOCAB)
    assert sorted(model.output_names) == sorted(TASKS)
    features, labels = split_labels(fake_transformed(64))
    compile_ranker(model, tf.keras.optimizers.Adagrad(0.1), config)
    losses_seen = [model.train_on_batch(features, labels, return_dict=True)["loss"] for _ in range(15)]
    assert losses_seen[-1] < losses_seen[0]
    assert model.losses, "kernel_l2 adds its penalty to the loss"


@pytest.mark.parametrize("conditional", [False, True], ids=["independent", "chained"])
def test_wide_part_adds_a_linear_logit_per_task(conditional: bool) -> None:
    """With `wide`, each task's pre-chain logit is its deep head plus that task's column of a linear model of the
    same inputs (a weight per id value, a linear map of the dense features)."""
    config = ModelConfig(hidden_units=(8,), embedding_dim=4, wide=True, conditional_tasks=conditional)
    model = build_ranker(config, VOCAB)
    assert sorted(model.output_names) == sorted(TASKS)
    rng = tf.random.Generator.from_seed(0)
    for layer in model.layers:
        if layer.name.startswith("wide_"):
            layer.set_weights([rng.normal(w.shape).numpy() for w in layer.get_weights()])
    feats, _ = split_labels({k: tf.constant(v) for k, v in fake_transformed(5).items()})
    names = [f"{t}_head" for t in TASKS] + ["wide_linear"]
    probe = tf.keras.Model(model.input, [model.get_layer(n).output for n in names])
    *heads, wide = probe(feats)
    assert float(tf.reduce_max(tf.abs(wide))) > 0.1
    if not conditional:
        out = model(feats)
        for i, (task, head) in enumerate(zip(TASKS, heads)):
            tf.debugging.assert_near(out[task], head + wide[:, i : i + 1], atol=1e-5)
    else:
        i = TASKS.index("click")
        click = tf.keras.Model(model.input, model.get_layer("click_wide_deep").output)(feats)
        tf.debugging.assert_near(click, heads[i] + wide[:, i : i + 1], atol=1e-5)
        tf.debugging.assert_near(model(feats)["click"], click, atol=1e-5)


@pytest.mark.parametrize(
    "field, value",
    [
        ("dropout", 1.0),
        ("dropout", -0.1),
        ("kernel_l2", -1.0),
        ("conditional_tasks", 1),
        ("wide", 1),
        ("wide_l2", -1e-4),
    ],
)
def test_regularization_settings_are_validated(field: str, value: object) -> None:
    import dataclasses

    from config.settings import ConfigError
    from config.validation import validate_model

    with pytest.raises(ConfigError, match=f"model.{field}"):
        validate_model(dataclasses.replace(ModelConfig(), **{field: value}))
