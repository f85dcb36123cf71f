"""Where the ingest's time goes, per stage, in one process (no Beam): read (gzip member check + line split), the
columnar stages of `logformat.columnar.judge_lines` (screen the plain lines, Arrow JSON parse, vectorized checks,
encode tf.Examples), frame + gzip the output.

    nice -n 10 .venv/bin/python -m benchmarks.ingest_profile --records 50000 [--cprofile 25] [--gzip-levels 2,3,6]

The corpus is the `default` world's (51 fields per record), written as one gzipped file. Each stage is timed over the
whole corpus with time.process_time (CPU seconds of this process, so other load on the machine matters less), in
batches of the ingest's BATCH_SIZE. `judge_lines` is also timed as a whole (what the ingest's DoFn calls), and so is
the per-line reference (`check_line` + `record_to_example`) the columnar path stands in for. Prints one JSON object:
per-stage microseconds per record, and the implied single-core records/s of read + judge_lines + write.
`--cprofile N` also prints the N functions with the most own time over judge_lines. `--gzip-levels 2,3,6` also
frames and gzips the examples at each of those levels, the levels in turn for --gzip-rounds rounds: CPU us per record
(median over the rounds) and gzipped bytes per record, the price of each level against the others.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gzip
import io
import itertools
import json
import os
import pstats
import sys
import tempfile
import time
import zlib


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--cprofile", type=int, default=0, help="print the top N functions by own time")
    parser.add_argument("--gzip-levels", default="", help="e.g. 2,3,6: time the examples' gzip at each level")
    parser.add_argument("--gzip-rounds", type=int, default=5)
    args = parser.parse_args(argv)

    from config.settings import get_preset
    from ingest.dofns import BATCH_SIZE
    from ingest.sink import EXAMPLES_GZIP_LEVEL, tfrecord_bytes
    from logformat import columnar
    from logformat import parser as log_parser
    from logformat.columnar import judge_lines
    from logformat.line_reader import read_log_lines
    from world.simulator import World

    config = get_preset("default")
    world = dataclasses.replace(config.world, impressions_per_day=args.records, num_shards=1, malformed_rate=0.0)
    lines = [line for line, _ in itertools.islice(World(world).generate_encoded_lines(0, 0), args.records)]
    data = b"".join(x if x.endswith(b"\n") else x + b"\n" for x in lines)
    ingest = config.ingest
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "logs.jsonl.gz")
        with open(path, "wb") as f:
            f.write(gzip.compress(data, compresslevel=1))
        stages: dict[str, float] = {}

        def timed(name, fn):
            started = time.process_time()
            out = fn()
            stages[name] = time.process_time() - started
            return out

        read = timed("read (gzip member check, split lines)", lambda: list(read_log_lines(path, ingest.max_line_bytes)))
        raw = [line for _, line, _, _ in read]
        batches = [raw[i : i + BATCH_SIZE] for i in range(0, len(raw), BATCH_SIZE)]
        plain = timed("screen plain lines", lambda: [columnar._plain_lines(b, ingest.max_line_bytes) for b in batches])
        layout = columnar._layout(raw[0])
        assert layout is not None and all(len(p) == len(b) for p, b in zip(plain, batches))
        tables = timed("arrow json parse", lambda: [columnar._read(b, layout.schema) for b in batches])
        timed("vectorized checks", lambda: [columnar._accepted(t, layout, ingest.max_field_chars) for t in tables])
        timed("encode tf.Examples", lambda: [columnar._examples(t, layout) for t in tables])
        verdicts = timed("judge_lines (all of the above)", lambda: [judge_lines(b, ingest) for b in batches])
        encoded = [[example for _, _, example in batch] for batch in verdicts]

        def reference() -> None:
            for line in raw:
                record, _ = log_parser.check_line(line, ingest)
                assert record is not None  # the corpus has no malformed lines
                log_parser.record_to_example(record).SerializeToString(deterministic=True)

        timed("per-line reference: check_line + record_to_example", reference)

        def write(level: int = EXAMPLES_GZIP_LEVEL) -> int:
            compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            sink = io.BytesIO()
            for batch in encoded:
                sink.write(compressor.compress(tfrecord_bytes(batch)))
            sink.write(compressor.flush())
            return sink.tell()

        timed("frame + gzip examples", write)
        n = len(raw)
        core = stages["read (gzip member check, split lines)"] + stages["judge_lines (all of the above)"]
        core += stages["frame + gzip examples"]
        report = {
            "records": n,
            "us_per_record": {k: round(v / n * 1e6, 2) for k, v in stages.items()},
            "single_core_records_per_s (read + judge_lines + write)": round(n / core),
            "judge_lines_vs_per_line_reference": round(
                stages["per-line reference: check_line + record_to_example"] / stages["judge_lines (all of the above)"],
                2,
            ),
            "command": " ".join(["python -m benchmarks.ingest_profile", *(sys.argv[1:] if argv is None else argv)]),
        }
        levels = [int(level) for level in args.gzip_levels.split(",") if level.strip()]
        if levels:
            seconds: dict[int, list[float]] = {level: [] for level in levels}
            sizes: dict[int, int] = {}
            for _ in range(args.gzip_rounds):
                for level in levels:
                    started = time.process_time()
                    sizes[level] = write(level)
                    seconds[level].append(time.process_time() - started)
            framed = sum(len(tfrecord_bytes(batch)) for batch in encoded)
            report["frame_gzip_by_level"] = {
                str(level): {
                    "us_per_record": round(sorted(seconds[level])[len(seconds[level]) // 2] / n * 1e6, 2),
                    "gzip_bytes_per_record": round(sizes[level] / n, 1),
                    "framed_bytes_per_record": round(framed / n, 1),
                }
                for level in levels
            }
        print(json.dumps(report, indent=2))
        if args.cprofile:
            profile = cProfile.Profile()
            profile.enable()
            for batch in batches:
                judge_lines(batch, ingest)
            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(args.cprofile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
