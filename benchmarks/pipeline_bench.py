"""End-to-end wall time of one pipeline run of a preset, with the per-component breakdown read back from MLMD.

    python -m benchmarks.pipeline_bench [--preset default] [--pipeline-root DIR] [--out docs/benchmarks]

Runs ``ranker run --preset P --pipeline-root ROOT`` as a subprocess (a fresh process, as a user runs it: imports
and Beam start-ups included) into a new pipeline root (a temporary directory unless --pipeline-root names an empty
or new one: a root with an MLMD store would answer from the cache). Measured: the subprocess's wall seconds, and
for every pipeline node the seconds between its MLMD execution's creation and last update. Writes
``pipeline.json`` and ``pipeline.png`` (a bar chart of the breakdown) into --out and keeps the root, so that the
training and serving benchmarks reuse its Transform output and pushed model (`find_artifacts`).
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import command_line, load_average, machine_facts, write_json

#: Wall-time targets per preset on 2 cores.
TARGET_SECONDS: dict[str, float] = {"default": 480.0}
METADATA_FILE = "metadata.sqlite"
RUN_LOG = "pipeline_bench_run.log"


@dataclasses.dataclass(frozen=True)
class PipelineArtifacts:
    """Where a finished run left what the other benchmarks read (newest execution of each output)."""

    pipeline_root: str
    transform_graph: str  # TFTransformOutput directory
    transformed_train: str  # directory of gzipped TFRecords of transformed training examples
    ingest_eval: str  # directory of gzipped TFRecords of raw (labelled) eval tf.Examples written by LogIngest
    logs: str  # LogGen's raw JSON-lines logs
    pushed_model: str | None  # the newest pushed SavedModel version, None when nothing was pushed


def newest_output(pipeline_root: str, node: str, output: str) -> str:
    """`<root>/<node>/<output>/<execution id>` with the largest execution id."""
    paths = glob.glob(os.path.join(pipeline_root, node, output, "*"))
    candidates = [p for p in paths if os.path.basename(p).isdigit()]
    if not candidates:
        raise FileNotFoundError(f"no {node}/{output} output under {pipeline_root}: did the run get that far?")
    return max(candidates, key=lambda p: int(os.path.basename(p)))


def find_artifacts(
    pipeline_root: str, serving_root: str | None = None, model_name: str = "ranker"
) -> PipelineArtifacts:
    """The artifacts of the newest run in `pipeline_root` (the layout LocalDagRunner writes)."""
    from serving.export import list_versions

    root = os.path.abspath(pipeline_root)
    model_dir = os.path.join(serving_root or os.path.join(root, "serving"), model_name)
    versions = list_versions(model_dir) if os.path.isdir(model_dir) else []
    return PipelineArtifacts(
        pipeline_root=root,
        transform_graph=newest_output(root, "Transform", "transform_graph"),
        transformed_train=os.path.join(newest_output(root, "Transform", "transformed_examples"), "Split-train"),
        ingest_eval=os.path.join(newest_output(root, "LogIngest", "examples"), "Split-eval"),
        logs=newest_output(root, "LogGen", "logs"),
        pushed_model=os.path.join(model_dir, str(versions[-1])) if versions else None,
    )


def node_seconds(metadata_path: str) -> dict[str, float]:
    """Seconds of each pipeline node's execution in the newest run (`pipeline.summary`: MLMD's last update minus
    creation), keyed by node id (e.g. `NextDayLogIngest`), slowest first."""
    from pipeline.summary import summarize_run

    seconds = summarize_run(metadata_path).component_seconds
    return dict(sorted(seconds.items(), key=lambda kv: -kv[1]))


def run_pipeline(preset: str, pipeline_root: str) -> dict[str, Any]:
    """Runs `ranker run` in a subprocess; returns wall seconds, the node breakdown and what the run pushed."""
    from pipeline.summary import summarize_run

    root = os.path.abspath(pipeline_root)
    if os.path.exists(os.path.join(root, METADATA_FILE)):
        raise SystemExit(f"{root} already holds an MLMD store: its cache would answer; use a new --pipeline-root")
    os.makedirs(root, exist_ok=True)
    command = [sys.executable, "-m", "ranker.cli", "run", "--preset", preset, "--pipeline-root", root]
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    load_before = load_average()
    started = time.perf_counter()
    with open(os.path.join(root, RUN_LOG), "w") as log:
        returncode = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    wall = time.perf_counter() - started
    if returncode != 0:
        raise SystemExit(f"`ranker run` failed with exit code {returncode}; see {os.path.join(root, RUN_LOG)}")
    summary = summarize_run(os.path.join(root, METADATA_FILE))
    nodes = node_seconds(os.path.join(root, METADATA_FILE))
    return {
        "wall_seconds": round(wall, 1),
        "node_seconds": {k: round(v, 1) for k, v in nodes.items()},
        "nodes_total_seconds": round(sum(nodes.values()), 1),
        "pushed": summary.pushed,
        "stability_blessed": summary.stability_blessed,
        "evaluator_blessed": summary.evaluator_blessed,
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }


def plot(summary: dict[str, Any], path: Path) -> Path:
    """Horizontal bars: seconds per node, plus the wall time outside any node (start-up, orchestration)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nodes = dict(summary["node_seconds"])
    nodes["(outside nodes)"] = max(0.0, summary["wall_seconds"] - summary["nodes_total_seconds"])
    names = [n for n, s in sorted(nodes.items(), key=lambda kv: kv[1]) if s >= 0.5]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) + 1.2))
    ax.barh(names, [nodes[n] for n in names], color="tab:blue")
    ax.set_xlabel("seconds")
    cores = summary["machine"]["cpu_count"]
    ax.set_title(f"`{summary['preset']}` preset: {summary['wall_seconds']:.0f} s wall on {cores} cores")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def markdown(summary: dict[str, Any]) -> str:
    target = summary.get("target_seconds")
    verdict = "—" if target is None else ("yes" if summary["wall_seconds"] <= target else "**no**")
    limit = "—" if target is None else f"≤ {target:.0f} s ({target / 60:.0f} min)"
    lines = [
        f"## End-to-end pipeline: `{summary['preset']}` preset",
        "",
        "`ranker run` in a fresh process and a new pipeline root; seconds per node are MLMD's execution records "
        "(last update − creation).",
        "",
        "| measure | value | target | met |",
        "|---|---:|---|---|",
        f"| wall time | {summary['wall_seconds']:.0f} s | {limit} | {verdict} |",
        "",
        "| node | seconds | share of wall |",
        "|---|---:|---:|",
    ]
    wall = summary["wall_seconds"]
    for node, seconds in summary["node_seconds"].items():
        if seconds >= 0.1:
            lines.append(f"| {node} | {seconds:.1f} | {100 * seconds / wall:.0f}% |")
    outside = wall - summary["nodes_total_seconds"]
    lines.append(f"| (outside nodes: imports, start-up, orchestration) | {outside:.1f} | {100 * outside / wall:.0f}% |")
    lines += [
        "",
        f"Pushed: {summary['pushed']}; gates: stability {summary['stability_blessed']}, evaluator "
        f"{summary['evaluator_blessed']}. Load average {summary['load_average_before']:.1f} before, "
        f"{summary['load_average_after']:.1f} after. Chart: [pipeline.png]({summary['plot']}).",
        "",
        f"Command: `{summary['command']}`",
        "",
    ]
    return "\n".join(lines)


def run(preset: str, pipeline_root: str | None, out: str, command: str) -> dict[str, Any]:
    root = pipeline_root or tempfile.mkdtemp(prefix=f"pipeline-bench-{preset}-")
    summary = {"preset": preset, "pipeline_root": os.path.abspath(root), "command": command, "machine": machine_facts()}
    summary.update(run_pipeline(preset, root))
    summary["target_seconds"] = TARGET_SECONDS.get(preset)
    summary["plot"] = f"{Path(out).name}/pipeline.png"
    write_json(Path(out) / "pipeline.json", summary)
    plot(summary, Path(out) / "pipeline.png")
    return summary


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--pipeline-root", default=None, help="a new directory (default: a temporary one, kept)")
    parser.add_argument("--out", default=os.path.join("docs", "benchmarks"))
    args = parser.parse_args(argv)
    summary = run(args.preset, args.pipeline_root, args.out, command_line("benchmarks.pipeline_bench", argv))
    print(markdown(summary))
    print(f"pipeline root kept at {summary['pipeline_root']}")
    return summary


if __name__ == "__main__":
    main()
