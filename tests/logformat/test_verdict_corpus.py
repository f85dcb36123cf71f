"""Every line of the verdict corpus (lines of every quarantine reason plus clean ones: verdict_corpus.py) gets the
verdict recorded from the per-line parser before the columnar ingest: the same reason, or an example with the same
bytes, from the columnar ingest in batches of any size and from the per-line reference; and through the Beam ingest
the same reason (duplicates included) or the same split."""

from __future__ import annotations

import os
from collections import Counter

import pytest
from verdict_corpus import CORPUS, SOURCE, digest, example_splits, ingest_verdicts, read_corpus_lines, read_expected

from config.settings import IngestConfig
from logformat.columnar import judge_lines
from logformat.parser import check_line, record_to_example
from logformat.validate import validate_logs

EXPECTED = read_expected()
INGEST = IngestConfig()


def test_the_corpus_holds_every_kind_of_verdict():
    reasons = {row.get("reason") for row in EXPECTED}
    kinds = {reason.split(":")[0] for reason in reasons if reason}
    assert kinds >= {
        *("invalid_utf8", "invalid_json", "duplicate_key", "not_an_object", "empty_line", "oversized_line"),
        *("missing_field", "null_field", "wrong_type", "empty_field", "oversized_field", "unknown_enum"),
        *("non_finite", "out_of_range", "negative", "watch_time_exceeds_duration", "watch_without_click"),
    }
    assert sum(row.get("reason") is None for row in EXPECTED) > 500
    assert sum(row["ingest"] == "duplicate_impression_id" for row in EXPECTED) > 10


def _rows(numbers: list[int], verdicts: list[tuple[str | None, str | None, bytes | None]]) -> list[dict]:
    out = []
    for number, (reason, impression_id, example) in zip(numbers, verdicts):
        if reason is not None:
            out.append({"line": number, "reason": reason})
        else:
            out.append({"line": number, "example": digest(example), "impression_id": impression_id})
    return out


LINE_VERDICTS = [{k: v for k, v in row.items() if k != "ingest"} for row in EXPECTED]


@pytest.mark.parametrize("batch", [13, 256, 1024, 100_000])
def test_every_line_gets_the_recorded_verdict_in_batches_of_any_size(batch):
    numbers, lines = zip(*((number, line) for number, line, _, _ in read_corpus_lines()))
    verdicts = [v for start in range(0, len(lines), batch) for v in judge_lines(lines[start : start + batch], INGEST)]
    assert _rows(list(numbers), verdicts) == LINE_VERDICTS


def test_the_per_line_reference_gives_the_recorded_verdicts():
    numbers, verdicts = [], []
    for number, line, _, _ in read_corpus_lines():
        record, reason = check_line(line, INGEST)
        numbers.append(number)
        if record is None:
            verdicts.append((reason, None, None))
        else:
            example = record_to_example(record).SerializeToString(deterministic=True)
            verdicts.append((None, record["impression_id"], example))
    assert _rows(numbers, verdicts) == LINE_VERDICTS


@pytest.mark.slow
def test_the_beam_ingest_gives_every_line_the_recorded_verdict(tmp_path):
    quarantined = ingest_verdicts(CORPUS, str(tmp_path))
    splits = example_splits(os.path.join(tmp_path, "examples"))
    expected_quarantine = {row["line"]: row["ingest"] for row in EXPECTED if row["ingest"] not in ("train", "eval")}
    assert quarantined == expected_quarantine
    expected_splits = {row["example"]: row["ingest"] for row in EXPECTED if row["ingest"] in ("train", "eval")}
    assert splits == expected_splits
    assert SOURCE.endswith(".jsonl.gz")


def test_validate_logs_gives_the_recorded_verdicts():
    report = validate_logs([CORPUS], INGEST, samples=1)
    quarantined = Counter(row["ingest"] for row in EXPECTED if row["ingest"] not in ("train", "eval"))
    assert report.reasons == quarantined
    assert report.good == sum(row["ingest"] in ("train", "eval") for row in EXPECTED)
    assert report.total == len(EXPECTED)
