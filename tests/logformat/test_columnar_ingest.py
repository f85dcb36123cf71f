"""The columnar ingest gives exactly what the per-line reference gives.

* `judge_lines` (Arrow table, vectorized checks, the batch encoder; per line what it cannot read) must give every
  line the verdict of `check_line` + `record_to_example(...).SerializeToString(deterministic=True)`, the same reason
  or the same bytes, whatever the batch (handmade boundary values, JSON tokens, generated lines, hypothesis).
* `encode_examples` (numpy, a batch at a time) must give byte for byte
  `record_to_example(r).SerializeToString(deterministic=True)`.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.settings import IngestConfig, tiny_preset
from logformat import columnar
from logformat.columnar import judge_lines
from logformat.parser import check_line, encode_examples, record_to_example, validate_record
from logformat.schema import FIELD_TYPES, WORLD_FIELDS
from world.simulator import World

INGEST = IngestConfig()
WORLD = dataclasses.replace(tiny_preset().world, missing_rate=0.3)
RECORDS = list(World(WORLD).generate_shard(0, 0))[:300]
GOOD = RECORDS[0]
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

BOUNDARY_VALUES = [
    None, True, False, 0, 1, -1, 2, 5, 6, 23, 24, 0.0, -0.0, 0.5, 1.0, 1.5, -0.5, 5e-324, 86_400, 86_400.0,
    86_400.5, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 3.4e38, 3.5e38, 1e300, math.inf, -math.inf,
    math.nan, "", "x", "x" * 256, "x" * 257, "\ud800", "é", "mobile", "home", "en", "13-17", [], {}, [1], {"a": 1},
]  # fmt: skip
FIELDS = sorted({*FIELD_TYPES, *WORLD_FIELDS, *(k for k in GOOD if k.startswith("f_")), "zz_unknown"})


def reference(line: bytes, ingest: IngestConfig = INGEST) -> tuple[str | None, str | None, bytes | None]:
    """The per-line verdict: check_line, then the deterministic bytes of record_to_example."""
    record, reason = check_line(line, ingest)
    if record is None:
        return reason, None, None
    return None, record["impression_id"], record_to_example(record).SerializeToString(deterministic=True)


def assert_same_verdicts(lines: list[bytes], ingest: IngestConfig = INGEST, sizes: tuple[int, ...] = (1, 3)) -> None:
    expected = [reference(line, ingest) for line in lines]
    for size in (*sizes, len(lines) or 1):
        got = [v for start in range(0, len(lines), size) for v in judge_lines(lines[start : start + size], ingest)]
        assert got == expected, size


def line_of(record: dict) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")


def test_generated_lines_are_read_as_columns():
    lines = [line_of(r) for r in RECORDS]
    assert_same_verdicts(lines, sizes=(7,))
    accepted: list = [None] * len(lines)
    columnar._columnar(lines, INGEST, accepted)
    assert all(v is not None for v in accepted)  # none left to the per-line path
    assert sum(value is None for record in RECORDS for value in record.values()) > 0  # missing values included


@pytest.mark.parametrize("field", FIELDS)
def test_every_boundary_value_gets_the_reference_verdict(field):
    lines = [line_of({**GOOD, field: value}) for value in BOUNDARY_VALUES]
    assert_same_verdicts([*lines, line_of({k: v for k, v in GOOD.items() if k != field}), *lines[:3]])


TOKENS = [b"NaN", b"Infinity", b"1e400", b"1E2", b"-0", b"-0.0", b"0e0", b"1.0", b"00", b"9223372036854775807",
          b"9223372036854775808", b"true", b'"1"', b"1e-400"]  # fmt: skip


@pytest.mark.parametrize("token", TOKENS)
def test_json_number_tokens_get_the_reference_verdict(token):
    fields = ("timestamp", "click", "video_duration_s", "watch_time_s", "survey_rating", "video_ctr", "f_dense_000")
    lines = [line_of({**GOOD, field: "@@"}).replace(b'"@@"', token) for field in fields]
    assert_same_verdicts([line_of(GOOD), *lines, line_of(RECORDS[1])])


@pytest.mark.parametrize("max_field_chars", [1, 2, 5, 8, 256])
def test_field_size_bounds_follow_the_config(max_field_chars):
    ingest = dataclasses.replace(INGEST, max_field_chars=max_field_chars)
    assert_same_verdicts([line_of(r) for r in RECORDS[:50]], ingest)


def test_missing_extra_repeated_and_reordered_keys_get_the_reference_verdict():
    lines = [line_of({k: v for k, v in GOOD.items() if k != field}) for field in FIELD_TYPES]
    lines.append(line_of({**GOOD, "a_newer_field": {"nested": [1, 2]}, "f_dense_999": 1.5}))
    lines.append(line_of({**GOOD, "f_cat_1234": 3}))  # not a generated name: an unknown field
    lines.append(line_of(GOOD).replace(b'"user_id"', b'"user_id":"u1","user_id"'))
    lines.append(line_of(dict(reversed(list(GOOD.items())))))
    lines.append(line_of({k: v for k, v in GOOD.items() if not k.startswith("f_")}))
    lines.append(line_of(GOOD)[:-1] + b',"x":"}"}')
    assert_same_verdicts([line_of(r) for r in RECORDS[:5]] + lines + [line_of(r) for r in RECORDS[5:10]])


def test_lines_with_unknown_scalar_fields_are_read_as_columns():
    lines = [line_of({**r, "trace": f"t{i}", "zz": i, "ok": True}) for i, r in enumerate(RECORDS[:20])]
    lines += [line_of({**RECORDS[20], "trace": 5, "zz": 1, "ok": True})]  # another type: judged on its own
    lines += [line_of({**RECORDS[21], "trace": "x", "zz": 1})]  # a key less
    lines += [line_of({**RECORDS[22], "trace": "x", "zz": 1, "ok": True}).replace(b'"zz"', b'"zz":1,"zz"')]
    assert_same_verdicts(lines)
    accepted: list = [None] * len(lines)
    columnar._columnar(lines, INGEST, accepted)
    assert all(v is not None for v in accepted[:20]) and accepted[21:] == [None, None]


def test_escaped_strings_get_the_reference_verdict():
    values = ["é", "日本", "\U0001f600", "a/b", "a\\b", "tab\tend", "\x00", "\ud800", "\udc00x", 'q"uote']
    lines = [json.dumps({**r, "f_cat_000": v}).encode() for r, v in zip(RECORDS, values)]  # \uXXXX escapes
    lines.append(line_of(GOOD).replace(b'"user_id"', b'"\\u0075ser_id"'))
    lines.append(line_of(GOOD).replace(b'"mobile"', b'"mob\\u0069le"'))
    assert_same_verdicts(lines)
    accepted: list = [None] * len(lines)
    columnar._columnar(lines, INGEST, accepted)
    assert all(v is not None for v in accepted[:7])  # escaped non-ASCII, slash, backslash, tab, NUL: read as columns


def test_cross_field_rules_get_the_reference_verdict():
    lines = []
    for duration, watch, click in [(10.0, 10.0, 1), (10.0, 10.5, 1), (10.0, 0.0, 0), (10.0, 0.1, 0), (7, 3, 1)]:
        lines.append(line_of({**GOOD, "video_duration_s": duration, "watch_time_s": watch, "click": click}))
    assert_same_verdicts(lines)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=300)
    | st.sampled_from(BOUNDARY_VALUES),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=4),
            st.sets(st.sampled_from(FIELDS), max_size=2),
        ),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([1, 4, 256]),
)
def test_fuzz_columnar_verdicts_agree_with_the_reference(changes, max_field_chars):
    ingest = dataclasses.replace(INGEST, max_field_chars=max_field_chars)
    lines = [line_of(RECORDS[2])]
    for changed, removed in changes:
        lines.append(line_of({k: v for k, v in {**GOOD, **changed}.items() if k not in removed}))
    assert_same_verdicts(lines, ingest, sizes=(2,))


@FUZZ
@given(st.lists(st.binary(max_size=64), min_size=1, max_size=4), st.integers(0, 10**6))
def test_fuzz_damaged_lines_agree_with_the_reference(garbage, seed):
    lines = [line_of(r) for r in RECORDS[:4]]
    for i, junk in enumerate(garbage):
        line = lines[i % len(lines)]
        at = seed % len(line)
        lines.append(line[:at] + junk + line[at + seed % 7 :])
    assert_same_verdicts(lines, sizes=(2,))


def test_a_batch_that_fails_to_parse_costs_a_bounded_number_of_reads_per_parse_chunk(monkeypatch):
    """Every plain line of the batch fails Arrow's parse (a string where an int belongs): the parse gives up after
    _MAX_PARSE_FAILURES failures per PARSE_ROWS lines, so the reads grow with the batch, not with its square, and
    every line still gets the reference verdict."""
    monkeypatch.setattr(columnar, "PARSE_ROWS", 64)
    lines = [line_of({**r, "click": "x"}) for r in RECORDS]
    reads = []
    real_read = columnar._read
    monkeypatch.setattr(columnar, "_read", lambda rows, schema: reads.append(len(rows)) or real_read(rows, schema))
    assert judge_lines(lines, INGEST) == [reference(line) for line in lines]
    chunks = -(-len(lines) // columnar.PARSE_ROWS)
    assert len(reads) <= chunks * (2 * columnar._MAX_PARSE_FAILURES + 1) + 2
    assert max(reads) <= columnar.PARSE_ROWS  # a failure parses again at most PARSE_ROWS lines, whatever the batch


def test_the_layout_cache_stays_bounded():
    for i in range(columnar._MAX_CACHED_LAYOUTS + 8):
        judge_lines([line_of({**GOOD, f"f_dense_{i % 1000:03d}": 1.0, "user_language": None})], INGEST)
    assert len(columnar._LAYOUTS) <= columnar._MAX_CACHED_LAYOUTS


# -- the batch encoder -------------------------------------------------------------------------------------------


def reference_bytes(records: list[dict]) -> list[bytes]:
    return [record_to_example(r).SerializeToString(deterministic=True) for r in records]


def test_batch_encoder_gives_the_deterministic_bytes_of_record_to_example():
    assert encode_examples(RECORDS) == reference_bytes(RECORDS)
    assert encode_examples(RECORDS[:1]) == reference_bytes(RECORDS[:1])
    assert encode_examples([]) == []


def test_batch_encoder_handles_wide_values_nulls_and_unicode():
    records = [
        {**GOOD, "timestamp": 2**63 - 1, "video_views": 2**35, "position": 127, "hour_of_day": 0},
        {**GOOD, "user_id": "ü" * 200, "video_id": "v" * 300, "country": "日本", "video_duration_s": 600},
        {**GOOD, "survey_rating": None, "video_age_days": 0, "watch_time_s": 0, "click": 0},
        {**GOOD, **{k: None for k in GOOD if k.startswith("f_")}, "user_language": None},
        {**GOOD, "video_age_days": 2**60 + 1, "user_topic_share": 1e-40, "f_dense_000": -9e18},
    ]
    for record in records:
        assert validate_record(record, dataclasses.replace(INGEST, max_field_chars=1000)) is None
    assert encode_examples(records) == reference_bytes(records)


def test_batch_encoder_falls_back_per_record_when_world_fields_differ():
    records = [RECORDS[1], {k: v for k, v in RECORDS[2].items() if k != "f_dense_000"}, RECORDS[3]]
    assert encode_examples(records) == reference_bytes(records)


@FUZZ
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "timestamp": st.integers(0, 2**63 - 1),
                "video_views": st.integers(0, 2**63 - 1),
                "video_age_days": st.floats(0, 1e18) | st.integers(0, 2**62),
                "f_dense_000": st.none() | st.floats(-9e18, 3.4e38),
                "f_cat_000": st.none() | st.text(min_size=1, max_size=40),
                "user_id": st.text(min_size=1, max_size=200),
            }
        ),
        min_size=1,
        max_size=20,
    )
)
def test_fuzz_batch_encoder_matches_record_to_example(changes):
    records = []
    for change in changes:
        record = {**GOOD, **change}
        if validate_record(record, dataclasses.replace(INGEST, max_field_chars=1000)) is None:
            records.append(record)
    assert encode_examples(records) == reference_bytes(records)


# -- duplicates and the benchmark's report --------------------------------------------


def test_duplicate_lines_are_read_again_from_their_file(tmp_path):
    from ingest.dofns import _QuarantineDuplicatesFn  # noqa: PLC2701 - the DoFn under test
    from ingest.errors import IngestError

    path = str(tmp_path / "logs-00000-of-00001.jsonl.gz")
    with gzip.open(path, "wb") as f:
        f.write(b"first\nsecond\r\nthird\n")
    fn = _QuarantineDuplicatesFn(INGEST, {"f": path})
    records = [json.loads(r) for r in fn.process(("f", [(3, "g:1"), (2, "g:7")]))]
    assert [(r["line_number"], r["line"], r["duplicate_of"], r["reason"]) for r in records] == [
        (2, "second", "g:7", "duplicate_impression_id"),
        (3, "third", "g:1", "duplicate_impression_id"),
    ]
    with pytest.raises(IngestError, match="changed while it was ingested"):
        list(fn.process(("f", [(4, "g:1")])))


def test_benchmark_markdown_renders_generation_and_ingest():
    from benchmarks.generation_bench import markdown

    row = {"seconds": 2.0, "records": 100, "records_per_s": 50, "load_average_before": 1.0, "load_average_after": 1.5}
    summary = {
        "preset": "tiny",
        "records_per_day": 100,
        "fields_per_record": 31,
        "shards": 2,
        "cpus": 2,
        "python": "3.10",
        "beam": "2.59.0",
        "target_records_per_s": 50_000,
        "identical": True,
        "command": "python -m benchmarks.generation_bench",
        "results": [{**row, "mode": "single"}, {**row, "mode": "in_memory", "records_per_s": 25}],
    }
    text = markdown(summary)  # a summary from before the ingest was measured
    assert "| in_memory | Beam DirectRunner, in_memory, 1 worker | 2.0 | 25 | 0.50x | 1.0 / 1.5 |" in text
    assert "## Ingest" not in text
    compared = {"identical": True, "examples_equal_as": "bytes"}
    ingest = {"records": 100, "good": 99, "quarantined": 1, "compared": compared}
    ingest["results"] = [{**row, "mode": "in_memory", "good": 99, "quarantined": 1}]
    text = markdown({**summary, "ingest": ingest})
    assert "## Ingest" in text and "100 lines (99 examples, 1 quarantined)" in text
    assert "quarantine: True (examples equal as bytes)" in text
