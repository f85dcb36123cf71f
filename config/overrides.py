"""`--config overrides.json`: how a JSON object of overrides is applied to a preset.

Merge rules (docs/pipeline.md states them for users):

1. Sections (`train`, `world`, `gates`, ...) merge field by field: a field the overrides do not name keeps the
   preset's value. Unknown fields are a ConfigError naming them.
2. Maps keyed by task or feature (`model.task_weights`, `gates.min_auc`, `drift.jsd_thresholds`, ...) merge key by
   key; lists and scalars replace the preset's value.
3. `null` resets a field to its default (the dataclass default, not the preset's value).
4. `train.optimizer_params` belongs to one optimizer, so it is never merged: given, it replaces the preset's
   parameters whole (`{}` = that optimizer's own defaults); not given while `train.optimizer` changes, it starts
   from `OPTIMIZER_DEFAULT_PARAMS` of the new optimizer (the paper's λ for the Clippy family, `{}` elsewhere).
   So `{"train": {"optimizer": "adagrad"}}` is the same pipeline with plain Adagrad.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from config.settings import ConfigError, PipelineConfig, from_dict
from config.vocabulary import OPTIMIZER_DEFAULT_PARAMS

_REPLACED_WHOLE = {("train", "optimizer_params")}


def read_overrides(path: str) -> dict[str, Any]:
    """The JSON object in `path`; ConfigError (field "--config") when unreadable or not an object."""
    try:
        with open(path) as f:
            overrides = json.load(f)
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror or err}", field="--config") from None
    except ValueError as err:
        raise ConfigError(f"{path} is not valid JSON: {err}", field="--config") from None
    if not isinstance(overrides, dict):
        raise ConfigError(f"{path} must hold a JSON object of overrides", field="--config")
    return overrides


def apply_overrides(config: PipelineConfig, overrides: dict[str, Any]) -> PipelineConfig:
    """`config` with `overrides` applied by the module's merge rules (the result is not yet validated)."""
    merged = _merge(dataclasses.asdict(config), overrides, dataclasses.asdict(PipelineConfig()), ())
    train = overrides.get("train")
    if isinstance(train, dict) and "optimizer" in train and "optimizer_params" not in train:
        optimizer = merged["train"]["optimizer"]
        if optimizer != config.train.optimizer and optimizer in OPTIMIZER_DEFAULT_PARAMS:
            merged["train"]["optimizer_params"] = dict(OPTIMIZER_DEFAULT_PARAMS[optimizer])
    if isinstance(train, dict) and "optimizer_params" in train and train["optimizer_params"] is None:
        optimizer = merged["train"]["optimizer"]
        merged["train"]["optimizer_params"] = dict(OPTIMIZER_DEFAULT_PARAMS.get(optimizer, {}))
    return from_dict(PipelineConfig, merged)


def _merge(base: dict[str, Any], overrides: dict[str, Any], defaults: dict[str, Any], path: tuple[str, ...]):
    out = dict(base)
    for key, value in overrides.items():
        here = (*path, key)
        if value is None and key in defaults:
            out[key] = defaults[key]
        elif here in _REPLACED_WHOLE:
            out[key] = value
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, defaults.get(key) or {}, here)
        else:
            out[key] = value
    return out
