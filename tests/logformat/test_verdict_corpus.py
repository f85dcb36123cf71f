"""Every line of the verdict corpus (lines of every quarantine reason plus clean ones: verdict_corpus.py) gets the
verdict recorded from the per-line parser: the same reason, or an example with the same bytes; and through the Beam
ingest the same reason (duplicates included) or the same split."""

from __future__ import annotations

import os

import pytest
from verdict_corpus import CORPUS, SOURCE, digest, example_splits, ingest_verdicts, read_corpus_lines, read_expected

from config.settings import IngestConfig
from logformat.parser import check_line, record_to_example

EXPECTED = read_expected()


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


def test_every_line_gets_the_recorded_verdict():
    ingest = IngestConfig()
    got = []
    for number, line, _, _ in read_corpus_lines():
        record, reason = check_line(line, ingest)
        if record is None:
            got.append({"line": number, "reason": reason})
        else:
            example = digest(record_to_example(record).SerializeToString(deterministic=True))
            got.append({"line": number, "example": example, "impression_id": record["impression_id"]})
    assert got == [{k: v for k, v in row.items() if k != "ingest"} for row in EXPECTED]


@pytest.mark.slow
def test_the_beam_ingest_gives_every_line_the_recorded_verdict(tmp_path):
    quarantined = ingest_verdicts(CORPUS, str(tmp_path))
    splits = example_splits(os.path.join(tmp_path, "examples"))
    expected_quarantine = {row["line"]: row["ingest"] for row in EXPECTED if row["ingest"] not in ("train", "eval")}
    assert quarantined == expected_quarantine
    expected_splits = {row["example"]: row["ingest"] for row in EXPECTED if row["ingest"] in ("train", "eval")}
    assert splits == expected_splits
    assert SOURCE.endswith(".jsonl.gz")
