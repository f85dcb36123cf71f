"""Is Clippy more than a learning-rate limiter? Naive Adagrad at the stabilisers' effective step, against Clippy.

On the top shared layer the stabilisers at a nominal 1x-2x take 0.01x-0.13x of naive Adagrad's step (NOTES.md). The
control: naive Adagrad at 0.1x and 0.25x of the `full` sweep's calibrated 1x, every size, seeds 0-2, on the `full`
world (the lab's data preparation is bitwise reproducible, so these runs see the same data as the committed sweep).
One committed run, Clippy at 2x on Small with seed 0, is trained again to check that the pairing holds.

The rule, fixed before the runs: per size, naive Adagrad's better multiplier of the two (more healthy seeds, then the
higher mean click AUC) against Clippy at 2x (the committed `results.csv`), paired by seed. **Clippy is more than a
rate limiter on a size** when naive Adagrad fails on a seed where Clippy trains, or the paired 95 % t interval of
Clippy minus naive click AUC lies above 0. **A rate limiter matches it** when naive trains on every seed and the
interval includes 0 or lies below it.

A second control, **GC with λ ∝ 1/η** (its clipped step ηλ/‖g‖ then stays what it is at 1x, as Clippy's bound does
not grow with η): on Small, GC's best λ at 1x (0.1) divided by the multiplier, at 8x, 64x and 512x, seeds 0-2. Rule,
fixed before the runs (the frontier's): it **breaks** at the first multiplier where >= 2 of 3 seeds fail; it
**keeps Clippy's Small frontier** (Clippy never broke up to 1024x; GC with a fixed λ broke at 8x) when it breaks at
none of them.

`python -m experiments.controls --out DIR` runs them (resumable) and writes `DIR/controls.md`; `--results` points
at the committed sweep (default docs/results).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from typing import Any

from experiments import results as R
from experiments import tables as T
from experiments.presets import SIZES, get_lab_preset
from experiments.rejudge import failed, paired_interval
from experiments.runner import RunSpec
from models.stability import write_text

CONTROL_MULTIPLIERS: tuple[float, ...] = (0.1, 0.25)
SEEDS: tuple[int, ...] = (0, 1, 2)
CLIPPY = (("absolute_threshold", 1e-2), ("variable_relative_threshold", 0.5))


def control_specs() -> list[RunSpec]:
    specs = [
        RunSpec("adagrad", size, m, seed, stage="control")
        for m in CONTROL_MULTIPLIERS
        for size in SIZES
        for seed in SEEDS
    ]
    return [RunSpec("clippy", "small", 2.0, 0, CLIPPY, stage="control_check"), *specs, *scaled_gc_specs()]


SCALED_GC_MULTIPLIERS: tuple[float, ...] = (8.0, 64.0, 512.0)
GC_LAMBDA_AT_1X = 0.1


def scaled_gc_specs() -> list[RunSpec]:
    """GC on Small with λ = GC_LAMBDA_AT_1X / multiplier."""
    return [
        RunSpec("gc", "small", m, seed, (("clip_norm", GC_LAMBDA_AT_1X / m),), stage="control_gc")
        for m in SCALED_GC_MULTIPLIERS
        for seed in SEEDS
    ]


def scaled_gc_markdown(controls: Sequence[dict[str, Any]]) -> str:
    lines = [
        "",
        "## GC with λ ∝ 1/η on Small (λ = 0.1 / multiplier)",
        "",
        "| multiplier | λ | failed | click AUC of the healthy seeds |",
        "|---|---|---|---|",
    ]
    breaks = None
    for m in SCALED_GC_MULTIPLIERS:
        runs = [r for r in controls if r["stage"] == "control_gc" and r["lr_multiplier"] == m]
        if not runs:
            continue
        bad = sum(failed(r) for r in runs)
        aucs = ", ".join(f"{100 * r['auc_click']:.2f}" for r in runs if not failed(r)) or "-"
        lines.append(f"| {m:g}x | {GC_LAMBDA_AT_1X / m:.3g} | {bad}/{len(runs)} | {aucs} |")
        if breaks is None and bad >= 2:
            breaks = m
    verdict = f"breaks at {breaks:g}x" if breaks else "keeps Clippy's Small frontier over the multipliers run"
    return "\n".join([*lines, "", f"Verdict: GC with λ ∝ 1/η {verdict}."]) + "\n"


def run_controls(out_dir: str, results_dir: str) -> list[dict[str, Any]]:
    from experiments.data import prepare_data
    from experiments.sweep import Sweep

    preset = get_lab_preset("full")
    with open(os.path.join(results_dir, "calibration.json")) as f:
        base = json.load(f)["base_learning_rate"]
    sweep = Sweep(preset, out_dir, log=lambda m: print(m, flush=True))
    os.makedirs(out_dir, exist_ok=True)
    prepare_data(out_dir, preset.world, preset.transform, log=print)
    specs = control_specs()
    sweep.progress.total = len(specs)
    sweep.progress.started = time.time()
    try:
        return sweep._run(specs, {"adagrad": base, "adam": base}, sweep.results_path)
    finally:
        if sweep._pool is not None:
            sweep._pool.shutdown(cancel_futures=True)


def controls_markdown(controls: Sequence[dict[str, Any]], committed: Sequence[dict[str, Any]]) -> str:
    clippy = {
        (r["size"], r["seed"]): r
        for r in T.table_rows(committed)
        if r["method"] == "clippy" and r["lr_multiplier"] == 2.0
    }
    lines = [
        "# Naive Adagrad at 0.1x and 0.25x against Clippy at 2x",
        "",
        "Rule and set-up: `experiments/controls.py`. Click AUC in points; failed = diverged or click AUC < 0.55.",
        "",
        "| size | naive 0.1x failed | naive 0.1x AUC | naive 0.25x failed | naive 0.25x AUC | Clippy 2x AUC | "
        "Clippy - naive (best multiplier) | 95 % interval | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size in SIZES:
        cells, best = [], None
        for m in CONTROL_MULTIPLIERS:
            runs = [r for r in controls if r["method"] == "adagrad" and r["size"] == size and r["lr_multiplier"] == m]
            healthy = [r for r in runs if not failed(r)]
            mean = sum(100 * r["auc_click"] for r in healthy) / len(healthy) if healthy else float("nan")
            cells += [f"{len(runs) - len(healthy)}/{len(runs)}", f"{mean:.2f}"]
            score = (len(healthy), mean if healthy else -1.0)
            if best is None or score > best[0]:
                best = (score, m, {r["seed"]: r for r in runs})
        _, mult, naive = best
        seeds = sorted(set(naive) & {s for (z, s) in clippy if z == size})
        naive_fails = [s for s in seeds if failed(naive[s]) and not failed(clippy[(size, s)])]
        both = [s for s in seeds if not failed(naive[s])]
        diffs = [100 * (clippy[(size, s)]["auc_click"] - naive[s]["auc_click"]) for s in both]
        mean, low, high = paired_interval(diffs)
        clippy_auc = sum(100 * clippy[(size, s)]["auc_click"] for s in seeds) / max(1, len(seeds))
        if naive_fails or low > 0:
            verdict = "more than a rate limiter"
        elif len(both) == len(seeds):
            verdict = "a rate limiter matches it"
        else:
            verdict = "undecided"
        lines.append(
            f"| {T.SIZE_LABELS[size]} | " + " | ".join(cells) + f" | {clippy_auc:.2f} | {mean:+.2f} ({mult:g}x) | "
            f"[{low:+.2f}, {high:+.2f}] | {verdict} |"
        )
    check = [r for r in controls if r["stage"] == "control_check"]
    if check:
        ref = clippy.get(("small", 0))
        lines += [
            "",
            f"Pairing check: Clippy 2x, Small, seed 0 trained again: click AUC {check[0]['auc_click']:.6f} "
            f"(committed: {ref['auc_click'] if ref else float('nan'):.6f}).",
        ]
    return "\n".join(lines) + "\n" + scaled_gc_markdown(controls)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="directory for the control runs and controls.md")
    parser.add_argument("--results", default="docs/results", help="the committed sweep (results.csv, calibration.json)")
    parser.add_argument("--report-only", action="store_true", help="write controls.md from the runs done so far")
    args = parser.parse_args(argv)
    if args.report_only:
        rows = R.read_rows(os.path.join(args.out, R.RESULTS_FILE))
    else:
        rows = run_controls(args.out, args.results)
    committed = R.read_rows(os.path.join(args.results, R.RESULTS_FILE))
    path = os.path.join(args.out, "controls.md")
    write_text(path, controls_markdown(rows, committed))
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
