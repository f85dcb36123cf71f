"""`make bench`: every benchmark in one run, then `docs/benchmarks.md` from their JSON.

    python -m benchmarks.run_all [--out docs/benchmarks] [--quick] [--keep-root] [--scale]

Runs, in order and each in its own process (no TensorFlow state leaks from one into the next):
generation_bench (10^6 records), pipeline_bench (the `default` preset end to end, into a temporary pipeline root),
training_bench and serving_bench (on that root's Transform output and pushed model), optimizer_bench and
scaling_bench; then writes ``<out>.md`` (``docs/benchmarks.md``): the command, the date, the core count and load
averages, and each benchmark's section rendered by its module's ``markdown`` from its JSON. Sections measured by
hand (below ``HAND_RUN_MARKER`` in the existing report) are kept as they are.

``--quick`` is a smoke test (a few minutes): the `tiny` preset and small sizes everywhere.

``--scale`` (`make bench SCALE=1`, or `make bench-scale` alone) adds pipeline_scale_bench after the others: the
pipeline end to end at 1x, 4x and 10x the default day and the `wide` preset's day (41 CPU-minutes, 70 minutes of
wall time on 2 shared cores, so not part of a plain `make bench`). Its section is written into the report's kept
part (below ``HAND_RUN_MARKER``), replacing its previous one, so a later `make bench` without it keeps it.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import command_line, load_average, machine_facts, read_json, write_json


@dataclasses.dataclass(frozen=True)
class Step:
    """One benchmark: its module, arguments (`{root}` is filled in), the JSON it writes and what it measures."""

    module: str
    args: tuple[str, ...]
    json_file: str
    what: str
    reads_run: bool = False  # reads the pipeline root that pipeline_bench wrote
    kept_section: bool = False  # its report goes into the kept part of the page (run_all's docstring)


def steps(quick: bool) -> list[Step]:
    """The benchmarks and the sizes each runs at (full: ~25 minutes on 2 cores; quick: ~8 minutes)."""
    if quick:
        root = ("--pipeline-root", "{root}", "--preset", "tiny")
        return [
            Step(
                "benchmarks.generation_bench",
                ("--preset", "tiny", "--impressions", "20000"),
                "generation.json",
                "20k records of the tiny world per mode",
            ),
            Step(
                "benchmarks.pipeline_bench",
                ("--preset", "tiny", "--pipeline-root", "{root}"),
                "pipeline.json",
                "the tiny preset end to end",
            ),
            Step(
                "benchmarks.training_bench",
                (*root, "--sizes", "default,small", "--rounds", "3", "--steps-per-round", "3"),
                "training.json",
                "2 sizes x 3 rounds x 3 steps",
                reads_run=True,
            ),
            Step(
                "benchmarks.serving_bench",
                ("--pipeline-root", "{root}", "--requests", "40"),
                "serving.json",
                "40 requests per batch size",
                reads_run=True,
            ),
            Step(
                "benchmarks.optimizer_bench",
                ("--width", "128", "--batch", "256", "--rounds", "3"),
                "optimizers.json",
                "4x128 MLP, batch 256, 3 rounds",
            ),
            Step(
                "benchmarks.scaling_bench",
                (*root, "--base-impressions", "2000"),
                "scaling.json",
                "1x/4x/16x of 2k impressions",
                reads_run=True,
            ),
        ]
    root = ("--pipeline-root", "{root}", "--preset", "default")
    return [
        Step(
            "benchmarks.generation_bench",
            ("--impressions", "1000000"),
            "generation.json",
            "10^6 records of the default world per generation and ingest mode",
        ),
        Step(
            "benchmarks.pipeline_bench",
            ("--preset", "default", "--pipeline-root", "{root}"),
            "pipeline.json",
            "the default preset end to end (60k impressions, 600 training steps)",
        ),
        Step(
            "benchmarks.training_bench",
            root,
            "training.json",
            "4 model sizes x 8 interleaved rounds x 15 steps of batch 512, 5 contenders",
            reads_run=True,
        ),
        Step(
            "benchmarks.serving_bench",
            ("--pipeline-root", "{root}"),
            "serving.json",
            "1000 requests of each batch size 1, 32, 256",
            reads_run=True,
        ),
        Step("benchmarks.optimizer_bench", (), "optimizers.json", "its defaults: 4x1024 MLP, batch 2048, 10 rounds"),
        Step(
            "benchmarks.scaling_bench",
            root,
            "scaling.json",
            "1x/4x/16x one default day (60k impressions)",
            reads_run=True,
        ),
    ]


def scale_step(quick: bool) -> Step:
    """The opt-in pipeline scale benchmark (`--scale`): full sizes, or the tiny preset at 1x and 2x."""
    if quick:
        args: tuple[str, ...] = ("--preset", "tiny", "--sizes", "1,2", "--wide-preset", "")
        return Step(
            "benchmarks.pipeline_scale_bench", args, "pipeline_scale.json", "tiny preset at 1x, 2x", False, True
        )
    return Step(
        "benchmarks.pipeline_scale_bench",
        ("--overrides", SCALE_OVERRIDES),
        "pipeline_scale.json",
        "the default day at 1x/4x/10x and the wide preset's day, next-day gates on the eval split",
        kept_section=True,
    )


#: Every size of the scale benchmark gates on day d+1's eval split: TFMA over all of a 10x next day would take
#: most of an hour (docs/benchmarks.md, the scale section).
SCALE_OVERRIDES = '{"gates": {"eval_splits": ["eval"]}}'


def run_step(step: Step, root: str, out: str) -> dict[str, Any]:
    """Runs one benchmark in a subprocess (its output streams through); returns seconds and exit code."""
    args = [a.replace("{root}", root).replace("{out}", out) for a in (*step.args, "--out", out)]
    command = [sys.executable, "-m", step.module, *args]
    print(f"\n=== {step.module} {' '.join(args)}", flush=True)
    load = load_average()
    started = time.perf_counter()
    returncode = subprocess.call(command, env={**os.environ, "TF_USE_LEGACY_KERAS": "1"})
    seconds = time.perf_counter() - started
    print(f"=== {step.module}: exit {returncode} after {seconds:.0f} s", flush=True)
    return {
        "module": step.module,
        "what": step.what,
        "args": args,
        "seconds": round(seconds, 1),
        "exit": returncode,
        "load_average_before": load,
    }


def demote(markdown: str) -> str:
    """A standalone report (`# Title`, `## ...`) as a section of the combined page (`## Title`, `### ...`)."""
    if not markdown.startswith("# "):
        return markdown
    return "\n".join("#" + line if line.startswith("#") else line for line in markdown.splitlines()) + "\n"


def section(step: Step, out: str) -> str:
    path = Path(out) / step.json_file
    if not path.exists():
        return f"## {step.module}\n\nNo result: {path} was not written (see the run's output).\n"
    module = importlib.import_module(step.module)
    return demote(module.markdown(read_json(path)))


def page(
    command: str, facts: dict[str, Any], runs: list[dict[str, Any]], sections: list[str], total: float, quick: bool
) -> str:
    quick_note = " (--quick: smoke-test sizes, not comparable with `make bench`)" if quick else ""
    lines = [
        "# Benchmarks",
        "",
        f"Command: `{command}`{quick_note}, {facts['date']}.  ",
        f"Machine: {facts['cpu_count']} CPU cores ({facts['platform']}), Python {facts['python']}, TensorFlow "
        f"{facts['tensorflow']}, Beam {facts['apache_beam']}, TFX {facts['tfx']}; shared with other work: load "
        f"average {facts['load_average']:.1f} at the start, {load_average():.1f} at the end.  ",
        f"Total: {total / 60:.1f} min. Ratios come from interleaved rounds in one process (medians of per-round "
        "paired ratios), so load drifts hit both sides alike; absolute numbers move with the machine's load.",
        "",
        "| benchmark | sizes | arguments | seconds | exit |",
        "|---|---|---|---:|---:|",
    ]
    for r in runs:
        lines.append(f"| {r['module']} | {r['what']} | `{' '.join(r['args'])}` | {r['seconds']:.0f} | {r['exit']} |")
    return "\n".join(lines) + "\n\n" + "\n".join(s.rstrip("\n") + "\n" for s in sections)


# Sections measured by hand (stress runs, profiles) sit below this line in docs/benchmarks.md; `make bench` rewrites
# everything above it and keeps everything from it on.
HAND_RUN_MARKER = "<!-- hand-run measurements: `make bench` keeps everything from this line on -->"


def with_hand_run_sections(new_page: str, old_page: str | None) -> str:
    """`new_page`, followed by the part of the report it replaces from HAND_RUN_MARKER on (if there is one)."""
    if not old_page or HAND_RUN_MARKER not in old_page:
        return new_page
    return new_page.rstrip("\n") + "\n\n" + old_page[old_page.index(HAND_RUN_MARKER) :]


def with_kept_section(page_text: str, new_section: str) -> str:
    """`page_text` with `new_section` in its kept part: replacing the section of the same heading, else appended
    (after HAND_RUN_MARKER, which is added when missing)."""
    heading = new_section.splitlines()[0]
    if heading + "\n" not in page_text:
        if HAND_RUN_MARKER not in page_text:
            page_text = page_text.rstrip("\n") + "\n\n" + HAND_RUN_MARKER + "\n"
        return page_text.rstrip("\n") + "\n\n" + new_section.rstrip("\n") + "\n"
    start = page_text.index(heading + "\n")
    end = page_text.find("\n## ", start + len(heading))
    rest = "" if end < 0 else "\n" + page_text[end + 1 :]
    return page_text[:start] + new_section.rstrip("\n") + "\n" + rest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("docs", "benchmarks"), help="JSON and PNG directory")
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny preset, small sizes")
    parser.add_argument("--keep-root", action="store_true", help="keep the benchmark's pipeline root")
    parser.add_argument("--scale", action="store_true", help="add the pipeline scale benchmark (~41 CPU-min)")
    args = parser.parse_args(argv)
    command = command_line("benchmarks.run_all", argv)
    facts = machine_facts()
    out = os.path.normpath(args.out)
    os.makedirs(out, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="bench-")
    root = os.path.join(scratch, "pipeline-root")
    started = time.perf_counter()
    plan = steps(args.quick) + ([scale_step(args.quick)] if args.scale else [])
    runs: list[dict[str, Any]] = []
    done: list[Step] = []
    try:
        for index, step in enumerate(plan, start=1):
            print(f"[{index}/{len(plan)}] {step.module}", flush=True)
            if step.reads_run and not os.path.exists(os.path.join(root, "metadata.sqlite")):
                print("skipped: no pipeline root (the pipeline benchmark failed)", flush=True)
                continue
            runs.append(run_step(step, root, out))
            if runs[-1]["exit"] == 0:
                done.append(step)
    finally:
        if args.keep_root:
            print(f"pipeline root kept at {root}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    total = time.perf_counter() - started
    # Only this run's results: a JSON left by an earlier run is never shown as if it were new.
    sections = [section(step, out) for step in done if not step.kept_section]
    write_json(Path(out) / "run_all.json", {"command": command, "machine": facts, "runs": runs, "seconds": total})
    report = Path(out).with_suffix(".md")
    old = report.read_text() if report.exists() else None
    text = with_hand_run_sections(page(command, facts, runs, sections, total, args.quick), old)
    for step in done:
        if step.kept_section:
            text = with_kept_section(text, section(step, out))
    report.write_text(text)
    print(f"\nwrote {report} ({total / 60:.1f} min)")
    return 0 if len(done) == len(plan) else 1


if __name__ == "__main__":
    raise SystemExit(main())
