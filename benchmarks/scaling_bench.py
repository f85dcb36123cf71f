"""How cost grows with the data: log generation and training seconds at 1x, 4x and 16x a preset's day.

    python -m benchmarks.scaling_bench --pipeline-root ROOT [--preset default] [--out docs/benchmarks]

1x is one day of the preset's world (`world.impressions_per_day` impressions, or --base-impressions).

* generation: LogGen's Beam job (`generation.run.run_generation`, the preset's Beam options) writing
  k x the base impressions, wall seconds including Beam's start-up;
* training: the Trainer's path on the run's transformed data (`make_dataset`, repeated as needed): build and
  compile the preset's model, then `model.fit` for one pass over k x (the base's training share) examples; wall
  seconds including model building and tracing (reported apart as start-up), which is why small sizes grow slower
  than linearly. A throwaway model first takes TensorFlow's one-time per-process costs, reported separately.

Writes ``scaling.json`` and ``scaling.png`` (log-log, with a slope-1 reference line through each 1x point) and the
fitted log-log slope of each (1.0 = linear growth).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.common import command_line, load_average, machine_facts, write_json

MULTIPLIERS: tuple[int, ...] = (1, 4, 16)


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of log(y) on log(x): the exponent b of y ~ a x^b."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError("need at least two (x, y) pairs")
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    var = sum((x - mx) ** 2 for x in lx)
    if var == 0:
        raise ValueError("x values must differ")
    return sum((x - mx) * (y - my) for x, y in zip(lx, ly)) / var


def time_generation(config: Any, impressions: int) -> dict[str, Any]:
    """Wall seconds of LogGen's Beam job writing one day of `impressions` impressions."""
    from generation.run import run_generation

    world = dataclasses.replace(config.world, impressions_per_day=impressions)
    scratch = tempfile.mkdtemp(prefix="scaling-bench-gen-")
    try:
        load = load_average()
        started = time.perf_counter()
        result = run_generation(config.replace(world=world), scratch, config.beam.args(), days=[world.start_day])
        seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"records": result["lines"], "seconds": round(seconds, 2), "load_average_before": load}


def time_training(setup: Any, examples: int, seed: int) -> dict[str, Any]:
    """Wall seconds to build the preset's model and fit it for one pass over `examples` examples.

    Split into start-up (build, compile and the first `fit` step, which traces the train step) and the remaining
    steps (a second `fit` call on the already traced train function).
    """
    from benchmarks.training_bench import TRAINER_JIT_COMPILE, compiled_model, input_dataset

    batch = setup.config.train.batch_size
    steps = max(2, math.ceil(examples / batch))
    load = load_average()
    started = time.perf_counter()
    model = compiled_model(setup, setup.config.model, TRAINER_JIT_COMPILE, seed)
    dataset = input_dataset(setup, seed)
    model.fit(dataset, steps_per_epoch=1, epochs=1, verbose=0)
    startup = time.perf_counter() - started
    history = model.fit(dataset, steps_per_epoch=steps - 1, epochs=1, verbose=0)
    seconds = time.perf_counter() - started
    return {
        "examples": steps * batch,
        "steps": steps,
        "seconds": round(seconds, 2),
        "startup_seconds": round(startup, 2),
        "steady_examples_per_s": round((steps - 1) * batch / (seconds - startup)),
        "final_loss": float(history.history["loss"][-1]),
        "load_average_before": load,
    }


def warm_up_process(setup: Any) -> float:
    """Seconds of a throwaway build + one step: TensorFlow's one-time costs in a process (the first trace of any
    Keras train step is far slower than later ones), kept out of the 1x measurement."""
    started = time.perf_counter()
    time_training(setup, 2 * setup.config.train.batch_size, seed=0)
    return round(time.perf_counter() - started, 2)


def plot(summary: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for key, color, label in (("generation", "tab:blue", "log generation (Beam)"), ("training", "tab:red", "training")):
        rows = summary[key]
        xs, ys = [r["multiplier"] for r in rows], [r["seconds"] for r in rows]
        ax.loglog(xs, ys, "o-", color=color, label=f"{label}, slope {summary['slopes'][key]:.2f}")
        ax.loglog(xs, [ys[0] * x / xs[0] for x in xs], "--", color=color, alpha=0.4, linewidth=1)
    ax.plot([], [], "--", color="grey", label="slope 1 (linear) reference")
    ax.set_xlabel(f"data (x one day of {summary['base_impressions']:,} impressions)")
    ax.set_ylabel("wall seconds")
    ax.set_xticks(summary["multipliers"], [f"{m}x" for m in summary["multipliers"]])
    ax.legend(fontsize=8)
    ax.set_title(f"Cost vs data, {summary['machine']['cpu_count']} cores")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run(
    pipeline_root: str, preset: str, base: int | None, multipliers: Sequence[int], out: str, command: str
) -> dict[str, Any]:
    from benchmarks.training_bench import load_setup

    setup = load_setup(pipeline_root, preset)
    config = setup.config
    base = base or config.world.impressions_per_day
    train_share = 1.0 - config.ingest.eval_fraction
    summary: dict[str, Any] = {
        "command": command,
        "preset": preset,
        "base_impressions": base,
        "multipliers": list(multipliers),
        "machine": machine_facts(),
        "generation": [],
        "training": [],
    }
    for k in multipliers:
        print(f"scaling bench: {k}x generation ...", file=sys.stderr, flush=True)
        summary["generation"].append({"multiplier": k, **time_generation(config, k * base)})
    print("scaling bench: warming up TensorFlow ...", file=sys.stderr, flush=True)
    summary["process_warmup_seconds"] = warm_up_process(setup)
    for k in multipliers:
        print(f"scaling bench: {k}x training ...", file=sys.stderr, flush=True)
        summary["training"].append({"multiplier": k, **time_training(setup, round(k * base * train_share), seed=k)})
    summary["slopes"] = {
        key: loglog_slope(multipliers, [r["seconds"] for r in summary[key]]) for key in ("generation", "training")
    }
    summary["plot"] = f"{Path(out).name}/scaling.png"
    write_json(Path(out) / "scaling.json", summary)
    plot(summary, Path(out) / "scaling.png")
    return summary


def markdown(summary: dict[str, Any]) -> str:
    lines = [
        "## How cost grows with the data",
        "",
        f"1x = one day of the `{summary['preset']}` world ({summary['base_impressions']:,} impressions). Generation: "
        "LogGen's Beam job, Beam start-up included. Training: build + compile the preset's model, then one pass of "
        "`model.fit` over the training share (80%) of k days' worth of examples (the run's Transform output, "
        "repeated) through "
        "`make_dataset`; start-up = build, compile and the first step (tracing), after a throwaway model took "
        f"TensorFlow's one-time costs ({summary['process_warmup_seconds']:.0f} s). Slope = least-squares exponent on "
        "log-log axes (1 = linear).",
        "",
        "| data | generation s | records/s | training s | of which start-up s | examples/s | steady examples/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for gen, train in zip(summary["generation"], summary["training"]):
        lines.append(
            f"| {gen['multiplier']}x | {gen['seconds']:.1f} | {gen['records'] / gen['seconds']:,.0f} | "
            f"{train['seconds']:.1f} | {train['startup_seconds']:.1f} | {train['examples'] / train['seconds']:,.0f} | "
            f"{train['steady_examples_per_s']:,.0f} |"
        )
    slopes = summary["slopes"]
    lines += [
        "",
        f"Log-log slope: generation {slopes['generation']:.2f}, training {slopes['training']:.2f}. "
        f"Plot: [scaling.png]({summary['plot']}).",
        "",
        f"Command: `{summary['command']}`",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline-root", required=True, help="a finished run's pipeline root (pipeline_bench)")
    parser.add_argument("--preset", default="default", help="the preset that run used")
    parser.add_argument("--base-impressions", type=int, default=None, help="1x (default: the preset's day)")
    parser.add_argument("--multipliers", default=",".join(str(m) for m in MULTIPLIERS))
    parser.add_argument("--out", default=os.path.join("docs", "benchmarks"))
    args = parser.parse_args(argv)
    multipliers = [int(m) for m in args.multipliers.split(",") if m.strip()]
    summary = run(
        args.pipeline_root,
        args.preset,
        args.base_impressions,
        multipliers,
        args.out,
        command_line("benchmarks.scaling_bench", argv),
    )
    print(markdown(summary))
    return summary


if __name__ == "__main__":
    main()
