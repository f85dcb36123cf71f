"""The headroom preset: a training budget where naive Adagrad's best learning rate is limited by divergence, and
what Clippy's extra headroom buys there.

The question: the paper's premise is that stability buys a larger learning rate and with it quality. Is there a
setting of the lab's world and budget where naive Adagrad's quality would keep rising with the rate but the next
rate up blows up, and there, does Clippy at a rate above naive's limit beat naive at its best stable rate, and is it
the *rate* that buys the gain (rather than Clippy's clipping at the same rate)? The plan below, and its rule, are
fixed before the measured runs.

**Exploration (scratch, not part of the measured data).** Large+DCN on world 11 with model seeds 0 and 1 (the
lab's ordinary seeds, none of the held-out ones below), mean click AUC % of the trained runs, failures k/n:

* batch 128, 160 steps (the powered protocol): naive 1/32x 63.7, 1/16x 64.1, 1/8x 62.7, 1/4x 62.2, 1/2x failed
  2/2; Clippy 1/4x 63.3, 1/2x 65.3, 1x 66.7, 2x 66.5, 4x 65.3, 8x 65.6. Naive's curve is flat or falling long before
  it fails; Clippy's rises to 1x-2x.
* fewer steps, batch 128 (3000 impressions a day, 80 steps): naive 1/16x 65.4, 1/8x 64.6, 1/4x failed 1/2;
  Clippy 1/4x 64.8 ... 1x 66.5. Falling for naive.
* more days (9 days, 320 steps; seed 0 only): naive 1/16x 66.8, 1/8x 65.7, 1/4x 64.0, 1/2x 57.3; Clippy 1/4x
  69.1, 1/2x 69.5, 1x 68.0. Falling for naive.
* Small, batch 128: naive 1/16x 62.8, 1/8x 64.3, 1/4x 63.8, 1/2x 63.1, 1x 58.7; Clippy 1/4x 65.4, 1x 66.3, 4x 66.5.
* batch 256, 80 steps: naive 1/16x 64.3, 1/8x 62.3, 1/4x 64.6, 1/2x 63.4, 1x failed 1/2; Clippy 1/4x 64.4, 1x
  64.3, 4x 62.6.
* **batch 512, 40 steps** (the same data in fewer, less noisy steps, as the paper's large-batch training): naive
  1/16x 60.0, 1/8x 59.8 (failed 1/2), **1/4x 64.0, 1/2x failed 2/2**, 1x failed 1/2; Clippy 1/4x 62.1, 1x 59.9, 4x
  62.9. The one budget tried where naive's click AUC rises up to the rate whose next step fails.

With batch 128 naive Adagrad's best rate is set by noise (its quality falls from 1/16x on, it blows up only at
1/2x), not by divergence; with batch 512 it looks limited by divergence, but Clippy's higher rates did not look
better there. The measured plan therefore runs **both budgets** ("regimes"), each tuned and evaluated on its own.

**Protocol.** The powered world (`full`'s generator: 5 days of 6000 impressions, 16 generated dense and 2 generated
categorical features, the video_views x1000 logging shock on day 2), Large+DCN (the size whose naive edge is lowest),
one pass per training day, rates as multipliers of the `full` sweep's calibrated 1x (η = 0.8), not re-calibrated.
`REGIMES`: *batch512*: batch 512, 10 steps a day, 40 steps, a 10-step warm-up, one loss point and one evaluation
per 5 steps; *batch128*: the powered protocol, batch 128, 160 steps, a 40-step warm-up, one loss point per 10 steps
and one evaluation per 20. Both evaluate 8 times, so the detector's chance rule (the mean of the last 3
evaluations) reads the last quarter of training in both.

*Amended after a first launch.* The first launch evaluated batch512 every 10 steps (4 evaluations): the chance rule
then averaged evaluations from the first half of training and called 7 of 12 naive tuning runs that ended at click
AUC 0.57-0.63 "never learned". It was stopped after 28 of batch512's tuning runs, before any evaluation run; those
runs are discarded (not in the tables) and the preset was run again from scratch with the evaluation every 5 steps.
Nothing else in the plan or the rule changed. Clippy at the paper's fixed thresholds
(λ_rel 0.5, λ_abs 1e-2), not tuned.

**Seeds.** Tuning on the tuning world (11) with model seeds `TUNING_SEEDS`; evaluation on `EVAL_WORLDS` x
`EVAL_SEEDS` (16 pairs). Each set is `gate_audit.held_out_seeds(count, first, excluded)` with `excluded` every
integer literal in `tests/`, `config/` and `experiments/` except this module when the plan was written (firsts 300,
400 and 4000; guarded by tests/experiments/test_headroom.py), so no other preset, test or experiment uses them.

**Tuning** (per regime, on the tuning seeds). Naive Adagrad at `NAIVE_RATES` (1/32x-1x), Clippy at `CLIPPY_RATES`
(1/16x-8x). The rule (`best_rate`, the powered tuning rule): most tuning seeds trained, then the highest mean click
AUC (a failed run counts with its final AUC, 0.5 where none), then the lowest mean watch-time RMSE, then the lowest
rate. Naive's winner is r*, Clippy's c*.

**Evaluation** (per regime, every evaluation world and seed, `Choice.eval_configs`): naive at r*/2, r* and 2r*,
Clippy at r* and at c* (one configuration when c* = r*). A run *fails* when it fully diverged or its final click AUC
is below 0.55 (`rejudge.failed`); its kind is "blew_up" or "never_learned" (`powered.failure_kind`).

**The rule** (`verdict`, per regime, on the evaluation runs; differences paired by (world, model seed) over the
pairs where both runs trained, 95 % t intervals, `rejudge.paired_interval`):

* *naive is limited by divergence* when its click AUC still rises at r* (naive at r* minus naive at r*/2: the
  interval is above 0) **and** naive at 2r* fails in at least 25 % of its evaluation runs (`NEXT_RATE_FAILURE_SHARE`);
* *Clippy's headroom pays* when c* > r* and Clippy at c* minus naive at r* has its interval above 0;
* the *regime is shown* when both hold in one regime. Reported beside it, whatever the verdict: the gain split into
  Clippy at c* minus Clippy at r* (what the higher rate buys; "the rate is what pays" when its interval is above 0)
  and Clippy at r* minus naive at r* (what the clipping buys at the same rate).

**The deadline rule** (added before any batch128 evaluation run, when the shared machine, at load average ~5,
trained ~2 runs a minute: the whole plan would have taken ~80 minutes). The sweep may be stopped after batch512's
evaluation; a regime whose evaluation runs are not all done is reported with its tuning curve only, without a verdict
(`evaluation_complete`), never on part of its seeds.

**Tables** (`headroom.md`, `headroom.csv` per run, `headroom.png`): per regime, method and rate, the trained /
blew-up / never-learned counts with exact 95 % Clopper-Pearson failure intervals and the mean AUC and RMSE per task
of the trained runs (tuning and evaluation runs); the paired comparisons per task; the verdict.

**Cost.** 2 regimes x (2 tuning seeds x 14 rates + 16 pairs x 5 configurations) = 216 runs of ~6-9 CPU-s. Cut to
fit two cores in about 30 minutes: 8 evaluation seeds (powered: 10) and 2 tuning seeds per regime, Large+DCN only,
Clippy's thresholds not tuned.

`ranker sweep --preset headroom --out DIR` runs it (resumable: finished runs, keyed by run id in `DIR/headroom.csv`,
are never trained again) and writes the report into DIR; `python -m experiments.headroom --out DIR --results
docs/results` does the same and writes the report into docs/results (`--report-only`: from the runs done so far).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import functools
import io
import json
import math
import os
import pathlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from experiments import powered as P
from experiments import results as R
from experiments.presets import LabPreset, lab_world
from experiments.rejudge import failed, paired_interval
from experiments.runner import RunSpec
from experiments.stats import clopper_pearson
from models.stability import write_text

Row = dict[str, Any]

SIZE = "large_dcn"
TUNING_WORLD = 11
#: held_out_seeds(2, 300, ...), held_out_seeds(8, 400, ...), held_out_seeds(2, 4000, ...) when the plan was written.
TUNING_SEEDS: tuple[int, ...] = (301, 302)
EVAL_SEEDS: tuple[int, ...] = (401, 402, 403, 405, 406, 407, 408, 409)
EVAL_WORLDS: tuple[int, ...] = (4001, 4002)
#: Where each held-out set starts (the rule's `first`) and the trees whose integer literals it excludes.
SEED_RULE_FIRSTS: dict[str, int] = {"tuning": 300, "eval": 400, "worlds": 4000}
SEED_SOURCES: tuple[str, ...] = ("tests", "config", "experiments")
#: Multipliers of the `full` sweep's calibrated 1x (0.8) scanned on the tuning seeds, per method.
NAIVE_RATES: tuple[float, ...] = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)
CLIPPY_RATES: tuple[float, ...] = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0, 2.0, 4.0, 8.0)
#: Clippy's thresholds: the paper's fixed values (λ_rel 0.5, λ_abs 1e-2), not tuned.
CLIPPY_PARAMS: tuple[tuple[str, float], ...] = (("absolute_threshold", 1e-2), ("variable_relative_threshold", 0.5))
METHODS: tuple[str, ...] = ("adagrad", "clippy")
#: The rule's constant: the next rate up fails in at least this share of its evaluation runs.
NEXT_RATE_FAILURE_SHARE = 0.25
HEADROOM_FILE = "headroom.csv"
INVOCATIONS_FILE = "invocations.jsonl"
#: The metrics of the tables: (column, label, scale, lower is better).
METRICS: tuple[tuple[str, str, float, bool], ...] = P.EVAL_METRICS


@dataclass(frozen=True)
class Regime:
    """A training budget on the powered world: batch size, loss window (steps per logged point), evaluations every
    this many windows, warm-up steps."""

    name: str
    batch_size: int
    window: int
    eval_every_windows: int
    warmup_steps: int
    label: str


#: The two budgets, in the order they run: the large-batch one (40 steps) first.
REGIMES: tuple[Regime, ...] = (
    Regime("batch512", 512, 5, 1, 10, "batch 512, 40 steps (10 per day), 10-step warm-up, evaluated every 5 steps"),
    Regime("batch128", 128, 10, 2, 40, "batch 128, 160 steps (40 per day), 40-step warm-up, evaluated every 20 steps"),
)
REGIME_BY_NAME: dict[str, Regime] = {r.name: r for r in REGIMES}


def headroom_preset(world_seed: int = TUNING_WORLD, regime: str = REGIMES[0].name) -> LabPreset:
    """The regime's protocol on world `world_seed` (see the module docstring)."""
    budget = REGIME_BY_NAME[regime]
    world = dataclasses.replace(
        lab_world(impressions_per_day=6_000, num_days=5, num_extra_dense=16, shock_day=2), seed=world_seed
    )
    return LabPreset(
        name=f"headroom-{regime}-{world_seed}",
        world=world,
        width=32,
        batch_size=budget.batch_size,
        window=budget.window,
        eval_every_windows=budget.eval_every_windows,
        passes_per_day=1,
        warmup_steps=budget.warmup_steps,
        sizes=(SIZE,),
        methods=METHODS,
        seeds=EVAL_SEEDS,
        table_multipliers=(),
        frontier_multipliers=(),
        ablation_seeds=(),
        recovery_runs=False,
    )


def repository_integers_except_headroom(roots: Sequence[pathlib.Path]) -> set[int]:
    """Every integer literal under `roots` (`gate_audit.repository_integers`) except this module's own."""
    from experiments.gate_audit import repository_integers

    return repository_integers(roots, skip=pathlib.Path(__file__))


# -- the plan -------------------------------------------------------------------------------------------------------
def candidate(method: str, multiplier: float) -> P.Candidate:
    return P.Candidate(method, float(multiplier), CLIPPY_PARAMS if method == "clippy" else ())


def spec(regime: str, method: str, multiplier: float, seed: int, stage: str) -> RunSpec:
    """A run of the plan: the regime is the run's variant (it names no runner variant, so it changes nothing but
    the run id)."""
    return dataclasses.replace(candidate(method, multiplier).spec(SIZE, seed, stage), variant=regime)


def rates_of(method: str) -> tuple[float, ...]:
    return NAIVE_RATES if method == "adagrad" else CLIPPY_RATES


def tuning_runs(regime: str) -> list[P.PlannedRun]:
    """Both rate curves on the tuning world and seeds, seed-major."""
    return [
        P.PlannedRun(TUNING_WORLD, spec(regime, method, rate, seed, "tune"))
        for seed in TUNING_SEEDS
        for method in METHODS
        for rate in rates_of(method)
    ]


@dataclass(frozen=True)
class Choice:
    """The tuned rates: naive Adagrad's best rate r* and Clippy's best rate c* (multipliers)."""

    naive: float
    clippy: float

    def eval_configs(self) -> tuple[tuple[str, str, float], ...]:
        """(role, method, multiplier) of every evaluation configuration, without duplicates."""
        configs = [
            ("naive_half", "adagrad", self.naive / 2),
            ("naive_best", "adagrad", self.naive),
            ("naive_next", "adagrad", self.naive * 2),
            ("clippy_same", "clippy", self.naive),
            ("clippy_best", "clippy", self.clippy),
        ]
        seen: set[tuple[str, float]] = set()
        out = []
        for role, method, mult in configs:
            if (method, mult) not in seen:
                seen.add((method, mult))
                out.append((role, method, mult))
        return tuple(out)


def of_regime(rows: Sequence[Row], regime: str) -> list[Row]:
    return [r for r in rows if r["variant"] == regime]


def best_rate(method: str, rows: Sequence[Row]) -> float:
    """The tuning rule (`powered.pick_winner`) over `method`'s rates: most trained tuning seeds, then the highest
    mean click AUC (a failed run at its final AUC, 0.5 where none), then the lowest mean watch-time RMSE, then the
    lowest rate."""
    candidates = [candidate(method, rate) for rate in rates_of(method)]
    mine = [r for r in rows if r["stage"] == "tune" and r["method"] == method]
    return P.pick_winner(candidates, mine).multiplier


def choose(rows: Sequence[Row]) -> Choice:
    """The tuned rates of one regime's rows."""
    return Choice(best_rate("adagrad", rows), best_rate("clippy", rows))


def eval_runs(regime: str, choice: Choice) -> list[P.PlannedRun]:
    """Every evaluation configuration on every evaluation world and seed, seed-major (a stopped sweep holds whole
    seeds of every configuration)."""
    return [
        P.PlannedRun(world, spec(regime, method, mult, seed, "eval"))
        for seed in EVAL_SEEDS
        for world in EVAL_WORLDS
        for _, method, mult in choice.eval_configs()
    ]


def planned_rows(rows: Sequence[Row]) -> list[Row]:
    """The rows of the plan: tuning runs on the tuning world and seeds, evaluation runs of the chosen rates."""
    out: list[Row] = []
    for regime in REGIMES:
        mine = of_regime(rows, regime.name)
        tune = [
            r for r in mine if r["stage"] == "tune" and r["world_seed"] == TUNING_WORLD and r["seed"] in TUNING_SEEDS
        ]
        if not tune:
            continue
        wanted = {(m, mult) for _, m, mult in choose(tune).eval_configs()}
        ev = [
            r
            for r in mine
            if r["stage"] == "eval"
            and (r["method"], float(r["lr_multiplier"])) in wanted
            and r["world_seed"] in EVAL_WORLDS
            and r["seed"] in EVAL_SEEDS
        ]
        out += tune + (ev if evaluation_complete(ev, choose(tune)) else [])
    return out


def evaluation_complete(ev: Sequence[Row], choice: Choice) -> bool:
    """The deadline rule: a regime's evaluation is reported only when every planned evaluation run is done."""
    return len({(r["method"], float(r["lr_multiplier"]), r["world_seed"], r["seed"]) for r in ev}) == len(
        EVAL_SEEDS
    ) * len(EVAL_WORLDS) * len(choice.eval_configs())


# -- running --------------------------------------------------------------------------------------------------------
class HeadroomSweep(P.PoweredSweep):
    """Per regime, the rate curves on the tuning seeds, then the chosen rates on the evaluation worlds and seeds, in
    `workers` processes (the powered sweep's pool and worker); resumes from `DIR/headroom.csv`."""

    def __init__(self, out_dir: str, workers: int = 2, log: Callable[[str], None] = print):
        super().__init__(out_dir, workers=workers, log=log, preset_of=headroom_preset)
        self.path = os.path.join(out_dir, HEADROOM_FILE)

    def _submit(self, runs: Sequence[P.PlannedRun]) -> list[Future]:
        import multiprocessing

        todo = self.pending(runs)
        if todo and self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=P._worker_init,
                initargs=(1 if self.workers > 1 else 0,),
            )
        assert self._pool is not None or not todo
        return [
            self._pool.submit(P._worker_run, r, self.out_dir, functools.partial(headroom_preset, regime=r.spec.variant))
            for r in todo
            if self._pool is not None
        ]

    def run(self) -> list[Row]:
        os.makedirs(self.out_dir, exist_ok=True)
        started, cpu = time.time(), P._cpu_seconds()
        load = os.getloadavg()
        rows: list[Row] = []
        try:
            self._prepare(TUNING_WORLD)
            futures = {regime.name: self._submit(tuning_runs(regime.name)) for regime in REGIMES}
            for world in EVAL_WORLDS:
                self._prepare(world)
            for regime in REGIMES:
                tune = self._collect(futures[regime.name], tuning_runs(regime.name))
                choice = choose(tune)
                self.log(f"{regime.name}: naive Adagrad r* = {choice.naive:g}x, Clippy c* = {choice.clippy:g}x")
                evaluation = eval_runs(regime.name, choice)
                rows += tune + self._collect(self._submit(evaluation), evaluation)
        finally:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
        record = {
            "wall_s": round(time.time() - started, 1),
            "cpu_s": round(P._cpu_seconds() - cpu, 1),
            "runs_trained": self.trained_here,
            "loadavg_start": [round(x, 2) for x in load],
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
            "workers": self.workers,
        }
        with open(os.path.join(self.out_dir, INVOCATIONS_FILE), "a") as f:
            f.write(json.dumps(record) + "\n")
        self.log(f"headroom: {json.dumps(record)}")
        return rows


# -- analysis -------------------------------------------------------------------------------------------------------
def _mult(row: Row) -> float:
    return float(row["lr_multiplier"])


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(float(value))


def _select(rows: Sequence[Row], stage: str, method: str, mult: float) -> list[Row]:
    return [r for r in rows if r["stage"] == stage and r["method"] == method and math.isclose(_mult(r), mult)]


@dataclass(frozen=True)
class Diff:
    """A minus B over the evaluation pairs (world, model seed) where both trained, in points of AUC or RMSE."""

    label: str
    metric: str
    pairs: int
    mean: float
    low: float
    high: float

    @property
    def above_zero(self) -> bool:
        return self.low > 0

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def paired(rows: Sequence[Row], a: tuple[str, float], b: tuple[str, float], label: str, metric: str) -> Diff:
    """`a` minus `b` (each (method, multiplier)) on `metric`, paired by (world, model seed), pairs where both
    trained; AUC in points."""
    scale = next(s for m, _, s, _ in METRICS if m == metric)
    first = {(r["world_seed"], r["seed"]): r for r in _select(rows, "eval", *a)}
    second = {(r["world_seed"], r["seed"]): r for r in _select(rows, "eval", *b)}
    keys = sorted(k for k in set(first) & set(second) if not failed(first[k]) and not failed(second[k]))
    diffs = [
        scale * (first[k][metric] - second[k][metric])
        for k in keys
        if _finite(first[k][metric]) and _finite(second[k][metric])
    ]
    mean, low, high = paired_interval(diffs)
    return Diff(label, metric, len(diffs), mean, low, high)


def comparisons(choice: Choice) -> tuple[tuple[str, tuple[str, float], tuple[str, float]], ...]:
    """The rule's paired comparisons: (label, a, b) for a minus b."""
    r, c = choice.naive, choice.clippy
    return (
        ("rise", ("adagrad", r), ("adagrad", r / 2)),
        ("total", ("clippy", c), ("adagrad", r)),
        ("rate", ("clippy", c), ("clippy", r)),
        ("clipping", ("clippy", r), ("adagrad", r)),
        ("next", ("clippy", c), ("adagrad", 2 * r)),
    )


COMPARISON_TEXT: dict[str, str] = {
    "rise": "naive at r* minus naive at r*/2 (does naive's quality still rise at r*?)",
    "total": "Clippy at c* minus naive at r* (what Clippy's headroom buys)",
    "rate": "Clippy at c* minus Clippy at r* (the part its higher rate buys)",
    "clipping": "Clippy at r* minus naive at r* (the part its clipping buys at the same rate)",
    "next": "Clippy at c* minus naive at 2r*, pairs where naive trained (not in the rule; added after the runs)",
}


def all_diffs(rows: Sequence[Row], choice: Choice) -> list[Diff]:
    return [paired(rows, a, b, label, metric) for label, a, b in comparisons(choice) for metric, _, _, _ in METRICS]


@dataclass(frozen=True)
class Verdict:
    """The rule's two parts and the overall verdict, with the numbers each rests on."""

    divergence_limited: bool
    rises: bool
    next_fails: tuple[int, int]
    pays: bool
    rate_pays: bool
    text: str


def verdict(rows: Sequence[Row], choice: Choice) -> Verdict:
    """The rule of the module docstring on the evaluation runs."""
    nxt = P.failure_counts(_select(rows, "eval", "adagrad", choice.naive * 2))
    click = {d.label: d for d in all_diffs(rows, choice) if d.metric == "auc_click"}
    rises = click["rise"].above_zero
    fails = nxt["runs"] > 0 and nxt["failed"] >= NEXT_RATE_FAILURE_SHARE * nxt["runs"]
    limited = rises and fails
    pays = choice.clippy > choice.naive and click["total"].above_zero
    rate_pays = choice.clippy > choice.naive and click["rate"].above_zero
    if limited and pays:
        text = "regime shown: naive Adagrad's best rate is limited by divergence and Clippy's higher rate pays"
    elif limited:
        text = "naive Adagrad is limited by divergence, but Clippy's headroom buys no detectable click AUC"
    else:
        why = []
        if not rises:
            why.append("naive's click AUC does not rise detectably from r*/2 to r*")
        if not fails:
            why.append(f"naive at 2r* fails in under {100 * NEXT_RATE_FAILURE_SHARE:.0f} % of its runs")
        text = "regime not shown: " + "; ".join(why)
        if pays:
            text += "; Clippy at c* > r* still beats naive at r*" + (
                ", and its higher rate is what pays" if rate_pays else ""
            )
    return Verdict(limited, rises, (nxt["failed"], nxt["runs"]), pays, rate_pays, text)


def _ci(k: int, n: int) -> str:
    low, high = clopper_pearson(k, n)
    return f"{k}/{n} [{100 * low:.0f}-{100 * high:.0f} %]" if n else "-"


def _rate(mult: float) -> str:
    return f"{mult:g}x" if mult >= 1 else f"1/{1 / mult:g}x"


def _cell(d: Diff) -> str:
    if d.pairs == 0:
        return "-"
    digits = 2 if d.metric.startswith("auc") else 4
    if not math.isfinite(d.low):
        return f"{d.mean:+.{digits}f} (one pair)"
    text = f"{d.mean:+.{digits}f} [{d.low:+.{digits}f}, {d.high:+.{digits}f}]"
    return f"**{text}**" if d.excludes_zero else text


def _mean(rows: Sequence[Row], metric: str, scale: float) -> str:
    values = [scale * r[metric] for r in rows if not failed(r) and _finite(r[metric])]
    return f"{np.mean(values):.{2 if scale > 1 else 4}f}" if values else "-"


def curve_table(rows: Sequence[Row], stage: str) -> list[str]:
    """Per method and rate: runs, trained / blew up / never learned, failure interval, mean metrics of trained runs."""
    lines = [
        "| method | rate | runs | trained | blew up | never learned | failed [95 % CI] | "
        + " | ".join(label for _, label, _, _ in METRICS)
        + " |",
        "|---|---|---|---|---|---|---|" + "---|" * len(METRICS),
    ]
    for method in METHODS:
        mults = sorted({_mult(r) for r in rows if r["stage"] == stage and r["method"] == method})
        for mult in mults:
            mine = _select(rows, stage, method, mult)
            c = P.failure_counts(mine)
            means = " | ".join(_mean(mine, m, s) for m, _, s, _ in METRICS)
            lines.append(
                f"| {P._method_label(method)} | {_rate(mult)} | {c['runs']} | {c['runs'] - c['failed']} | "
                f"{c['blew_up']} | {c['never_learned']} | {_ci(c['failed'], c['runs'])} | {means} |"
            )
    return lines


def regime_section(rows: Sequence[Row], regime: Regime) -> tuple[list[str], Verdict | None]:
    """One regime's tables and verdict (`rows`: that regime's rows)."""
    tune = [r for r in rows if r["stage"] == "tune"]
    lines = [f"## Regime {regime.name}: {regime.label}", ""]
    if not tune:
        return [*lines, "No runs yet.", ""], None
    choice = choose(tune)
    ev = [r for r in rows if r["stage"] == "eval"]
    if not evaluation_complete(ev, choice):
        return [
            *lines,
            f"Tuned on world {TUNING_WORLD}, model seeds {', '.join(map(str, TUNING_SEEDS))}: naive Adagrad's best "
            f"rate r\\* = {_rate(choice.naive)}, Clippy's c\\* = {_rate(choice.clippy)}. **Not evaluated**: its "
            "evaluation did not finish before the sweep was stopped (the deadline rule: no verdict from part of the "
            "seeds), so only the tuning curve is reported and no verdict is given.",
            "",
            "### The rate curves on the tuning seeds",
            "",
            "Mean metrics over the trained runs (AUC in %).",
            "",
            *curve_table(rows, "tune"),
            "",
        ], None
    lines += [
        f"Tuned on world {TUNING_WORLD}, model seeds {', '.join(map(str, TUNING_SEEDS))}: naive Adagrad's best rate "
        f"**r\\* = {_rate(choice.naive)}**, Clippy's **c\\* = {_rate(choice.clippy)}**.",
        "",
        "### The rate curves on the tuning seeds",
        "",
        "Mean metrics over the trained runs (AUC in %).",
        "",
        *curve_table(rows, "tune"),
        "",
        f"### The evaluation runs (worlds {', '.join(map(str, EVAL_WORLDS))} x model seeds "
        f"{', '.join(map(str, EVAL_SEEDS))})",
        "",
        *curve_table(rows, "eval"),
        "",
        "### Paired comparisons (evaluation runs)",
        "",
        "AUC in points (positive: the first configuration is better); RMSE (negative: the first is better). "
        "Bold: the 95 % interval excludes 0.",
        "",
        "| comparison | pairs | " + " | ".join(label for _, label, _, _ in METRICS) + " |",
        "|---|---|" + "---|" * len(METRICS),
    ]
    diffs = all_diffs(rows, choice)
    for label, first, second in comparisons(choice):
        mine = [d for d in diffs if d.label == label]
        text = f"{COMPARISON_TEXT[label]}: {_rate(first[1])} vs {_rate(second[1])}"
        lines.append(f"| {text} | {mine[0].pairs} | " + " | ".join(_cell(d) for d in mine) + " |")
    v = verdict(rows, choice)
    click = {d.label: d for d in diffs if d.metric == "auc_click"}
    k, n = v.next_fails
    lines += [
        "",
        "### Verdict",
        "",
        f"* naive's click AUC from r*/2 to r*: {_cell(click['rise'])} points (rises: {'yes' if v.rises else 'no'})",
        f"* naive at 2r* = {_rate(2 * choice.naive)} failed {_ci(k, n)} (the rule needs at least "
        f"{100 * NEXT_RATE_FAILURE_SHARE:.0f} %)",
        f"* Clippy at c* minus naive at r*: {_cell(click['total'])} points; Clippy at c* minus Clippy at r* (its "
        f"higher rate): {_cell(click['rate'])}; Clippy at r* minus naive at r* (its clipping at the same rate): "
        f"{_cell(click['clipping'])}",
        "",
        f"**{regime.name}: {v.text}.**",
        "",
    ]
    return lines, v


def headroom_markdown(rows: Sequence[Row], invocations: Sequence[dict[str, Any]] = ()) -> str:
    tune = [r for r in rows if r["stage"] == "tune"]
    ev = [r for r in rows if r["stage"] == "eval"]
    lines = [
        "# A regime where a higher learning rate pays? Naive Adagrad's and Clippy's rate curves on Large+DCN",
        "",
        "Generated by `python -m experiments.headroom` (plan, seeds and rule: its docstring, fixed before the "
        f"measured runs). {len(tune)} tuning runs and {len(ev)} evaluation runs. A run *fails* when it fully "
        "diverged or its final click AUC on the evaluation day is below 0.55; *blew up* / *never learned* split the "
        "failures (`powered.failure_kind`). Intervals: exact 95 % Clopper-Pearson for failure rates; 95 % paired t "
        "for differences (pairs: same world and model seed, both runs trained). Rates are multiples of the `full` "
        "sweep's calibrated 1x (η = 0.8); Clippy at the paper's λ_rel 0.5, λ_abs 1e-2. The powered world "
        "(`full`'s generator, 5 days of 6000 impressions, one pass per training day), Large+DCN.",
        "",
        f"Rule (stated before the runs): {RULE}",
        "",
    ]
    verdicts = []
    not_evaluated = []
    for regime in REGIMES:
        section, v = regime_section(of_regime(rows, regime.name), regime)
        lines += section
        if v is not None:
            verdicts.append((regime.name, v))
        else:
            not_evaluated.append(regime.name)
    shown = [name for name, v in verdicts if v.divergence_limited and v.pays]
    lines += [
        "![headroom](headroom.png)",
        "",
        "## Overall",
        "",
        (
            f"**The regime is shown ({', '.join(shown)}).**"
            if shown
            else "**No regime shows both parts of the rule:** "
            + "; ".join(f"{name}: {v.text}" for name, v in verdicts)
            + "."
        ),
        *([f"Not evaluated (no verdict): {', '.join(not_evaluated)}."] if not_evaluated else []),
    ]
    cpu = sum(float(r["cpu_s"]) for r in rows if _finite(r.get("cpu_s")))
    wall = sum(float(r["wall_s"]) for r in rows if _finite(r.get("wall_s")))
    lines += [
        "",
        "## Cost",
        "",
        f"Per run: {wall:.0f} s wall and {cpu:.0f} CPU-s summed over the {len(rows)} runs.",
    ]
    for i, inv in enumerate(invocations, 1):
        lines.append(
            f"* invocation {i}: {inv['wall_s']:.0f} s wall, {inv['cpu_s']:.0f} CPU-s (process and workers), "
            f"{inv['runs_trained']} runs trained on {inv['workers']} workers, load average "
            f"{inv['loadavg_start'][0]:.1f} at the start and {inv['loadavg_end'][0]:.1f} at the end (1-minute)."
        )
    return "\n".join(lines) + "\n"


def runs_csv(rows: Sequence[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(P.COLUMNS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: R._format(row.get(k, "")) for k in P.COLUMNS})
    return buffer.getvalue()


def figure(rows: Sequence[Row], path: str) -> None:
    """Click AUC against the rate per method (trained runs: each run, the mean and, from 5 runs up, its 95 % t
    interval), failed runs marked at 50 % with their count; one row per regime, tuning and evaluation side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(REGIMES), 2, figsize=(11, 3.8 * len(REGIMES)), sharey=True, squeeze=False)
    colours = {"adagrad": "tab:red", "clippy": "tab:blue"}
    for regime, row_axes in zip(REGIMES, axes):
        mine_rows = of_regime(rows, regime.name)
        for ax, stage, where in zip(row_axes, ("tune", "eval"), ("tuning seeds, world 11", "evaluation runs")):
            for method in METHODS:
                mults = sorted({_mult(r) for r in mine_rows if r["stage"] == stage and r["method"] == method})
                xs, means, errs = [], [], []
                for mult in mults:
                    mine = _select(mine_rows, stage, method, mult)
                    ok = [100 * r["auc_click"] for r in mine if not failed(r)]
                    bad = len(mine) - len(ok)
                    ax.scatter([mult] * len(ok), ok, s=8, alpha=0.3, color=colours[method])
                    if bad:
                        ax.scatter([mult], [50.0], marker="x", s=40, color=colours[method])
                        offset = 1.0 if method == "adagrad" else -1.5
                        ax.annotate(
                            f"{bad}/{len(mine)}", (mult, 50.0 + offset), ha="center", fontsize=7, color=colours[method]
                        )
                    if ok:
                        mean, low, high = paired_interval(ok)
                        xs.append(mult)
                        means.append(mean)
                        wide = math.isfinite(low) and len(ok) >= 5  # no interval drawn from a handful of runs
                        errs.append((mean - low, high - mean) if wide else (0.0, 0.0))
                if xs:
                    ax.errorbar(
                        xs,
                        means,
                        yerr=np.array(errs).T,
                        marker="o",
                        capsize=3,
                        color=colours[method],
                        label=P._method_label(method),
                    )
            ax.set_xscale("log", base=2)
            ax.set_ylim(46, 72)
            ax.set_xlabel("learning-rate multiplier (1x = 0.8)")
            ax.set_title(f"{regime.name}: {where} (mean of trained runs; bars: 95 % t from 5 runs up)", fontsize=9)
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
        row_axes[0].set_ylabel("click AUC, evaluation day (%); x = failed")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(rows: Sequence[Row], out_dir: str, invocations: Sequence[dict[str, Any]] = ()) -> str:
    os.makedirs(out_dir, exist_ok=True)
    rows = planned_rows(rows)
    path = os.path.join(out_dir, "headroom.md")
    write_text(path, headroom_markdown(rows, invocations))
    write_text(os.path.join(out_dir, HEADROOM_FILE), runs_csv(rows))
    if rows:
        figure(rows, os.path.join(out_dir, "headroom.png"))
    return path


def read_invocations(out_dir: str) -> list[dict[str, Any]]:
    path = os.path.join(out_dir, INVOCATIONS_FILE)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def run_headroom_sweep(out_dir: str, workers: int | None = None) -> int:
    """Entry point of `ranker sweep --preset headroom`: the runs, then the report into `out_dir`."""
    rows = HeadroomSweep(out_dir, workers=workers or 2, log=lambda m: print(m, flush=True)).run()
    print(write_report(rows, out_dir, read_invocations(out_dir)), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", required=True, help="directory for the runs (data, curves, headroom.csv)")
    parser.add_argument("--results", default=None, help="where the report goes (default: --out)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--report-only", action="store_true", help="the report from the runs done so far")
    args = parser.parse_args(argv)
    if args.report_only:
        rows = planned_rows(R.read_rows(os.path.join(args.out, HEADROOM_FILE)))
    else:
        rows = HeadroomSweep(args.out, workers=args.workers, log=lambda m: print(m, flush=True)).run()
    print(write_report(rows, args.results or args.out, read_invocations(args.out)))
    return 0


RULE = (
    "per regime, on the evaluation runs (paired by world and model seed, pairs where both trained, 95 % t): naive "
    "Adagrad is limited by divergence when naive at r* minus naive at r*/2 in click AUC has its interval above 0 and "
    "naive at 2r* fails in at least 25 % of its runs; Clippy's headroom pays when c* > r* and Clippy at c* minus naive "
    "at r* has its interval above 0; the regime is shown when both hold in one regime."
)

if __name__ == "__main__":
    raise SystemExit(main())
