"""Lab presets: the world, the model sizes, the training protocol and the grids of a sweep (configuration as data).

Sizes mirror the paper's Table 1 shapes scaled for two CPU cores (Small: FFN 512 x 2; Large: FFN 4096 x 4;
Large+DCN: DCN-v2 on the input -> LayerNorm -> Large). The baseline grids are the paper's §5.1.3 grids; Clippy uses
its fixed thresholds (lambda_rel 0.5, lambda_abs 1e-2). "1x" is calibrated per optimizer family
(naive Adagrad for the Adagrad variants, naive Adam for the Adam family; experiments/sweep.py, stage 1).

Difficulty knobs (documented in docs/results/README.md): the lab world logs more generated features than the
pipeline's default preset and has a `counter_rescale` shock (a logging change: `video_views` logged x1000) on one
training day, an abrupt distribution shift of the kind the paper blames for steep curvature (§3.2).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from config.settings import (
    TASKS,
    ModelConfig,
    ShockConfig,
    StabilityConfig,
    TransformConfig,
    WorldConfig,
    tiny_preset,
)

METHODS: tuple[str, ...] = ("adagrad", "gc", "agc", "lamb", "clippy", "adam", "clippy_adam")
PAPER_METHODS: tuple[str, ...] = ("adagrad", "gc", "agc", "lamb", "clippy")
SIZES: tuple[str, ...] = ("small", "large", "large_dcn")
#: Methods whose "1x" comes from the naive-Adam calibration (Adam's per-coordinate step is ~lr from the first step,
#: Adagrad's ~lr * g / sqrt(accumulator), so one learning-rate scale cannot serve both families).
ADAM_FAMILY: tuple[str, ...] = ("adam", "clippy_adam")


#: How reports name the naive optimizer that calibrates each family.
FAMILY_LABELS: dict[str, str] = {"adagrad": "Adagrad", "adam": "Adam"}


def lr_family(method: str) -> str:
    """The calibration a method's "1x" comes from: "adam" for the Adam family, else "adagrad"."""
    return "adam" if method in ADAM_FAMILY else "adagrad"


#: The paper's baseline grids (§5.1.3) as make_optimizer parameters; Clippy's thresholds are fixed.
PAPER_GRIDS: dict[str, tuple[dict[str, float], ...]] = {
    "adagrad": ({},),
    "gc": ({"clip_norm": 1e-1}, {"clip_norm": 1e-2}, {"clip_norm": 1e-3}),
    "agc": ({"clipping": 1e-2}, {"clipping": 1e-3}, {"clipping": 1e-4}),
    "lamb": ({"mu": 1e-1}, {"mu": 1e-2}, {"mu": 1e-3}),
    "clippy": ({"variable_relative_threshold": 0.5, "absolute_threshold": 1e-2},),
    "adam": ({},),
    "clippy_adam": ({"variable_relative_threshold": 0.5, "absolute_threshold": 1e-2},),
}


#: The shared detector (models/stability.py) with thresholds for the lab's short curves (one point per 10 steps,
#: ~24-32 points): warm-up of 2 points (the LR warm-up already protects the start); the AUC series it judges is the
#: continuous evaluation's click AUC on day N (8k examples), "learned" when >= 0.58 and "collapsed" when its last 3
#: evaluations are within 0.5 ± 0.06 -- the paper's "AUC drops to 0.5 and never recovers" with a band wide enough
#: for an 8k-example AUC. Loss thresholds are the shared defaults (spike 2x, recovery 1.2x, end level 3x).
LAB_STABILITY = StabilityConfig(warmup_points=2, auc_tolerance=0.06, auc_learned_margin=0.08, auc_collapse_points=3)


def model_config(
    size: str, embedding_dim: int, width: int, task_weights: dict[str, float] | None = None
) -> ModelConfig:
    """The ranker of `size`: small = 2 x width, large = 4 x (4 width), large_dcn = DCN-v2 + LayerNorm + large;
    "tiny": the pipeline's tiny preset model; "w<N>" (the width experiment): one shared layer of N units."""
    weights = task_weights or {t: 1.0 for t in TASKS}
    if size == "tiny":  # the pipeline's tiny preset model (the gate audit's)
        return dataclasses.replace(tiny_preset().model, task_weights=weights)
    if size.startswith("w") and size[1:].isdigit():
        return ModelConfig(
            embedding_dim=embedding_dim, hidden_units=(int(size[1:]),), tower_units=(16,), task_weights=weights
        )
    if size == "small":
        return ModelConfig(
            embedding_dim=embedding_dim, hidden_units=(width, width), tower_units=(16,), task_weights=weights
        )
    if size in ("large", "large_dcn"):
        return ModelConfig(
            embedding_dim=embedding_dim,
            hidden_units=(4 * width,) * 4,
            tower_units=(16,),
            use_dcn=size == "large_dcn",
            task_weights=weights,
        )
    raise ValueError(f"unknown size {size!r}; known: {list(SIZES)}")


def lab_world(impressions_per_day: int, num_days: int, num_extra_dense: int, shock_day: int | None) -> WorldConfig:
    """The lab's world: small entity counts (fast), many generated features, a logging shock on `shock_day`."""
    shocks = (
        (ShockConfig(kind="counter_rescale", day=shock_day, field="video_views", factor=1000.0),) if shock_day else ()
    )
    return WorldConfig(
        seed=11,
        num_users=2_000,
        num_videos=600,
        num_creators=80,
        num_topics=12,
        impressions_per_day=impressions_per_day,
        num_shards=1,
        num_days=num_days,
        uploads_per_day=20,
        num_extra_dense_features=num_extra_dense,
        num_extra_categorical_features=2,
        shocks=shocks,
    )


@dataclass(frozen=True)
class LabPreset:
    """Everything a sweep needs.

    Attributes:
      world, transform: the data (N = world.num_days days: train on the first N-1 in order, evaluate on day N).
      embedding_dim, width: model scale (see `model_config`).
      batch_size, passes_per_day, window: training protocol; one logged loss/AUC point per `window` steps.
      eval_every_windows: evaluate on day N every this many windows; eval_examples caps the evaluation set.
      embedding_learning_rate: Adagrad on embeddings, fixed (the LR multiplier acts on the stabilised variables).
      warmup_steps: linear LR warm-up of the dense optimizer, the same for every method (0: none). Without it a
        high LR kills naive Adagrad in its very first steps, before anything was learned; with it the model
        first trains healthily, as in the paper's Figure 4 (the paper's production models used warm-up, §3.2).
      workers: training processes run in parallel.
      stability: the shared detector's thresholds for lab curves (`LAB_STABILITY`).
      calibration_lrs, calibration_seeds: the naive-Adagrad scan that calibrates "1x" on the Small model.
      adam_calibration_lrs: the same scan with naive Adam, calibrating "1x" of the Adam family (`ADAM_FAMILY`);
        skipped when no Adam-family method is swept.
      sizes, methods, table_multipliers: the Table 2 grid (searched on seed 0).
      seeds: seeds the best configuration per (method, size) is repeated on.
      frontier_multipliers: extra multipliers for the stability frontier (best config at 1x, seed 0).
      ablation_seeds, ablation_multiplier: Table 3 analogue on Large+DCN, naive Adagrad ([] to skip).
      probe_every_steps: telemetry period of the unclipped Figure 4 probe run.
    """

    name: str
    world: WorldConfig
    # TF2 tracing: the committed results in docs/results were prepared that way (the TF1 path agrees within float32
    # rounding, not bit for bit).
    transform: TransformConfig = field(default_factory=lambda: TransformConfig(id_vocab_size=4_000, tf_compat_v1=False))
    embedding_dim: int = 8
    width: int = 64
    batch_size: int = 256
    passes_per_day: int = 1
    window: int = 10
    eval_every_windows: int = 2
    eval_examples: int = 8_192
    embedding_learning_rate: float = 0.05
    warmup_steps: int = 80
    workers: int = 2
    stability: StabilityConfig = field(default_factory=lambda: LAB_STABILITY)
    calibration_lrs: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 0.8)
    calibration_seeds: tuple[int, ...] = (0, 1, 2)
    adam_calibration_lrs: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3)
    sizes: tuple[str, ...] = SIZES
    methods: tuple[str, ...] = METHODS
    table_multipliers: tuple[float, ...] = (1.0, 2.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    frontier_multipliers: tuple[float, ...] = (0.25, 0.5, 4.0)
    ablation_seeds: tuple[int, ...] = (0, 1, 2)
    ablation_multiplier: float = 0.5
    probe_every_steps: int = 2
    grids: dict[str, tuple[dict[str, float], ...]] = field(default_factory=lambda: dict(PAPER_GRIDS))
    #: The uncensored frontier: after the fixed frontier multipliers, each paper method's best
    #: configuration is scanned upward through these (seed 0 first; at the first multiplier where seed 0 fails the
    #: other seeds run too) until it fails on >= 2 of 3 seeds ("breaks"). () skips the scan.
    frontier_scan: tuple[float, ...] = ()
    #: The paper's protocol without warm-up (variant "no_warmup"): the accumulator starts G_0 scanned
    #: for naive Adagrad (Small, 1x, first seed); the smallest one at which it learns (some evaluation reaches click AUC
    #: >= 0.58) before it diverges is used by every Adagrad-family method in the no-warm-up runs. () skips them.
    no_warmup_g0s: tuple[float, ...] = ()
    #: train.recovery in the lab: naive Adagrad at 1x and Clippy at 2x (the seeded runs) again
    #: with recovery on, every size and seed (variant "recovery", stage "recovery").
    recovery_runs: bool = True
    #: The width experiment's controlled few-coordinate shock (variant "feature_shock"): on the world's shock day one
    #: generated feature is multiplied by this *after* normalisation (a counter rescale that bypasses it).
    feature_shock_factor: float = 100.0
    #: The day of that shock (None: the world's shock days). Not the last training day, so that recovery shows.
    feature_shock_day: int | None = None
    #: Record, every step, how many coordinates of the top shared kernel's update carry 90 % of its squared norm.
    record_concentration: bool = False
    #: Step-placed feature shocks (the mechanism probe): (variant, step) pairs. A run of that variant has the first
    #: generated feature multiplied by `feature_shock_factor` after normalisation in every batch from that step
    #: (0-based optimizer iteration) to the end of training: a logging change that stays.
    step_shocks: tuple[tuple[str, int], ...] = ()
    #: Record the training loss of every step (`curves["step_loss"]`), not only the window means.
    record_step_loss: bool = False


def quick_preset() -> LabPreset:
    """<= 5 minutes on 2 free cores: Small only, naive / GC / Clippy, one seed, 1x and 2x (a smoke test of the lab)."""
    return LabPreset(
        name="quick",
        world=lab_world(impressions_per_day=6_000, num_days=4, num_extra_dense=12, shock_day=2),
        width=32,
        batch_size=128,
        passes_per_day=2,
        calibration_lrs=(0.8, 1.6),
        calibration_seeds=(0,),
        sizes=("small",),
        methods=("adagrad", "gc", "clippy"),
        seeds=(0,),
        frontier_multipliers=(),
        ablation_seeds=(),
        grids={**PAPER_GRIDS, "gc": ({"clip_norm": 1e-1},)},
    )


def full_preset() -> LabPreset:
    """Every size, the paper's grids, 3 seeds, the ablation, recovery, the no-warm-up protocol and the frontier at
    0.5x and 4x (see docs/results). The uncensored frontier scan is the `frontier` preset."""
    return LabPreset(
        name="full",
        world=lab_world(impressions_per_day=6_000, num_days=5, num_extra_dense=16, shock_day=2),
        width=32,
        batch_size=128,
        passes_per_day=2,
        calibration_lrs=(0.8, 1.6, 3.2),
        frontier_multipliers=(0.5, 4.0),
        no_warmup_g0s=(0.1, 1.0, 10.0, 100.0),
        ablation_seeds=(0, 1),
    )


#: The uncensored frontier's multipliers, above `full`'s 4x ceiling.
FRONTIER_SCAN: tuple[float, ...] = (8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0)


def frontier_preset() -> LabPreset:
    """`full` plus the uncensored frontier scan. Run it into the same `--out` as `full`: every run
    of `full` is found there (same world, same run ids) and only the upward scan is new."""
    return dataclasses.replace(full_preset(), name="frontier", frontier_scan=FRONTIER_SCAN)


#: The width experiment (experiments/width.py): widths of the top shared layer, methods at their best settings.
WIDTHS: tuple[int, ...] = (64, 256, 1024, 4096)
#: Best settings per method from the `full` sweep's grid on Small (docs/results/results.csv, seed 0 at 1x and 2x).
WIDTH_METHODS: dict[str, dict[str, float]] = {
    "adagrad": {},
    "gc": {"clip_norm": 1e-1},
    "agc": {"clipping": 1e-2},
    "clippy": {"variable_relative_threshold": 0.5, "absolute_threshold": 1e-2},
}
WIDTH_VARIANTS: tuple[str, ...] = ("clean", "feature_shock")
#: The earlier `full` sweep's calibrated "1x" of the Adagrad family, at which the width experiment ran (naive Adagrad
#: diverged on most seeds of every size). The current `full` (with the chance rule) calibrates 0.8: this is its 2x.
WIDTH_BASE_LR = 1.6


def width_preset() -> LabPreset:
    """4 widths x 4 methods x 2 shocks x 3 seeds = 96 runs of ~135 steps at batch 64 (one pass over 3 days)."""
    return LabPreset(
        name="width",
        world=lab_world(impressions_per_day=3_000, num_days=4, num_extra_dense=12, shock_day=2),
        batch_size=64,
        passes_per_day=1,
        window=5,
        eval_every_windows=3,
        eval_examples=4_096,
        # 60 steps: at 1.6 naive Adagrad diverged near step 12 with a 20-step warm-up, before it learned and with no
        # steady level to compare the onset with; 60 steps give it ~30 healthy steps first.
        warmup_steps=60,
        stability=dataclasses.replace(LAB_STABILITY, warmup_points=3),
        sizes=tuple(f"w{w}" for w in WIDTHS),
        methods=tuple(WIDTH_METHODS),
        seeds=(0, 1, 2),
        table_multipliers=(1.0,),
        frontier_multipliers=(),
        ablation_seeds=(),
        record_concentration=True,
        recovery_runs=False,
        feature_shock_day=1,  # the middle training day (days 0-2 train, day 3 evaluates; the lab's shock is day 2)
    )


#: The mechanism probe (experiments/probe.py): the calibrated "1x" of the `full` sweep (docs/results/calibration.json),
#: naive Adagrad at these multipliers of it, on the size whose naive failures come late (Small: onset at step 260 on
#: 2 of 3 seeds at 1x in `full`, Large at 80-120, Large+DCN at 20-60).
PROBE_BASE_LR = 0.8
PROBE_MULTIPLIERS: tuple[float, ...] = (1.0, 0.5)
PROBE_SIZE = "small"
#: Shock placements (0-based steps): both well after the 80-step warm-up; "early" 120 steps after it ends, "late"
#: 400 steps after it (the Adagrad accumulators then sum 2.4x as many steps of squared gradients). "no_shock" is
#: the placebo: the same runs without a shock, read at both placements.
PROBE_SHOCKS: tuple[tuple[str, int], ...] = (("shock_early", 200), ("shock_late", 480))
PROBE_PLACEBO = "no_shock"


def probe_preset() -> LabPreset:
    """`full`'s world without its own shock, 8 training days (640 steps of 128), Small, naive Adagrad at 1x and
    0.5x, 3 seeds, a x100 feature shock at step 200 or 480 (or none), per-step loss and telemetry of every layer."""
    return LabPreset(
        name="probe",
        world=lab_world(impressions_per_day=6_000, num_days=9, num_extra_dense=16, shock_day=None),
        width=32,
        batch_size=128,
        passes_per_day=2,
        sizes=(PROBE_SIZE,),
        methods=("adagrad",),
        seeds=(0, 1, 2),
        table_multipliers=PROBE_MULTIPLIERS,
        frontier_multipliers=(),
        ablation_seeds=(),
        recovery_runs=False,
        step_shocks=PROBE_SHOCKS,
        record_step_loss=True,
    )


PRESETS = {
    "quick": quick_preset,
    "full": full_preset,
    "frontier": frontier_preset,
    "width": width_preset,
    "probe": probe_preset,
}


def get_lab_preset(name: str) -> LabPreset:
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown lab preset {name!r}; choose one of {sorted(PRESETS)}") from None
