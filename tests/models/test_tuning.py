"""The Tuner's search space names configuration fields, and the Trainer applies the best trial's values to them."""

from __future__ import annotations

import keras_tuner
import pytest

from config.settings import ConfigError, default_preset
from models.hyperparameters import apply_hyperparameters, hyperparameter_values
from models.tuning import search_space

BEST = {
    "train.learning_rate": 0.02,
    "model.embedding_dim": 32,
    "model.hidden_units": "512-256",
    "model.tower_units": "16",
    "model.task_weights.watch_time": 0.1,
    "train.optimizer_params.absolute_threshold": 0.1,
}


def test_every_hyperparameter_sets_the_field_it_names():
    config = default_preset()
    tuned = apply_hyperparameters(config, BEST)
    assert tuned.train.learning_rate == 0.02 and tuned.model.embedding_dim == 32
    assert tuned.model.hidden_units == (512, 256) and tuned.model.tower_units == (16,)
    assert tuned.model.task_weights == {**config.model.task_weights, "watch_time": 0.1}
    # The optimizer's other parameters stay (the override rules replace optimizer_params whole).
    assert tuned.train.optimizer_params == {**config.train.optimizer_params, "absolute_threshold": 0.1}
    assert tuned.world == config.world and tuned.train.train_steps == config.train.train_steps


def test_what_tfx_hands_the_trainer_is_read_in_each_form():
    hp = keras_tuner.HyperParameters()
    for name, value in BEST.items():
        hp.Fixed(name, value)
    assert hyperparameter_values(hp) == BEST
    assert hyperparameter_values(hp.get_config()) == BEST  # TFX's Trainer: best_hyperparameters.txt, parsed
    assert hyperparameter_values(None) == {} and apply_hyperparameters(default_preset(), None) == default_preset()


def test_every_choice_of_the_search_space_is_a_valid_configuration():
    config = default_preset()
    space = search_space(config)
    assert {"train.learning_rate", "model.hidden_units", "model.embedding_dim"} <= set(space)
    assert "train.optimizer_params.variable_relative_threshold" in space  # Clippy's thresholds, for Clippy
    assert not [
        n
        for n in search_space(config.replace(train=config.train.__class__(optimizer="adagrad", optimizer_params={})))
        if "optimizer_params" in n
    ]
    for name, choices in space.items():
        for value in choices:
            apply_hyperparameters(config, {name: value})


def test_a_bad_value_fails_naming_the_field():
    with pytest.raises(ConfigError, match=r"train\.learning_rate"):
        apply_hyperparameters(default_preset(), {"train.learning_rate": -1.0})


def test_the_space_declared_to_the_oracle_is_the_search_space():
    from models.tuning import declared_space

    config = default_preset()
    hp = declared_space(config)
    assert {p.name: list(p.values) for p in hp.space} == search_space(config)
    apply_hyperparameters(config, hp.values)  # the first choices
