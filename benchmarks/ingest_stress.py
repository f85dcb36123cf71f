"""Stress: many ingests of one corpus in every DirectRunner mode `ranker run --beam-mode` accepts; lost lines per run.

    nice -n 15 .venv/bin/python -m benchmarks.ingest_stress                       # 20 runs x 3 modes, 30k lines
    nice -n 15 .venv/bin/python -m benchmarks.ingest_stress --runs 2 --lines 5000 --modes multi_threading

The corpus is written once by the project's generator (`World`, the `default` preset's world, `--malformed-rate` of
corrupted lines so that the quarantine path carries data too) as gzipped JSON lines in `--shards` files. Its lines
are counted once by reading the files directly. Each run ingests it with `ingest.run.run_ingest` and then
counts, independently of the run's own accounting and counts.json, the examples on disk (TFRecord frames) and the
quarantined records on disk: lost = lines in the corpus - (examples + quarantined). A run whose own accounting check
fired (AccountingError) is reported as such, with what was on disk. `--unsafe` is the control: the same runs with
Beam's timed flush left on (compat/beam_data_plane.py not applied), to show that the stress can see the loss.
Prints one JSON object per run and a summary per mode; exit status 1 if any line was lost or any run failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
import zlib
from collections import Counter
from typing import Any

MODES = {
    "in_memory": ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
    "multi_threading": ["--direct_running_mode=multi_threading", "--direct_num_workers=2"],
    "multi_processing": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
}


def write_corpus(logs: str, lines: int, shards: int, malformed_rate: float, day: int) -> int:
    """`lines` generated lines in `shards` gzipped files under logs/day=DDDDD/; returns the lines written."""
    from config.settings import get_preset
    from ingest.layout import shard_path
    from world.simulator import World

    world_config = dataclasses.replace(
        get_preset("default").world, impressions_per_day=lines, num_shards=1, malformed_rate=malformed_rate
    )
    generated = World(world_config).generate_encoded_lines(day, 0)
    encoded = [line for line, _ in itertools.islice(generated, lines)]
    per_shard = -(-len(encoded) // shards)
    for shard in range(shards):
        path = shard_path(logs, day, shard, shards)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        chunk = encoded[shard * per_shard : (shard + 1) * per_shard]
        with open(path, "wb") as f:
            f.write(gzip.compress(b"".join(_as_line(x) for x in chunk), compresslevel=1))
    return len(encoded)


def _as_line(x: Any) -> bytes:
    data = x if isinstance(x, bytes) else str(x).encode("utf-8", "surrogatepass")
    return data if data.endswith(b"\n") else data + b"\n"


def count_corpus_lines(logs: str) -> int:
    total = 0
    for root, _, names in os.walk(logs):
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                data = zlib.decompress(f.read(), 16 + zlib.MAX_WBITS)
            total += data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    return total


def one_run(config: Any, logs: str, out: str, mode: str) -> dict[str, Any]:
    from ingest.accounting import count_quarantined, count_written_examples
    from ingest.errors import AccountingError
    from ingest.run import run_ingest

    examples, quarantine = os.path.join(out, "examples"), os.path.join(out, "quarantine")
    started = time.perf_counter()
    error = None
    try:
        run_ingest(config, logs, examples, quarantine, MODES[mode])
    except AccountingError as err:
        error = str(err)
    seconds = time.perf_counter() - started
    on_disk = count_written_examples(examples) + sum(count_quarantined(quarantine).values())
    return {"mode": mode, "seconds": round(seconds, 2), "on_disk": on_disk, "accounting_error": error}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="ingests per mode")
    parser.add_argument("--lines", type=int, default=30_000, help="lines in the corpus")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--malformed-rate", type=float, default=0.01)
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {list(MODES)}")
    parser.add_argument("--json-out", help="also write the per-mode summary here")
    parser.add_argument(
        "--unsafe",
        action="store_true",
        help="control run: keep Beam's timed data-plane flush (DATA_BUFFER_TIME_LIMIT_MS=1000), i.e. without the fix",
    )
    args = parser.parse_args(argv)
    if args.unsafe:
        from compat import beam_data_plane as beam_safety

        beam_safety.SAFE_DATA_BUFFER_TIME_LIMIT_MS = 1000  # install_patches() then restores Beam's default

    from config.settings import get_preset

    config = get_preset("default")
    scratch = tempfile.mkdtemp(prefix="ingest-stress-")
    try:
        logs = os.path.join(scratch, "logs")
        write_corpus(logs, args.lines, args.shards, args.malformed_rate, day=0)
        expected = count_corpus_lines(logs)
        print(json.dumps({"corpus_lines": expected, "files": args.shards}), flush=True)
        summary: dict[str, Any] = {}
        for mode in [m for m in args.modes.split(",") if m]:
            lost_per_run, errors, seconds = [], 0, []
            for run in range(args.runs):
                out = os.path.join(scratch, f"{mode}-{run}")
                row = one_run(config, logs, out, mode)
                row.update(run=run, expected=expected, lost=expected - row["on_disk"])
                print(json.dumps(row), flush=True)
                lost_per_run.append(row["lost"])
                errors += row["accounting_error"] is not None
                seconds.append(row["seconds"])
                shutil.rmtree(out, ignore_errors=True)
            summary[mode] = {
                "runs": args.runs,
                "lines_per_run": expected,
                "lost_lines_total": sum(lost_per_run),
                "runs_with_loss": sum(1 for x in lost_per_run if x),
                "accounting_errors": errors,
                "median_seconds": sorted(seconds)[len(seconds) // 2],
                "loss_histogram": dict(Counter(lost_per_run)),
            }
            print(json.dumps({"summary": mode, **summary[mode]}), flush=True)
        if args.json_out:
            with open(args.json_out, "w") as f:
                json.dump(summary, f, indent=2, sort_keys=True)
        failed = any(s["lost_lines_total"] or s["accounting_errors"] for s in summary.values())
        return 1 if failed else 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
