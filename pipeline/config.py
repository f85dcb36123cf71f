"""Pipeline configuration: plain dataclasses, presets, JSON round-trip and validation.

Configuration is data: every component receives the whole `PipelineConfig` as a JSON exec property
(`PipelineConfig.to_json()`), so the same values drive the local runner, Kubeflow and the stability lab.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

BINARY_TASKS: tuple[str, ...] = ("click", "like", "share", "dismiss")
REGRESSION_TASKS: tuple[str, ...] = ("watch_time", "survey_rating")
TASKS: tuple[str, ...] = BINARY_TASKS + REGRESSION_TASKS


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field."""


@dataclass(frozen=True)
class WorldConfig:
    """The synthetic world that the log generator simulates (first version: no drift)."""

    seed: int = 7
    num_users: int = 5_000
    num_videos: int = 2_000
    num_creators: int = 200
    num_topics: int = 24
    num_countries: int = 8
    start_day: int = 0
    num_days: int = 1
    impressions_per_day: int = 60_000
    candidates_per_request: int = 8
    num_shards: int = 4
    survey_rate: float = 0.05
    malformed_rate: float = 0.0  # fraction of deliberately corrupted log lines (tests the quarantine)


@dataclass(frozen=True)
class IngestConfig:
    """Log ingest: deterministic split and quarantine policy."""

    eval_fraction: float = 0.2  # share of impressions (by hash of impression_id) in the eval split
    max_bad_fraction: float = 0.01  # above this fraction of malformed lines the run fails
    max_line_bytes: int = 65_536  # longer lines are quarantined, never parsed
    max_field_chars: int = 256  # longer string fields (ids, enums) are quarantined


@dataclass(frozen=True)
class TransformConfig:
    """Vocabulary sizes (top-k) and OOV buckets for id and categorical features."""

    id_vocab_size: int = 20_000
    id_oov_buckets: int = 10
    categorical_oov_buckets: int = 1


@dataclass(frozen=True)
class ModelConfig:
    """The multitask ranker: shared bottom (or MMoE), optional DCN-v2 cross layer, one tower per task."""

    architecture: str = "shared_bottom"  # "shared_bottom" | "mmoe"
    embedding_dim: int = 16
    hidden_units: tuple[int, ...] = (256, 128)
    use_dcn: bool = False  # DCN-v2 cross layer + LayerNorm on the input, as the paper's Large+DCN
    dcn_projection_dim: int | None = None
    num_experts: int = 4  # MMoE only
    expert_units: tuple[int, ...] = (128,)  # MMoE only
    tower_units: tuple[int, ...] = (32,)
    task_weights: dict[str, float] = field(default_factory=lambda: {t: 1.0 for t in TASKS})
    # The combined ranking score: sum_k w_k * output_k (binary outputs are probabilities; watch_time is
    # log1p seconds; survey_rating is on the 1..5 scale).
    score_weights: dict[str, float] = field(
        default_factory=lambda: {
            "click": 1.0,
            "watch_time": 0.3,
            "like": 0.5,
            "share": 0.5,
            "dismiss": -1.0,
            "survey_rating": 0.2,
        }
    )


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation. `optimizer` names a rule from models.optimizers.make_optimizer."""

    optimizer: str = "clippy"
    learning_rate: float = 0.05
    optimizer_params: dict[str, float] = field(
        default_factory=lambda: {"variable_relative_threshold": 0.5, "absolute_threshold": 1e-2}
    )
    embedding_learning_rate: float = 0.05  # Adagrad on embeddings, as in the paper
    batch_size: int = 512
    train_steps: int = 600
    eval_steps: int = 50
    seed: int = 42
    log_every_steps: int = 10
    stop_on_nonfinite: bool = True


@dataclass(frozen=True)
class StabilityConfig:
    """Divergence detector thresholds; the maths behind each is in models/stability.py.

    Counts are in logged points of the loss curve (one every `TrainConfig.log_every_steps` steps).
    """

    warmup_points: int = 5  # first points never tested for spikes (natural early loss decrease)
    ema_alpha: float = 0.1  # smoothing of the reference level r_t (EMA of the pre-spike loss)
    spike_ratio: float = 2.0  # spike starts when loss > spike_ratio * r
    recovery_ratio: float = 1.2  # spike recovers when loss <= recovery_ratio * r (r frozen at spike start)
    persist_points: int = 3  # an unrecovered spike must last this many points to be a full divergence
    end_level_ratio: float | None = 3.0  # full divergence if the final level > this x the best level
    auc_tolerance: float = 0.02  # AUC "collapsed" when |auc - 0.5| < auc_tolerance ...
    auc_collapse_points: int = 3  # ... for the last auc_collapse_points points ...
    auc_learned_margin: float = 0.05  # ... after having reached |auc - 0.5| >= auc_learned_margin
    require_auc_collapse: bool = False  # loss-based full divergence must be confirmed by AUC collapse
    block_unresolved_spike: bool = True  # the gate refuses a run that ends inside a too-short spike


@dataclass(frozen=True)
class GateConfig:
    """Evaluator thresholds: absolute per-task bounds and changes against the latest blessed model."""

    min_auc: dict[str, float] = field(
        default_factory=lambda: {"click": 0.55, "like": 0.5, "share": 0.5, "dismiss": 0.5}
    )
    max_rmse: dict[str, float] = field(default_factory=lambda: {"watch_time": 10.0, "survey_rating": 3.0})
    # Change threshold against the baseline (latest blessed model): AUC may not drop by more than this.
    max_auc_drop: float = 0.02


@dataclass(frozen=True)
class BeamConfig:
    """Beam options for every Beam-powered component (LogGen, LogIngest, StatisticsGen, Transform, Evaluator).

    Locally: DirectRunner. At scale: `runner="DataflowRunner"` with `extra_args` such as
    ["--project=P", "--region=R", "--temp_location=gs://B/tmp"], or `runner="PortableRunner"` with
    ["--job_endpoint=flink-jobserver:8099", "--environment_type=DOCKER"] for Flink/Spark.
    """

    runner: str = "DirectRunner"
    direct_running_mode: str = "in_memory"  # in_memory | multi_threading | multi_processing
    direct_num_workers: int = 1
    extra_args: tuple[str, ...] = ()

    def args(self) -> list[str]:
        out = [f"--runner={self.runner}"]
        if self.runner == "DirectRunner":
            out += [
                f"--direct_running_mode={self.direct_running_mode}",
                f"--direct_num_workers={self.direct_num_workers}",
            ]
        return out + list(self.extra_args)


@dataclass(frozen=True)
class PipelineConfig:
    name: str = "stable-ranker"  # hyphenated: Kubeflow V2 requires it
    model_name: str = "ranker"
    beam: BeamConfig = field(default_factory=BeamConfig)
    world: WorldConfig = field(default_factory=WorldConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    transform: TransformConfig = field(default_factory=TransformConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    stability: StabilityConfig = field(default_factory=StabilityConfig)
    gates: GateConfig = field(default_factory=GateConfig)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PipelineConfig:
        return from_dict(cls, json.loads(text))

    def replace(self, **sections: Any) -> PipelineConfig:
        return dataclasses.replace(self, **sections)

    def only(self, *sections: str) -> PipelineConfig:
        """A copy keeping `sections` (and the names) and defaults elsewhere.

        Components receive only the sections they read, so changing e.g. the learning rate leaves the
        data components' exec properties, and hence their MLMD cache entries, unchanged.
        """
        base = PipelineConfig(name=self.name, model_name=self.model_name)
        return dataclasses.replace(base, **{s: getattr(self, s) for s in sections})


def from_dict(cls: type, data: dict[str, Any]):
    """Builds dataclass `cls` from a nested dict; unknown keys raise ConfigError naming the field."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown field(s) {unknown}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        default = getattr(cls(), name) if _has_defaults(cls) else None
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            value = from_dict(type(default), value)
        elif isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def _has_defaults(cls: type) -> bool:
    return all(
        f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        for f in dataclasses.fields(cls)
    )


def tiny_preset() -> PipelineConfig:
    """Whole pipeline in well under 3 minutes: used by the end-to-end tests."""
    return PipelineConfig(
        world=WorldConfig(
            num_users=300,
            num_videos=200,
            num_creators=30,
            num_topics=8,
            impressions_per_day=4_000,
            num_shards=2,
        ),
        transform=TransformConfig(id_vocab_size=1_000),
        model=ModelConfig(embedding_dim=8, hidden_units=(32, 16), tower_units=(8,)),
        train=TrainConfig(batch_size=128, train_steps=60, eval_steps=5, log_every_steps=5),
        # ~800 eval impressions hold only a handful of likes/shares: their AUC is noise at this size, so the
        # tiny preset gates on click AUC (and the RMSE bounds) only.
        gates=GateConfig(min_auc={"click": 0.55}),
    )


def default_preset() -> PipelineConfig:
    """The `make run` preset: a realistic but CPU-sized run."""
    return PipelineConfig()


PRESETS = {"tiny": tiny_preset, "default": default_preset}


def get_preset(name: str) -> PipelineConfig:
    try:
        return PRESETS[name]()
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
