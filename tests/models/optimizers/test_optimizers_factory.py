"""make_optimizer: names, parameters, validation errors, and get_config/from_config round trips."""

import numpy as np
import pytest
import tensorflow as tf

from models.optimizers import (
    OPTIMIZER_NAMES,
    ClippyAdagrad,
    ClippyAdam,
    LinearWarmup,
    ScaledAdagrad,
    ScaledAdam,
    make_optimizer,
    optimizer_parameters,
)

EXPECTED_CLASSES = {
    "adagrad": ScaledAdagrad,
    "gc": ScaledAdagrad,
    "agc": ScaledAdagrad,
    "lamb": ScaledAdagrad,
    "clippy": ClippyAdagrad,
    "clippy_adam": ClippyAdam,
    "adam": ScaledAdam,
}


def test_names_are_the_public_contract():
    assert set(OPTIMIZER_NAMES) == {"adagrad", "gc", "agc", "lamb", "clippy", "clippy_adam", "adam"}


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_every_name_builds_a_keras_2_optimizer_that_trains(name):
    optimizer = make_optimizer(name, 0.1)
    assert isinstance(optimizer, tf.keras.optimizers.Optimizer)
    assert type(optimizer) is EXPECTED_CLASSES[name]
    variable = tf.Variable([[1.0, -2.0], [0.5, 0.0]])
    optimizer.apply_gradients([(tf.constant([[0.1, -0.3], [0.2, 0.4]]), variable)])
    assert not np.allclose(variable.numpy(), [[1.0, -2.0], [0.5, 0.0]])


def test_rules_behind_the_adagrad_names():
    assert make_optimizer("adagrad", 0.1).rule.name == "naive"
    assert make_optimizer("gc", 0.1, clip_norm=0.01).rule.clip_norm == 0.01
    assert make_optimizer("agc", 0.1, clipping=1e-4, unitwise=False).rule.unitwise is False
    assert make_optimizer("lamb", 0.1, mu=1e-3).rule.mu == 1e-3


def test_clippy_defaults_are_the_papers():
    optimizer = make_optimizer("clippy", 0.1)
    assert optimizer.variable_relative_threshold == 0.5
    assert optimizer.absolute_threshold == 1e-2
    assert optimizer.accumulator_relative_threshold == 0.0
    assert optimizer.initial_accumulator_value == 0.1
    assert optimizer.use_standard_accumulator_update is True
    assert optimizer.clip_accumulator_update is False


def test_unknown_name_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match=r"'sgd_clippy'.*known optimizers"):
        make_optimizer("sgd_clippy", 0.1)


def test_unknown_parameter_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="clip_norm"):
        make_optimizer("clippy", 0.1, clip_norm=1.0)
    with pytest.raises(ValueError, match="accumulator_relative_threshold"):
        make_optimizer("clippy_adam", 0.1, accumulator_relative_threshold=1e-3)


@pytest.mark.parametrize(
    "name, learning_rate, params, mentioned",
    [
        ("clippy", 0.1, {"variable_relative_threshold": -0.5}, "variable_relative_threshold"),
        ("clippy", 0.1, {"absolute_threshold": -1e-2}, "absolute_threshold"),
        ("clippy", 0.1, {"accumulator_relative_threshold": float("nan")}, "accumulator_relative_threshold"),
        ("clippy", 0.1, {"clip_accumulator_update": True}, "use_standard_accumulator_update"),
        ("clippy", 0.1, {"epsilon": -1.0}, "epsilon"),
        ("clippy", 0.1, {"initial_accumulator_value": -0.1}, "initial_accumulator_value"),
        ("clippy", 0.1, {"use_standard_accumulator_update": "yes"}, "use_standard_accumulator_update"),
        ("clippy", 0.0, {}, "learning_rate"),
        ("clippy", -0.1, {}, "learning_rate"),
        ("adagrad", "fast", {}, "learning_rate"),
        ("adagrad", 0.1, {"warmup_steps": -3}, "warmup_steps"),
        ("gc", 0.1, {"clip_norm": 0.0}, "clip_norm"),
        ("agc", 0.1, {"clipping": -1e-3}, "clipping"),
        ("agc", 0.1, {"eps": 0.0}, "eps"),
        ("agc", 0.1, {"unitwise": 1}, "unitwise"),
        ("lamb", 0.1, {"mu": 0.0}, "mu"),
        ("lamb", 0.1, {"clip_accumulator_update": True}, "use_standard_accumulator_update"),
        ("adam", 0.1, {"beta_1": 1.0}, "beta_1"),
        ("clippy_adam", 0.1, {"beta_2": -0.1}, "beta_2"),
        ("clippy_adam", 0.1, {"absolute_threshold": "0.01"}, "absolute_threshold"),
        ("adam", 0.1, {"export_clipping_factors": None}, "export_clipping_factors"),
    ],
)
def test_invalid_values_are_value_errors_naming_the_parameter(name, learning_rate, params, mentioned):
    with pytest.raises(ValueError, match=mentioned):
        make_optimizer(name, learning_rate, **params)


def test_compatible_accumulator_options_are_accepted():
    # TFRS's clipped accumulator needs the delayed order for Clippy; for GC σ does not depend on the accumulator.
    clippy = make_optimizer("clippy", 0.1, use_standard_accumulator_update=False, clip_accumulator_update=True)
    assert clippy.use_standard_accumulator_update is False and clippy.clip_accumulator_update is True
    gc = make_optimizer("gc", 0.1, clip_accumulator_update=True)
    assert gc.clip_accumulator_update is True
    for optimizer in (clippy, gc):  # accepted and usable: one step moves the variable
        variable = tf.Variable([[1.0, -2.0], [0.5, 0.0]])
        optimizer.apply_gradients([(tf.constant([[0.1, -0.3], [0.2, 0.4]]), variable)])
        assert np.all(np.isfinite(variable.numpy()))
        assert not np.allclose(variable.numpy(), [[1.0, -2.0], [0.5, 0.0]])


def test_optimizer_parameters_lists_what_make_optimizer_accepts():
    assert "mu" in optimizer_parameters("lamb")
    assert "warmup_steps" in optimizer_parameters("adam")
    with pytest.raises(ValueError, match="known optimizers"):
        optimizer_parameters("nope")


NON_DEFAULT_PARAMS = {
    "adagrad": {"initial_accumulator_value": 0.2, "epsilon": 1e-6},
    "gc": {"clip_norm": 0.01, "clip_accumulator_update": True},
    "agc": {"clipping": 1e-2, "eps": 1e-4, "unitwise": False},
    "lamb": {"mu": 1e-3, "use_standard_accumulator_update": False},
    "clippy": {
        "variable_relative_threshold": 0.3,
        "accumulator_relative_threshold": 1e-3,
        "absolute_threshold": 1e-3,
        "use_standard_accumulator_update": False,
        "clip_accumulator_update": True,
        "export_clipping_factors": True,
        "initial_accumulator_value": 0.05,
        "epsilon": 1e-8,
    },
    "clippy_adam": {"beta_1": 0.8, "variable_relative_threshold": 0.2, "absolute_threshold": 1e-3},
    "adam": {"beta_2": 0.99, "epsilon": 1e-6},
}


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_get_config_round_trips_every_argument(name):
    optimizer = make_optimizer(name, 0.25, **NON_DEFAULT_PARAMS[name])
    config = optimizer.get_config()
    restored = type(optimizer).from_config(config)
    assert restored.get_config() == config
    for key, value in NON_DEFAULT_PARAMS[name].items():
        assert config.get(key, config.get("rule", {}).get(key)) == value
    via_keras = tf.keras.optimizers.deserialize(tf.keras.optimizers.serialize(optimizer))
    assert type(via_keras) is type(optimizer) and via_keras.get_config() == config


def test_clippy_config_keeps_the_accumulator_order_tfrs_loses():
    config = ClippyAdagrad(0.1, use_standard_accumulator_update=False).get_config()
    assert config["use_standard_accumulator_update"] is False
    assert ClippyAdagrad.from_config(config).use_standard_accumulator_update is False
    expected = {
        "learning_rate",
        "initial_accumulator_value",
        "variable_relative_threshold",
        "accumulator_relative_threshold",
        "absolute_threshold",
        "epsilon",
        "use_standard_accumulator_update",
        "clip_accumulator_update",
        "export_clipping_factors",
    }
    assert expected <= set(config)


def test_schedule_learning_rate_round_trips():
    optimizer = make_optimizer("clippy", 0.3, warmup_steps=100)
    assert isinstance(optimizer._learning_rate, LinearWarmup)
    restored = ClippyAdagrad.from_config(optimizer.get_config())
    assert isinstance(restored._learning_rate, LinearWarmup)
    assert restored._learning_rate.get_config() == optimizer._learning_rate.get_config()
