"""The ingest pipeline's steps: read each file in batches of lines, parse them, keep the first record of each
impression id in its split, and read duplicates again to quarantine them; with the split, the duplicate check's
bucket and the quarantine record they share (the pipeline itself: ingest/run.py).
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.metrics.metric import Metrics

from config.settings import IngestConfig
from ingest.accounting import ACCOUNTING_NAMESPACE, EXAMPLES_KEPT_PREFIX, RECORDS_READ_PREFIX
from ingest.errors import IngestError
from ingest.layout import SPLITS
from ingest.sink import tfrecord_bytes
from logformat.columnar import judge_lines
from logformat.fingerprint import fingerprint64
from logformat.line_reader import READ_ERRORS, read_log_lines
from logformat.parser import REASONS

SPLIT_BUCKETS = 10_000
BATCH_SIZE = 1_024  # lines parsed and encoded together (and examples written together)
BATCH_BYTES = 8 << 20  # a batch of lines also ends once it holds this many bytes
DEDUP_BUCKETS = 64  # keys of the duplicate check's GroupByKey (each id falls in exactly one)
# Quarantine reasons decided by the ingest rather than by the line parser.
DUPLICATE_REASON = "duplicate_impression_id"
EMPTY_FILE_REASON = "empty_file"
UNREADABLE_FILE_REASON = "unreadable_file"
CORRUPT_MEMBER_REASON = "corrupt_member"  # a line with bytes from a gzip member that fails its CRC or length check
INGEST_REASONS: frozenset[str] = frozenset(
    {DUPLICATE_REASON, EMPTY_FILE_REASON, UNREADABLE_FILE_REASON, CORRUPT_MEMBER_REASON}
)
QUARANTINE_REASONS: frozenset[str] = REASONS | INGEST_REASONS  # everything counts.json can list

log = logging.getLogger(__name__)


def split_of(impression_id: str, eval_fraction: float) -> str:
    """'eval' or 'train' for an impression: a stable fingerprint of its id, bucketed."""
    bucket = fingerprint64(impression_id) % SPLIT_BUCKETS
    return "eval" if bucket < round(eval_fraction * SPLIT_BUCKETS) else "train"


def source_name(logs_uri: str, path: str) -> str:
    """How quarantine records name a log file: its path relative to the logs uri."""
    prefix = logs_uri.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else path


def dedup_bucket(impression_id: str) -> int:
    """The GroupByKey key of an impression's records in the duplicate check (stable, like the split)."""
    return fingerprint64(impression_id) % DEDUP_BUCKETS


def quarantine_record(
    line: bytes,
    reason: str,
    source: str,
    max_line_bytes: int,
    line_number: int = 0,
    line_bytes: int | None = None,
    duplicate_of: str | None = None,
) -> str:
    """The JSON line kept for a quarantined log line (cut at max_line_bytes; bad UTF-8 backslash-escaped).

    `line_bytes` is the line's full length when `line` is already a bounded prefix of it; `line_number` is 0
    for file-level records (empty or unreadable file).
    """
    kept = line[:max_line_bytes]
    size = len(line) if line_bytes is None else line_bytes
    record = {
        "reason": reason,
        "source": source,
        "line_number": line_number,
        "line": kept.decode("utf-8", "backslashreplace"),
        "line_bytes": size,
        "truncated": len(kept) < size,
    }
    if duplicate_of is not None:
        record["duplicate_of"] = duplicate_of
    return json.dumps(record)


# A line on its way through the pipeline: (source, line number, first max_line_bytes + 1 bytes, full length).
Line = tuple[str, int, bytes, int]
# Valid records of one file and one dedup bucket on their way to the duplicate check, packed (few Python objects, as
# the in-memory runner holds every grouped value): (source, impression ids, line numbers, the serialized tf.Examples
# concatenated, their lengths).
Packed = tuple[str, list[str], list[int], bytes, list[int]]


class _ReadFileFn(beam.DoFn):
    """A log file path -> lists of its lines (bounded, numbered; up to BATCH_SIZE lines or BATCH_BYTES bytes), and
    one 'file_issue' quarantine record when the file is empty or unreadable (lines read before a damaged part are
    kept)."""

    def __init__(self, ingest: IngestConfig, logs_uri: str):
        self._ingest = ingest
        self._logs_uri = logs_uri

    def process(self, path: str) -> Iterator[list[Line] | beam.pvalue.TaggedOutput]:
        source = source_name(self._logs_uri, path)
        count, batch, size, corrupt = 0, [], 0, 0
        max_bytes = self._ingest.max_line_bytes
        try:
            for number, line, line_bytes, intact in read_log_lines(path, max_bytes):
                count += 1
                if not intact:  # its gzip member failed its CRC or length check: never an example
                    corrupt += 1
                    record = quarantine_record(line, CORRUPT_MEMBER_REASON, source, max_bytes, number, line_bytes)
                    yield beam.pvalue.TaggedOutput("file_issue", record)
                    continue
                batch.append((source, number, line, line_bytes))
                size += len(line)
                if len(batch) >= BATCH_SIZE or size >= BATCH_BYTES:
                    yield batch
                    batch, size = [], 0
        except READ_ERRORS as err:
            log.warning("LogIngest: %s is unreadable after %d lines: %s", source, count, err)
            if batch:
                yield batch
            yield self._issue(UNREADABLE_FILE_REASON, source, count, f"{type(err).__name__} after line {count}")
            count += 1  # the file-level record
        else:
            if batch:
                yield batch
            if count == 0:
                yield self._issue(EMPTY_FILE_REASON, source, 0, "")
                count = 1
        if corrupt:
            log.warning("LogIngest: %s: %d lines in gzip members that fail their CRC or length check", source, corrupt)
        Metrics.counter(ACCOUNTING_NAMESPACE, RECORDS_READ_PREFIX + source).inc(count)

    def _issue(self, reason: str, source: str, after_line: int, note: str) -> beam.pvalue.TaggedOutput:
        record = quarantine_record(note.encode(), reason, source, self._ingest.max_line_bytes, after_line)
        return beam.pvalue.TaggedOutput("file_issue", record)


class _ParseBatchFn(beam.DoFn):
    """A batch of lines -> (dedup bucket, Packed records) on 'valid' (one per bucket and file present),
    quarantine records on 'quarantine', and one dict of counts per batch on 'counts'.

    The batch is judged as columns (`logformat.columnar.judge_lines`: the per-line parser's verdict for every line,
    the lines it cannot read as columns judged one by one). The lines of valid records are not passed on: the rare
    duplicate is read again from its file (_QuarantineDuplicatesFn).
    """

    def __init__(self, ingest: IngestConfig):
        self._ingest = ingest

    def process(self, batch: Sequence[Line]) -> Iterator[beam.pvalue.TaggedOutput]:
        counts: Counter[str] = Counter()
        groups: defaultdict[tuple[int, str], list[tuple[str, int, bytes]]] = defaultdict(list)
        verdicts = judge_lines([line[2] for line in batch], self._ingest)
        for line, (reason, impression_id, serialized) in zip(batch, verdicts):
            if reason is not None or impression_id is None or serialized is None:
                yield self._quarantine(line, reason or "internal_error", counts)
                continue
            groups[dedup_bucket(impression_id), line[0]].append((impression_id, line[1], serialized))
        for (bucket, source), records in sorted(groups.items()):
            ids, numbers, examples = (list(column) for column in zip(*records))
            packed = (source, ids, numbers, b"".join(examples), [len(e) for e in examples])
            yield beam.pvalue.TaggedOutput("valid", (bucket, packed))
        yield beam.pvalue.TaggedOutput("counts", dict(counts))

    def _quarantine(self, line: Line, reason: str, counts: Counter[str]) -> beam.pvalue.TaggedOutput:
        counts[f"reason:{reason}"] += 1
        source, number, raw, size = line
        record = quarantine_record(raw, reason, source, self._ingest.max_line_bytes, number, size)
        return beam.pvalue.TaggedOutput("quarantine", record)


class _KeepFirstFn(beam.DoFn):
    """(dedup bucket, the Packed records of that bucket) -> for each impression id, the first record in log order
    on its split's output (TFRecord-framed, up to BATCH_SIZE examples per element); the others on 'duplicates' as
    (source, (line number, "<source>:<line>" of the kept record)); counts on 'counts'.

    Two passes over the grouped values (re-iterable on every runner) instead of sorting them: memory holds one
    entry per distinct id of the bucket, however many times a hostile log repeats an id.
    """

    def __init__(self, ingest: IngestConfig):
        self._ingest = ingest

    def process(self, element: tuple[int, Iterable[Packed]]) -> Iterator[Any]:
        _, packs = element
        first: dict[str, tuple[str, int]] = {}  # impression id -> (source, line number) first in log order
        for source, ids, numbers, _, _ in packs:
            for impression_id, number in zip(ids, numbers):
                seen = first.get(impression_id)
                if seen is None or (source, number) < seen:
                    first[impression_id] = (source, number)
        counts: Counter[str] = Counter()
        kept_per_file: Counter[str] = Counter()
        out: dict[str, list[bytes]] = {split: [] for split in SPLITS}
        for source, ids, numbers, examples, lengths in packs:
            end = 0
            for impression_id, number, length in zip(ids, numbers, lengths):
                start, end = end, end + length
                kept = first[impression_id]
                if (source, number) != kept:
                    counts[f"reason:{DUPLICATE_REASON}"] += 1
                    yield beam.pvalue.TaggedOutput("duplicates", (source, (number, f"{kept[0]}:{kept[1]}")))
                    continue
                split = split_of(impression_id, self._ingest.eval_fraction)
                counts[f"split:{split}"] += 1
                kept_per_file[source] += 1
                out[split].append(examples[start:end])
                if len(out[split]) >= BATCH_SIZE:
                    yield beam.pvalue.TaggedOutput(split, tfrecord_bytes(out[split]))
                    out[split] = []
        for split, kept_examples in out.items():
            if kept_examples:
                yield beam.pvalue.TaggedOutput(split, tfrecord_bytes(kept_examples))
        yield beam.pvalue.TaggedOutput("counts", dict(counts))
        for source, kept in kept_per_file.items():
            Metrics.counter(ACCOUNTING_NAMESPACE, EXAMPLES_KEPT_PREFIX + source).inc(kept)


class _QuarantineDuplicatesFn(beam.DoFn):
    """(source, [(line number, duplicate_of), ...]) -> the quarantine records of those duplicate lines, read again
    from the file (once per file that has duplicates; only as far as the last of them)."""

    def __init__(self, ingest: IngestConfig, paths: dict[str, str]):
        self._ingest = ingest
        self._paths = paths  # source -> path, from the listing of the log files (never from a line)

    def process(self, element: tuple[str, Iterable[tuple[int, str]]]) -> Iterator[str]:
        source, duplicates = element
        wanted = dict(duplicates)
        max_bytes = self._ingest.max_line_bytes
        for number, line, _, _ in read_log_lines(self._paths[source], max_bytes):
            kept_at = wanted.pop(number, None)
            if kept_at is not None:
                yield quarantine_record(line, DUPLICATE_REASON, source, max_bytes, number, duplicate_of=kept_at)
                if not wanted:
                    return
        raise IngestError(f"LogIngest: {source} changed while it was ingested (lines {sorted(wanted)} are gone)")
