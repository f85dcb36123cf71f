"""Bad input at the ingest: fuzzed parser and line reader (hypothesis), and one Beam run over handmade logs holding
every file- and set-level kind of bad input (duplicates, empty, truncated and corrupt files, oversized and CRLF
lines), each quarantined with its reason, counted, and kept."""

from __future__ import annotations

import gzip
import io
import json
import os
import random

import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.settings import IngestConfig, tiny_preset
from ingest.counts import read_counts
from ingest.dofns import DUPLICATE_REASON, EMPTY_FILE_REASON, QUARANTINE_REASONS, UNREADABLE_FILE_REASON
from ingest.layout import day_dir
from ingest.run import run_ingest
from logformat.line_reader import read_bounded_lines
from logformat.parser import REASONS, parse_line
from logformat.schema import FIELD_TYPES
from world.simulator import World

INGEST = IngestConfig()
GOOD = next(World(tiny_preset().world).generate_shard(0, 0))  # a valid record, as the logger writes it
BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_result(result) -> None:
    """Exactly one of example / reason, and the reason from the fixed vocabulary; never the parser's own bug."""
    assert (result.example is None) != (result.reason is None)
    if result.reason is not None:
        assert result.reason in REASONS, result.reason
        assert result.reason != "internal_error"  # the catch-all hides a parser bug: no input may reach it
    else:
        assert isinstance(result.impression_id, str) and result.impression_id


# -- the parser never raises ----------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=4096))
def test_fuzz_arbitrary_bytes_become_an_example_or_a_reason(data):
    check_result(parse_line(data, INGEST))


@FUZZ
@given(st.text(max_size=2048))
def test_fuzz_arbitrary_text_becomes_an_example_or_a_reason(text):
    check_result(parse_line(text, INGEST))


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=300),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(
    st.dictionaries(st.sampled_from(sorted(FIELD_TYPES)), JSON_VALUES, max_size=6),
    st.sets(st.sampled_from(sorted(FIELD_TYPES)), max_size=2),
)
def test_fuzz_near_valid_records(changes, removed):
    """A valid record with some fields replaced by arbitrary JSON values and some removed: deep in the
    validator, where a type confusion would raise."""
    record = {k: v for k, v in {**GOOD, **changes}.items() if k not in removed}
    line = json.dumps(record)  # NaN/Infinity tokens included, as some loggers write them
    result = parse_line(line.encode("utf-8", "surrogatepass"), INGEST)
    check_result(result)
    if not changes and not removed:
        assert result.ok


@FUZZ
@given(st.binary(max_size=64), st.integers(0, 200), st.integers(0, 400))
def test_fuzz_bytes_spliced_into_a_valid_line(garbage, at, cut):
    line = json.dumps(GOOD).encode()
    check_result(parse_line(line[:at] + garbage + line[at + cut :], INGEST))


# -- the line reader: same lines as bytes.split, bounded memory --------------------------------------------------


def reference_lines(data: bytes, max_line_bytes: int) -> list[tuple[int, bytes, int]]:
    pieces = data.split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()  # a trailing newline does not start another line
    out = []
    for number, piece in enumerate(pieces, start=1):
        if piece.endswith(b"\r"):
            piece = piece[:-1]
        out.append((number, piece[: max_line_bytes + 1], len(piece)))
    return out


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=600) | st.lists(st.sampled_from([b"a", b"\n", b"\r", b"xyz"]), max_size=80).map(b"".join),
    st.integers(0, 20),
    st.integers(1, 17),
)
def test_fuzz_read_bounded_lines_matches_split(data, max_line_bytes, chunk_bytes):
    got = list(read_bounded_lines(io.BytesIO(data), max_line_bytes, chunk_bytes))
    assert got == reference_lines(data, max_line_bytes)


class EndlessLine(io.RawIOBase):
    """A file of `size` bytes of b"x" (no newline), produced on demand: never materialised."""

    def __init__(self, size: int):
        self.left = size
        self.largest_read = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        self.largest_read = max(self.largest_read, n)
        return b"x" * n


def test_a_huge_line_is_never_held_in_memory():
    handle = EndlessLine(256 << 20)  # 256 MiB on one line
    [(number, kept, size)] = read_bounded_lines(handle, max_line_bytes=1000)
    assert (number, len(kept), size) == (1, 1001, 256 << 20)
    assert handle.largest_read <= 1 << 20
    assert parse_line(kept, IngestConfig(max_line_bytes=1000)).reason == "oversized_line"


# -- the Beam ingest over handmade logs -------------------------------------------------------------------------


def line(**changes) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


def write(path: str, data: bytes, compress: bool = True) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(gzip.compress(data, mtime=0) if compress else data)


@pytest.fixture(scope="module")
def handmade(tmp_path_factory):
    """Two days of logs with every file- and set-level problem, ingested once."""
    root = str(tmp_path_factory.mktemp("bad_input"))
    logs = os.path.join(root, "logs")
    day0, day1 = day_dir(logs, 0), day_dir(logs, 1)
    a, b, c = line(impression_id="a"), line(impression_id="b"), line(impression_id="c")
    b_again_different = line(impression_id="b", position=7)  # same id, different content
    write(f"{day0}/logs-00000-of-00004.jsonl.gz", b"\n".join([a, b, a, b_again_different, c]) + b"\n")
    huge = line(impression_id="h", debug="x" * 200_000)
    crlf = line(impression_id="crlf")
    write(f"{day0}/logs-00001-of-00004.jsonl", huge + b"\n" + crlf + b"\r\n" + b"not json\r\n", compress=False)
    write(f"{day0}/logs-00002-of-00004.jsonl.gz", b"", compress=False)  # 0 bytes: a writer that died at once
    write(f"{day0}/logs-00003-of-00004.jsonl.gz", b"")  # a valid gzip stream holding nothing
    intact = b"\n".join([line(impression_id=f"t{i}") for i in range(50)]) + b"\n"
    noise = bytes(random.Random(0).choices(range(32, 127), k=100_000))  # incompressible, no newline
    truncated = gzip.compress(intact + noise, mtime=0)[:-4000]  # cut inside the stream
    write(f"{day1}/logs-00000-of-00003.jsonl.gz", truncated, compress=False)
    write(f"{day1}/logs-00001-of-00003.jsonl.gz", b"this is not gzip\n", compress=False)
    write(f"{day1}/logs-00002-of-00003.jsonl.gz", c + b"\n" + line(impression_id="d"))  # c again, next day
    config = tiny_preset().replace(ingest=IngestConfig(eval_fraction=0.5, max_line_bytes=65_536))
    counts = run_ingest(config, logs, f"{root}/examples", f"{root}/quarantine", BEAM_ARGS)
    return root, counts


def read_quarantine(root: str) -> list[dict]:
    records = []
    for name in sorted(os.listdir(f"{root}/quarantine")):
        if name.startswith("quarantined-"):
            with gzip.open(f"{root}/quarantine/{name}", "rt", encoding="utf-8") as handle:
                records += [json.loads(text) for text in handle if text.strip()]
    return records


def read_examples(root: str) -> dict[str, tf.train.Example]:
    files = tf.io.gfile.glob(f"{root}/examples/Split-*/data_tfrecord-*.gz")
    examples = {}
    for raw in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        example = tf.train.Example.FromString(raw.numpy())
        impression_id = example.features.feature["impression_id"].bytes_list.value[0].decode()
        assert impression_id not in examples, f"{impression_id} written twice"
        examples[impression_id] = example
    return examples


def test_each_kind_is_quarantined_with_its_reason_and_counted(handmade):
    root, counts = handmade
    [truncated] = [r for r in read_quarantine(root) if r["source"] == "day=00001/logs-00000-of-00003.jsonl.gz"]
    assert truncated["reason"] == UNREADABLE_FILE_REASON
    assert truncated["line_number"] == 50  # the 50 lines before the damage were read and kept
    assert counts["reasons"] == {
        DUPLICATE_REASON: 3,  # a (exact repeat), b (different content), c (next day's file)
        EMPTY_FILE_REASON: 2,  # 0-byte .gz and empty gzip stream
        UNREADABLE_FILE_REASON: 2,  # truncated gzip, not gzip at all
        "oversized_line": 1,
        "invalid_json": 1,
    }
    assert counts["good"] == 5 + 50  # a, b, c, crlf, d and the truncated file's intact lines
    assert counts["total"] == counts["good"] + counts["quarantined"] == counts["good"] + 9
    assert set(counts["reasons"]) <= QUARANTINE_REASONS


def test_duplicates_keep_the_first_in_log_order(handmade):
    root, _ = handmade
    examples = read_examples(root)
    assert {"a", "b", "c", "crlf", "d"} <= set(examples) and "h" not in set(examples)
    position = examples["b"].features.feature["position"].int64_list.value[0]
    assert position == GOOD["position"]  # the first b, not the later one with position 7
    duplicates = sorted(
        (r["source"], r["line_number"], r["duplicate_of"])
        for r in read_quarantine(root)
        if r["reason"] == DUPLICATE_REASON
    )
    first_file = "day=00000/logs-00000-of-00004.jsonl.gz"
    assert duplicates == [
        (first_file, 3, f"{first_file}:1"),
        (first_file, 4, f"{first_file}:2"),
        ("day=00001/logs-00002-of-00003.jsonl.gz", 1, f"{first_file}:5"),
    ]


def test_quarantine_records_are_kept_for_inspection(handmade):
    root, _ = handmade
    records = read_quarantine(root)
    by_reason = {r["reason"]: r for r in records}
    oversized = by_reason["oversized_line"]
    assert oversized["truncated"] and oversized["line_bytes"] > 200_000 and len(oversized["line"]) == 65_536
    assert (oversized["source"], oversized["line_number"]) == ("day=00000/logs-00001-of-00004.jsonl", 1)
    assert by_reason["invalid_json"]["line"] == "not json" and by_reason["invalid_json"]["line_number"] == 3
    empties = sorted(r["source"] for r in records if r["reason"] == EMPTY_FILE_REASON)
    assert empties == ["day=00000/logs-00002-of-00004.jsonl.gz", "day=00000/logs-00003-of-00004.jsonl.gz"]
    unreadable = {r["source"]: r["line"] for r in records if r["reason"] == UNREADABLE_FILE_REASON}
    assert unreadable["day=00001/logs-00001-of-00003.jsonl.gz"].startswith("BadGzipFile")
    assert unreadable["day=00001/logs-00000-of-00003.jsonl.gz"].startswith("EOFError")
    assert read_counts(f"{root}/quarantine")["quarantined"] == len(records)
