"""Log generation and ingest throughput: Beam's DirectRunner (LogGen's and LogIngest's pipelines); generation also
against a single-process loop doing the same work.

    .venv/bin/python -m benchmarks.generation_bench [--preset default] [--impressions 1000000] [--shards 8]
        [--modes generate,single,in_memory,multi_processing] [--ingest-modes in_memory,multi_threading]
        [--malformed-rate R] [--out docs/benchmarks] [--logs DIR] [--keep DIR]

Generation: every mode writes the same (day, shard) gzipped JSON-lines files (`generation.shard.write_shard`,
the code LogGen's Beam DoFn runs); the Beam runs are checked byte for byte against the single-process files.
`generate` measures record generation and JSON formatting alone (no compression, no file), the ceiling of one process.

Ingest: the files of the first generation mode that wrote files (written anew when there is none) are ingested by
each ingest mode through the public API, `ingest.run.run_ingest` (the IngestLogs pipeline LogIngest runs, its
accounting checked) with the DirectRunner: `in_memory` is one core, the others use two. Every mode must give the
same set of examples (sorted SHA-256 digests of the serialized examples; of their deterministic serialization when
the bytes differ), the same counts.json and the same quarantined lines. A tiny ingest runs first, untimed, so that
one-time imports are not charged to the first mode.

Records per second = lines / wall seconds, pipeline start-up included; the ingest rows also give CPU seconds (user +
system of this process and its children: for `in_memory`, what the whole ingest costs on one core) and the peak
resident memory so far (of this process, which ran the modes before too, or of a child). `--logs DIR`
ingests the log files under DIR (a RawLogs folder, `day=*/logs-*`) instead of generating them; `--keep DIR` keeps
each ingest mode's examples and quarantine in DIR/<mode>, and logs generated for the ingest in DIR/logs/for-ingest
(to ingest the same files with another checkout and compare the outputs). Writes `generation.json` and `generation.md`
into --out. The machine is shared: the load average before and after each mode is recorded.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import json
import os
import platform
import resource
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

TARGET_RECORDS_PER_S = 50_000
BEAM_MODES: dict[str, list[str]] = {
    "in_memory": ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
    "multi_threading": ["--direct_running_mode=multi_threading", "--direct_num_workers=2"],
    "multi_processing": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
}
GENERATION_MODES = ("generate", "single", *BEAM_MODES)
INGEST_MODES = tuple(BEAM_MODES)
WARM_UP_IMPRESSIONS = 2_000
GENERATION_WHAT = {
    "generate": "generate + format JSON only (no gzip, no file)",
    "single": "one process: generate, gzip, write each shard in turn",
    "in_memory": "Beam DirectRunner, in_memory, 1 worker",
    "multi_threading": "Beam DirectRunner, multi_threading, 2 workers",
    "multi_processing": "Beam DirectRunner, multi_processing, 2 workers",
}
INGEST_WHAT = {
    "in_memory": "IngestLogs, DirectRunner in_memory, 1 worker (the pipeline's default)",
    "multi_threading": "IngestLogs, DirectRunner multi_threading, 2 workers",
    "multi_processing": "IngestLogs, DirectRunner multi_processing, 2 workers",
}


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _peak_rss_mb() -> int:
    """The largest resident set of this process so far, or of a finished child if larger (MiB)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return round(max(own.ru_maxrss, children.ru_maxrss) / 1024)


def _file_digests(root: str) -> dict[str, str]:
    """SHA-256 of every log file under `root`, by relative path."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            if name.startswith("logs-"):
                path = os.path.join(dirpath, name)
                with open(path, "rb") as f:
                    out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def _gzip_bytes(root: str) -> int:
    return sum(os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(root) for n in names)


def run_mode(mode: str, config: Any, day: int, out_dir: str) -> dict[str, Any]:
    """Generates one day in `mode` into `out_dir`; returns seconds, records and bytes."""
    from generation.run import run_generation
    from generation.shard import write_shard
    from world.simulator import World

    load_before = _load()
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
    return {
        "mode": mode,
        "seconds": round(seconds, 2),
        "records": records,
        "records_per_s": round(records / seconds),
        "gzip_bytes": _gzip_bytes(out_dir) if mode != "generate" else 0,
        "load_average_before": load_before,
        "load_average_after": _load(),
    }


# -- ingest ------------------------------------------------------------------------------------------------------


def _tfrecords(path: str) -> Iterator[bytes]:
    """The records of a gzipped TFRecord file (framing only; the checksums are Beam's and TF's business)."""
    with gzip.open(path, "rb") as f:
        while header := f.read(12):
            (length,) = struct.unpack("<Q", header[:8])
            yield f.read(length + 4)[:length]


def _example_digests(examples_uri: str, split: str, canonical: bool) -> list[bytes]:
    """Sorted SHA-256 digests of the serialized examples of a split (canonical: of their deterministic
    serialization, which does not depend on the order in which an encoder wrote the feature map)."""
    from tensorflow.core.example import example_pb2

    digests = []
    folder = os.path.join(examples_uri, f"Split-{split}")
    for name in sorted(os.listdir(folder)):
        for record in _tfrecords(os.path.join(folder, name)):
            if canonical:
                record = example_pb2.Example.FromString(record).SerializeToString(deterministic=True)
            digests.append(hashlib.sha256(record).digest())
    return sorted(digests)


def _quarantine_and_counts(quarantine_uri: str) -> dict[str, Any]:
    lines: list[bytes] = []
    for name in sorted(os.listdir(quarantine_uri)):
        if name.endswith(".jsonl.gz"):
            with gzip.open(os.path.join(quarantine_uri, name), "rb") as f:
                lines += [line for line in f.read().split(b"\n") if line]
    with open(os.path.join(quarantine_uri, "counts.json")) as f:
        counts = json.load(f)
    return {"quarantine_sha256": hashlib.sha256(b"\n".join(sorted(lines))).hexdigest(), "counts": counts}


def run_ingest_mode(mode: str, config: Any, logs_dir: str, out_dir: str) -> dict[str, Any]:
    """Ingests `logs_dir` in `mode` into `out_dir`/examples and `out_dir`/quarantine; returns the timing row."""
    from ingest.run import run_ingest

    examples, quarantine = os.path.join(out_dir, "examples"), os.path.join(out_dir, "quarantine")
    load_before = _load()
    cpu, started = _cpu_seconds(), time.perf_counter()
    counts = run_ingest(config, logs_dir, examples, quarantine, BEAM_MODES[mode])
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    return {
        "mode": mode,
        "seconds": round(seconds, 2),
        "records": counts["total"],
        "records_per_s": round(counts["total"] / seconds),
        "cpu_seconds": round(cpu, 2),
        "records_per_cpu_s": round(counts["total"] / cpu),
        "peak_rss_mb": _peak_rss_mb(),
        "good": counts["good"],
        "quarantined": counts["quarantined"],
        "examples_gzip_bytes": _gzip_bytes(examples),
        "load_average_before": load_before,
        "load_average_after": _load(),
    }


def _warm_up(config: Any, day: int, scratch: str) -> None:
    """A tiny ingest in one process, untimed: imports and first-use set-up are not charged to a mode."""
    from generation.shard import write_shard
    from ingest.run import run_ingest
    from world.simulator import World

    world = World(dataclasses.replace(config.world, impressions_per_day=WARM_UP_IMPRESSIONS, num_shards=1))
    logs = os.path.join(scratch, "warm-up", "logs")
    write_shard(world, day, 0, logs)
    examples, quarantine = (os.path.join(scratch, "warm-up", d) for d in ("ex", "q"))
    run_ingest(config, logs, examples, quarantine, BEAM_MODES["in_memory"])
    shutil.rmtree(os.path.join(scratch, "warm-up"), ignore_errors=True)


def compare_ingests(out_dirs: dict[str, str]) -> dict[str, Any]:
    """Whether every mode wrote what the first wrote: the same examples (byte for byte, else as
    protos), the same counts.json and the same quarantined lines."""
    if not out_dirs:
        return {"identical": None, "examples_equal_as": None}
    examples = {mode: os.path.join(d, "examples") for mode, d in out_dirs.items()}
    rest = [_quarantine_and_counts(os.path.join(d, "quarantine")) for d in out_dirs.values()]
    same_rest = all(r == rest[0] for r in rest)
    splits: dict[str, Any] = {}
    equal_as = "bytes"
    for split in ("train", "eval"):
        for canonical in (False, True):
            digests = [_example_digests(e, split, canonical) for e in examples.values()]
            if all(d == digests[0] for d in digests):
                break
            equal_as = "protos" if equal_as == "bytes" else equal_as
        else:
            equal_as = "different"
        splits[split] = {"count": len(digests[0]), "sha256": hashlib.sha256(b"".join(digests[0])).hexdigest()}
    return {
        "identical": same_rest and equal_as != "different",
        "examples_equal_as": equal_as,
        "counts_and_quarantine_equal": same_rest,
        "examples": splits,
    }


# -- report ------------------------------------------------------------------------------------------------------


def _rows(results: list[dict[str, Any]], what: dict[str, str], base: str = "single") -> list[str]:
    single = next((r for r in results if r["mode"] == base), None)
    lines = []
    for r in results:
        ratio = f"{r['records_per_s'] / single['records_per_s']:.2f}x" if single else "-"
        lines.append(
            f"| {r['mode']} | {what.get(r['mode'], r['mode'])} | {r['seconds']:.1f} | {r['records_per_s']:,} | "
            f"{ratio} | {r['load_average_before']:.1f} / {r['load_average_after']:.1f} |"
        )
    return lines


def _ingest_rows(results: list[dict[str, Any]]) -> list[str]:
    base = next((r for r in results if r["mode"] == "in_memory"), None)
    lines = []
    for r in results:
        ratio = f"{r['records_per_s'] / base['records_per_s']:.2f}x" if base else "-"
        cpu = f"{r['cpu_seconds']:.1f} | {r['records_per_cpu_s']:,}" if "cpu_seconds" in r else "- | -"
        lines.append(
            f"| {r['mode']} | {INGEST_WHAT.get(r['mode'], r['mode'])} | {r['seconds']:.1f} | {r['records_per_s']:,} | "
            f"{ratio} | {cpu} | {r['load_average_before']:.1f} / {r['load_average_after']:.1f} |"
        )
    return lines


def markdown(result: dict[str, Any]) -> str:
    header = "| mode | what | seconds | records/s | vs single process | load avg before/after |"
    lines = [
        f"# Log generation and ingest throughput ({result['preset']} world, {result['records_per_day']:,} records, "
        f"{result['fields_per_record']} fields per record, {result['shards']} shards)",
        "",
        f"Machine: {result['cpus']} CPUs (shared with other work: see the load averages), Python {result['python']}, "
        f"Beam {result['beam']}. Records/s = lines / wall seconds, pipeline start-up included.",
        "",
        "## Generation",
        "",
        f"Target: >= {result['target_records_per_s']:,} records/s with the DirectRunner.",
        "",
        header,
        "|---|---|---:|---:|---:|---|",
        *_rows(result["results"], GENERATION_WHAT),
        "",
        f"Beam outputs byte-identical to the single-process files: {result['identical']}.",
        "",
    ]
    ingest = result.get("ingest")
    if ingest and ingest.get("results"):
        compared = ingest["compared"]
        lines += [
            "## Ingest",
            "",
            f"{ingest['records']:,} lines ({ingest['good']:,} examples, {ingest['quarantined']:,} quarantined), "
            "after an untimed warm-up ingest.",
            "",
            header.replace("vs single process", "vs in_memory").replace(" | load", " | CPU s | records/CPU-s | load"),
            "|---|---|---:|---:|---:|---:|---:|---|",
            *_ingest_rows(ingest["results"]),
            "",
            f"Every mode gave the same examples, counts.json and quarantine: {compared['identical']} (examples equal "
            f"as {compared['examples_equal_as']}).",
            "",
        ]
    lines += [f"Command: `{result['command']}`", ""]
    return "\n".join(lines)


def _modes(text: str, known: tuple[str, ...], flag: str) -> list[str]:
    modes = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in modes if m not in known]
    if unknown:
        raise SystemExit(f"{flag}: unknown mode(s) {unknown}; known: {', '.join(known)}")
    return modes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--impressions", type=int, default=1_000_000, help="records generated per mode")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--day", type=int, default=3)
    parser.add_argument("--malformed-rate", type=float, default=None, help="default: the preset's")
    parser.add_argument("--modes", default="generate,single,in_memory,multi_processing", help="generation modes")
    parser.add_argument("--ingest-modes", default="in_memory,multi_threading", help="'' for none")
    parser.add_argument("--out", default=os.path.join("docs", "benchmarks"))
    parser.add_argument("--logs", default=None, help="ingest these RawLogs instead of generating them")
    parser.add_argument("--keep", default=None, help="keep each ingest mode's outputs in KEEP/<mode>")
    args = parser.parse_args(argv)
    modes = _modes(args.modes, GENERATION_MODES, "--modes")
    ingest_modes = _modes(args.ingest_modes, INGEST_MODES, "--ingest-modes")

    import apache_beam

    from config.settings import get_preset
    from generation.shard import write_shard
    from logformat.schema import log_format
    from world.simulator import World

    config = get_preset(args.preset)
    world = dataclasses.replace(config.world, impressions_per_day=args.impressions, num_shards=args.shards)
    if args.malformed_rate is not None:
        world = dataclasses.replace(world, malformed_rate=args.malformed_rate)
    config = config.replace(world=world)
    results, digests = [], {}
    ingest_results, ingest_dirs, compared = [], {}, compare_ingests({})
    scratch = tempfile.mkdtemp(prefix="generation-bench-")
    try:
        logs_dir = None
        for mode in modes:
            out_dir = os.path.join(scratch, "logs", mode)
            result = run_mode(mode, config, args.day, out_dir)
            print(json.dumps(result), flush=True)
            results.append(result)
            if mode != "generate":
                digests[mode] = _file_digests(out_dir)
                if logs_dir is None:
                    logs_dir = out_dir  # ingested below
                else:
                    shutil.rmtree(out_dir, ignore_errors=True)
        reference = digests.get("single")
        identical = all(files == reference for files in digests.values()) if reference else None
        if ingest_modes:
            if args.logs is not None:
                logs_dir = args.logs
            if logs_dir is None:
                logs_dir = os.path.join(args.keep or scratch, "logs", "for-ingest")
                shutil.rmtree(logs_dir, ignore_errors=True)
                generator = World(config.world)
                for shard in range(world.num_shards):
                    write_shard(generator, args.day, shard, logs_dir)
            _warm_up(config, args.day, scratch)
            for mode in ingest_modes:
                ingest_dirs[mode] = os.path.join(args.keep or os.path.join(scratch, "ingest"), mode)
                shutil.rmtree(ingest_dirs[mode], ignore_errors=True)
                row = run_ingest_mode(mode, config, logs_dir, ingest_dirs[mode])
                print(json.dumps(row), flush=True)
                ingest_results.append(row)
            compared = compare_ingests(ingest_dirs)
            print(json.dumps(compared), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    first_ingest = ingest_results[0] if ingest_results else {"records": 0, "good": 0, "quarantined": 0}
    summary = {
        "preset": args.preset,
        "records_per_day": results[0]["records"] if results else first_ingest["records"],
        "fields_per_record": len(log_format(world).fields),
        "shards": args.shards,
        "day": args.day,
        "malformed_rate": world.malformed_rate,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "beam": apache_beam.__version__,
        "target_records_per_s": TARGET_RECORDS_PER_S,
        "identical": identical,
        "command": " ".join(["python -m benchmarks.generation_bench", *(sys.argv[1:] if argv is None else argv)]),
        "results": results,
        "ingest": {
            "records": first_ingest["records"],
            "good": first_ingest["good"],
            "quarantined": first_ingest["quarantined"],
            "compared": compared,
            "results": ingest_results,
        },
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
