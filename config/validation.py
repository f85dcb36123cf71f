"""Every configuration rule, in one place: fail fast, before any work starts.

`validate_config(config)` is called once where a run starts (the CLI's `run` and `compile-kubeflow`, the lab's
sweep); `PipelineConfig.validate()` is the same call. `validate_paths` checks the run's roots. A few library entry
points that are used without a run (`World(cfg)`, `detect_divergence`) guard their input with the section rule of
this module, so a rule exists exactly once.

Every failure is `ConfigError(why, field=...)` whose `field` is the dotted name of the offending setting
(`train.optimizer`, `ingest.max_bad_fraction`, `world.shocks[0].topic`, `pipeline_root`, ...); its message reads
`<field>: <why>`; the CLI prints `configuration error: <field>: <why>` and exits with status 2.

Rules (tests/config/test_config_validation.py has one case per rule):

* names: `name` is a Kubeflow V2 pipeline name (lowercase letters, digits, hyphens; the message suggests a fix);
  `model_name` is a safe directory name (it becomes `<serving root>/<model_name>/`, never all digits).
* types and ranges: counts and sizes are positive integers, fractions lie in [0, 1] (`eval_fraction` in (0, 1)),
  learning rates are finite and > 0, thresholds are finite.
* enumerations: `beam.direct_running_mode`, `train.distribution`, `model.architecture`, `train.optimizer`
  (config/vocabulary.py's optimizer table, which models.optimizers builds from); `train.optimizer_params` are
  parameters of that optimizer with values of their kind, and compatible with each other.
* task dictionaries: `model.task_weights` / `model.score_weights` name known tasks only; `gates.min_auc` binary
  tasks with an AUC in [0.5, 1]; `gates.max_rmse` regression tasks with a bound > 0.
* gates: `gates.min_lift_over_baseline` and `gates.max_slice_auc_drop` are None or AUC differences in
  [-0.5, 0.5]; `gates.lift_interval` is a bool; `gates.eval_splits` name splits; `gates.slice_features` name
  categorical features; `baseline` and `tuning` rates, counts and steps are positive; a lift is gated only with
  `baseline.enabled`, and `model.wide_from_simple` needs `model.wide` and `baseline.enabled`.
* orderings: `stability.spike_ratio > recovery_ratio >= 1`, `0 < auc_tolerance < auc_learned_margin <= 0.5`;
  `world.num_videos >= world.num_topics`; `train.log_every_steps <= train.train_steps`; shocks fit the world.
* drift and sequential training: thresholds > 0, acknowledgements read FEATURE@DAY, `sequential.window_days >= 1`.
* Beam: `beam.runner` PortableRunner needs `beam.job_endpoint` HOST:PORT (or --job_endpoint in extra_args);
  `beam.environment_type` is one of EXTERNAL / PROCESS / LOOPBACK / DOCKER, and all but LOOPBACK need
  `beam.environment_config`; `beam.job_server_timeout_s` is a positive integer.
* deploy: `deploy.resources` maps node ids to cpu/memory requests and limits (numbers > 0, request <= limit).
* paths: roots are non-empty; a local root is a directory or can be created as one in a writable parent; the
  serving root is not the pipeline root. Remote URIs (`gs://`, `s3://`, ...) are checked by the filesystem later.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

from config.paths import is_remote
from config.settings import (
    ARCHITECTURES,
    BINARY_TASKS,
    DISTRIBUTIONS,
    REGRESSION_TASKS,
    RESOURCE_KEYS,
    SHOCK_KINDS,
    SLICEABLE_FEATURES,
    TASKS,
    BaselineConfig,
    BeamConfig,
    ConfigError,
    DeployConfig,
    DriftConfig,
    GateConfig,
    IngestConfig,
    ModelConfig,
    PipelineConfig,
    SequentialConfig,
    StabilityConfig,
    TrainConfig,
    TransformConfig,
    TuningConfig,
    WorldConfig,
)
from config.vocabulary import (
    COUNTRIES,
    DIRECT_RUNNING_MODES,
    MAX_EXTRA_FEATURES,
    MAX_TOPICS,
    MODEL_NAME_PATTERN,
    OPTIMIZER_NAMES,
    OPTIMIZER_PARAMETERS,
    PIPELINE_NAME_PATTERN,
    PORTABLE_ENVIRONMENTS,
    RESCALABLE_COUNTERS,
    SPLITS,
)


def fail(field: str, why: str) -> None:
    """Raises the ConfigError of `field`."""
    raise ConfigError(why, field=field)


def require(ok: bool, field: str, why: str) -> None:
    if not ok:
        fail(field, why)


def is_int(value: Any) -> bool:
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float (bool is not a number here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def require_int(value: Any, field: str, minimum: int = 1) -> None:
    require(is_int(value) and value >= minimum, field, f"must be an integer >= {minimum}, got {value!r}")


def require_bool(value: Any, field: str) -> None:
    require(isinstance(value, bool), field, f"must be true or false, got {value!r}")


def require_fraction(value: Any, field: str, low_open: bool = False, high_open: bool = False) -> None:
    ok = is_number(value) and (value > 0 if low_open else value >= 0) and (value < 1 if high_open else value <= 1)
    interval = ("(" if low_open else "[") + "0, 1" + (")" if high_open else "]")
    require(ok, field, f"must be a number in {interval}, got {value!r}")


def require_positive_number(value: Any, field: str) -> None:
    require(is_number(value) and value > 0, field, f"must be a finite number > 0, got {value!r}")


def require_nonnegative_number(value: Any, field: str) -> None:
    require(is_number(value) and value >= 0, field, f"must be a finite number >= 0, got {value!r}")


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


# --------------------------------------------------------------------------------------------------------------
# Names


def validate_pipeline_name(name: Any, field: str = "name") -> str:
    """A Kubeflow V2 pipeline name; the message suggests a valid one (underscores are the usual mistake)."""
    if isinstance(name, str) and PIPELINE_NAME_PATTERN.fullmatch(name):
        return name
    suggestion = re.sub(r"[^a-z0-9-]+", "-", str(name).lower()).strip("-")
    hint = ""
    if "_" in str(name):
        hint = f"; underscores are not allowed, use hyphens (e.g. {suggestion!r})"
    elif suggestion and PIPELINE_NAME_PATTERN.fullmatch(suggestion):
        hint = f" (e.g. {suggestion!r})"
    fail(
        field,
        f"pipeline name {name!r} is not valid for Kubeflow Pipelines V2: it must be 1-128 lowercase letters, "
        f"digits and hyphens, not starting with a hyphen{hint}",
    )
    return name  # unreachable


def validate_model_name(name: Any, field: str = "model_name") -> str:
    """A model name becomes a directory: letters, digits, `_.-`, not starting with a dot, not all digits."""
    ok = isinstance(name, str) and MODEL_NAME_PATTERN.fullmatch(name) is not None and not name.isdigit()
    require(ok, field, f"{name!r} is not a safe directory name (letters, digits, '_', '.', '-'; not all digits)")
    return name


def validate_names(config: PipelineConfig) -> None:
    validate_pipeline_name(config.name)
    validate_model_name(config.model_name)


# --------------------------------------------------------------------------------------------------------------
# Sections


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
    for name in ("job_endpoint", "environment_type", "environment_config"):
        require(isinstance(getattr(beam, name), str), f"beam.{name}", "must be a string")
    require_int(beam.job_server_timeout_s, "beam.job_server_timeout_s")
    if beam.runner == "PortableRunner":
        given = beam.job_endpoint or any(a.startswith("--job_endpoint=") for a in beam.extra_args)
        require(bool(given), "beam.job_endpoint", "PortableRunner needs the job server's HOST:PORT")
        if beam.job_endpoint:
            require(
                re.fullmatch(r"[^\s:]+:\d+", beam.job_endpoint) is not None,
                "beam.job_endpoint",
                f"must be HOST:PORT, got {beam.job_endpoint!r}",
            )
    if beam.environment_type:
        require(
            beam.environment_type in PORTABLE_ENVIRONMENTS,
            "beam.environment_type",
            f"must be one of {list(PORTABLE_ENVIRONMENTS)}, got {beam.environment_type!r}",
        )
        needs_config = beam.environment_type in ("EXTERNAL", "PROCESS", "DOCKER")
        require(
            bool(beam.environment_config) or not needs_config,
            "beam.environment_config",
            f"environment_type {beam.environment_type} needs environment_config (a worker pool HOST:PORT, a command "
            "or an image)",
        )


def validate_deploy(deploy: DeployConfig) -> None:
    require(isinstance(deploy.resources, dict), "deploy.resources", "must map node ids to resource dictionaries")
    for node, spec in deploy.resources.items():
        where = f"deploy.resources.{node}"
        require(isinstance(spec, dict), where, "must be a dictionary")
        unknown = sorted(set(spec) - set(RESOURCE_KEYS))
        require(not unknown, where, f"unknown keys {unknown}; known: {list(RESOURCE_KEYS)}")
        for key, value in spec.items():
            require(is_number(value) and value > 0, f"{where}.{key}", f"must be a number > 0, got {value!r}")
        for kind in ("cpu", "memory"):
            low, high = spec.get(f"{kind}_request"), spec.get(f"{kind}_limit")
            ok = low is None or high is None or low <= high
            require(ok, where, f"{kind}_request {low} exceeds {kind}_limit {high}")
    require(isinstance(deploy.base_path_root, str), "deploy.base_path_root", "must be a string")


def validate_world(world: WorldConfig) -> None:
    """The world's counts, rates and orderings, and its shocks (the maths is in world/simulator.py)."""
    positive: tuple[str, ...] = ("num_users", "num_videos", "num_creators", "num_topics", "num_countries", "num_days")
    positive += ("impressions_per_day", "candidates_per_request", "num_shards")
    for name in positive:
        require_int(getattr(world, name), f"world.{name}")
    for name in ("seed", "start_day", "uploads_per_day", "num_extra_dense_features", "num_extra_categorical_features"):
        require_int(getattr(world, name), f"world.{name}", minimum=0)
    for name in ("num_extra_dense_features", "num_extra_categorical_features"):
        value = getattr(world, name)
        require(value <= MAX_EXTRA_FEATURES, f"world.{name}", f"must be <= {MAX_EXTRA_FEATURES}, got {value}")
    require(
        world.num_countries <= len(COUNTRIES),
        "world.num_countries",
        f"must be <= {len(COUNTRIES)}, got {world.num_countries}",
    )
    require(
        world.num_videos >= world.num_topics,
        "world.num_videos",
        f"({world.num_videos}) must be >= world.num_topics ({world.num_topics})",
    )
    require(world.num_topics <= MAX_TOPICS, "world.num_topics", f"must be <= {MAX_TOPICS}, got {world.num_topics}")
    for name in ("survey_rate", "malformed_rate", "extra_informative_share", "label_noise_rate", "missing_rate"):
        require_fraction(getattr(world, name), f"world.{name}")
    for name in ("subscriptions_per_user", "evergreen_share", "interest_drift", "creator_growth_per_day"):
        require_nonnegative_number(getattr(world, name), f"world.{name}")
    require_positive_number(world.popularity_peak_days, "world.popularity_peak_days")
    validate_shocks(world)


def validate_shocks(world: WorldConfig) -> None:
    launches = 0
    for i, shock in enumerate(world.shocks):
        where = f"world.shocks[{i}]"
        require(shock.kind in SHOCK_KINDS, f"{where}.kind", f"must be one of {list(SHOCK_KINDS)}, got {shock.kind!r}")
        for name in ("day", "num_days"):
            require_int(getattr(shock, name), f"{where}.{name}", minimum=0)
        if shock.kind == "viral_topic":
            ok = is_int(shock.topic) and 0 <= shock.topic < world.num_topics
            require(ok, f"{where}.topic", f"must be a topic index in [0, {world.num_topics}), got {shock.topic!r}")
            require_positive_number(shock.boost, f"{where}.boost")
        elif shock.kind == "counter_rescale":
            require(
                shock.field in RESCALABLE_COUNTERS,
                f"{where}.field",
                f"must be one of {list(RESCALABLE_COUNTERS)}, got {shock.field!r}",
            )
            require_positive_number(shock.factor, f"{where}.factor")
        else:
            launches += 1
            ok = is_number(shock.traffic_share) and 0.0 < shock.traffic_share < 1.0
            require(ok, f"{where}.traffic_share", f"must be in (0, 1), got {shock.traffic_share!r}")
    require(
        world.num_countries + launches <= len(COUNTRIES),
        "world.shocks",
        f"{launches} new_country launches need {launches} unused countries; world.num_countries="
        f"{world.num_countries} leaves {len(COUNTRIES) - world.num_countries} of {len(COUNTRIES)}",
    )
    shares = sum(s.traffic_share for s in world.shocks if s.kind == "new_country")
    require(shares < 1.0, "world.shocks", f"new_country traffic shares add up to {shares:.2f}; they must stay below 1")


# A span spec in a logs pattern, as in TFX's FileBasedExampleGen input patterns: {SPAN} or {SPAN:N}.
SPAN_SPEC_REGEX = re.compile(r"\{SPAN(?::(?P<width>[^}]*))?\}")


def logs_pattern_problem(pattern: str) -> str | None:
    """Why `pattern` cannot name the log files of a span (None when it can): exactly one {SPAN} or {SPAN:N}
    (N a positive integer), no other braces."""
    specs = list(SPAN_SPEC_REGEX.finditer(pattern))
    if len(specs) != 1:
        return f"must hold exactly one {{SPAN}} (or {{SPAN:N}}), got {len(specs)} in {pattern!r}"
    width = specs[0].group("width")
    if width is not None and not (width.isdigit() and int(width) > 0):
        return f"the width of {{SPAN:N}} must be a positive integer, got {width!r}"
    rest = SPAN_SPEC_REGEX.sub("", pattern)
    if "{" in rest or "}" in rest:
        return f"only {{SPAN}} may appear in braces, got {pattern!r}"
    return None


def validate_ingest(ingest: IngestConfig) -> None:
    require(isinstance(ingest.logs_pattern, str), "ingest.logs_pattern", "must be a string")
    if ingest.logs_pattern:
        problem = logs_pattern_problem(ingest.logs_pattern)
        require(problem is None, "ingest.logs_pattern", problem or "")
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
    require_bool(transform.tf_compat_v1, "transform.tf_compat_v1")


def validate_model(model: ModelConfig) -> None:
    require(
        model.architecture in ARCHITECTURES,
        "model.architecture",
        f"must be one of {list(ARCHITECTURES)}, got {model.architecture!r}",
    )
    require_int(model.embedding_dim, "model.embedding_dim")
    require_units(model.hidden_units, "model.hidden_units")
    require_units(model.tower_units, "model.tower_units", allow_empty=True)
    require_bool(model.use_dcn, "model.use_dcn")
    if model.dcn_projection_dim is not None:
        require_int(model.dcn_projection_dim, "model.dcn_projection_dim")
    require_fraction(model.dropout, "model.dropout", high_open=True)
    require_nonnegative_number(model.kernel_l2, "model.kernel_l2")
    require_nonnegative_number(model.embedding_l2, "model.embedding_l2")
    require_nonnegative_number(model.wide_l2, "model.wide_l2")
    require_bool(model.conditional_tasks, "model.conditional_tasks")
    require_bool(model.wide, "model.wide")
    require_bool(model.wide_from_simple, "model.wide_from_simple")
    require(
        model.wide or not model.wide_from_simple,
        "model.wide_from_simple",
        "needs model.wide: only the wide part has the simple model's layers",
    )
    require_bool(model.calibrate, "model.calibrate")
    if model.feature_screening_alpha is not None:
        require_fraction(model.feature_screening_alpha, "model.feature_screening_alpha", low_open=True, high_open=True)
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
        require_bool(getattr(train, name), f"train.{name}")
    recovery = train.recovery
    require_bool(recovery.enabled, "train.recovery.enabled")
    require(
        is_number(recovery.lr_factor) and 0 < recovery.lr_factor <= 1,
        "train.recovery.lr_factor",
        f"must be a number in (0, 1], got {recovery.lr_factor!r}",
    )
    require_int(recovery.max_recoveries, "train.recovery.max_recoveries", minimum=0)
    require_int(train.poison.step, "train.poison.step", minimum=0)
    require_int(train.poison.every, "train.poison.every", minimum=0)
    require(
        is_number(train.poison.scale) and train.poison.scale > 0,
        "train.poison.scale",
        f"must be a number > 0, got {train.poison.scale!r}",
    )
    require(
        isinstance(train.backup_dir, str), "train.backup_dir", "must be a path ('' = derived, see docs/reliability.md)"
    )
    require(
        train.distribution in DISTRIBUTIONS,
        "train.distribution",
        f"must be one of {list(DISTRIBUTIONS)}, got {train.distribution!r}",
    )
    validate_optimizer(train.optimizer, train.optimizer_params)


_PARAMETER_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "pos": (lambda v: is_number(v) and v > 0, "a finite number > 0"),
    "nonneg": (lambda v: is_number(v) and v >= 0, "a finite number >= 0"),
    "beta": (lambda v: is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "steps": (lambda v: is_int(v) and v >= 0, "an integer >= 0"),
}


def validate_optimizer(name: Any, params: Any) -> None:
    """The optimizer's name, its parameters' names and values, and their combinations (no TensorFlow needed)."""
    require(
        name in OPTIMIZER_NAMES,
        "train.optimizer",
        f"unknown optimizer {name!r}; choose one of {list(OPTIMIZER_NAMES)}",
    )
    require(isinstance(params, dict), "train.optimizer_params", f"must be an object {{name: value}}, got {params!r}")
    allowed = OPTIMIZER_PARAMETERS[name]
    unknown = sorted(set(params) - set(allowed))
    require(
        not unknown, "train.optimizer_params", f"{unknown} are not parameters of {name!r}; it takes {list(allowed)}"
    )
    for key, value in params.items():
        check, kind = _PARAMETER_KINDS[allowed[key]]
        require(check(value), f"train.optimizer_params.{key}", f"{name!r} refuses {value!r}: must be {kind}")
    if params.get("clip_accumulator_update") and params.get("use_standard_accumulator_update", True):
        require(
            name not in ("lamb", "clippy"),  # the rules whose σ reads the update r_t
            "train.optimizer_params.clip_accumulator_update",
            f"{name!r} refuses clipping the accumulator update with the standard accumulator order: its σ depends "
            "on the update, which depends on the accumulator",
        )
    if name in ("adagrad", "gc", "agc", "lamb", "clippy") and not params.get("use_standard_accumulator_update", True):
        zero = params.get("initial_accumulator_value", 0.1) == 0 and params.get("epsilon", 1e-7) == 0
        require(
            not zero,
            "train.optimizer_params.initial_accumulator_value",
            "0 with epsilon=0 divides by zero in the delayed accumulator order",
        )


def validate_stability(stability: StabilityConfig) -> None:
    """The divergence detector's thresholds (the maths is in models/stability/detector.py)."""
    require_int(stability.warmup_points, "stability.warmup_points", minimum=0)
    for name in ("persist_points", "auc_collapse_points"):
        require_int(getattr(stability, name), f"stability.{name}")
    for name in ("ema_alpha", "spike_ratio", "recovery_ratio", "auc_tolerance", "auc_learned_margin"):
        require(is_number(getattr(stability, name)), f"stability.{name}", "must be a finite number")
    s = stability
    require(0.0 < s.ema_alpha <= 1.0, "stability.ema_alpha", f"must be in (0, 1], got {s.ema_alpha!r}")
    require(s.recovery_ratio >= 1.0, "stability.recovery_ratio", f"must be >= 1, got {s.recovery_ratio!r}")
    require(
        s.spike_ratio > s.recovery_ratio,
        "stability.spike_ratio",
        f"must be > recovery_ratio ({s.recovery_ratio}), got {s.spike_ratio!r}",
    )
    require(
        isinstance(s.chance_tasks, tuple | list) and all(isinstance(x, str) for x in s.chance_tasks),
        "stability.chance_tasks",
        f"must be a list of task names, got {s.chance_tasks!r}",
    )
    if s.first_point_blowup_ratio is not None:
        ok = is_number(s.first_point_blowup_ratio) and s.first_point_blowup_ratio > s.spike_ratio
        why = f"must be > spike_ratio (or null to disable), got {s.first_point_blowup_ratio!r}"
        require(ok, "stability.first_point_blowup_ratio", why)
    if s.end_level_ratio is not None:
        ok = is_number(s.end_level_ratio) and s.end_level_ratio > 1.0
        require(ok, "stability.end_level_ratio", f"must be > 1 (or null to disable), got {s.end_level_ratio!r}")
    require(
        0.0 < s.auc_tolerance < s.auc_learned_margin,
        "stability.auc_tolerance",
        f"must be in (0, auc_learned_margin={s.auc_learned_margin}), got {s.auc_tolerance!r}",
    )
    require(
        s.auc_learned_margin <= 0.5,
        "stability.auc_learned_margin",
        f"must be <= 0.5, got {s.auc_learned_margin!r}",
    )
    require(
        is_number(s.chance_margin) and 0.0 < s.chance_margin <= 0.5,
        "stability.chance_margin",
        f"must be in (0, 0.5], got {s.chance_margin!r}",
    )
    for name in ("require_auc_collapse", "block_unresolved_spike", "chance_is_failure"):
        require_bool(getattr(s, name), f"stability.{name}")


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
    for name in ("min_lift_over_baseline", "max_slice_auc_drop"):
        value = getattr(gates, name)
        require(
            value is None or (is_number(value) and -0.5 <= value <= 0.5),
            f"gates.{name}",
            f"must be None (not gated) or an AUC difference in [-0.5, 0.5], got {value!r}",
        )
    require_bool(gates.lift_interval, "gates.lift_interval")
    require(
        isinstance(gates.eval_splits, tuple) and bool(gates.eval_splits) and set(gates.eval_splits) <= set(SPLITS),
        "gates.eval_splits",
        f"must be a non-empty list of splits of {list(SPLITS)}, got {gates.eval_splits!r}",
    )
    require(
        isinstance(gates.slice_features, tuple) and set(gates.slice_features) <= set(SLICEABLE_FEATURES),
        "gates.slice_features",
        f"must name categorical features of {list(SLICEABLE_FEATURES)}, got {gates.slice_features!r}",
    )
    require_bool(gates.cold_start_slices, "gates.cold_start_slices")
    require_positive_number(gates.cold_video_max_age_days, "gates.cold_video_max_age_days")
    require_int(gates.cold_user_max_watch_count, "gates.cold_user_max_watch_count")


def validate_baseline(baseline: BaselineConfig) -> None:
    require_bool(baseline.enabled, "baseline.enabled")
    require_positive_number(baseline.learning_rate, "baseline.learning_rate")
    require_nonnegative_number(baseline.l2, "baseline.l2")
    require_nonnegative_number(baseline.dense_l2, "baseline.dense_l2")
    require_int(baseline.batch_size, "baseline.batch_size")
    require_int(baseline.train_steps, "baseline.train_steps")


def validate_tuning(tuning: TuningConfig) -> None:
    require_bool(tuning.enabled, "tuning.enabled")
    for name in ("max_trials", "train_steps", "eval_steps"):
        require_int(getattr(tuning, name), f"tuning.{name}")
    require_int(tuning.seed, "tuning.seed", minimum=0)


def parse_acknowledgement(entry: str) -> tuple[str, int]:
    """("feature", day) of a drift acknowledgement "feature@day" ("*" for every feature)."""
    feature, sep, day = str(entry).rpartition("@")
    if not sep or not feature or not day.lstrip("-").isdigit():
        raise ValueError(f"drift acknowledgement {entry!r} must read FEATURE@DAY (or *@DAY), e.g. video_views@5")
    return feature, int(day)


def validate_drift(drift: DriftConfig) -> None:
    for name in ("enabled", "check_skew"):
        require_bool(getattr(drift, name), f"drift.{name}")
    require(drift.split in SPLITS, "drift.split", f"must be one of {list(SPLITS)}, got {drift.split!r}")
    for section in ("linf_thresholds", "jsd_thresholds"):
        thresholds = getattr(drift, section)
        require(isinstance(thresholds, dict), f"drift.{section}", "must be an object {feature: threshold}")
        for feature, value in thresholds.items():
            require_positive_number(value, f"drift.{section}.{feature}")
    for entry in drift.acknowledged:
        try:
            parse_acknowledgement(entry)
        except ValueError as err:
            fail("drift.acknowledged", str(err))


def validate_sequential(seq: SequentialConfig) -> None:
    require_int(seq.window_days, "sequential.window_days")
    require_bool(seq.warm_start, "sequential.warm_start")


def validate_config(config: PipelineConfig) -> PipelineConfig:
    """Checks every section; returns `config` unchanged or raises ConfigError naming the first bad field."""
    validate_names(config)
    validate_beam(config.beam)
    validate_deploy(config.deploy)
    validate_world(config.world)
    validate_ingest(config.ingest)
    validate_transform(config.transform)
    validate_model(config.model)
    validate_stability(config.stability)
    validate_gates(config.gates)
    validate_baseline(config.baseline)
    require(
        config.baseline.enabled or config.gates.min_lift_over_baseline is None,
        "gates.min_lift_over_baseline",
        "must be None (not gated) when baseline.enabled is false: there is no simple model to beat",
    )
    require(
        config.baseline.enabled or not config.model.wide_from_simple,
        "model.wide_from_simple",
        "needs baseline.enabled: the wide part starts from the BaselineTrainer's model",
    )
    validate_tuning(config.tuning)
    validate_train(config.train)
    validate_drift(config.drift)
    validate_sequential(config.sequential)
    return config


# --------------------------------------------------------------------------------------------------------------
# Paths


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
