"""Log generation throughput: Beam's DirectRunner (LogGen's pipeline) against a single-process writer of the same files.

    .venv/bin/python -m benchmarks.generation_bench [--preset default] [--impressions 240000] [--shards 8]
                                                    [--modes single,in_memory,multi_processing] [--out docs/benchmarks]

Every mode writes the same (day, shard) gzipped JSON-lines files (`components.log_generator.write_shard`, the code
LogGen's Beam DoFn runs); the Beam runs are checked byte for byte against the single-process files. Records per
second = lines written / wall seconds, pipeline start-up included. `generate` measures record generation and JSON
formatting alone (no compression, no file), the ceiling of one process. Writes `generation.json` and
`generation.md` into --out. The machine is shared: the load average before and after each mode is recorded.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from typing import Any

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

TARGET_RECORDS_PER_S = 50_000
BEAM_MODES: dict[str, list[str]] = {
    "in_memory": ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
    "multi_threading": ["--direct_running_mode=multi_threading", "--direct_num_workers=2"],
    "multi_processing": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
}


def _files(root: str) -> dict[str, bytes]:
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            if name.startswith("logs-"):
                path = os.path.join(dirpath, name)
                with open(path, "rb") as f:
                    out[os.path.relpath(path, root)] = f.read()
    return out


def run_mode(mode: str, config: Any, day: int, out_dir: str) -> dict[str, Any]:
    """Generates one day in `mode` into `out_dir`; returns seconds, records and bytes."""
    from components.log_generator import run_generation, write_shard
    from components.world import World

    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    if mode == "generate":
        world = World(config.world)
        records = sum(1 for shard in range(config.world.num_shards) for _ in world.generate_encoded_lines(day, shard))
    elif mode == "single":
        world = World(config.world)
        records = sum(write_shard(world, day, s, out_dir)["lines"] for s in range(config.world.num_shards))
    else:
        records = run_generation(config, out_dir, BEAM_MODES[mode], days=[day])["lines"]
    seconds = time.perf_counter() - started
    size = sum(len(v) for v in _files(out_dir).values()) if mode != "generate" else 0
    return {
        "mode": mode,
        "seconds": round(seconds, 2),
        "records": records,
        "records_per_s": round(records / seconds),
        "gzip_bytes": size,
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# Log generation throughput ({result['preset']} world, {result['records_per_day']:,} records, "
        f"{result['fields_per_record']} fields per record, {result['shards']} shards)",
        "",
        f"Target: >= {TARGET_RECORDS_PER_S:,} records/s with the DirectRunner. Machine: {result['cpus']} CPUs "
        f"(shared with other work: see the load averages), Python {result['python']}, Beam {result['beam']}.",
        "",
        "| mode | what | seconds | records/s | vs single process | load avg before/after |",
        "|---|---|---:|---:|---:|---|",
    ]
    single = next((r for r in result["results"] if r["mode"] == "single"), None)
    what = {
        "generate": "generate + format JSON only (no gzip, no file)",
        "single": "one process: generate, gzip, write each shard in turn",
        "in_memory": "Beam DirectRunner, in_memory, 1 worker",
        "multi_threading": "Beam DirectRunner, multi_threading, 2 workers",
        "multi_processing": "Beam DirectRunner, multi_processing, 2 workers",
    }
    for r in result["results"]:
        ratio = f"{r['records_per_s'] / single['records_per_s']:.2f}x" if single else "-"
        lines.append(
            f"| {r['mode']} | {what.get(r['mode'], r['mode'])} | {r['seconds']:.1f} | {r['records_per_s']:,} | "
            f"{ratio} | {r['load_average_before']:.1f} / {r['load_average_after']:.1f} |"
        )
    lines += ["", f"Beam outputs byte-identical to the single-process files: {result['identical']}.", ""]
    lines += [f"Command: `{result['command']}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--impressions", type=int, default=240_000, help="records generated per mode")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--day", type=int, default=3)
    parser.add_argument("--modes", default="generate,single,in_memory,multi_processing")
    parser.add_argument("--out", default=os.path.join("docs", "benchmarks"))
    args = parser.parse_args(argv)

    import apache_beam

    from components.log_schema import log_format
    from pipeline.config import get_preset

    config = get_preset(args.preset)
    world = dataclasses.replace(config.world, impressions_per_day=args.impressions, num_shards=args.shards)
    config = config.replace(world=world)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    results, outputs = [], {}
    scratch = tempfile.mkdtemp(prefix="generation-bench-")
    try:
        for mode in modes:
            out_dir = os.path.join(scratch, mode)
            result = run_mode(mode, config, args.day, out_dir)
            print(json.dumps(result), flush=True)
            results.append(result)
            if mode != "generate":
                outputs[mode] = _files(out_dir)
        reference = outputs.get("single")
        identical = all(files == reference for files in outputs.values()) if reference else None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    summary = {
        "preset": args.preset,
        "records_per_day": results[0]["records"] if results else 0,
        "fields_per_record": len(log_format(world).fields),
        "shards": args.shards,
        "day": args.day,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "beam": apache_beam.__version__,
        "target_records_per_s": TARGET_RECORDS_PER_S,
        "identical": identical,
        "command": " ".join(["python -m benchmarks.generation_bench", *(sys.argv[1:] if argv is None else argv)]),
        "results": results,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "generation.json"), "w") as f:
        json.dump(summary, f, indent=1)
    with open(os.path.join(args.out, "generation.md"), "w") as f:
        f.write(markdown(summary))
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
