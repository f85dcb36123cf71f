"""Adagrad with a frozen per-variable σ: the rule, its factory name and its refusals."""

import math

import numpy as np
import pytest
import tensorflow as tf

from models.optimizers import FrozenSigmaRule, ScaledAdagrad, make_optimizer, optimizer_parameters
from models.optimizers.rules import UpdateContext, rule_from_config, rule_to_config

LR = 0.5
KERNEL = np.array([[0.5, -1.0], [0.0, 2.0]])
BIAS = np.array([0.3, -0.1])


def variables():
    return tf.Variable(KERNEL, name="dense/kernel"), tf.Variable(BIAS, name="dense/bias")


def train(optimizer, steps=4):
    """`steps` steps of fixed pseudo-random gradients on a kernel and a bias; returns their values."""
    kernel, bias = variables()
    rng = np.random.default_rng(0)
    for _ in range(steps):
        grads = [tf.constant(rng.normal(size=v.shape)) for v in (kernel, bias)]
        optimizer.apply_gradients(zip(grads, [kernel, bias]))
    return kernel.numpy(), bias.numpy()


def test_sigma_is_applied_per_variable():
    frozen = make_optimizer(
        "frozen_sigma", LR, sigmas={"dense/kernel": 0.25, "dense/*": 4.0}, export_clipping_factors=True
    )
    kernel, bias = train(frozen, steps=1)
    naive_kernel, naive_bias = train(make_optimizer("adagrad", LR), steps=1)
    # One step from the same accumulator: the frozen step is σ_v times naive Adagrad's on each variable.
    np.testing.assert_allclose(kernel - KERNEL, 0.25 * (naive_kernel - KERNEL), rtol=1e-12)
    np.testing.assert_allclose(bias - BIAS, 4.0 * (naive_bias - BIAS), rtol=1e-12)
    assert [float(f.numpy()) for f in frozen.clipping_factors] == [0.25, 4.0]


def test_first_matching_pattern_wins_and_the_default_holds_elsewhere():
    rule = FrozenSigmaRule({"shared_*/kernel": 0.5, "shared_dense_1/*": 2.0}, default=0.75)
    assert rule.sigma_of("shared_dense_1/kernel") == 0.5
    assert rule.sigma_of("shared_dense_1/bias") == 2.0
    assert rule.sigma_of("click/kernel") == 0.75


@pytest.mark.parametrize("sigmas", [{}, {"*": 1.0}, {"dense/kernel": 1, "dense/bias": 1.0}])
def test_sigma_one_everywhere_is_naive_adagrad_bitwise(sigmas):
    frozen = train(make_optimizer("frozen_sigma", LR, sigmas=sigmas))
    naive = train(make_optimizer("adagrad", LR))
    for a, b in zip(frozen, naive):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf, True, "0.5", None])
def test_bad_sigmas_are_refused(bad):
    with pytest.raises(ValueError, match="sigmas"):
        FrozenSigmaRule({"dense/kernel": bad})
    with pytest.raises(ValueError, match="default"):
        FrozenSigmaRule(default=bad)
    with pytest.raises(ValueError, match="sigmas"):
        make_optimizer("frozen_sigma", LR, sigmas={"dense/kernel": bad})


@pytest.mark.parametrize("bad", [[("dense/kernel", 0.5)], 0.5, {3: 0.5}])
def test_sigmas_must_map_names_to_numbers(bad):
    with pytest.raises(ValueError, match="sigmas"):
        FrozenSigmaRule(bad)


def test_a_context_without_the_variable_name_is_refused():
    ctx = UpdateContext(tf.ones([2]), None, tf.constant(0.1), read_weights=lambda: tf.ones([2]))
    with pytest.raises(ValueError, match="name"):
        FrozenSigmaRule({"*": 0.5}).scale(ctx)


def test_config_round_trips():
    rule = FrozenSigmaRule({"dense/kernel": 0.25, "dense/*": 4.0}, default=0.5)
    config = rule_to_config(rule)
    assert config == {"name": "frozen", "sigmas": {"dense/kernel": 0.25, "dense/*": 4.0}, "default": 0.5}
    assert rule_from_config(config) == rule
    optimizer = make_optimizer("frozen_sigma", LR, sigmas={"dense/kernel": 0.25}, default_sigma=0.5)
    assert isinstance(optimizer, ScaledAdagrad)
    restored = tf.keras.optimizers.deserialize(tf.keras.optimizers.serialize(optimizer))
    assert restored.get_config() == optimizer.get_config() and restored.rule == optimizer.rule


def test_factory_name_takes_adagrads_parameters_and_the_sigmas():
    assert {"sigmas", "default_sigma", "initial_accumulator_value", "warmup_steps"} <= set(
        optimizer_parameters("frozen_sigma")
    )
    with pytest.raises(ValueError, match="clip_norm"):
        make_optimizer("frozen_sigma", LR, clip_norm=0.1)
