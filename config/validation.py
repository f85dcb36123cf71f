"""Fail-fast validation of a `PipelineConfig` and of the run's paths, before any work starts.

`PipelineConfig.validate()` (called by the CLI and by `create_pipeline`) runs `validate_config`; the CLI also runs
`validate_paths` on the pipeline and serving roots. Every failure is a `ConfigError` whose `field` is the dotted
name of the offending setting (`train.optimizer`, `ingest.max_bad_fraction`, `pipeline_root`, ...) and whose
message reads `<field>: <why>`; the CLI prints `configuration error: <field>: <why>` and exits with status 2.

Rules (one test each in tests/test_config_validation.py):

* names: `name` is a Kubeflow V2 pipeline name (lowercase letters, digits, hyphens); `model_name` is a safe
  directory name (it becomes `<serving root>/<model_name>/`).
* types and ranges: counts and sizes are positive integers, fractions lie in [0, 1] (`eval_fraction` in (0, 1)),
  learning rates are finite and > 0, thresholds are finite.
* enumerations: `beam.direct_running_mode`, `train.distribution`, `model.architecture`, and `train.optimizer`
  (the names `models.optimizers.make_optimizer` knows; imported lazily); `train.optimizer_params` must be
  parameters of that optimizer, and the optimizer must build with them.
* task dictionaries: `model.task_weights` / `model.score_weights` name known tasks only; `gates.min_auc` binary
  tasks with an AUC in [0.5, 1]; `gates.max_rmse` regression tasks with a bound > 0.
* orderings: `stability.spike_ratio > recovery_ratio >= 1`, `0 < auc_tolerance < auc_learned_margin <= 0.5`,
  ... (`models.stability.validate_stability_config`); `world.num_videos >= world.num_topics`, ...
  (`world.simulator.validate_world`); `train.log_every_steps <= train.train_steps`.
* paths: roots are non-empty; a local root is a directory or can be created as one in a writable parent; the
  serving root is not the pipeline root. Remote URIs (`gs://`, `s3://`, ...) are checked by the filesystem later.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

from config.settings import (
    ARCHITECTURES,
    BINARY_TASKS,
    DISTRIBUTIONS,
    MODEL_NAME_PATTERN,
    REGRESSION_TASKS,
    TASKS,
    BeamConfig,
    ConfigError,
    GateConfig,
    IngestConfig,
    ModelConfig,
    PipelineConfig,
    StabilityConfig,
    TrainConfig,
    TransformConfig,
    WorldConfig,
)

PIPELINE_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")
DIRECT_RUNNING_MODES: tuple[str, ...] = ("in_memory", "multi_threading", "multi_processing")
# A leading dotted field name in messages of the section validators that predate `ConfigError.field`
# ("world.num_users must be ...", "stability.spike_ratio=1.0 must be ...").
_LEGACY_MESSAGE = re.compile(r"(?P<field>[a-z_]+(?:\.[a-z_]+)+)(?:=(?P<value>\S+))?:?\s+(?P<why>.*)", re.DOTALL)


def fail(field: str, why: str) -> None:
    """Raises the ConfigError of `field`."""
    raise ConfigError(why, field=field)


def require(ok: bool, field: str, why: str) -> None:
    if not ok:
        fail(field, why)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float (bool is not a number here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def require_int(value: Any, field: str, minimum: int = 1) -> None:
    require(is_int(value) and value >= minimum, field, f"must be an integer >= {minimum}, got {value!r}")


def require_fraction(value: Any, field: str, low_open: bool = False, high_open: bool = False) -> None:
    ok = is_number(value) and (value > 0 if low_open else value >= 0) and (value < 1 if high_open else value <= 1)
    interval = ("(" if low_open else "[") + "0, 1" + (")" if high_open else "]")
    require(ok, field, f"must be a number in {interval}, got {value!r}")


def require_positive_number(value: Any, field: str) -> None:
    require(is_number(value) and value > 0, field, f"must be a finite number > 0, got {value!r}")


def require_units(value: Any, field: str, allow_empty: bool = False) -> None:
    ok = isinstance(value, (tuple, list)) and (allow_empty or len(value) > 0)
    ok = ok and all(is_int(v) and v >= 1 for v in value)
    require(ok, field, f"must be a {'' if allow_empty else 'non-empty '}list of positive integers, got {value!r}")


def require_task_dict(value: Any, field: str, tasks: Iterable[str], check: Callable[[Any], bool], rule: str) -> None:
    tasks = tuple(tasks)
    require(isinstance(value, dict), field, f"must be an object {{task: value}}, got {value!r}")
    unknown = sorted(set(value) - set(tasks))
    require(not unknown, field, f"unknown task(s) {unknown}; tasks here are {list(tasks)}")
    for task, v in value.items():
        require(check(v), f"{field}.{task}", f"{rule}, got {v!r}")


def as_field_error(err: ConfigError) -> ConfigError:
    """`err` with `field` set, read from the leading dotted name of messages that lack it (older validators
    write "world.num_users must be ...", "stability.spike_ratio=1.0 must be ..."); otherwise `err` itself."""
    if err.field is not None:
        return err
    match = _LEGACY_MESSAGE.fullmatch(str(err))
    if match is None:
        return err
    why = match["why"] + (f" (got {match['value']})" if match["value"] else "")
    return ConfigError(why, field=match["field"])


def _delegate(check: Callable[[Any], None], section: Any) -> None:
    """Runs an older section validator and re-raises its error with `field` set."""
    try:
        check(section)
    except ConfigError as err:
        normalized = as_field_error(err)
        if normalized is err:
            raise
        raise normalized from None


# --------------------------------------------------------------------------------------------------------------
# Sections


def validate_names(config: PipelineConfig) -> None:
    require(
        isinstance(config.name, str) and PIPELINE_NAME_PATTERN.fullmatch(config.name) is not None,
        "name",
        f"must be 1-128 lowercase letters, digits or '-' starting with a letter or digit (Kubeflow V2), "
        f"got {config.name!r}",
    )
    name = config.model_name
    ok = isinstance(name, str) and MODEL_NAME_PATTERN.fullmatch(name) is not None and not name.isdigit()
    require(ok, "model_name", f"must be a safe directory name (letters, digits, '_', '.', '-'), got {name!r}")


def validate_beam(beam: BeamConfig) -> None:
    require(isinstance(beam.runner, str) and beam.runner != "", "beam.runner", "must name a Beam runner")
    require(
        beam.direct_running_mode in DIRECT_RUNNING_MODES,
        "beam.direct_running_mode",
        f"must be one of {list(DIRECT_RUNNING_MODES)}, got {beam.direct_running_mode!r}",
    )
    require_int(beam.direct_num_workers, "beam.direct_num_workers", minimum=0)
    ok = isinstance(beam.extra_args, (tuple, list)) and all(isinstance(a, str) for a in beam.extra_args)
    require(ok, "beam.extra_args", f"must be a list of strings, got {beam.extra_args!r}")


def validate_world(world: WorldConfig) -> None:
    for name in ("num_users", "num_videos", "num_creators", "num_topics", "num_countries", "num_days"):
        require_int(getattr(world, name), f"world.{name}")
    for name in ("impressions_per_day", "candidates_per_request", "num_shards"):
        require_int(getattr(world, name), f"world.{name}")
    require_int(world.seed, "world.seed", minimum=0)
    require_int(world.start_day, "world.start_day", minimum=0)
    require_fraction(world.survey_rate, "world.survey_rate")
    require_fraction(world.malformed_rate, "world.malformed_rate")
    from world.simulator import validate_world as world_rules  # the domain rules (countries, topics, ...)

    _delegate(world_rules, world)


def validate_ingest(ingest: IngestConfig) -> None:
    require_fraction(ingest.eval_fraction, "ingest.eval_fraction", low_open=True, high_open=True)
    require_fraction(ingest.max_bad_fraction, "ingest.max_bad_fraction")
    require_int(ingest.max_line_bytes, "ingest.max_line_bytes")
    require_int(ingest.max_field_chars, "ingest.max_field_chars")
    require(
        ingest.max_field_chars < ingest.max_line_bytes,
        "ingest.max_field_chars",
        f"must be < ingest.max_line_bytes ({ingest.max_line_bytes}), got {ingest.max_field_chars}",
    )


def validate_transform(transform: TransformConfig) -> None:
    require_int(transform.id_vocab_size, "transform.id_vocab_size")
    # 0 OOV buckets would map unseen ids to -1, outside every embedding table.
    require_int(transform.id_oov_buckets, "transform.id_oov_buckets")
    require_int(transform.categorical_oov_buckets, "transform.categorical_oov_buckets")


def validate_model(model: ModelConfig) -> None:
    require(
        model.architecture in ARCHITECTURES,
        "model.architecture",
        f"must be one of {list(ARCHITECTURES)}, got {model.architecture!r}",
    )
    require_int(model.embedding_dim, "model.embedding_dim")
    require_units(model.hidden_units, "model.hidden_units")
    require_units(model.tower_units, "model.tower_units", allow_empty=True)
    require(isinstance(model.use_dcn, bool), "model.use_dcn", f"must be true or false, got {model.use_dcn!r}")
    if model.dcn_projection_dim is not None:
        require_int(model.dcn_projection_dim, "model.dcn_projection_dim")
    if model.architecture == "mmoe":
        require_int(model.num_experts, "model.num_experts")
        require_units(model.expert_units, "model.expert_units")
    require_task_dict(
        model.task_weights, "model.task_weights", TASKS, lambda v: is_number(v) and v >= 0, "must be a number >= 0"
    )
    require(
        any(v > 0 for v in model.task_weights.values()),
        "model.task_weights",
        "at least one task needs a weight > 0 (otherwise nothing is trained)",
    )
    require_task_dict(model.score_weights, "model.score_weights", TASKS, is_number, "must be a finite number")


def validate_train(train: TrainConfig) -> None:
    require_positive_number(train.learning_rate, "train.learning_rate")
    require_positive_number(train.embedding_learning_rate, "train.embedding_learning_rate")
    for name in ("batch_size", "train_steps", "eval_steps", "log_every_steps"):
        require_int(getattr(train, name), f"train.{name}")
    require(
        train.log_every_steps <= train.train_steps,
        "train.log_every_steps",
        f"must be <= train.train_steps ({train.train_steps}), got {train.log_every_steps}",
    )
    require_int(train.seed, "train.seed", minimum=0)
    for name in ("stop_on_nonfinite", "op_determinism"):
        value = getattr(train, name)
        require(isinstance(value, bool), f"train.{name}", f"must be true or false, got {value!r}")
    require(isinstance(train.backup_dir, str), "train.backup_dir", "must be a path ('' = derived, see README)")
    distribution = getattr(train, "distribution", None)
    if distribution is not None:
        require(
            distribution in DISTRIBUTIONS,
            "train.distribution",
            f"must be one of {list(DISTRIBUTIONS)}, got {distribution!r}",
        )
    require(isinstance(train.optimizer_params, dict), "train.optimizer_params", "must be an object {name: value}")
    validate_optimizer(train)


def validate_optimizer(train: TrainConfig) -> None:
    """The optimizer name and parameters, checked by building it (no variables are created)."""
    from models.optimizers import OPTIMIZER_NAMES, make_optimizer, optimizer_parameters

    require(
        train.optimizer in OPTIMIZER_NAMES,
        "train.optimizer",
        f"unknown optimizer {train.optimizer!r}; choose one of {list(OPTIMIZER_NAMES)}",
    )
    unknown = sorted(set(train.optimizer_params) - set(optimizer_parameters(train.optimizer)))
    require(
        not unknown,
        "train.optimizer_params",
        f"{unknown} are not parameters of {train.optimizer!r}; it takes {list(optimizer_parameters(train.optimizer))}",
    )
    try:
        make_optimizer(train.optimizer, train.learning_rate, **train.optimizer_params)
    except (ValueError, TypeError) as err:
        fail("train.optimizer_params", f"{train.optimizer!r} refuses {dict(train.optimizer_params)}: {err}")


def validate_stability(stability: StabilityConfig) -> None:
    for name in ("warmup_points", "persist_points", "auc_collapse_points"):
        require_int(getattr(stability, name), f"stability.{name}", minimum=0 if name == "warmup_points" else 1)
    for name in ("ema_alpha", "spike_ratio", "recovery_ratio", "auc_tolerance", "auc_learned_margin"):
        require(is_number(getattr(stability, name)), f"stability.{name}", "must be a finite number")
    if stability.end_level_ratio is not None:
        require(is_number(stability.end_level_ratio), "stability.end_level_ratio", "must be a finite number or null")
    from models.stability import validate_stability_config  # the orderings, beside the detector that uses them

    _delegate(validate_stability_config, stability)


def validate_gates(gates: GateConfig) -> None:
    require_task_dict(
        gates.min_auc,
        "gates.min_auc",
        BINARY_TASKS,
        lambda v: is_number(v) and 0.5 <= v <= 1.0,
        "must be an AUC in [0.5, 1] (0.5 is chance level)",
    )
    require_task_dict(
        gates.max_rmse, "gates.max_rmse", REGRESSION_TASKS, lambda v: is_number(v) and v > 0, "must be a number > 0"
    )
    require_fraction(gates.max_auc_drop, "gates.max_auc_drop")


def validate_config(config: PipelineConfig) -> PipelineConfig:
    """Checks every section; returns `config` unchanged or raises ConfigError naming the first bad field."""
    validate_names(config)
    validate_beam(config.beam)
    validate_world(config.world)
    validate_ingest(config.ingest)
    validate_transform(config.transform)
    validate_model(config.model)
    validate_stability(config.stability)
    validate_gates(config.gates)
    validate_train(config.train)  # last: it imports TensorFlow to build the optimizer
    return config


# --------------------------------------------------------------------------------------------------------------
# Paths


def is_remote(path: str) -> bool:
    return "://" in path


def validate_paths(pipeline_root: str, serving_root: str) -> None:
    """The run's roots: usable local directories (or remote URIs, checked later), and distinct."""
    for field, path in (("pipeline_root", pipeline_root), ("serving_root", serving_root)):
        require(isinstance(path, str) and path.strip() != "", field, "must be a non-empty path")
        if not is_remote(path):
            _require_creatable_dir(os.path.abspath(path), field)
    same = not is_remote(pipeline_root) and os.path.abspath(pipeline_root) == os.path.abspath(serving_root)
    require(
        not same and pipeline_root.rstrip("/") != serving_root.rstrip("/"),
        "serving_root",
        "must differ from pipeline_root (TF Serving would scan the pipeline's artifacts)",
    )


def _require_creatable_dir(path: str, field: str) -> None:
    if os.path.exists(path):
        require(os.path.isdir(path), field, f"{path} exists and is not a directory")
        require(os.access(path, os.W_OK | os.X_OK), field, f"{path} is not writable")
        return
    parent = os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    require(os.path.isdir(parent), field, f"cannot create {path}: {parent} is not a directory")
    require(os.access(parent, os.W_OK | os.X_OK), field, f"cannot create {path}: {parent} is not writable")
