"""The powered comparison: every optimizer tuned with the same budget, then run on held-out seeds and worlds.

The question: at the learning rates the paper compares at, is Clippy better, worse or indistinguishable from GC,
naive Adagrad, Adam and Clippy-Adam when each is tuned with the same budget, and how often does each fail? The plan
below, and its rules, are fixed before any run.

**Protocol.** The `full` preset's world generator (5 days of 6000 impressions, 16 generated dense and 2 generated
categorical features, the video_views x1000 logging shock on day 2), Small and Large+DCN, batch 128, with
**one pass per training day** (160 steps; `full` makes two) and a 40-step linear warm-up (`full`: 80 of 320): the
cut that makes a run ~10 CPU-s, so that the plan fits two free cores in about 30 minutes. Learning rates are
multipliers of the `full` sweep's calibrated 1x (`docs/results/calibration.json`: 0.8 for the Adagrad family, 0.3
for the Adam family), not re-calibrated.

**Configurations: three per method** (`GRIDS`). Naive Adagrad and naive Adam have one knob, the rate: Adagrad at
0.25x, 0.5x, 1x; Adam at 0.1x, 0.25x, 0.5x (Adam diverged at its 1x on every size in `full`). The stabilisers run at
the paper's 2x and get three thresholds each: GC λ in {0.1, 0.01, 0.001} (the paper's grid), Clippy and Clippy-Adam
λ_rel in {0.25, 0.5, 1.0} with λ_abs = 0.01.

**Seeds.** Tuning on the tuning world (seed 11, every lab preset's world) with model seeds `TUNING_SEEDS`; evaluation
on `EVAL_WORLDS` x `EVAL_SEEDS`. Each set is `gate_audit.held_out_seeds(count, first, excluded)` with `excluded`
every integer literal in `tests/`, `config/` and `experiments/` when the plan was written (first 100, 200 and 3000;
kept as data, guarded by tests/experiments/test_powered.py), so no other preset, test or experiment uses them.

**The deadline rule.** The evaluation runs are queued one method at a time (`EVAL_ORDER`); a method whose block
did not finish by the deadline is left out of the tables, never reported on fewer seeds. The tables name any method
left out.

**Tuning rule** (`pick_winner`), per method and size over its three configurations on the tuning seeds: the most
tuning seeds that trained (a run *fails* when it fully diverged or its final click AUC on the evaluation day is
below 0.55, `experiments.rejudge.failed`), then the highest mean click AUC over the tuning seeds (a failed run
counts with its final click AUC, 0.5 where there is none), then the lowest mean watch-time RMSE (NaN counts as
worst), then the configuration listed first in `GRIDS` (the lowest rate or the tightest threshold).

**Evaluation.** Each method's winner on every size, evaluation world and evaluation seed: 5 methods x 2 sizes x
2 worlds x 10 seeds = 200 runs, after 5 methods x 3 configurations x 2 sizes x 2 tuning seeds = 60 tuning runs. A
run's *kind* (`failure_kind`): "healthy"; "blew_up" when the detector's outcome is "blew_up", or when the run did
not fail by the detector but ends below 0.55 after some evaluation reached 0.58 (it learned, then lost it);
"never_learned" otherwise.

**Tables** (`powered.md`, `powered.csv` per run, `powered_pairs.csv` per interval). Failure counts per method, size
and world, split by kind, with exact 95 % Clopper-Pearson intervals. Clippy minus each other method, paired by
(world seed, model seed): same data, same data order and initialisation; over the pairs where both runs trained
(failures are counted in the failure table, not in the quality difference), the mean difference and its 95 % t
interval for click/like/share/dismiss AUC (points) and watch-time / survey RMSE; per size x world and pooled over
the two worlds per size (20 pairs), bold when the interval excludes 0.

**Re-judged claims** (`claim_verdicts`; rules stated there, before the numbers): C1, C2, C3, C6, C10, C11 where the
powered data speaks to them; C4, C5, C7, C8, C9 are not tested by it.

`ranker sweep --preset powered --out DIR` runs it (resumable: finished runs, keyed by run id in `DIR/powered.csv`,
are never trained again) and writes the report into DIR; `python -m experiments.powered --out DIR --results
docs/results` does the same and writes the report into docs/results (`--report-only`: from the runs done so far).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import itertools
import json
import math
import os
import pathlib
import resource
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np

from experiments import results as R
from experiments import tables as T
from experiments.presets import LabPreset, lab_world, lr_family
from experiments.rejudge import failed, paired_interval
from experiments.runner import RunSpec
from experiments.stats import clopper_pearson, rate_text
from models.stability import write_text

Row = dict[str, Any]

TUNING_WORLD = 11
#: held_out_seeds(2, 100, ...), held_out_seeds(10, 200, ...), held_out_seeds(2, 3000, ...) when the plan was written.
TUNING_SEEDS: tuple[int, ...] = (102, 103)
EVAL_SEEDS: tuple[int, ...] = (201, 202, 203, 204, 205, 206, 207, 208, 209, 210)
EVAL_WORLDS: tuple[int, ...] = (3001, 3002)
#: Where each held-out set starts (the rule's `first`) and the trees whose integer literals it excludes.
SEED_RULE_FIRSTS: dict[str, int] = {"tuning": 100, "eval": 200, "worlds": 3000}
SEED_SOURCES: tuple[str, ...] = ("tests", "config", "experiments")
SIZES: tuple[str, ...] = ("small", "large_dcn")
METHODS: tuple[str, ...] = ("adagrad", "gc", "clippy", "adam", "clippy_adam")
#: The evaluation's order: the paper's comparison first (Clippy, GC), then tuned naive Adagrad, the Adam controls.
EVAL_ORDER: tuple[str, ...] = ("clippy", "gc", "adagrad", "adam", "clippy_adam")
#: The `full` sweep's calibrated 1x of each family (docs/results/calibration.json).
BASE_LRS: dict[str, float] = {"adagrad": 0.8, "adam": 0.3}
#: The multiplier the stabilisers are compared at (the paper's Figure 5 rate).
STABILISER_MULTIPLIER = 2.0
CLIPPY_ABS = 1e-2
POWERED_FILE = "powered.csv"
PAIRS_FILE = "powered_pairs.csv"
INVOCATIONS_FILE = "invocations.jsonl"
EVAL_METRICS: tuple[tuple[str, str, float, bool], ...] = (
    # (column, label, scale, lower is better)
    ("auc_click", "click AUC", 100.0, False),
    ("auc_like", "like AUC", 100.0, False),
    ("auc_share", "share AUC", 100.0, False),
    ("auc_dismiss", "dismiss AUC", 100.0, False),
    ("rmse_watch_time", "watch RMSE", 1.0, True),
    ("rmse_survey_rating", "survey RMSE", 1.0, True),
)
KINDS: tuple[str, ...] = ("healthy", "blew_up", "never_learned")
LEARNED_AUC = 0.58


@dataclass(frozen=True)
class Candidate:
    """One configuration of a method: its learning-rate multiplier and make_optimizer parameters."""

    method: str
    multiplier: float
    params: tuple[tuple[str, float], ...] = ()

    def spec(self, size: str, seed: int, stage: str) -> RunSpec:
        return RunSpec(self.method, size, self.multiplier, seed, self.params, stage=stage)

    @property
    def label(self) -> str:
        knobs = ", ".join(f"{_SHORT.get(k, k)}={v:g}" for k, v in self.params if k != "absolute_threshold")
        return f"{self.multiplier:g}x" + (f" {knobs}" if knobs else "")


_SHORT = {"clip_norm": "λ", "variable_relative_threshold": "λ_rel"}


def _clippy(method: str, rel: float) -> Candidate:
    params = (("absolute_threshold", CLIPPY_ABS), ("variable_relative_threshold", rel))
    return Candidate(method, STABILISER_MULTIPLIER, params)


#: Three configurations per method, in tie-break order.
GRIDS: dict[str, tuple[Candidate, ...]] = {
    "adagrad": tuple(Candidate("adagrad", m) for m in (0.25, 0.5, 1.0)),
    "gc": tuple(Candidate("gc", STABILISER_MULTIPLIER, (("clip_norm", lam),)) for lam in (1e-3, 1e-2, 1e-1)),
    "clippy": tuple(_clippy("clippy", rel) for rel in (0.25, 0.5, 1.0)),
    "adam": tuple(Candidate("adam", m) for m in (0.1, 0.25, 0.5)),
    "clippy_adam": tuple(_clippy("clippy_adam", rel) for rel in (0.25, 0.5, 1.0)),
}


def powered_preset(world_seed: int = TUNING_WORLD) -> LabPreset:
    """The comparison's protocol on world `world_seed` (see the module docstring)."""
    world = dataclasses.replace(
        lab_world(impressions_per_day=6_000, num_days=5, num_extra_dense=16, shock_day=2), seed=world_seed
    )
    return LabPreset(
        name="powered" if world_seed == TUNING_WORLD else f"powered-{world_seed}",
        world=world,
        width=32,
        batch_size=128,
        passes_per_day=1,
        warmup_steps=40,
        sizes=SIZES,
        methods=METHODS,
        seeds=EVAL_SEEDS,
        table_multipliers=(),
        frontier_multipliers=(),
        ablation_seeds=(),
        recovery_runs=False,
    )


def repository_integers_except_powered(roots: Sequence[pathlib.Path]) -> set[int]:
    """Every integer literal under `roots` (`gate_audit.repository_integers`) except this module's own."""
    from experiments.gate_audit import repository_integers

    return repository_integers(roots, skip=pathlib.Path(__file__))


# -- the plan -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlannedRun:
    world_seed: int
    spec: RunSpec

    @property
    def run_id(self) -> str:
        return f"w{self.world_seed}.{self.spec.run_id}"


def tuning_runs(grids: dict[str, tuple[Candidate, ...]] = GRIDS) -> list[PlannedRun]:
    return [
        PlannedRun(TUNING_WORLD, c.spec(size, seed, "tune"))
        for seed in TUNING_SEEDS
        for size in SIZES
        for method in METHODS
        for c in grids[method]
    ]


def eval_runs(winners: dict[tuple[str, str], Candidate]) -> list[PlannedRun]:
    """One block per method in `EVAL_ORDER`, each seed-major over both worlds and sizes: a sweep stopped at a
    deadline holds whole methods (every seed, world and size) and leaves out the last ones."""
    return [
        PlannedRun(world, winners[(method, size)].spec(size, seed, "eval"))
        for method in EVAL_ORDER
        for seed in EVAL_SEEDS
        for world in EVAL_WORLDS
        for size in SIZES
        if (method, size) in winners
    ]


def planned_rows(rows: Sequence[Row]) -> list[Row]:
    """The rows of the plan: tuning runs on the tuning world and seeds, every evaluation run (a row of a seed outside
    the plan, left in powered.csv, is not used)."""
    return [r for r in rows if r["stage"] == "eval" or (r["world_seed"] == TUNING_WORLD and r["seed"] in TUNING_SEEDS)]


def planned_total(grids: dict[str, tuple[Candidate, ...]] = GRIDS) -> int:
    return len(tuning_runs(grids)) + len(METHODS) * len(SIZES) * len(EVAL_WORLDS) * len(EVAL_SEEDS)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(float(value))


def candidate_of(row: Row) -> Candidate:
    params = json.loads(row["params"]) if isinstance(row["params"], str) else dict(row["params"])
    return Candidate(row["method"], float(row["lr_multiplier"]), tuple(sorted(params.items())))


def pick_winner(candidates: Sequence[Candidate], rows: Sequence[Row]) -> Candidate:
    """The tuning rule: most trained tuning seeds, then highest mean click AUC (failed runs at their final AUC,
    0.5 where none), then lowest mean watch-time RMSE (NaN worst), then the earliest candidate."""

    def score(index: int) -> tuple[float, float, float, int]:
        mine = [r for r in rows if candidate_of(r) == candidates[index]]
        if not mine:
            return (-1.0, -math.inf, -math.inf, -index)
        trained = sum(not failed(r) for r in mine)
        auc = float(np.mean([r["auc_click"] if _finite(r["auc_click"]) else 0.5 for r in mine]))
        rmse = [r["rmse_watch_time"] if _finite(r["rmse_watch_time"]) else math.inf for r in mine]
        return (float(trained), auc, -float(np.mean(rmse)), -index)

    best = max(range(len(candidates)), key=score)
    return candidates[best]


def winners_of(
    rows: Sequence[Row], grids: dict[str, tuple[Candidate, ...]] = GRIDS
) -> dict[tuple[str, str], Candidate]:
    tune = [r for r in rows if r["stage"] == "tune"]
    return {
        (method, size): pick_winner(grids[method], [r for r in tune if r["size"] == size and r["method"] == method])
        for method in METHODS
        for size in SIZES
    }


def failure_kind(row: Row) -> str:
    """healthy / blew_up / never_learned (module docstring)."""
    if not failed(row):
        return "healthy"
    outcome = row.get("outcome", "")
    if outcome in ("blew_up", "never_learned"):
        return str(outcome)
    return "blew_up" if _finite(row.get("max_eval_auc")) and row["max_eval_auc"] >= LEARNED_AUC else "never_learned"


# -- running --------------------------------------------------------------------------------------------------------
COLUMNS: tuple[str, ...] = (
    "world_seed",
    *R.COLUMNS[:-2],
    "outcome",
    "kind",
    "max_eval_auc",
    "cpu_s",
)
_WORKER: dict[int, Any] = {}


def world_dir(out_dir: str, world_seed: int) -> str:
    return os.path.join(out_dir, f"world_{world_seed}")


def _worker_init(threads: int) -> None:
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def _worker_run(run: PlannedRun, out_dir: str, preset_of: Callable[[int], LabPreset]) -> Row:
    from experiments.data import prepare_data
    from experiments.runner import train_run

    preset = preset_of(run.world_seed)
    folder = world_dir(out_dir, run.world_seed)
    if run.world_seed not in _WORKER:
        _WORKER[run.world_seed] = prepare_data(folder, preset.world, preset.transform, log=lambda m: None)
    outcome = train_run(run.spec, _WORKER[run.world_seed], preset, BASE_LRS[lr_family(run.spec.method)])
    R.write_curves(folder, run.spec.run_id, outcome.curves)
    evals = [float(e["auc_click"]) for e in outcome.curves["eval"] if _finite(e.get("auc_click"))]
    row = {
        **outcome.row,
        "run_id": run.run_id,
        "world_seed": run.world_seed,
        "outcome": outcome.curves["divergence"].get("outcome", ""),
        "max_eval_auc": max(evals) if evals else math.nan,
    }
    row["kind"] = failure_kind(row)
    return row


class PoweredSweep:
    """Tuning, then the winners on the evaluation worlds, in `workers` processes; resumes from `DIR/powered.csv`."""

    def __init__(
        self,
        out_dir: str,
        workers: int = 2,
        log: Callable[[str], None] = print,
        grids: dict[str, tuple[Candidate, ...]] = GRIDS,
        preset_of: Callable[[int], LabPreset] = powered_preset,
    ):
        self.out_dir, self.workers, self.log, self.grids, self.preset_of = out_dir, workers, log, grids, preset_of
        self.path = os.path.join(out_dir, POWERED_FILE)
        self.trained_here = 0
        self._pool: ProcessPoolExecutor | None = None

    def pending(self, runs: Sequence[PlannedRun]) -> list[PlannedRun]:
        """The runs of `runs` not yet in powered.csv."""
        done = R.done_run_ids(self.path)
        return [r for r in runs if r.run_id not in done]

    def _submit(self, runs: Sequence[PlannedRun]) -> list[Future]:
        import multiprocessing

        todo = self.pending(runs)
        if todo and self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init,
                initargs=(1 if self.workers > 1 else 0,),
            )
        return [self._pool.submit(_worker_run, r, self.out_dir, self.preset_of) for r in todo] if todo else []

    def _collect(self, futures: Sequence[Future], runs: Sequence[PlannedRun]) -> list[Row]:
        started = time.time()
        for i, future in enumerate(as_completed(futures), 1):
            row = future.result()
            R.append_row(self.path, row, COLUMNS)
            self.trained_here += 1
            eta = (time.time() - started) / i * (len(futures) - i)
            self.log(
                f"[{i}/{len(futures)}] {row['run_id']}: {row['kind']} auc_click={row['auc_click']:.4f} "
                f"({row['wall_s']:.0f}s, cpu {row['cpu_s']:.0f}s) ETA {eta / 60:.1f} min"
            )
        wanted = {r.run_id for r in runs}
        return [r for r in R.read_rows(self.path) if r["run_id"] in wanted]

    def _prepare(self, world: int) -> None:
        from experiments.data import prepare_data

        preset = self.preset_of(world)
        prepare_data(world_dir(self.out_dir, world), preset.world, preset.transform, log=self.log)

    def run(self) -> list[Row]:
        """Every stage; returns every row of the plan. The evaluation worlds' data are prepared here while the
        workers train the tuning runs."""
        os.makedirs(self.out_dir, exist_ok=True)
        started, cpu = time.time(), _cpu_seconds()
        load = os.getloadavg()
        try:
            self._prepare(TUNING_WORLD)
            tuning = tuning_runs(self.grids)
            futures = self._submit(tuning)
            for world in EVAL_WORLDS:
                self._prepare(world)
            tune = self._collect(futures, tuning)
            winners = winners_of(tune, self.grids)
            for (method, size), c in sorted(winners.items()):
                self.log(f"tuned: {method} on {size}: {c.label}")
            evaluation = eval_runs(winners)
            rows = tune + self._collect(self._submit(evaluation), evaluation)
        finally:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
        record = {
            "wall_s": round(time.time() - started, 1),
            "cpu_s": round(_cpu_seconds() - cpu, 1),
            "runs_trained": self.trained_here,
            "loadavg_start": [round(x, 2) for x in load],
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
            "workers": self.workers,
        }
        with open(os.path.join(self.out_dir, INVOCATIONS_FILE), "a") as f:
            f.write(json.dumps(record) + "\n")
        self.log(f"powered: {json.dumps(record)}")
        return rows


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (the worker pool, after shutdown)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def read_invocations(out_dir: str) -> list[dict[str, Any]]:
    path = os.path.join(out_dir, INVOCATIONS_FILE)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# -- analysis -------------------------------------------------------------------------------------------------------
def failure_counts(rows: Sequence[Row]) -> dict[str, int]:
    """{"runs", "failed", "blew_up", "never_learned"} of `rows`."""
    kinds = [r["kind"] if r.get("kind") in KINDS else failure_kind(r) for r in rows]
    out = {k: kinds.count(k) for k in ("blew_up", "never_learned")}
    return {"runs": len(rows), "failed": out["blew_up"] + out["never_learned"], **out}


def _ci(k: int, n: int) -> str:
    low, high = clopper_pearson(k, n)
    return f"{k}/{n} [{100 * low:.0f}-{100 * high:.0f} %]" if n else "-"


@dataclass(frozen=True)
class PairedDiff:
    size: str
    world: str  # a world seed, or "both"
    other: str
    metric: str
    pairs: int
    mean: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def clippy_better(self, lower_is_better: bool) -> bool:
        return (self.high < 0) if lower_is_better else (self.low > 0)


def paired_diffs(
    rows: Sequence[Row], size: str, worlds: Sequence[int], other: str, world_label: str
) -> list[PairedDiff]:
    """Clippy minus `other` per metric, paired by (world seed, model seed) over the pairs where both trained."""
    ev = [r for r in rows if r["stage"] == "eval" and r["size"] == size and r["world_seed"] in worlds]
    clippy = {(r["world_seed"], r["seed"]): r for r in ev if r["method"] == "clippy"}
    theirs = {(r["world_seed"], r["seed"]): r for r in ev if r["method"] == other}
    keys = sorted(k for k in set(clippy) & set(theirs) if not failed(clippy[k]) and not failed(theirs[k]))
    out = []
    for metric, _, scale, _ in EVAL_METRICS:
        diffs = [
            scale * (clippy[k][metric] - theirs[k][metric])
            for k in keys
            if _finite(clippy[k][metric]) and _finite(theirs[k][metric])
        ]
        mean, low, high = paired_interval(diffs)
        out.append(PairedDiff(size, world_label, other, metric, len(diffs), mean, low, high))
    return out


def all_paired_diffs(rows: Sequence[Row]) -> list[PairedDiff]:
    out = []
    for size in SIZES:
        for other in METHODS:
            if other == "clippy":
                continue
            for world in EVAL_WORLDS:
                out += paired_diffs(rows, size, [world], other, str(world))
            out += paired_diffs(rows, size, EVAL_WORLDS, other, "both")
    return out


def _cell(d: PairedDiff) -> str:
    if d.pairs == 0:
        return "-"
    digits = 2 if d.metric.startswith("auc") else 4
    text = f"{d.mean:+.{digits}f} [{d.low:+.{digits}f}, {d.high:+.{digits}f}]"
    return f"**{text}**" if d.excludes_zero else text


# -- claims ---------------------------------------------------------------------------------------------------------
NOT_TESTED = "not tested by the powered data"
#: The claims and the rule each is judged by on the powered data, written before the runs.
CLAIM_RULES: dict[str, str] = {
    "C1": "naive Adagrad at 1x fails (all sizes): every powered naive-Adagrad run at 1x (tuning runs; evaluation runs "
    "too if 1x won the tuning), pooled over sizes; reproduced when the exact 95 % lower bound of the failure rate "
    "is above 50 %, contradicted when the upper bound is below 50 %, else not shown at 95 %.",
    "C2": "Clippy trains at 2x (all sizes, every seed): Clippy's evaluation runs (its tuned λ_rel at 2x), pooled; "
    "reproduced when the exact 95 % upper bound of the failure rate is below 50 %, contradicted when the lower bound "
    "is above 50 %.",
    "C3": "GC survives 2x on Small and diverges at 2x on Large+DCN: GC's evaluation runs (its tuned λ at 2x); "
    "reproduced when Small's failure upper bound is below 50 % and Large+DCN's lower bound is above 50 %; "
    "contradicted when Large+DCN's upper bound is below 50 % (tuned GC trains at 2x on Large+DCN).",
    "C4": "AGC: not in the powered comparison.",
    "C5": "LAMB: not in the powered comparison.",
    "C6": "Clippy at least GC on every size (click AUC up, watch-time RMSE down): Clippy minus GC paired over both "
    "worlds per size (pairs where both trained); reproduced when Clippy is better in click AUC (interval above 0) "
    "on both sizes and worse on no size in click AUC or watch RMSE; contradicted when GC is better somewhere and "
    "Clippy nowhere; mixed when each is better somewhere; else no detectable difference.",
    "C7": "the mechanism (‖r/w‖∞ at the onset): the powered runs record no onset telemetry.",
    "C8": "top-layer gradients after divergence: no per-layer gradient telemetry in the powered runs.",
    "C9": "Clippy σ per layer: no per-layer σ read from the powered runs.",
    "C10": "a larger model fails more at the same rate: naive Adagrad runs matched by (world, model seed, multiplier) "
    "on Small and Large+DCN, pooled; reproduced when Large+DCN fails more with Fisher's exact one-sided p < 0.05, "
    "contradicted when Small fails more with one-sided p < 0.05.",
    "C11": "a higher rate fails more (naive Adagrad; GC and AGC not scanned in rate here): naive Adagrad's tuning runs "
    "at 0.25x vs 1x, pooled over sizes and seeds; reproduced when 1x fails more with Fisher's exact one-sided "
    "p < 0.05 and no multiplier fails less than a lower one.",
}


def _fisher_greater(a: tuple[int, int], b: tuple[int, int]) -> float:
    """One-sided p that group a (failed, runs) fails more than group b."""
    from scipy.stats import fisher_exact

    if not a[1] or not b[1]:
        return math.nan
    return float(fisher_exact([[a[0], a[1] - a[0]], [b[0], b[1] - b[0]]], alternative="greater")[1])


def _rate_verdict(k: int, n: int, want_failure: bool) -> str:
    if n == 0:
        return "no runs"
    low, high = clopper_pearson(k, n)
    if (low > 0.5) if want_failure else (high < 0.5):
        return "reproduced"
    if (high < 0.5) if want_failure else (low > 0.5):
        return "contradicted"
    return "not shown at 95 %"


def _kinds_text(runs: Sequence[Row]) -> str:
    c = failure_counts(runs)
    return f"{rate_text(c['failed'], c['runs'])}; blew up {c['blew_up']}, never learned {c['never_learned']}"


def claim_verdicts(rows: Sequence[Row], diffs: Sequence[PairedDiff] | None = None) -> list[tuple[str, str, str]]:
    """(claim, verdict, numbers) for C1-C11 by `CLAIM_RULES`."""
    diffs = list(diffs) if diffs is not None else all_paired_diffs(rows)
    ev = [r for r in rows if r["stage"] == "eval"]
    out: list[tuple[str, str, str]] = []

    naive1 = [r for r in rows if r["method"] == "adagrad" and float(r["lr_multiplier"]) == 1.0]
    c1 = failure_counts(naive1)
    out.append(("C1", _rate_verdict(c1["failed"], c1["runs"], True), _kinds_text(naive1)))

    clippy = [r for r in ev if r["method"] == "clippy"]
    c2 = failure_counts(clippy)
    out.append(("C2", _rate_verdict(c2["failed"], c2["runs"], False), _kinds_text(clippy)))

    gc = {s: failure_counts([r for r in ev if r["method"] == "gc" and r["size"] == s]) for s in SIZES}
    small_hi = clopper_pearson(gc["small"]["failed"], gc["small"]["runs"])[1]
    dcn_lo, dcn_hi = clopper_pearson(gc["large_dcn"]["failed"], gc["large_dcn"]["runs"])
    if not gc["small"]["runs"] or not gc["large_dcn"]["runs"]:
        c3 = "no runs"
    elif small_hi < 0.5 and dcn_lo > 0.5:
        c3 = "reproduced"
    elif dcn_hi < 0.5:
        c3 = "contradicted"
    else:
        c3 = "not shown at 95 %"
    out.append(
        (
            "C3",
            c3,
            f"GC (tuned λ, 2x) failed: Small {_ci(gc['small']['failed'], gc['small']['runs'])}, "
            f"Large+DCN {_ci(gc['large_dcn']['failed'], gc['large_dcn']['runs'])}",
        )
    )
    out += [("C4", NOT_TESTED, "AGC not run"), ("C5", NOT_TESTED, "LAMB not run")]

    gc_diffs = [
        d for d in diffs if d.other == "gc" and d.world == "both" and d.metric in ("auc_click", "rmse_watch_time")
    ]
    clippy_wins = [d for d in gc_diffs if d.excludes_zero and d.clippy_better(d.metric.startswith("rmse"))]
    gc_wins = [d for d in gc_diffs if d.excludes_zero and not d.clippy_better(d.metric.startswith("rmse"))]
    auc_wins = {d.size for d in clippy_wins if d.metric == "auc_click"}
    if not gc_diffs or all(d.pairs == 0 for d in gc_diffs):
        c6 = "no runs"
    elif auc_wins == set(SIZES) and not gc_wins:
        c6 = "reproduced"
    elif gc_wins and not clippy_wins:
        c6 = "contradicted"
    elif gc_wins and clippy_wins:
        c6 = "mixed"
    else:
        c6 = "no detectable difference"
    numbers = "; ".join(
        f"{T.SIZE_LABELS[d.size]} {'ΔAUC' if d.metric == 'auc_click' else 'ΔRMSE'} "
        + (f"{d.mean:+.2f} pts [{d.low:+.2f}, {d.high:+.2f}]" if d.metric == "auc_click" else "")
        + (f"{d.mean:+.4f} [{d.low:+.4f}, {d.high:+.4f}]" if d.metric != "auc_click" else "")
        + f" (n={d.pairs})"
        for d in gc_diffs
    )
    out.append(("C6", c6, numbers))
    out += [("C7", NOT_TESTED, "-"), ("C8", NOT_TESTED, "-"), ("C9", NOT_TESTED, "-")]

    naive = [r for r in rows if r["method"] == "adagrad"]
    by_key = {(r["size"], r["world_seed"], r["seed"], float(r["lr_multiplier"])): r for r in naive}
    matched = [
        k[1:] for k in by_key if k[0] == "small" and ("large_dcn", *k[1:]) in by_key
    ]  # (world, seed, mult) run on both sizes
    big = [failed(by_key[("large_dcn", *k)]) for k in matched]
    small = [failed(by_key[("small", *k)]) for k in matched]
    p_big = _fisher_greater((sum(big), len(big)), (sum(small), len(small)))
    p_small = _fisher_greater((sum(small), len(small)), (sum(big), len(big)))
    c10 = "reproduced" if p_big < 0.05 else "contradicted" if p_small < 0.05 else "not shown at 95 %"
    out.append(
        (
            "C10",
            c10 if matched else "no runs",
            f"naive Adagrad, {len(matched)} matched runs per size: Large+DCN {sum(big)}/{len(big)} failed, "
            f"Small {sum(small)}/{len(small)}; one-sided p = {p_big:.3g}",
        )
    )

    tune = [r for r in naive if r["stage"] == "tune"]
    mults = sorted({float(r["lr_multiplier"]) for r in tune})
    per = {m: failure_counts([r for r in tune if float(r["lr_multiplier"]) == m]) for m in mults}
    if len(mults) >= 2:
        lo, hi = per[mults[0]], per[mults[-1]]
        p = _fisher_greater((hi["failed"], hi["runs"]), (lo["failed"], lo["runs"]))
        rates = [per[m]["failed"] / per[m]["runs"] for m in mults]
        monotone = all(b >= a for a, b in itertools.pairwise(rates))
        c11 = "reproduced" if p < 0.05 and monotone else "not shown at 95 %"
        text = ", ".join(f"{m:g}x {per[m]['failed']}/{per[m]['runs']}" for m in mults) + f"; one-sided p = {p:.3g}"
    else:
        c11, text = "no runs", "-"
    out.append(("C11", c11 + " (naive Adagrad only; GC/AGC not tested)", text))
    return out


# -- report ---------------------------------------------------------------------------------------------------------
def _method_label(method: str) -> str:
    return T.LABELS[method]


def powered_markdown(rows: Sequence[Row], invocations: Sequence[dict[str, Any]] = ()) -> str:
    tune = [r for r in rows if r["stage"] == "tune"]
    ev = [r for r in rows if r["stage"] == "eval"]
    winners = winners_of(tune)
    diffs = all_paired_diffs(rows)
    evaluated = {r["method"] for r in ev}
    missing = [_method_label(m) for m in METHODS if m not in evaluated]
    lines = [
        "# The powered comparison: equal tuning budgets, 10 seeds x 2 held-out worlds",
        "",
        "Generated by `python -m experiments.powered` (rules and protocol: its docstring, fixed before the runs). "
        f"{len(tune)} tuning runs and {len(ev)} evaluation runs. A run *fails* when it fully diverged or its final "
        "click AUC on the evaluation day is below 0.55; *blew up* / *never learned* split the failures "
        "(`failure_kind`). Intervals: exact 95 % Clopper-Pearson for rates; 95 % paired t for differences.",
        "",
        f"Protocol: the `full` world generator, 1 pass per training day (160 steps of 128), 40-step warm-up; "
        f"1x = {BASE_LRS['adagrad']:g} (Adagrad family), {BASE_LRS['adam']:g} (Adam family), the `full` sweep's "
        f"calibration. Tuning: world {TUNING_WORLD}, model seeds {', '.join(map(str, TUNING_SEEDS))}. Evaluation: "
        f"worlds {', '.join(map(str, EVAL_WORLDS))} x model seeds {EVAL_SEEDS[0]}-{EVAL_SEEDS[-1]}.",
        "",
        *(
            [f"Not evaluated (their block did not run before the deadline): {', '.join(missing)}.", ""]
            if missing
            else []
        ),
        "## Tuning (3 configurations per method; the winner in bold)",
        "",
        "| size | method | configuration | trained / tuning seeds | mean click AUC % |",
        "|---|---|---|---|---|",
    ]
    for size in SIZES:
        for method in METHODS:
            for c in GRIDS[method]:
                mine = [r for r in tune if r["size"] == size and candidate_of(r) == c]
                if not mine:
                    continue
                auc = np.mean([100 * (r["auc_click"] if _finite(r["auc_click"]) else 0.5) for r in mine])
                label = f"**{c.label}**" if winners.get((method, size)) == c else c.label
                trained = sum(not failed(r) for r in mine)
                lines.append(
                    f"| {T.SIZE_LABELS[size]} | {_method_label(method)} | {label} | {trained}/{len(mine)} | {auc:.2f} |"
                )
    lines += [
        "",
        "## Failures of the tuned configurations (evaluation runs)",
        "",
        "Per cell: failed k/n [exact 95 % interval]; blew up / never learned.",
        "",
        "| size | world | " + " | ".join(_method_label(m) for m in METHODS) + " |",
        "|---|---|" + "---|" * len(METHODS),
    ]
    for size in SIZES:
        for world in (*EVAL_WORLDS, None):
            cells = []
            for method in METHODS:
                mine = [
                    r
                    for r in ev
                    if r["size"] == size and r["method"] == method and (world is None or r["world_seed"] == world)
                ]
                c = failure_counts(mine)
                cells.append(
                    f"{_ci(c['failed'], c['runs'])}; {c['blew_up']} / {c['never_learned']}" if mine else "not run"
                )
            label = str(world) if world is not None else "both"
            lines.append(f"| {T.SIZE_LABELS[size]} | {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Mean quality of the trained evaluation runs (both worlds)",
        "",
        "| size | method | configuration | trained | click AUC % (95 % t) | watch RMSE |",
        "|---|---|---|---|---|---|",
    ]
    for size in SIZES:
        for method in METHODS:
            if method not in evaluated:
                continue
            mine = [r for r in ev if r["size"] == size and r["method"] == method and not failed(r)]
            auc = paired_interval([100 * r["auc_click"] for r in mine])
            rmse = [r["rmse_watch_time"] for r in mine if _finite(r["rmse_watch_time"])]
            c = winners.get((method, size))
            n = len([r for r in ev if r["size"] == size and r["method"] == method])
            lines.append(
                f"| {T.SIZE_LABELS[size]} | {_method_label(method)} | {c.label if c else '-'} | {len(mine)}/{n} | "
                f"{auc[0]:.2f} [{auc[1]:.2f}, {auc[2]:.2f}] | {np.mean(rmse) if rmse else math.nan:.4f} |"
            )
    lines += [
        "",
        "## Clippy minus each other method, paired by (world, model seed), pairs where both trained",
        "",
        "AUC in points (higher is better: a positive difference favours Clippy); RMSE (lower is better: a negative "
        "difference favours Clippy). Bold: the 95 % interval excludes 0.",
        "",
        "| size | world | Clippy minus | pairs | " + " | ".join(label for _, label, _, _ in EVAL_METRICS) + " |",
        "|---|---|---|---|" + "---|" * len(EVAL_METRICS),
    ]
    for size in SIZES:
        for world in (*map(str, EVAL_WORLDS), "both"):
            for other in METHODS:
                mine = [d for d in diffs if d.size == size and d.world == world and d.other == other]
                if not mine or other not in evaluated:
                    continue
                lines.append(
                    f"| {T.SIZE_LABELS[size]} | {world} | {_method_label(other)} | {mine[0].pairs} | "
                    + " | ".join(_cell(d) for d in mine)
                    + " |"
                )
    lines += [
        "",
        "![powered](powered.png)",
        "",
        "## C1-C11 re-judged on the powered data",
        "",
        "Each rule was written (`CLAIM_RULES`) before the runs.",
        "",
        "| claim | rule | verdict | numbers |",
        "|---|---|---|---|",
    ]
    for claim, verdict, numbers in claim_verdicts(rows, diffs):
        lines.append(f"| {claim} | {CLAIM_RULES[claim]} | **{verdict}** | {numbers} |")
    cpu = sum(float(r["cpu_s"]) for r in rows if _finite(r.get("cpu_s")))
    wall = sum(float(r["wall_s"]) for r in rows if _finite(r.get("wall_s")))
    lines += [
        "",
        "## Cost",
        "",
        f"Per run: {wall:.0f} s wall and {cpu:.0f} CPU-s summed over the {len(rows)} runs "
        f"({wall / max(1, len(rows)):.1f} s wall per run with two workers).",
    ]
    for i, inv in enumerate(invocations, 1):
        lines.append(
            f"* invocation {i}: {inv['wall_s']:.0f} s wall, {inv['cpu_s']:.0f} CPU-s (process and workers), "
            f"{inv['runs_trained']} runs trained, load average {inv['loadavg_start'][0]:.1f} at the start and "
            f"{inv['loadavg_end'][0]:.1f} at the end (1-minute)."
        )
    lines += [
        "",
        "Caveats the intervals do not carry: one protocol (a cheaper one than `full`: one pass per day); the rates "
        "are multiples of `full`'s calibration, the stabilisers compared at 2x only; a quality difference is over "
        "the pairs where both runs trained, so a method that fails often is compared on its better seeds.",
    ]
    return "\n".join(lines) + "\n"


def pairs_csv(diffs: Sequence[PairedDiff]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["size", "world", "clippy_minus", "metric", "pairs", "mean", "low", "high", "excludes_zero"])
    for d in diffs:
        writer.writerow(
            [
                d.size,
                d.world,
                d.other,
                d.metric,
                d.pairs,
                f"{d.mean:.6g}",
                f"{d.low:.6g}",
                f"{d.high:.6g}",
                d.excludes_zero,
            ]
        )
    return buffer.getvalue()


def runs_csv(rows: Sequence[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: R._format(row.get(k, "")) for k in COLUMNS})
    return buffer.getvalue()


def figure(rows: Sequence[Row], path: str) -> None:
    """Per size: each method's click AUC (trained evaluation runs, mean and 95 % t interval) and its failures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ev = [r for r in rows if r["stage"] == "eval"]
    fig, axes = plt.subplots(1, len(SIZES), figsize=(10, 3.6), sharey=True)
    for ax, size in zip(np.atleast_1d(axes), SIZES):
        for i, method in enumerate(METHODS):
            mine = [r for r in ev if r["size"] == size and r["method"] == method]
            ok = [100 * r["auc_click"] for r in mine if not failed(r)]
            if ok:
                mean, low, high = paired_interval(ok)
                err = [[mean - low], [high - mean]] if math.isfinite(low) else None
                ax.errorbar([i], [mean], yerr=err, fmt="o", capsize=4)
                ax.scatter([i] * len(ok), ok, s=6, alpha=0.3, color="grey")
            c = failure_counts(mine)
            ax.annotate(
                f"fail {c['failed']}/{c['runs']}\n(b {c['blew_up']}, n {c['never_learned']})",
                (i, 0.02),
                xycoords=("data", "axes fraction"),
                ha="center",
                fontsize=7,
            )
        ax.set_xticks(range(len(METHODS)), [_method_label(m) for m in METHODS], rotation=20)
        ax.set_title(f"{T.SIZE_LABELS[size]}: click AUC of trained runs (95 % t)")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("click AUC on the evaluation day (%)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(rows: Sequence[Row], out_dir: str, invocations: Sequence[dict[str, Any]] = ()) -> str:
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "powered.md")
    write_text(path, powered_markdown(rows, invocations))
    write_text(os.path.join(out_dir, POWERED_FILE), runs_csv(rows))
    write_text(os.path.join(out_dir, PAIRS_FILE), pairs_csv(all_paired_diffs(rows)))
    if any(r["stage"] == "eval" for r in rows):
        figure(rows, os.path.join(out_dir, "powered.png"))
    return path


def run_powered_sweep(out_dir: str, workers: int | None = None) -> int:
    """Entry point of `ranker sweep --preset powered`: the runs, then the report into `out_dir`."""
    rows = PoweredSweep(out_dir, workers=workers or 2, log=lambda m: print(m, flush=True)).run()
    print(write_report(rows, out_dir, read_invocations(out_dir)), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="directory for the runs (data, curves, powered.csv)")
    parser.add_argument("--results", default=None, help="where the report goes (default: --out)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--report-only", action="store_true", help="the report from the runs done so far")
    args = parser.parse_args(argv)
    if args.report_only:
        rows = planned_rows(R.read_rows(os.path.join(args.out, POWERED_FILE)))
    else:
        rows = PoweredSweep(args.out, workers=args.workers, log=lambda m: print(m, flush=True)).run()
    print(write_report(rows, args.results or args.out, read_invocations(args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
