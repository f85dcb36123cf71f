"""The verdict corpus: log lines of every quarantine reason plus clean ones, and the verdict each line got from the
per-line parser (`check_line`, one line at a time) and from the Beam ingest when the corpus was recorded.

The corpus (`data/verdict_corpus.jsonl.gz`) and its verdicts (`data/verdict_corpus.expected.jsonl`) are test data,
committed: any change of the ingest's implementation must give every line the recorded verdict (the same reason, or
an example with the same bytes and split). Regenerate them only when a rule changes on purpose:

    TF_USE_LEGACY_KERAS=1 PYTHONHASHSEED=0 .venv/bin/python -m tests.logformat.verdict_corpus

Expected verdicts, one JSON object a line, in line order: {"line": n, "reason": r} for a line the parser quarantines,
else {"line": n, "example": sha256 of the deterministic serialization, "impression_id": id}; plus "ingest": the
reason the Beam ingest quarantined the line with (the parser's, or `duplicate_impression_id`) or the split it wrote
the example to.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import math
import os
import random
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
CORPUS = os.path.join(DATA, "verdict_corpus.jsonl.gz")
EXPECTED = os.path.join(DATA, "verdict_corpus.expected.jsonl")
SOURCE = "day=00000/logs-00000-of-00001.jsonl.gz"  # where the ingest reads the corpus (relative to the logs uri)

BOUNDARY_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 2, 5, 6, 23, 24, 0.0, -0.0, 0.5, 1.0, 1.5, -0.5, 5e-324, 1e-46, 1.5e-45, 86_400,
    86_400.0, 86_400.5, 86_400.001, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63), -(2**63) - 1, 10**30,
    3.4e38, 3.4028235e38, 3.5e38, 1e300, math.inf, -math.inf, math.nan, "", " ", "x", "x" * 256, "x" * 257,
    "é" * 256, "é" * 257, "\ud800", "\udc00", "\U0001f600", "\x00", "é", "mobile", "home", "search", "en", "13-17",
    "55+", "1", [], {}, [1], {"a": 1},
]  # fmt: skip


def _json(record: Any) -> bytes:
    """JSON text as a logger might write it (NaN/Infinity tokens, escaped lone surrogates)."""
    return json.dumps(record).encode("utf-8", "surrogatepass")


def _compact(record: Any) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")


def _clean_records() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Valid records of a world with nulls and generated features, and of the core (v1) format only."""
    from config.settings import default_preset
    from logformat.schema import FIELD_TYPES
    from world.simulator import World

    world = dataclasses.replace(
        default_preset().world,
        missing_rate=0.3,
        num_extra_dense_features=3,
        num_extra_categorical_features=2,
        malformed_rate=0.0,
    )
    records = []
    for record in World(world).generate_shard(0, 0):
        records.append(record)
        if len(records) >= 400:
            break
    core = [{k: r[k] for k in FIELD_TYPES} for r in records[:60]]
    for i, record in enumerate(core):
        record["impression_id"] = f"core-{i}"
    return records, core


def corpus_lines() -> list[bytes]:
    """Every line of the corpus, in order (deterministic)."""
    from logformat.schema import FIELD_TYPES, WORLD_FIELDS
    from world.corruption import CORRUPTIONS

    records, core = _clean_records()
    good = records[0]
    rng = random.Random(21)
    lines: list[bytes] = []
    serial = iter(range(10**6))

    def fresh(record: dict[str, Any]) -> dict[str, Any]:
        return {**record, "impression_id": f"c{next(serial)}"}

    # Clean lines: as the generator writes them, with other key orders and spacing, core-only, with unknown fields.
    from world.encoding import encode_record

    lines += [encode_record(r).encode() for r in records[:200]]
    lines += [_json(r) for r in core]
    for record in records[200:260]:
        items = list(record.items())
        rng.shuffle(items)
        lines.append(_json(dict(items)))
    lines += [_compact({**fresh(r), "a_newer_field": {"nested": [1, 2]}, "zz": None}) for r in records[260:280]]
    lines += [_json({**fresh(r), "f_dense_999": 1.5, "f_cat_1234": 3}) for r in records[280:290]]
    lines += [b"  " + _json(fresh(r)) + b"\t " for r in records[290:295]]
    lines += [_json(fresh(r)) + b"\r" for r in records[295:300]]  # CRLF
    # One field at a time set to a boundary value (core fields, world fields, generated features), or removed.
    fields = sorted({*FIELD_TYPES, *WORLD_FIELDS, *(k for k in good if k.startswith("f_"))})
    for field in fields:
        for value in BOUNDARY_VALUES:
            lines.append(_json({**fresh(good), field: value}))
        lines.append(_json({k: v for k, v in fresh(good).items() if k != field}))
    for field in ("video_duration_s", "watch_time_s", "user_topic_share", "video_ctr", "f_dense_000"):
        for token in (b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"1E2", b"-0", b"0e0", b"1e-400"):
            record = _compact({**fresh(good), field: "@@"})
            lines.append(record.replace(b'"@@"', token))
    for field in ("timestamp", "position", "click", "survey_rating", "is_subscribed"):
        for token in (b"1.0", b"1E2", b"-0", b"1e0", b"00", b"+1", b"0x1", b"1_0", b"true", b'"1"'):
            record = _compact({**fresh(good), field: "@@"})
            lines.append(record.replace(b'"@@"', token))
    # Cross-field rules.
    cross = [(10.0, 10.0, 1), (10.0, 10.5, 1), (10.0, 0.0, 0), (10.0, 0.1, 0), (7, 3, 1), (10.0, 10.000001, 1),
             (16777217, 16777216, 1), (0.1, 0.1, 1), (1e-46, 0, 0)]  # fmt: skip
    for duration, watch, click in cross:
        lines.append(_json({**fresh(good), "video_duration_s": duration, "watch_time_s": watch, "click": click}))
    # Whole-line problems.
    clean = _compact(fresh(good))
    lines += [
        b"", b" ", b"\t\t", b"\x0b", b"\x0c", b"\xc2\xa0", b"\xef\xbb\xbf" + clean, b"\xff\xfe", b"\xc0\xaf",
        b"\xed\xa0\x80", clean[:-1], clean + b"x", clean + clean, b"{", b"}", b"[]", b"null", b"1", b'"x"', b"true",
        b"{}", b"[" * 30_000 + b"]" * 30_000, b'{"a":' * 5_000 + b"1" + b"}" * 5_000, b"\x00",
        clean.replace(b'"user_id"', b'"user_id":"dup","user_id"'), clean.replace(b"}", b',"x":{"k":1,"k":2}}'),
        clean.replace(b'"impression_id"', b'"\\u0069mpression_id"'), clean.replace(b'"mobile"', b'"mob\\u0069le"'),
        clean.replace(b'"user_id":"', b'"user_id":"\xff'), clean.replace(b'"user_id":"', b'"user_id":"\\ud800\\udc00'),
        clean.replace(b'"user_id":"', b'"user_id":"\\ud800'), clean.replace(b'"user_id":"', b'"user_id":"\\u0000'),
        clean.replace(b'"user_id":"', b'"user\xff_id":"'), clean.replace(b":", b" : "), clean.replace(b",", b" ,\n"),
    ]  # fmt: skip
    lines.append(_compact({**fresh(good), "pad": "x" * (65_536 - len(clean) - 10)}))  # exactly at the limit
    pad = b"x" * (65_536 - len(clean) - 10)
    lines.append(clean[:-1] + b',"pad":"' + pad + b'x"}')  # one byte over
    lines.append(clean[:-1] + b',"pad":"' + b"x" * 200_000 + b'"}')
    # The generator's corruption kinds, several of each.
    corrupt_rng = np.random.default_rng(21)
    for corrupt in CORRUPTIONS.values():
        for record in records[300:306]:
            lines.append(corrupt(fresh(record), corrupt_rng).encode("utf-8", "surrogateescape"))
    # Duplicate impression ids: the same line again, and another line with the id of an earlier one.
    for record in records[:30:3]:
        lines.append(encode_record(record).encode())
        lines.append(_json({**records[350], "impression_id": record["impression_id"]}))
    lines.append(_json({**fresh(good), "click": 2, "impression_id": records[5]["impression_id"]}))  # bad: not a dup
    # A line that breaks apart into several lines at its newlines (each judged on its own), then clean lines.
    lines += [encode_record(r).encode() for r in records[360:400]]
    return [line for chunk in lines for line in chunk.split(b"\n")]


def write_corpus(lines: list[bytes], path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(b"\n".join(lines) + b"\n")


def read_corpus_lines(path: str = CORPUS) -> Iterator[tuple[int, bytes, int, bool]]:
    """The corpus as the ingest's line reader yields it: (line number, bounded line, length, intact)."""
    from config.settings import IngestConfig
    from logformat.line_reader import read_log_lines

    return read_log_lines(path, IngestConfig().max_line_bytes)


def digest(serialized: bytes) -> str:
    return hashlib.sha256(serialized).hexdigest()


def read_expected(path: str = EXPECTED) -> list[dict[str, Any]]:
    with open(path) as f:
        return [json.loads(line) for line in f]


def ingest_verdicts(corpus: str, work_dir: str) -> dict[int, str]:
    """Line number -> the Beam ingest's verdict (its quarantine reason, or the split of its example), with every
    example's digest checked against the parser's; runs the ingest on a copy of the corpus under `work_dir`."""
    import shutil

    from config.settings import tiny_preset
    from ingest.run import run_ingest

    logs = os.path.join(work_dir, "logs")
    os.makedirs(os.path.join(logs, os.path.dirname(SOURCE)))
    shutil.copy(corpus, os.path.join(logs, SOURCE))
    examples, quarantine = os.path.join(work_dir, "examples"), os.path.join(work_dir, "quarantine")
    run_ingest(tiny_preset(), logs, examples, quarantine, ["--direct_running_mode=in_memory"])
    verdicts: dict[int, str] = {}
    for name in sorted(os.listdir(quarantine)):
        if name.endswith(".jsonl.gz"):
            with gzip.open(os.path.join(quarantine, name)) as f:
                for raw in f:
                    record = json.loads(raw)
                    assert record["source"] == SOURCE
                    verdicts[record["line_number"]] = record["reason"]
    return verdicts


def example_splits(examples_uri: str) -> dict[str, str]:
    """sha256 of each example written -> its split."""
    import tensorflow as tf

    out = {}
    for split in ("train", "eval"):
        folder = os.path.join(examples_uri, f"Split-{split}")
        for name in sorted(os.listdir(folder)):
            for record in tf.data.TFRecordDataset(os.path.join(folder, name), compression_type="GZIP"):
                out[digest(record.numpy())] = split
    return out


def record_expected() -> None:
    """Writes the corpus and the verdicts of the code as it is now."""
    from config.settings import IngestConfig
    from logformat.parser import check_line, record_to_example

    ingest = IngestConfig()
    write_corpus(corpus_lines(), CORPUS)
    rows = []
    for number, line, _, intact in read_corpus_lines():
        assert intact
        record, reason = check_line(line, ingest)
        if record is None:
            rows.append({"line": number, "reason": reason})
        else:
            serialized = record_to_example(record).SerializeToString(deterministic=True)
            rows.append({"line": number, "example": digest(serialized), "impression_id": record["impression_id"]})
    with tempfile.TemporaryDirectory() as work:
        quarantined = ingest_verdicts(CORPUS, work)
        splits = example_splits(os.path.join(work, "examples"))
    for row in rows:
        row["ingest"] = quarantined.get(row["line"]) or splits[row["example"]]
    with open(EXPECTED, "w") as f:
        f.writelines(json.dumps(row, sort_keys=True) + "\n" for row in rows)


if __name__ == "__main__":
    record_expected()
