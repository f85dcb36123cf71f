"""counts.json: the counts of every step summed into totals per split and per reason, read back, and checked
against `IngestConfig.max_bad_fraction`."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import tensorflow as tf

from config.settings import IngestConfig
from ingest.dofns import EMPTY_FILE_REASON, UNREADABLE_FILE_REASON
from ingest.errors import BadRecordsError
from ingest.layout import QUARANTINE_COUNTS_FILE, SPLITS, join

TOP_REASONS_IN_ERROR = 5


def _issue_counts(record: str) -> dict[str, int]:
    return {f"reason:{json.loads(record)['reason']}": 1}


class _SumCounts(beam.CombineFn):
    """Sums dicts of counts ('split:train', 'reason:invalid_json', ...) into one dict."""

    def create_accumulator(self) -> Counter[str]:
        return Counter()

    def add_input(self, acc: Counter[str], counts: dict[str, int]) -> Counter[str]:
        acc.update(counts)
        return acc

    def merge_accumulators(self, accumulators: Iterable[Counter[str]]) -> Counter[str]:
        merged: Counter[str] = Counter()
        for acc in accumulators:
            merged.update(acc)
        return merged

    def extract_output(self, acc: Counter[str]) -> dict[str, int]:
        return dict(acc)


def summarize_counts(labels: dict[str, int]) -> dict[str, Any]:
    """counts.json from label counts: totals, per split and per reason."""
    splits = {split: labels.get(f"split:{split}", 0) for split in SPLITS}
    reasons = {k.split(":", 1)[1]: v for k, v in labels.items() if k.startswith("reason:")}
    good, quarantined = sum(splits.values()), sum(reasons.values())
    total = good + quarantined
    return {
        "total": total,
        "good": good,
        "quarantined": quarantined,
        "bad_fraction": quarantined / total if total else 0.0,
        "splits": splits,
        "reasons": dict(sorted(reasons.items())),
    }


def read_counts(quarantine_uri: str) -> dict[str, Any]:
    """The counts.json written by IngestLogs."""
    with tf.io.gfile.GFile(join(quarantine_uri, QUARANTINE_COUNTS_FILE)) as handle:
        return json.loads(handle.read())


def check_bad_fraction(counts: dict[str, Any], ingest: IngestConfig, quarantine_uri: str) -> None:
    """Raises BadRecordsError when there are no lines, or quarantined / total > max_bad_fraction."""
    total, quarantined = counts["total"], counts["quarantined"]
    empty, unreadable = (counts["reasons"].get(r, 0) for r in (EMPTY_FILE_REASON, UNREADABLE_FILE_REASON))
    if total == empty + unreadable:
        raise BadRecordsError(
            f"LogIngest: the logs contain no lines at all ({empty} empty and {unreadable} unreadable log files)"
        )
    if counts["bad_fraction"] <= ingest.max_bad_fraction:
        return
    worst = sorted(counts["reasons"].items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_REASONS_IN_ERROR]
    described = ", ".join(f"{reason} ({count}, {count / quarantined:.0%})" for reason, count in worst)
    raise BadRecordsError(
        f"LogIngest: {quarantined} of {total} log records ({counts['bad_fraction']:.2%}) were quarantined, "
        f"above ingest.max_bad_fraction={ingest.max_bad_fraction:.2%}. Worst reasons: {described}. "
        f"The quarantined lines and counts.json are under {quarantine_uri}"
    )
