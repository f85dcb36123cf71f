"""Each pipeline component's cost against the size of the day and the number of features, with peak memory.

    python -m benchmarks.pipeline_scale_bench [--preset default] [--sizes 1,4,10] [--wide-preset wide]
        [--overrides JSON] [--out docs/benchmarks] [--report docs/benchmarks.md]

Runs ``ranker run`` (a fresh process, a new pipeline root, as `pipeline_bench` does) once per size: k x the
preset's day (``{"world": {"impressions_per_day": k * N, "num_shards": k * S}}``: the shards grow with the day, so
every shard, which LogGen generates in one piece, holds as many impressions as the preset's), then the wide preset
at 1x (the same world with hundreds of generated features). ``--overrides`` (a JSON object) is merged into every
run's configuration alike, so the sizes compare (`config/large.json` is the 10x run's configuration).

While the pipeline runs, a sampler thread in this process reads the resident memory (RSS) and CPU time of the
`ranker run` process and every process below it every ``--interval`` seconds. LocalDagRunner runs one node at a
time in that process (the run's `overlapping_nodes` lists any two whose MLMD windows overlap; none is expected), so
each node's samples are those between its MLMD execution's creation and last update: its wall seconds, CPU seconds
(the tree's CPU time at the window's end minus at its start, interpolated between samples) and peak RSS in the
window (the whole process: what earlier nodes left resident is included; `rss_rise` is the peak minus the RSS at
the window's start).

Writes ``pipeline_scale.json`` and ``pipeline_scale.png`` (log-log: each component's CPU seconds against the day
size, the least-squares slope in the legend; and against the features per record, default vs wide) into --out; with
--report, puts its section into that report's kept part (`run_all.with_kept_section`), replacing the previous one.
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import command_line, load_average, machine_facts, read_json, write_json
from benchmarks.run_all import with_kept_section
from benchmarks.scaling_bench import loglog_slope

SIZES: tuple[int, ...] = (1, 4, 10)
SAMPLE_INTERVAL_S = 0.2
METADATA_FILE = "metadata.sqlite"
RUN_LOG = "ranker_run.log"
JSON_FILE = "pipeline_scale.json"
PLOT_FILE = "pipeline_scale.png"
#: A slope above this is called superlinear in the report.
SUPERLINEAR_SLOPE = 1.1
#: Components under this many CPU seconds at 1x get no slope (start-up noise dominates them).
MIN_CPU_FOR_SLOPE = 1.0
SECTION_HEADING = "## Pipeline cost and memory against the day and the features"


@dataclasses.dataclass(frozen=True)
class Sample:
    """One reading of the pipeline's process tree: epoch seconds, resident bytes, CPU seconds so far."""

    t: float
    rss: int
    cpu: float


@dataclasses.dataclass(frozen=True)
class NodeUsage:
    """What one pipeline node cost: wall and CPU seconds, peak RSS in its window and the rise over its start."""

    wall_s: float
    cpu_s: float
    peak_rss: int
    rss_rise: int
    samples: int

    def to_json(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall_s, 2),
            "cpu_s": round(self.cpu_s, 2),
            "peak_rss_mb": round(self.peak_rss / 2**20, 1),
            "rss_rise_mb": round(self.rss_rise / 2**20, 1),
            "samples": self.samples,
        }


# -- pure parts: samples to nodes, slopes, the report --------------------------------------------------------------


def value_at(samples: Sequence[Sample], t: float, field: str) -> float:
    """`field` of the samples at time `t`, linear between the two samples around it, clamped at the ends."""
    if not samples:
        raise ValueError("no samples")
    times = [s.t for s in samples]
    i = bisect.bisect_left(times, t)
    if i == 0:
        return float(getattr(samples[0], field))
    if i == len(samples):
        return float(getattr(samples[-1], field))
    before, after = samples[i - 1], samples[i]
    share = (t - before.t) / (after.t - before.t) if after.t > before.t else 1.0
    return float(getattr(before, field)) + share * (float(getattr(after, field)) - float(getattr(before, field)))


def assign_samples(samples: Sequence[Sample], windows: dict[str, tuple[float, float]]) -> dict[str, NodeUsage]:
    """Each node's usage from the samples in its window [start, end] (epoch seconds).

    CPU seconds are the cumulative CPU time at the end minus at the start (interpolated); the peak RSS is the
    largest sample in the window, or the RSS interpolated at the window's end when no sample falls inside it.
    """
    ordered = sorted(samples, key=lambda s: s.t)
    usage: dict[str, NodeUsage] = {}
    for node, (start, end) in windows.items():
        inside = [s.rss for s in ordered if start <= s.t <= end]
        at_start = value_at(ordered, start, "rss")
        peak = max(inside) if inside else int(value_at(ordered, end, "rss"))
        usage[node] = NodeUsage(
            wall_s=end - start,
            cpu_s=max(0.0, value_at(ordered, end, "cpu") - value_at(ordered, start, "cpu")),
            peak_rss=int(peak),
            rss_rise=int(max(0.0, peak - at_start)),
            samples=len(inside),
        )
    return usage


def overlapping(windows: dict[str, tuple[float, float]]) -> list[tuple[str, str]]:
    """Pairs of nodes whose windows overlap (they would share samples: the assignment assumes there are none)."""
    ordered = sorted(windows.items(), key=lambda kv: kv[1][0])
    pairs = []
    for i, (name, (_, end)) in enumerate(ordered):
        for other, (other_start, _) in ordered[i + 1 :]:
            if other_start < end:
                pairs.append((name, other))
    return pairs


def component_slopes(runs: Sequence[dict[str, Any]], key: str = "cpu_s") -> dict[str, float]:
    """Per node, the log-log slope of `key` against the day multiplier over the runs of one preset.

    Nodes missing from a run, or under MIN_CPU_FOR_SLOPE CPU seconds in the smallest, get no slope.
    """
    ordered = sorted(runs, key=lambda r: r["multiplier"])
    if len(ordered) < 2:
        return {}
    slopes: dict[str, float] = {}
    for node in ordered[0]["nodes"]:
        if not all(node in r["nodes"] for r in ordered):
            continue
        values = [r["nodes"][node][key] for r in ordered]
        if ordered[0]["nodes"][node]["cpu_s"] < MIN_CPU_FOR_SLOPE or min(values) <= 0:
            continue
        slopes[node] = round(loglog_slope([r["multiplier"] for r in ordered], values), 3)
    return slopes


def width_slopes(narrow: dict[str, Any], wide: dict[str, Any], key: str = "cpu_s") -> dict[str, float]:
    """Per node, the log-log slope of `key` from the narrow run to the wide run against the fields per record."""
    if not narrow or not wide or narrow["fields_per_record"] == wide["fields_per_record"]:
        return {}
    xs = [narrow["fields_per_record"], wide["fields_per_record"]]
    slopes: dict[str, float] = {}
    for node, usage in narrow["nodes"].items():
        if node in wide["nodes"] and usage["cpu_s"] >= MIN_CPU_FOR_SLOPE and wide["nodes"][node][key] > 0:
            slopes[node] = round(loglog_slope(xs, [usage[key], wide["nodes"][node][key]]), 3)
    return slopes


def _mb(value: float) -> str:
    return f"{value:,.0f}"


def markdown(summary: dict[str, Any]) -> str:
    """The report's section: runs, the component x size table with slopes, the width table."""
    scaled = summary["scaled"]
    wide = summary.get("wide")
    slopes = summary["slopes"]
    lines = [
        SECTION_HEADING,
        "",
        f"`ranker run --preset {summary['preset']}` in a fresh process and a new pipeline root per size, k x the "
        f"preset's day ({summary['base_impressions']:,} impressions in {summary['base_shards']} shards; the shards "
        "grow with k), "
        + (f"and `--preset {wide['preset']}` at 1x; " if wide else "")
        + f"every run with the overrides `{json.dumps(summary['overrides'])}`. Per node (MLMD's window: creation to "
        f"last update): wall seconds, CPU seconds of the run's process tree in the window, and peak resident memory "
        f"(RSS) of that tree in the window, sampled every {summary['interval_s']} s. Slope = least-squares log-log "
        "exponent of CPU seconds against the day (1 = linear; none under "
        f"{MIN_CPU_FOR_SLOPE:.0f} CPU s at 1x).",
        "",
        "| run | impressions | fields/record | wall s | CPU s | peak RSS MB | load before/after |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for run in [*scaled, *([wide] if wide else [])]:
        lines.append(
            f"| {run['label']} | {run['impressions']:,} | {run['fields_per_record']} | {run['wall_s']:,.0f} | "
            f"{run['cpu_s']:,.0f} | {_mb(run['peak_rss_mb'])} | {run['load_average_before']:.1f} / "
            f"{run['load_average_after']:.1f} |"
        )
    head = " | ".join(f"{r['label']}: s / CPU s / peak MB" for r in scaled)
    lines += ["", f"| component | {head} | CPU slope |", "|---|" + "---:|" * (len(scaled) + 1)]
    order = sorted(scaled[-1]["nodes"], key=lambda n: -scaled[-1]["nodes"][n]["cpu_s"])
    for node in order:
        cells = []
        for run in scaled:
            u = run["nodes"].get(node)
            cells.append("—" if u is None else f"{u['wall_s']:.1f} / {u['cpu_s']:.1f} / {_mb(u['peak_rss_mb'])}")
        slope = slopes.get(node)
        mark = "—" if slope is None else (f"**{slope:.2f}**" if slope > SUPERLINEAR_SLOPE else f"{slope:.2f}")
        lines.append(f"| {node} | {' | '.join(cells)} | {mark} |")
    if wide:
        narrow = next((r for r in scaled if r["multiplier"] == 1), None)
        width = summary.get("width_slopes", {})
        if narrow:
            lines += [
                "",
                f"| component | {narrow['label']} ({narrow['fields_per_record']} fields): s / CPU s / peak MB | "
                f"{wide['label']} ({wide['fields_per_record']} fields): s / CPU s / peak MB | CPU ratio | "
                "CPU slope vs fields |",
                "|---|---:|---:|---:|---:|",
            ]
            for node in sorted(wide["nodes"], key=lambda n: -wide["nodes"][n]["cpu_s"]):
                u, w = narrow["nodes"].get(node), wide["nodes"][node]
                left = "—" if u is None else f"{u['wall_s']:.1f} / {u['cpu_s']:.1f} / {_mb(u['peak_rss_mb'])}"
                ratio = "—" if not u or u["cpu_s"] <= 0 else f"{w['cpu_s'] / u['cpu_s']:.2f}x"
                slope = width.get(node)
                lines.append(
                    f"| {node} | {left} | {w['wall_s']:.1f} / {w['cpu_s']:.1f} / {_mb(w['peak_rss_mb'])} | {ratio} | "
                    f"{'—' if slope is None else f'{slope:.2f}'} |"
                )
    over = [n for n, s in slopes.items() if s > SUPERLINEAR_SLOPE]
    lines += [
        "",
        f"Slopes above {SUPERLINEAR_SLOPE}: {', '.join(over) if over else 'none'}. "
        f"Plot: [{PLOT_FILE}]({summary['plot']}). Total {summary['seconds'] / 60:.1f} min.",
        "",
        f"Command: `{summary['command']}`" + (f" {summary['note']}" if summary.get("note") else ""),
        "",
    ]
    return "\n".join(lines)


def plot(summary: dict[str, Any], path: Path) -> Path:
    """Two log-log panels: CPU seconds against the day (one line per component, slope in the legend) and against
    the fields per record (default vs wide)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scaled = sorted(summary["scaled"], key=lambda r: r["multiplier"])
    wide = summary.get("wide")
    fig, axes = plt.subplots(1, 2 if wide else 1, figsize=(13 if wide else 7.5, 5.5), squeeze=False)
    ax = axes[0][0]
    xs = [r["multiplier"] for r in scaled]
    nodes = sorted(summary["slopes"], key=lambda n: -scaled[-1]["nodes"][n]["cpu_s"])
    palette = plt.get_cmap("tab20")
    color = {node: palette(i % 20) for i, node in enumerate(nodes)}  # one colour per node in both panels
    for node in nodes:
        ys = [r["nodes"][node]["cpu_s"] for r in scaled]
        ax.loglog(xs, ys, "o-", color=color[node], label=f"{node}: {summary['slopes'][node]:.2f}")
    if nodes:
        first = scaled[0]["nodes"][nodes[0]]["cpu_s"]
        ax.loglog(xs, [first * x / xs[0] for x in xs], "--", color="grey", linewidth=1, label="slope 1 reference")
    ax.set_xticks(xs, [f"{x}x" for x in xs])
    ax.set_xlabel(f"day size (x {summary['base_impressions']:,} impressions)")
    ax.set_ylabel("CPU seconds (process tree, node's window)")
    ax.set_title("cost vs day size (legend: log-log slope)")
    ax.legend(fontsize=7, loc="upper left")
    if wide:
        narrow = next(r for r in scaled if r["multiplier"] == 1)
        ax = axes[0][1]
        fx = [narrow["fields_per_record"], wide["fields_per_record"]]
        for node in sorted(summary.get("width_slopes", {}), key=lambda n: -wide["nodes"][n]["cpu_s"]):
            ys = [narrow["nodes"][node]["cpu_s"], wide["nodes"][node]["cpu_s"]]
            ax.loglog(
                fx, ys, "o-", color=color.get(node, "black"), label=f"{node}: {summary['width_slopes'][node]:.2f}"
            )
        ax.set_xticks(fx, [f"{f} ({r['preset']})" for f, r in zip(fx, (narrow, wide))])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("fields per log record (1x day)")
        ax.set_title("cost vs feature count (legend: log-log slope)")
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"{summary['machine']['cpu_count']} cores, shared: read CPU seconds, not wall", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# -- measuring a run ------------------------------------------------------------------------------------------------


class TreeSampler(threading.Thread):
    """Samples the RSS and cumulative CPU time of a process and all its descendants every `interval` seconds."""

    def __init__(self, pid: int, interval: float = SAMPLE_INTERVAL_S) -> None:
        super().__init__(daemon=True)
        import psutil

        self._root = psutil.Process(pid)
        self._interval = interval
        self._stop_event = threading.Event()
        self.samples: list[Sample] = []

    def read(self) -> Sample | None:
        import psutil

        try:
            processes = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return None
        rss, cpu = 0, 0.0
        for process in processes:
            try:
                with process.oneshot():
                    rss += process.memory_info().rss
                    times = process.cpu_times()
                    # children_*: descendants that exited and were waited for (no longer in the tree).
                    cpu += times.user + times.system + times.children_user + times.children_system
            except psutil.Error:
                continue
        return Sample(time.time(), rss, cpu)

    def run(self) -> None:
        while not self._stop_event.is_set():
            sample = self.read()
            if sample is not None:
                self.samples.append(sample)
            self._stop_event.wait(self._interval)

    def stop(self) -> list[Sample]:
        self._stop_event.set()
        self.join()
        return self.samples


def node_windows(metadata_path: str) -> dict[str, tuple[float, float]]:
    """Each node's MLMD window in the newest run: (creation, last update) in epoch seconds."""
    from pipeline.summary import component_windows

    return component_windows(metadata_path)


def fields_per_record(pipeline_root: str) -> int:
    """The number of fields of the first log line LogGen wrote."""
    for path in sorted(Path(pipeline_root, "LogGen").rglob("*.jsonl.gz")):
        with gzip.open(path, "rt") as f:
            line = f.readline()
        if line:
            return len(json.loads(line))
    raise FileNotFoundError(f"no LogGen logs under {pipeline_root}")


def scaled_overrides(base: Any, multiplier: int, overrides: dict[str, Any]) -> dict[str, Any]:
    """`overrides` with the world's day (and shards) `multiplier` times the preset's."""
    merged = json.loads(json.dumps(overrides))
    world = merged.setdefault("world", {})
    world["impressions_per_day"] = multiplier * base.world.impressions_per_day
    world["num_shards"] = multiplier * base.world.num_shards
    return merged


def measure_run(
    preset: str, multiplier: int, overrides: dict[str, Any], scratch: str, interval: float, keep: bool
) -> dict[str, Any]:
    """One `ranker run` into a new root under `scratch`, sampled; its per-node usage and the run's totals."""
    from config.settings import get_preset
    from pipeline.summary import summarize_run

    config = get_preset(preset)
    run_overrides = scaled_overrides(config, multiplier, overrides)
    label = f"{preset} {multiplier}x"
    root = os.path.join(scratch, f"{preset}-{multiplier}x")
    os.makedirs(root)
    config_file = os.path.join(root, "overrides.json")
    Path(config_file).write_text(json.dumps(run_overrides, indent=2) + "\n")
    command = [
        sys.executable,
        "-m",
        "ranker.cli",
        "run",
        "--preset",
        preset,
        "--config",
        config_file,
        "--pipeline-root",
        root,
    ]
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    print(f"pipeline scale bench: {label} ({' '.join(command[2:])}) ...", file=sys.stderr, flush=True)
    load_before = load_average()
    started = time.time()
    with open(os.path.join(root, RUN_LOG), "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        sampler = TreeSampler(process.pid, interval)
        sampler.start()
        # wait4: the run's own resource usage (its largest RSS, its CPU time) checks the sampler's.
        _, status, rusage = os.wait4(process.pid, 0)
        process.returncode = returncode = os.waitstatus_to_exitcode(status)
        samples = sampler.stop()
    wall = time.time() - started
    if returncode != 0:
        raise SystemExit(f"`ranker run` ({label}) failed with exit code {returncode}; see {root}/{RUN_LOG}")
    metadata = os.path.join(root, METADATA_FILE)
    windows = node_windows(metadata)
    usage = assign_samples(samples, windows)
    summary = summarize_run(metadata)
    result = {
        "label": label,
        "preset": preset,
        "multiplier": multiplier,
        "impressions": run_overrides["world"]["impressions_per_day"],
        "num_shards": run_overrides["world"]["num_shards"],
        "fields_per_record": fields_per_record(root),
        "overrides": run_overrides,
        "wall_s": round(wall, 1),
        "cpu_s": round(samples[-1].cpu - samples[0].cpu, 1) if samples else 0.0,
        "peak_rss_mb": round(max(s.rss for s in samples) / 2**20, 1) if samples else 0.0,
        "samples": len(samples),
        "rusage_cpu_s": round(rusage.ru_utime + rusage.ru_stime, 1),
        "rusage_max_rss_mb": round(rusage.ru_maxrss / 1024, 1),  # kilobytes on Linux
        "nodes": {n: u.to_json() for n, u in sorted(usage.items(), key=lambda kv: kv[1].cpu_s, reverse=True)},
        "nodes_wall_s": round(sum(u.wall_s for u in usage.values()), 1),
        "overlapping_nodes": overlapping(windows),
        "ingest_counts": summary.ingest_counts,
        "pushed": summary.pushed,
        "gates": {
            "stability": summary.stability_blessed,
            "evaluator": summary.evaluator_blessed,
            "baseline": summary.baseline_blessed,
        },
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }
    if not keep:
        shutil.rmtree(root, ignore_errors=True)
    print(
        f"pipeline scale bench: {label}: {result['wall_s']:.0f} s wall, {result['cpu_s']:.0f} CPU s, peak "
        f"{result['peak_rss_mb']:.0f} MB",
        file=sys.stderr,
        flush=True,
    )
    return result


def run(
    preset: str,
    sizes: Sequence[int],
    wide_preset: str | None,
    overrides: dict[str, Any],
    out: str,
    command: str,
    interval: float = SAMPLE_INTERVAL_S,
    keep: bool = False,
) -> dict[str, Any]:
    from config.settings import get_preset

    base = get_preset(preset)
    scratch = tempfile.mkdtemp(prefix="pipeline-scale-bench-")
    started = time.perf_counter()
    summary: dict[str, Any] = {
        "command": command,
        "preset": preset,
        "base_impressions": base.world.impressions_per_day,
        "base_shards": base.world.num_shards,
        "sizes": list(sizes),
        "overrides": overrides,
        "interval_s": interval,
        "machine": machine_facts(),
        "scaled": [],
        "wide": None,
    }
    try:
        for k in sizes:
            summary["scaled"].append(measure_run(preset, k, overrides, scratch, interval, keep))
            _write(summary, out, started)
        if wide_preset:
            summary["wide"] = measure_run(wide_preset, 1, overrides, scratch, interval, keep)
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print(f"pipeline roots kept under {scratch}", file=sys.stderr)
    return _write(summary, out, started)


def _write(summary: dict[str, Any], out: str, started: float) -> dict[str, Any]:
    """Slopes and the plot from the runs so far; JSON and PNG into `out` (a partial sweep is kept as it goes)."""
    summary["slopes"] = component_slopes(summary["scaled"])
    narrow = next((r for r in summary["scaled"] if r["multiplier"] == 1), None)
    summary["width_slopes"] = width_slopes(narrow, summary["wide"]) if narrow and summary["wide"] else {}
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["load_average_end"] = load_average()
    summary["plot"] = f"{Path(out).name}/{PLOT_FILE}"
    write_json(Path(out) / JSON_FILE, summary)
    if len(summary["scaled"]) >= 2:
        plot(summary, Path(out) / PLOT_FILE)
    return summary


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--sizes", default=",".join(str(k) for k in SIZES), help="multiples of the preset's day")
    parser.add_argument("--wide-preset", default="wide", help="run at 1x for the width axis ('' to skip)")
    parser.add_argument("--overrides", default="{}", help="JSON object merged into every run's configuration")
    parser.add_argument("--interval", type=float, default=SAMPLE_INTERVAL_S, help="sampling period, seconds")
    parser.add_argument("--out", default=os.path.join("docs", "benchmarks"))
    parser.add_argument("--report", default=None, help="a report (docs/benchmarks.md) whose section to replace")
    parser.add_argument("--render-only", action="store_true", help="rewrite the report from --out's JSON")
    parser.add_argument("--keep", action="store_true", help="keep the pipeline roots")
    args = parser.parse_args(argv)
    if args.render_only:
        summary = read_json(Path(args.out) / JSON_FILE)
        plot(summary, Path(args.out) / PLOT_FILE)
    else:
        overrides = json.loads(args.overrides)
        if not isinstance(overrides, dict):
            raise SystemExit("--overrides must be a JSON object")
        summary = run(
            args.preset,
            [int(k) for k in args.sizes.split(",") if k.strip()],
            args.wide_preset or None,
            overrides,
            args.out,
            command_line("benchmarks.pipeline_scale_bench", argv),
            args.interval,
            args.keep,
        )
    text = markdown(summary)
    if args.report:
        report = Path(args.report)
        report.write_text(with_kept_section(report.read_text() if report.exists() else "", text))
    print(text)
    return summary


if __name__ == "__main__":
    main()
