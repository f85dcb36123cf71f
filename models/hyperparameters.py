"""The Tuner's best hyperparameters applied to a `PipelineConfig`: each hyperparameter is named by the dotted
configuration field it sets (`train.learning_rate`, `model.task_weights.watch_time`,
`train.optimizer_params.absolute_threshold`), as in `--config` overrides; layer widths are strings of integers
joined by "-" ("256-128"), since KerasTuner's choices are scalars. models/tuning.py defines the search space; the
Trainer (models/trainer.py) applies `fn_args.hyperparameters` with `apply_hyperparameters`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from config.overrides import apply_overrides
from config.settings import PipelineConfig
from config.validation import validate_config

UNITS_FIELDS = ("hidden_units", "tower_units", "expert_units")


def hyperparameter_values(hyperparameters: Any) -> dict[str, Any]:
    """{name: value} from what TFX hands the Trainer: a KerasTuner HyperParameters config (`get_config()`), a
    HyperParameters object, or a plain {name: value} mapping."""
    if not hyperparameters:
        return {}
    if hasattr(hyperparameters, "values") and not isinstance(hyperparameters, Mapping):
        return dict(hyperparameters.values)  # a keras_tuner.HyperParameters
    if isinstance(hyperparameters, str):
        hyperparameters = json.loads(hyperparameters)
    if isinstance(hyperparameters, Mapping) and "space" in hyperparameters and "values" in hyperparameters:
        return dict(hyperparameters["values"])  # HyperParameters.get_config()
    return dict(hyperparameters)


def _units(value: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in str(value).split("-")) if isinstance(value, str) else tuple(value)


def apply_hyperparameters(config: PipelineConfig, hyperparameters: Any) -> PipelineConfig:
    """`config` with each hyperparameter's value set on the field it names; validated (ConfigError on a bad one)."""
    values = hyperparameter_values(hyperparameters)
    if not values:
        return config
    overrides: dict[str, Any] = {}
    for name, value in values.items():
        *path, leaf = name.split(".")
        if path and path[-1] in ("model", "train") and leaf in UNITS_FIELDS:
            value = list(_units(value))
        node = overrides
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value
    params = overrides.get("train", {}).get("optimizer_params")
    if params is not None:  # replaced whole by the override rules: keep the parameters the search does not set
        overrides["train"]["optimizer_params"] = {**config.train.optimizer_params, **params}
    return validate_config(apply_overrides(config, overrides))
