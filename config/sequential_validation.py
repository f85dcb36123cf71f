"""Fail-fast checks of the `drift` and `sequential` sections (called by `create_pipeline` and the CLI).

Every failure is a ConfigError naming the field (`drift.acknowledged`, `sequential.window_days`, ...), like
config/validation.py does for the other sections.
"""

from __future__ import annotations

import math

from config.settings import ConfigError, PipelineConfig

SPLITS: tuple[str, ...] = ("train", "eval")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_sequential_config(config: PipelineConfig) -> PipelineConfig:
    """Checks `config.drift` and `config.sequential`; returns `config` or raises ConfigError."""
    from components.drift_gate import parse_acknowledgement

    drift, seq = config.drift, config.sequential
    for name in ("enabled", "check_skew"):
        if not isinstance(getattr(drift, name), bool):
            raise ConfigError(f"must be true or false, got {getattr(drift, name)!r}", field=f"drift.{name}")
    if drift.split not in SPLITS:
        raise ConfigError(f"must be one of {list(SPLITS)}, got {drift.split!r}", field="drift.split")
    for section in ("linf_thresholds", "jsd_thresholds"):
        thresholds = getattr(drift, section)
        if not isinstance(thresholds, dict):
            raise ConfigError("must be an object {feature: threshold}", field=f"drift.{section}")
        for feature, value in thresholds.items():
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
            if not ok:
                raise ConfigError(f"must be a finite number > 0, got {value!r}", field=f"drift.{section}.{feature}")
    for entry in drift.acknowledged:
        try:
            parse_acknowledgement(str(entry))
        except ValueError as err:
            raise ConfigError(str(err), field="drift.acknowledged") from None
    if not _is_int(seq.window_days) or seq.window_days < 1:
        raise ConfigError(f"must be an integer >= 1, got {seq.window_days!r}", field="sequential.window_days")
    if not isinstance(seq.warm_start, bool):
        raise ConfigError(f"must be true or false, got {seq.warm_start!r}", field="sequential.warm_start")
    return config
