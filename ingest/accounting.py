"""The accounting: every line read is an example or a quarantined record on disk.

counts.json travels the same channel as the data, so it cannot see data lost on the way. The accounting does not:
_ReadFileFn counts each file's records read and _KeepFirstFn each file's examples handed to the writers in Beam
metrics counters, which runners report outside the data plane (the FnApiRunner in the bundle's control-plane
response); after the run they are compared with what is on disk, read back: the examples in the Split-* files and
the quarantined records per source file.
"""

from __future__ import annotations

import gzip
import json
import logging
import struct
import zlib
from collections import Counter
from typing import Any

import tensorflow as tf
from apache_beam.metrics.metric import MetricsFilter

from ingest.errors import AccountingError
from ingest.layout import EXAMPLES_FILE_PREFIX, QUARANTINE_FILE_PREFIX, join

# The accounting (Beam metrics: reported by the runner outside the data plane, read after the run).
ACCOUNTING_NAMESPACE = "ranker.ingest"
RECORDS_READ_PREFIX = "records_read:"  # per file: its lines, plus one per file-level record (empty or unreadable)
EXAMPLES_KEPT_PREFIX = "examples_kept:"  # per file: the examples the duplicate check passed on to the writers

log = logging.getLogger(__name__)


def accounting_counters(result: Any) -> dict[str, int]:
    """The accounting counters of a finished pipeline run (committed values, attempted where a runner has none)."""
    found = result.metrics().query(MetricsFilter().with_namespace(ACCOUNTING_NAMESPACE))["counters"]
    out: dict[str, int] = {}
    for counter in found:
        try:
            value = counter.committed
        except Exception:  # noqa: BLE001 - some runners do not support committed metrics
            value = None
        if value is None:
            value = counter.attempted
        out[counter.key.metric.name] = out.get(counter.key.metric.name, 0) + int(value or 0)
    return out


def count_written_examples(examples_uri: str) -> int:
    """The number of records in the examples' gzipped TFRecord files, read back: each file is inflated in chunks and
    walked from record header to record header (lengths only; ~3 us per example)."""
    total = 0
    for path in tf.io.gfile.glob(join(examples_uri, "Split-*", f"{EXAMPLES_FILE_PREFIX}-*")):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        skip, pending = 0, b""  # bytes of the current record still to pass; a partial header
        with tf.io.gfile.GFile(path, "rb") as raw:
            while chunk := raw.read(1 << 20):
                data = pending + inflater.decompress(chunk)
                pos, end = min(skip, len(data)), len(data)
                skip -= pos
                while skip == 0 and pos + 8 <= end:
                    (length,) = _LENGTH.unpack_from(data, pos)
                    total += 1
                    step = 16 + length  # length, its crc, the record, its crc
                    if pos + step > end:
                        skip = pos + step - end
                        pos = end
                        break
                    pos += step
                pending = data[pos:] if skip == 0 else b""
        if pending or skip or not inflater.eof:
            raise AccountingError(f"LogIngest: {path} ends inside a record ({len(pending)} bytes, {skip} missing)")
    return total


_LENGTH = struct.Struct("<Q")


def count_quarantined(quarantine_uri: str) -> Counter[str]:
    """Quarantined records on disk per source file, read back."""
    per_source: Counter[str] = Counter()
    for path in tf.io.gfile.glob(join(quarantine_uri, f"{QUARANTINE_FILE_PREFIX}-*")):
        with tf.io.gfile.GFile(path, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as handle:
            for line in handle:
                if line.strip():
                    per_source[json.loads(line)["source"]] += 1
    return per_source


def check_accounting(
    counters: dict[str, int], examples_uri: str, quarantine_uri: str, counts: dict[str, Any] | None = None
) -> dict[str, int]:
    """Raises AccountingError unless, for every file, records read = examples kept + records quarantined on disk, the
    examples on disk are the examples kept, and counts.json agrees. Returns the totals."""
    read = {k[len(RECORDS_READ_PREFIX) :]: v for k, v in counters.items() if k.startswith(RECORDS_READ_PREFIX)}
    kept = {k[len(EXAMPLES_KEPT_PREFIX) :]: v for k, v in counters.items() if k.startswith(EXAMPLES_KEPT_PREFIX)}
    quarantined = count_quarantined(quarantine_uri)
    problems = []
    for source in sorted(set(read) | set(kept) | set(quarantined)):
        lines, good, bad = read.get(source, 0), kept.get(source, 0), quarantined.get(source, 0)
        if lines != good + bad:
            problems.append(f"{source}: {lines} read, {good} examples + {bad} quarantined = {good + bad}")
    written = count_written_examples(examples_uri)
    if written != sum(kept.values()):
        problems.append(f"examples: {sum(kept.values())} passed to the writers, {written} on disk")
    totals = {"read": sum(read.values()), "examples": written, "quarantined": sum(quarantined.values())}
    if counts is not None and (counts["total"], counts["good"]) != (totals["read"], totals["examples"]):
        problems.append(
            f"counts.json: total {counts['total']} and good {counts['good']}, but {totals['read']} records read and "
            f"{totals['examples']} examples written"
        )
    if problems:
        shown = "; ".join(problems[:10]) + (f"; ... ({len(problems) - 10} more)" if len(problems) > 10 else "")
        raise AccountingError(f"LogIngest: lines were lost between reading and writing: {shown}")
    log.info(
        "LogIngest accounting: %(read)d records read = %(examples)d examples + %(quarantined)d quarantined", totals
    )
    return totals
