"""`ranker sweep --preset probe`: the mechanism probe of the paper's Figure 4 (claim C7).

The claim: at the onset of a loss divergence of an unclipped model, the update-to-weight ratio ‖r/w‖_∞ (r = the
Adagrad update g / √G) rises far more than the gradient norm ‖g‖₂, which is why Clippy clips on it.

Set-up (`presets.probe_preset`): naive Adagrad on Small (the size whose naive failures come late in `full`) at 1x
and 0.5x of `full`'s calibrated 1x (η 0.8 and 0.4), seeds 0-2, on `full`'s world without its own shock and with 8
training days (640 steps, warm-up 80). One generated feature is multiplied by 100 after normalisation in every
batch from step 200 ("shock_early") or step 480 ("shock_late") on; "no_shock" runs are the placebo, read at both
placements. Every step records the training loss and, for every dense variable, σ, ‖g‖₂, ‖g‖₂/‖w‖₂ and ‖r/w‖_∞
(steps are 0-based optimizer iterations; the loss of step t is the loss of the batch whose gradient is g_t).

The rule, fixed before the runs (constants below), per run with its shock at step S:

* **Baseline**: the `BASELINE_STEPS` steps just before the shock, [S - 40, S - 1]; each series' baseline is its
  median there.
* **Onset**: the first step t >= S whose loss is non-finite or exceeds `ONSET_FACTOR` (3) x the baseline loss. A run
  without one did not diverge after the shock: it is reported as such, not counted for or against the claim. A run
  whose loss was non-finite before S, or that the shared detector found fully diverged with an onset before S,
  diverged before the shock and is left out likewise.
* **Rise** of a statistic on a layer: its maximum over steps [max(S, onset - 5), onset + 5] (`ONSET_WINDOW`) over its
  baseline median.
* **Reproduced in a run** when the rise of ‖r/w‖_∞ is at least `RISE_MARGIN` (10) x the rise of ‖g‖₂ on the layer
  the shock hits first: the bottom shared kernel, whose input rows carry the shocked feature. Every other dense
  kernel is reported too.
* **Per condition** (η multiplier x shock placement): reproduced when the run rule holds in >= 2/3 of the runs with
  an onset (`SEED_SHARE`), not reproduced when it holds in fewer, undecided with fewer than `MIN_ONSETS` (2) onsets.
  C7 is reproduced when every decided condition reproduces it, not reproduced when none does, mixed otherwise.
* **Placebo**: the no-shock runs read at each placement with the same rule; an onset there is a false alarm.

`python -m experiments.probe --results DIR --out docs/results` writes probe.md, probe.csv and probe.png from a
finished sweep directory (the sweep itself writes them into DIR).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from experiments import results as R
from experiments.figures import as_float, layer_series
from experiments.presets import PROBE_BASE_LR, PROBE_PLACEBO, LabPreset, probe_preset
from experiments.runner import RunSpec
from experiments.sweep import Sweep
from models.stability import write_text

#: The rule's constants (see the module docstring); fixed before the runs.
BASELINE_STEPS = 40
ONSET_FACTOR = 3.0
ONSET_WINDOW = 5
RISE_MARGIN = 10.0
SEED_SHARE = 2.0 / 3.0
MIN_ONSETS = 2

#: The budget of the whole preset on two cores, and the cost model it is checked against (`budget_estimate`):
#: seconds per training step of one worker with per-step telemetry and loss (measured in a pilot on two busy cores),
#: plus the data preparation.
BUDGET_S = 30 * 60
SECONDS_PER_STEP = 0.08
DATA_PREPARATION_S = 60.0

PROBE_FILE, PROBE_CSV, PROBE_PNG, TIMING_FILE = "probe.md", "probe.csv", "probe.png", "probe_timing.json"
STAGE = "mechanism"
FIELDS = {"grad_norm": "‖g‖₂", "update_to_weight_inf": "‖r/w‖∞", "grad_to_weight": "‖g‖/‖w‖"}


# ------------------------------------------------------------------------------------------------------------------
# Plan and budget


def probe_specs(preset: LabPreset) -> list[RunSpec]:
    """Seed-major: an interrupted sweep has every condition of seed 0 first. Telemetry every step."""
    variants = [v for v, _ in preset.step_shocks] + [PROBE_PLACEBO]
    return [
        RunSpec("adagrad", size, mult, seed, (), STAGE, variant, 1)
        for seed in preset.seeds
        for size in preset.sizes
        for mult in preset.table_multipliers
        for variant in variants
    ]


def total_steps(preset: LabPreset, train_examples_per_day: int) -> int:
    """Training steps of one run (as `runner._train_stream` cuts them)."""
    per_pass = (train_examples_per_day // preset.batch_size) // preset.window * preset.window
    return per_pass * preset.passes_per_day * (preset.world.num_days - 1)


def budget_estimate(preset: LabPreset, steps_per_run: int, seconds_per_step: float = SECONDS_PER_STEP) -> float:
    """Wall seconds of the whole preset: data preparation plus every run's steps shared over the workers."""
    runs = len(probe_specs(preset))
    return DATA_PREPARATION_S + math.ceil(runs / preset.workers) * steps_per_run * seconds_per_step


# ------------------------------------------------------------------------------------------------------------------
# The rule


def _median(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if len(finite) else math.nan


def find_onset(loss: Sequence[float], shock: int) -> tuple[int | None, float]:
    """(onset step or None, baseline loss): the first t >= shock with a non-finite loss or one above
    ONSET_FACTOR x the median loss of [shock - BASELINE_STEPS, shock - 1]."""
    values = np.array([as_float(x) for x in loss], float)
    baseline = _median(values[max(0, shock - BASELINE_STEPS) : shock])
    for t in range(shock, len(values)):
        if not math.isfinite(values[t]) or values[t] > ONSET_FACTOR * baseline:
            return t, baseline
    return None, baseline


def rise(steps: np.ndarray, values: np.ndarray, shock: int, onset: int) -> tuple[float, float, float]:
    """(max over [max(shock, onset - ONSET_WINDOW), onset + ONSET_WINDOW] / baseline median, step of that max,
    baseline median)."""
    base = _median(values[(steps >= shock - BASELINE_STEPS) & (steps < shock)])
    inside = (steps >= max(shock, onset - ONSET_WINDOW)) & (steps <= onset + ONSET_WINDOW)
    window = values[inside]
    if not len(window) or not math.isfinite(base) or base <= 0:
        return math.nan, math.nan, base
    if np.any(np.isinf(window)):
        return math.inf, float(steps[inside][np.isinf(window)][0]), base
    if not np.any(np.isfinite(window)):
        return math.nan, math.nan, base
    i = int(np.nanargmax(window))
    return float(window[i] / base), float(steps[inside][i]), base


def dense_kernels(curves: dict[str, Any]) -> list[str]:
    """Every dense kernel with telemetry, bottom shared first, then the rest in name order."""
    names = sorted({r["variable"] for r in curves.get("telemetry", []) if "kernel" in r["variable"]})

    def key(name: str) -> tuple[int, int, str]:
        shared = re.search(r"shared_dense_(\d+)", name)
        return (0, int(shared.group(1)), name) if shared else (1, 0, name)

    return sorted(names, key=key)


def first_hit_layer(curves: dict[str, Any]) -> str | None:
    """The bottom shared kernel: its input rows carry the shocked feature, so the shock reaches it first."""
    kernels = [k for k in dense_kernels(curves) if "shared_dense_" in k]
    return kernels[0] if kernels else None


@dataclass(frozen=True)
class RunReading:
    """One run read at one shock placement. `status`: "onset", "no_onset" or "diverged_before_shock"."""

    run_id: str
    multiplier: float
    seed: int
    placement: str
    shock: int
    status: str
    onset: int | None = None
    baseline_loss: float = math.nan
    first_layer: str | None = None
    #: per kernel and statistic: "<stat>" its rise, "<stat>_peak" the step of its maximum, "<stat>_base" its baseline
    layers: dict[str, dict[str, float]] = field(default_factory=dict)

    def first_rises(self) -> tuple[float, float]:
        layer = self.layers.get(self.first_layer or "", {})
        return layer.get("update_to_weight_inf", math.nan), layer.get("grad_norm", math.nan)

    @property
    def reproduced(self) -> bool | None:
        """The run rule on the first-hit layer; None without an onset."""
        if self.status != "onset":
            return None
        return layer_reproduces(self.layers.get(self.first_layer or "", {}))


def layer_reproduces(layer: dict[str, float]) -> bool:
    rw, g = layer.get("update_to_weight_inf", math.nan), layer.get("grad_norm", math.nan)
    return bool(math.isfinite(g) and not math.isnan(rw) and rw >= RISE_MARGIN * g)


def read_run(curves: dict[str, Any], placement: str, shock: int, run_id: str = "") -> RunReading:
    """Applies the rule to one run's per-step loss and telemetry, its shock (or placebo placement) at `shock`."""
    spec = curves.get("spec", {})
    common = {
        "run_id": run_id,
        "multiplier": float(spec.get("lr_multiplier", math.nan)),
        "seed": int(spec.get("seed", -1)),
        "placement": placement,
        "shock": shock,
        "first_layer": first_hit_layer(curves),
    }
    loss = [as_float(x) for x in curves.get("step_loss", [])]
    detector = curves.get("divergence") or {}
    early_onset = detector.get("fully_diverged") and as_float(detector.get("onset_step")) < shock
    if any(not math.isfinite(x) for x in loss[:shock]) or early_onset or len(loss) <= shock:
        return RunReading(status="diverged_before_shock", **common)
    onset, baseline = find_onset(loss, shock)
    if onset is None:
        return RunReading(status="no_onset", baseline_loss=baseline, **common)
    layers = {}
    for var in dense_kernels(curves):
        entry: dict[str, float] = {}
        for stat in FIELDS:
            steps, values = layer_series(curves, var, stat)
            entry[stat], entry[f"{stat}_peak"], entry[f"{stat}_base"] = rise(steps, values, shock, onset)
        layers[var] = entry
    return RunReading(status="onset", onset=onset, baseline_loss=baseline, layers=layers, **common)


def condition_verdict(readings: Sequence[RunReading]) -> tuple[str, int, int]:
    """(verdict, runs where the rule held, runs with an onset) for one condition's runs."""
    onsets = [r for r in readings if r.status == "onset"]
    held = sum(bool(r.reproduced) for r in onsets)
    if len(onsets) < MIN_ONSETS:
        return "undecided", held, len(onsets)
    return ("reproduced" if held >= SEED_SHARE * len(onsets) - 1e-9 else "not reproduced"), held, len(onsets)


def overall_verdict(verdicts: Sequence[str]) -> str:
    decided = [v for v in verdicts if v != "undecided"]
    if not decided:
        return "undecided"
    if all(v == "reproduced" for v in decided):
        return "reproduced"
    if not any(v == "reproduced" for v in decided):
        return "not reproduced"
    return "mixed"


def read_all(results_dir: str, preset: LabPreset) -> list[RunReading]:
    """Every run of the sweep read with the rule: shocked runs at their shock, placebo runs at every placement."""
    rows = [r for r in R.read_rows(os.path.join(results_dir, R.RESULTS_FILE)) if r["stage"] == STAGE]
    placements = dict(preset.step_shocks)
    readings = []
    for row in sorted(rows, key=lambda r: (r["variant"], -float(r["lr_multiplier"]), int(r["seed"]))):
        curves = R.read_curves(results_dir, row["run_id"])
        if curves is None:
            continue
        if row["variant"] == PROBE_PLACEBO:
            readings += [
                read_run(curves, f"{PROBE_PLACEBO}@{name}", s, row["run_id"]) for name, s in placements.items()
            ]
        elif row["variant"] in placements:
            readings.append(read_run(curves, row["variant"], placements[row["variant"]], row["run_id"]))
    return readings


# ------------------------------------------------------------------------------------------------------------------
# The sweep


class ProbeSweep(Sweep):
    """The probe's runs at `PROBE_BASE_LR` (no calibration), then its report; records each session's wall time."""

    def planned_total(self) -> int:
        return len(probe_specs(self.preset))

    def run(self) -> dict[str, float]:
        started = time.time()
        base_lrs, data_s = self.run_at_fixed_rate(probe_specs(self.preset), PROBE_BASE_LR)
        record_session(self.out_dir, time.time() - started, data_s, self.progress.finished_here, self.workers)
        write_probe_report(self.out_dir, self.out_dir, self.preset)
        self.log(f"probe finished in {(time.time() - started) / 60:.1f} min")
        return base_lrs


def read_sessions(out_dir: str) -> list[dict[str, Any]]:
    path = os.path.join(out_dir, TIMING_FILE)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)


def record_session(out_dir: str, wall_s: float, data_s: float, runs_trained: int, workers: int) -> None:
    """Appends this invocation's timing to probe_timing.json (a resumed sweep has several sessions)."""
    path = os.path.join(out_dir, TIMING_FILE)
    sessions = read_sessions(out_dir)
    sessions.append(
        {"wall_s": round(wall_s, 1), "data_s": round(data_s, 1), "runs_trained": runs_trained, "workers": workers}
    )
    write_text(path, json.dumps(sessions, indent=1))


def run_probe_sweep(out_dir: str, workers: int | None = None) -> int:
    ProbeSweep(probe_preset(), out_dir, log=lambda m: print(m, flush=True), workers=workers).run()
    print(f"wrote {os.path.join(out_dir, PROBE_FILE)}", flush=True)
    return 0


# ------------------------------------------------------------------------------------------------------------------
# Report


def _fmt(x: Any, spec: str = ".3g") -> str:
    if isinstance(x, int | float) and math.isinf(x):
        return "∞"
    return "–" if not isinstance(x, int | float) or not math.isfinite(x) else format(x, spec)


def _short(var: str | None) -> str:
    return (var or "–").split("/")[-2] if var and "/" in var else (var or "–")


def conditions(preset: LabPreset) -> list[tuple[float, str]]:
    return [(m, v) for m in preset.table_multipliers for v, _ in preset.step_shocks]


def probe_markdown(readings: Sequence[RunReading], preset: LabPreset, rows: Sequence[dict[str, Any]]) -> str:
    shocks = dict(preset.step_shocks)
    warmup = preset.warmup_steps
    steps = int(rows[0]["steps"]) if rows else 0
    lines = [
        "# The mechanism probe (claim C7, the paper's Figure 4)",
        "",
        "Generated by `experiments/probe.py` (the rule and its constants are that module's docstring and constants).",
        "",
        "## Set-up",
        "",
        f"* Naive Adagrad (σ = 1) on **Small** (2 x {preset.width} shared units, towers of 16), the size whose naive "
        "failures come late in `full` (docs/results/results.csv, naive at 1x: Small's two failing seeds have their "
        "onset at step 260, Large's at 80-120, right where warm-up ends, Large+DCN's at 20-60, inside it).",
        f"* η at 1x and 0.5x of `full`'s calibrated 1x (η {PROBE_BASE_LR:g} and {PROBE_BASE_LR / 2:g}), seeds "
        f"{', '.join(str(s) for s in preset.seeds)}; embeddings Adagrad at {preset.embedding_learning_rate:g}; "
        f"linear warm-up over the first {warmup} steps.",
        f"* `full`'s world (seed {preset.world.seed}, {preset.world.impressions_per_day} impressions a day, "
        f"{preset.world.num_extra_dense_features} generated dense features) without its own shock, "
        f"{preset.world.num_days - 1} training days in order, {preset.passes_per_day} shuffled passes each, batch "
        f"{preset.batch_size}: {steps} steps a run.",
        f"* The shock: the first generated feature x{preset.feature_shock_factor:g} after normalisation in every batch "
        f"from step {shocks.get('shock_early')} (early: {shocks.get('shock_early', 0) - warmup} steps after warm-up "
        f"ends) or from step {shocks.get('shock_late')} (late: {shocks.get('shock_late', 0) - warmup} steps after "
        "it, the accumulators about 2.4x as mature) to the end; the same runs without a shock are the placebo.",
        "* Every step: the training loss (from Keras's running window mean) and, for every dense variable, σ, ‖g‖₂, "
        "‖g‖₂/‖w‖₂ and ‖r/w‖∞ (`OptimizerTelemetry(every_n_steps=1)`); steps are 0-based optimizer iterations.",
        "",
        "## The rule (stated before the runs)",
        "",
        f"* Baseline: the {BASELINE_STEPS} steps just before the shock; each series' baseline is its median there.",
        f"* Onset: the first step at or after the shock whose loss is non-finite or above {ONSET_FACTOR:g}x the "
        "baseline loss. Runs without one did not diverge after the shock (reported, not counted).",
        f"* Rise: a statistic's maximum over [max(shock, onset - {ONSET_WINDOW}), onset + {ONSET_WINDOW}] over its "
        "baseline median.",
        f"* A run reproduces the claim when the rise of ‖r/w‖∞ is >= {RISE_MARGIN:g}x the rise of ‖g‖₂ on the layer "
        "the shock hits first (the bottom shared kernel, `shared_dense_0`); every dense kernel is reported below.",
        f"* A condition (η x placement) reproduces it when the run rule holds in >= 2/3 of its runs with an onset; "
        f"undecided with fewer than {MIN_ONSETS} onsets. C7 is reproduced when every decided condition reproduces "
        "it, not reproduced when none does, mixed otherwise. Placebo onsets (no shock) are false alarms.",
        "",
    ]
    verdicts = []
    cond_lines = [
        "## Verdict per condition",
        "",
        "| η | shock at | runs | onsets | rule held | median ‖r/w‖∞ rise | median ‖g‖₂ rise | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mult, variant in conditions(preset):
        group = [r for r in readings if r.multiplier == mult and r.placement == variant]
        verdict, held, onsets = condition_verdict(group)
        verdicts.append(verdict)
        with_onset = [r.first_rises() for r in group if r.status == "onset"]
        rw = _fmt(float(np.median([a for a, _ in with_onset]))) if with_onset else "–"
        g = _fmt(float(np.median([b for _, b in with_onset]))) if with_onset else "–"
        cond_lines.append(
            f"| {mult:g}x | {shocks[variant]} ({variant.removeprefix('shock_')}) | {len(group)} | {onsets} | "
            f"{held}/{onsets} | {rw}x | {g}x | **{verdict}** |"
        )
    lines += [f"**Verdict: C7 {overall_verdict(verdicts)}.**", "", *cond_lines, "", *reading_lines(readings, preset)]
    lines += [
        "## Per run (the first-hit layer, bottom shared kernel)",
        "",
        "| η | placement | seed | status | onset (steps after shock) | baseline loss | ‖g‖₂ baseline -> rise x "
        "(peak step) | ‖r/w‖∞ baseline -> rise x (peak step) | ‖g‖/‖w‖ rise x | rule |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in (r for r in readings if not r.placement.startswith(PROBE_PLACEBO)):
        layer = r.layers.get(r.first_layer or "", {})
        onset = f"{r.onset} (+{r.onset - r.shock})" if r.onset is not None else "–"
        rule = {True: "holds", False: "fails", None: "–"}[r.reproduced]
        lines.append(
            f"| {r.multiplier:g}x | {r.placement} | {r.seed} | {r.status.replace('_', ' ')} | {onset} | "
            f"{_fmt(r.baseline_loss)} | {_rise(layer, 'grad_norm')} | {_rise(layer, 'update_to_weight_inf')} | "
            f"{_fmt(layer.get('grad_to_weight'))} | {rule} |"
        )
    lines += [
        "",
        "## Every dense kernel (runs with an onset after a shock): ‖r/w‖∞ rise / ‖g‖₂ rise",
        "",
    ]
    onset_runs = [r for r in readings if r.status == "onset" and not r.placement.startswith(PROBE_PLACEBO)]
    kernels = list(onset_runs[0].layers) if onset_runs else []
    if kernels:
        header = " | ".join(_short(k) for k in kernels)
        lines.append(f"| η | placement | seed | {header} | layers where it holds |")
        lines.append("|" + "---|" * (4 + len(kernels)))
        for r in onset_runs:
            cells = [
                f"{_fmt(r.layers[k].get('update_to_weight_inf'))} / {_fmt(r.layers[k].get('grad_norm'))}"
                for k in kernels
            ]
            held = sum(layer_reproduces(r.layers[k]) for k in kernels)
            lines.append(
                f"| {r.multiplier:g}x | {r.placement} | {r.seed} | " + " | ".join(cells) + f" | {held}/{len(kernels)} |"
            )
    else:
        lines.append("No shocked run had an onset.")
    lines.append("")
    return "\n".join(lines)


def _rise(layer: dict[str, float], stat: str) -> str:
    if stat not in layer:
        return "–"
    peak = _fmt(layer.get(f"{stat}_peak"), ".0f")
    return f"{_fmt(layer.get(f'{stat}_base'))} -> {_fmt(layer.get(stat))} ({peak})"


def reading_lines(readings: Sequence[RunReading], preset: LabPreset) -> list[str]:
    """What the numbers say, computed (no hand-written numbers)."""
    shocked = [r for r in readings if not r.placement.startswith(PROBE_PLACEBO)]
    onsets = [r for r in shocked if r.status == "onset"]
    if not onsets:
        return ["No shocked run had an onset: the probe says nothing about the mechanism.", ""]
    ratios = [a / b for a, b in (r.first_rises() for r in onsets) if math.isfinite(a) and math.isfinite(b) and b > 0]
    g_more = sum(b > a for a, b in (r.first_rises() for r in onsets))
    layer_cells = [(k, layer_reproduces(e)) for r in onsets for k, e in r.layers.items()]
    held_layers = sorted({_short(k) for k, ok in layer_cells if ok})
    lines = [
        "## Reading (computed from the tables)",
        "",
        f"* {len(onsets)} of {len(shocked)} shocked runs have an onset after their shock ("
        + ", ".join(
            f"{m:g}x: {sum(r.multiplier == m for r in onsets)}/{sum(r.multiplier == m for r in shocked)}"
            for m in preset.table_multipliers
        )
        + "); the placebo's false alarms are in the placebo section below.",
        f"* On the first-hit layer ‖g‖₂ rose more than ‖r/w‖∞ in {g_more} of {len(onsets)} runs; the ratio of the "
        f"rises (‖r/w‖∞ / ‖g‖₂) spans {_fmt(min(ratios))}-{_fmt(max(ratios))} (the rule needs >= {RISE_MARGIN:g}).",
        f"* Over every dense kernel of those runs the rule holds in {sum(ok for _, ok in layer_cells)} of "
        f"{len(layer_cells)} (kernel, run) pairs, on {', '.join(held_layers) or 'none'}. The shock scales the "
        "first-hit layer's input rows, so that layer's ‖g‖₂ rises with the input itself; the kernels above it, "
        "whose inputs are not scaled directly, are the check that the reading is not the shock's own arithmetic.",
    ]
    for mult in preset.table_multipliers:
        med = []
        for variant, _ in preset.step_shocks:
            rises = [r.first_rises()[0] for r in onsets if r.multiplier == mult and r.placement == variant]
            med.append(f"{variant.removeprefix('shock_')} {_fmt(float(np.median(rises))) if rises else '–'}x")
        lines.append(
            f"* Accumulator maturity, η {mult:g}x: median ‖r/w‖∞ rise on the first-hit layer " + ", ".join(med)
        )
    base = [r.layers[r.first_layer]["update_to_weight_inf_base"] for r in onsets if r.first_layer in r.layers]
    lines += [
        f"* ‖r/w‖∞ of the first-hit layer is large before any shock (baseline medians {_fmt(min(base))}-"
        f"{_fmt(max(base))}): a few weights near zero set it. With the accumulator updated before the step, "
        "|r_j| = |g_j| / √G_j < 1 for every coordinate, so a gradient many times its usual size moves r_j towards 1 "
        "and no further, while ‖g‖₂ grows with it: at fixed w_j a coordinate's |r_j / w_j| can grow at most "
        "1 / |r_j| times (its usual |r_j|), so ‖r/w‖∞ rises far only where r_j was tiny or a weight shrinks to zero.",
        "",
    ]
    return lines


def timing_markdown(results_dir: str, rows: Sequence[dict[str, Any]]) -> str:
    sessions = read_sessions(results_dir)
    wall = sum(s["wall_s"] for s in sessions)
    run_wall = sum(as_float(r.get("wall_s")) for r in rows)
    parts = "; ".join(
        "{:.0f} s: {} runs trained by {} workers, data {:.0f} s".format(
            s["wall_s"], s["runs_trained"], s["workers"], s["data_s"]
        )
        for s in sessions
    )
    return (
        f"Wall time: {wall / 60:.1f} min in {len(sessions)} session(s) ({parts}); the runs' own wall times sum to "
        f"{run_wall / 60:.1f} min over {len(rows)} runs. Budget: {BUDGET_S / 60:.0f} min."
    )


CUTS = (
    "## What was cut to fit (30 min on two cores)",
    "",
    "* One size (Small) and one method (naive Adagrad): the claim is about an unclipped model's onset.",
    "* 3 seeds, the minimum the rule needs; two placements and two rates: 18 runs of 640 steps.",
    "* Small's width stays `full`'s 32 units (the width experiment covers wide layers); 8 training days of 6,000 "
    "impressions (not `full`'s 4): room for a late shock 400 steps after warm-up with 160 steps after it.",
    "* The shock is one feature after normalisation (a few input coordinates), not the lab's counter rescale, whose "
    "log1p and z-score absorb most of it.",
    "",
)


def write_probe_report(results_dir: str, out_dir: str, preset: LabPreset | None = None) -> list[RunReading]:
    preset = preset or probe_preset()
    rows = [r for r in R.read_rows(os.path.join(results_dir, R.RESULTS_FILE)) if r["stage"] == STAGE]
    readings = read_all(results_dir, preset)
    text = "\n".join(
        [
            probe_markdown(readings, preset, rows),
            "## Placebo (no shock, read at both placements)",
            "",
            *placebo_lines(readings),
            "",
            *CUTS,
            "## Commands",
            "",
            "    nice -n 15 .venv/bin/ranker sweep --preset probe --out /tmp/lab_probe   # runs (resumable) + report",
            "    .venv/bin/python -m experiments.probe --results /tmp/lab_probe --out docs/results   # this file",
            "",
            timing_markdown(results_dir, rows),
            "",
        ]
    )
    os.makedirs(out_dir, exist_ok=True)
    write_text(os.path.join(out_dir, PROBE_FILE), text)
    write_probe_csv(readings, os.path.join(out_dir, PROBE_CSV))
    if readings:
        probe_figure(results_dir, readings, preset, os.path.join(out_dir, PROBE_PNG))
    return readings


def placebo_lines(readings: Sequence[RunReading]) -> list[str]:
    placebo = [r for r in readings if r.placement.startswith(PROBE_PLACEBO)]
    alarms = [r for r in placebo if r.status == "onset"]
    before = [r for r in placebo if r.status == "diverged_before_shock"]
    lines = [f"False alarms: {len(alarms)} of {len(placebo)} placebo readings; {len(before)} diverged before the step."]
    lines += [f"* {r.multiplier:g}x seed {r.seed} at {r.shock}: onset at {r.onset}" for r in alarms]
    return lines


def write_probe_csv(readings: Sequence[RunReading], path: str) -> None:
    """One row per (run reading, dense kernel): the rises behind every table."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["run_id", "multiplier", "seed", "placement", "shock", "status", "onset", "baseline_loss", "layer"]
            + [k for s in FIELDS for k in (f"{s}_rise", f"{s}_peak_step")]
            + ["first_hit_layer", "rule_holds"]
        )
        for r in readings:
            for layer, entry in r.layers.items() or {"": {}}.items():
                writer.writerow(
                    [r.run_id, r.multiplier, r.seed, r.placement, r.shock, r.status, r.onset, f"{r.baseline_loss:.6g}"]
                    + [layer]
                    + [f"{entry.get(k, math.nan):.6g}" for s in FIELDS for k in (s, f"{s}_peak")]
                    + [layer == r.first_layer, layer_reproduces(entry) if entry else ""]
                )


def representative(readings: Sequence[RunReading], mult: float, variant: str) -> RunReading | None:
    """The condition's lowest seed with an onset, else its lowest seed."""
    group = sorted((r for r in readings if r.multiplier == mult and r.placement == variant), key=lambda r: r.seed)
    with_onset = [r for r in group if r.status == "onset"]
    return (with_onset or group or [None])[0]


def probe_figure(results_dir: str, readings: Sequence[RunReading], preset: LabPreset, path: str) -> None:
    """Figure 4 analogue: per condition, a representative run's per-step loss, ‖g‖₂ and ‖r/w‖∞ (log scale) around
    its shock (first-hit layer solid, top shared layer dashed), shock and onset marked; below, every run's ‖r/w‖∞
    rise against its ‖g‖₂ rise with the rule's line."""
    from experiments.figures import _plt

    plt = _plt()
    conds = conditions(preset)
    fig = plt.figure(figsize=(4 * len(conds), 13))
    grid = fig.add_gridspec(4, len(conds), height_ratios=[1, 1, 1, 1.3])
    for col, (mult, variant) in enumerate(conds):
        rep = representative(readings, mult, variant)
        axes = [fig.add_subplot(grid[row, col]) for row in range(3)]
        if rep is None:
            continue
        curves = R.read_curves(results_dir, rep.run_id) or {}
        lo, hi = rep.shock - 60, max(rep.shock + 100, (rep.onset or 0) + 30)
        loss = np.array([as_float(x) for x in curves.get("step_loss", [])], float)
        t = np.arange(len(loss))
        keep = (t >= lo) & (t <= hi)
        axes[0].plot(t[keep], loss[keep], color="black", lw=0.8)
        axes[0].set_title(f"naive η {mult:g}x, shock at {rep.shock}, seed {rep.seed}", fontsize=9)
        axes[0].set_ylabel("train loss (per step)")
        kernels = [k for k in dense_kernels(curves) if "shared_dense_" in k]
        for ax, stat in zip(axes[1:], ("grad_norm", "update_to_weight_inf")):
            for var, style in zip((kernels[0], kernels[-1]) if kernels else (), ("-", "--")):
                s, v = layer_series(curves, var, stat)
                keep = (s >= lo) & (s <= hi)
                ax.plot(s[keep], v[keep], style, lw=0.8, label=_short(var))
            ax.set_ylabel(FIELDS[stat])
        for ax in axes:
            ax.set_yscale("log")
            ax.axvline(rep.shock, color="tab:green", lw=1.0, label="shock")
            if rep.onset is not None:
                ax.axvline(rep.onset, color="tab:red", lw=1.0, ls=":", label="onset")
        axes[1].legend(fontsize=7)
        axes[2].set_xlabel("step")
    ax = fig.add_subplot(grid[3, :])
    markers = {m: mk for m, mk in zip(preset.table_multipliers, "os^v")}
    colors = {v: c for (v, _), c in zip(preset.step_shocks, ("tab:orange", "tab:purple"))}
    finite = []
    for r in readings:
        if r.status != "onset" or r.placement not in colors:
            continue
        rw, g = r.first_rises()
        if math.isfinite(rw) and math.isfinite(g):
            finite += [rw, g]
            ax.scatter(g, rw, marker=markers[r.multiplier], color=colors[r.placement], s=40)
    for mult, mk in markers.items():
        ax.scatter([], [], marker=mk, color="grey", label=f"η {mult:g}x")
    for variant, c in colors.items():
        ax.plot([], [], color=c, lw=6, label=variant)
    if finite:
        span = np.array([min(finite) / 2, max(finite) * 2])
        ax.plot(span, span, color="grey", lw=0.8, label="equal rise")
        ax.plot(span, RISE_MARGIN * span, color="tab:red", lw=0.8, ls="--", label=f"rule: {RISE_MARGIN:g}x")
        ax.set(xscale="log", yscale="log")
    ax.set(xlabel="‖g‖₂ rise at onset (bottom shared kernel)", ylabel="‖r/w‖∞ rise at onset")
    ax.set_title("every run with an onset after its shock: above the dashed line = the claim holds")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True, help="the probe sweep's directory (results.csv, curves/)")
    parser.add_argument("--out", default="docs/results", help="where probe.md, probe.csv and probe.png go")
    args = parser.parse_args(argv)
    write_probe_report(args.results, args.out)
    print(os.path.join(args.out, PROBE_FILE))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
