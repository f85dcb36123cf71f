"""Where the ingest's time goes, per stage, in one process (no Beam): read (gzip member check + line split), JSON
decode, validate, encode tf.Examples, frame + gzip the output.

    nice -n 10 .venv/bin/python -m benchmarks.ingest_profile --records 50000 [--cprofile 25]

The corpus is the `default` world's (51 fields per record), written as one gzipped file. Each stage is timed over the
whole corpus with time.process_time (CPU seconds of this process, so other load on the machine matters less), in
batches of the ingest's BATCH_SIZE, the same calls the Beam DoFns make. Prints one JSON object: per-stage
microseconds per record and share, and the implied single-core records/s of parse + validate + encode.
`--cprofile N` also prints the N functions with the most own time over the whole single-process ingest.
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
    args = parser.parse_args(argv)

    from config.settings import get_preset
    from ingest.dofns import BATCH_SIZE
    from ingest.sink import EXAMPLES_GZIP_LEVEL, tfrecord_bytes
    from logformat import parser as log_parser
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
        texts = timed("utf-8 decode", lambda: [bytes(x).decode("utf-8") for x in raw])
        decoded = timed("json decode", lambda: [log_parser._DECODER.decode(t) for t in texts])
        timed("validate (fast path)", lambda: [log_parser.is_valid_fast(r, ingest.max_field_chars) for r in decoded])
        timed("check_line (decode + validate)", lambda: [log_parser.check_line(x, ingest) for x in raw])
        batches = [decoded[i : i + BATCH_SIZE] for i in range(0, len(decoded), BATCH_SIZE)]
        encoded = timed("encode tf.Examples", lambda: [log_parser.encode_examples(b) for b in batches])

        def write():
            compressor = zlib.compressobj(EXAMPLES_GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            sink = io.BytesIO()
            for batch in encoded:
                sink.write(compressor.compress(tfrecord_bytes(batch)))
            sink.write(compressor.flush())

        timed("frame + gzip examples", write)
        n = len(raw)
        core = sum(stages[k] for k in ("read (gzip member check, split lines)", "check_line (decode + validate)"))
        core += stages["encode tf.Examples"] + stages["frame + gzip examples"]
        report = {
            "records": n,
            "us_per_record": {k: round(v / n * 1e6, 2) for k, v in stages.items()},
            "single_core_records_per_s (read + check_line + encode + write)": round(n / core),
            "command": " ".join(["python -m benchmarks.ingest_profile", *(sys.argv[1:] if argv is None else argv)]),
        }
        print(json.dumps(report, indent=2))
        if args.cprofile:
            profile = cProfile.Profile()
            profile.enable()
            for start in range(0, n, BATCH_SIZE):
                records = [log_parser.check_line(x, ingest)[0] for x in raw[start : start + BATCH_SIZE]]
                log_parser.encode_examples([r for r in records if r is not None])
            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(args.cprofile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
