"""In-process serving latency and throughput of the pushed SavedModel's `serving_default`.

    python -m benchmarks.serving_bench --pipeline-root ROOT [--out docs/benchmarks]

Loads the newest pushed version of a finished run (`pipeline_bench.find_artifacts`) with `tf.saved_model.load`,
as `ranker predict` does, and sends it requests of 1, 32 and 256 serialized tf.Examples: real records of the run's
LogIngest eval split with the labels removed (what clients send, `serving.export.read_serialized_examples`).
Each request is timed alone (perf_counter around the call and the read-back of every output); request sizes are
interleaved in rounds so that load drifts hit each alike. Reported: p50 / p90 / p99 latency per batch size and
examples per second at each (batch size / mean latency). What TF Serving adds on top (gRPC/REST, batching queue)
is not measured: its binary is not installable here.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.common import command_line, latency_summary, machine_facts, write_json

BATCH_SIZES: tuple[int, ...] = (1, 32, 256)


@dataclasses.dataclass(frozen=True)
class ServingBenchConfig:
    batch_sizes: tuple[int, ...] = BATCH_SIZES
    requests: int = 1000  # per batch size
    rounds: int = 20  # the requests of each size are spread over this many interleaved rounds
    warmup: int = 5  # untimed requests per batch size
    pool: int = 2048  # distinct records requests are cut from


def load_requests(pipeline_root: str, count: int, serving_root: str | None = None) -> tuple[str, list[bytes]]:
    """The pushed model's directory and up to `count` label-free serialized eval examples of the run."""
    import glob

    from benchmarks.pipeline_bench import find_artifacts
    from serving.export import LABEL_FEATURES, read_serialized_examples

    artifacts = find_artifacts(pipeline_root, serving_root)
    if artifacts.pushed_model is None:
        raise SystemExit(f"nothing was pushed under {pipeline_root}: no model to serve")
    files = glob.glob(os.path.join(artifacts.ingest_eval, "*"))
    return artifacts.pushed_model, read_serialized_examples(files, count, drop=LABEL_FEATURES)


def time_requests(serve: Any, records: list[bytes], bench: ServingBenchConfig) -> dict[int, list[float]]:
    """Seconds per request for every batch size; request sizes interleave round by round."""
    import tensorflow as tf

    def request(batch: int, index: int) -> float:
        start = (index * batch) % max(1, len(records) - batch + 1)
        examples = tf.constant(records[start : start + batch])
        began = time.perf_counter()
        outputs = serve(examples=examples)
        for value in outputs.values():
            value.numpy()
        return time.perf_counter() - began

    for batch in bench.batch_sizes:
        for i in range(bench.warmup):
            request(batch, i)
    per_round = max(1, bench.requests // bench.rounds)
    seconds: dict[int, list[float]] = {batch: [] for batch in bench.batch_sizes}
    for round_index in range(bench.rounds):
        for batch in bench.batch_sizes:
            for i in range(per_round):
                seconds[batch].append(request(batch, round_index * per_round + i))
    return seconds


def run(
    pipeline_root: str, bench: ServingBenchConfig, out: str, command: str, serving_root: str | None = None
) -> dict[str, Any]:
    import tensorflow as tf

    model_dir, records = load_requests(pipeline_root, max(bench.pool, max(bench.batch_sizes)), serving_root)
    if len(records) < max(bench.batch_sizes):
        raise SystemExit(f"only {len(records)} eval records: fewer than the largest request ({max(bench.batch_sizes)})")
    started = time.perf_counter()
    serve = tf.saved_model.load(model_dir).signatures["serving_default"]
    load_seconds = time.perf_counter() - started
    print(f"serving bench: {model_dir}, {len(records)} records", file=sys.stderr, flush=True)
    seconds = time_requests(serve, records, bench)
    results = {}
    for batch, values in seconds.items():
        entry = latency_summary(values)
        entry["examples_per_s"] = batch / (entry["mean_ms"] / 1e3)
        results[str(batch)] = entry
    summary = {
        "command": command,
        "pipeline_root": os.path.abspath(pipeline_root),
        "model_dir": model_dir,
        "records": len(records),
        "load_seconds": round(load_seconds, 2),
        "config": dataclasses.asdict(bench),
        "machine": machine_facts(),
        "batches": results,
    }
    write_json(Path(out) / "serving.json", summary)
    return summary


def markdown(summary: dict[str, Any]) -> str:
    lines = [
        "## Serving: in-process `serving_default` of the pushed model",
        "",
        f"Requests of serialized raw tf.Examples (real eval records, labels removed) to the SavedModel loaded with "
        f"`tf.saved_model.load` ({summary['load_seconds']:.1f} s to load); {summary['config']['requests']} timed "
        "requests per batch size, sizes interleaved; latency = call + read-back of every output.",
        "",
        "| batch | p50 ms | p90 ms | p99 ms | max ms | examples/s |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for batch, entry in summary["batches"].items():
        lines.append(
            f"| {batch} | {entry['p50_ms']:.2f} | {entry['p90_ms']:.2f} | {entry['p99_ms']:.2f} | "
            f"{entry['max_ms']:.1f} | {entry['examples_per_s']:,.0f} |"
        )
    lines += ["", f"Command: `{summary['command']}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline-root", required=True, help="a finished run's pipeline root (pipeline_bench)")
    parser.add_argument("--serving-root", default=None, help="where the run pushed (default: ROOT/serving)")
    parser.add_argument("--requests", type=int, default=ServingBenchConfig.requests, help="timed, per batch size")
    parser.add_argument("--out", default=os.path.join("docs", "benchmarks"))
    args = parser.parse_args(argv)
    bench = ServingBenchConfig(requests=args.requests, rounds=min(ServingBenchConfig.rounds, args.requests))
    command = command_line("benchmarks.serving_bench", argv)
    summary = run(args.pipeline_root, bench, args.out, command, args.serving_root)
    print(markdown(summary))
    return summary


if __name__ == "__main__":
    main()
