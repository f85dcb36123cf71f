"""The ingest pipeline's steps: read each file in batches of lines, parse them, keep the first record of each
impression id in its split, and read duplicates again to quarantine them; with the split, the duplicate check's
bucket and the quarantine record they share (the pipeline itself: ingest/run.py).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.metrics.metric import Metrics

from config.settings import IngestConfig
from ingest.accounting import ACCOUNTING_NAMESPACE, EXAMPLES_KEPT_PREFIX, RECORDS_READ_PREFIX
from ingest.errors import IngestError
from ingest.layout import SPLITS
from ingest.sink import FRAME_BYTES, tfrecord_bytes
from logformat.columnar import judge_lines
from logformat.fingerprint import fingerprint64
from logformat.line_reader import READ_ERRORS, read_log_lines
from logformat.parser import REASONS

SPLIT_BUCKETS = 10_000
BATCH_SIZE = 4_096  # lines judged and encoded together (and about as many examples written together)
BATCH_BYTES = 8 << 20  # a batch of lines also ends once it holds this many bytes
DEDUP_BUCKETS = 64  # keys of the duplicate check's GroupByKey (each id falls in exactly one)
# The framed examples travel to the duplicate check LZ4-compressed (Arrow's codec): ~4x fewer bytes for the runner to
# copy through its data plane and GroupByKey, for ~1.4 us per record (docs/benchmarks.md).
TRANSIT_CODEC = "lz4"
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


def fingerprints(impression_ids: Sequence[str]) -> np.ndarray:
    """`fingerprint64` of each id, as uint64: the split and the dedup bucket of a batch of records in vectors."""
    return np.fromiter(map(fingerprint64, impression_ids), dtype=np.uint64, count=len(impression_ids))


def eval_mask(fingerprints: np.ndarray, eval_fraction: float) -> np.ndarray:
    """Which of the records with these fingerprints go to 'eval' (`split_of`, a batch at a time)."""
    return fingerprints % np.uint64(SPLIT_BUCKETS) < np.uint64(round(eval_fraction * SPLIT_BUCKETS))


def dedup_buckets(fingerprints: np.ndarray) -> np.ndarray:
    """`dedup_bucket` of the records with these fingerprints, a batch at a time."""
    return (fingerprints % np.uint64(DEDUP_BUCKETS)).astype(np.int64)


def squeeze(framed: bytes) -> bytes:
    """A pack's framed examples as they travel to the duplicate check."""
    return pa.compress(framed, codec=TRANSIT_CODEC, asbytes=True)


def unsqueeze(data: bytes, size: int) -> bytes:
    """The framed examples (`size` bytes) of `squeeze`'s `data`."""
    return pa.decompress(data, decompressed_size=size, codec=TRANSIT_CODEC, asbytes=True)


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


# Lines of one file on their way through the pipeline: (source, line numbers, each line's first max_line_bytes + 1
# bytes, each line's full length).
Batch = tuple[str, list[int], list[bytes], list[int]]
# Valid records of one batch and one dedup bucket on their way to the duplicate check, packed (few Python objects, as
# the in-memory runner holds every grouped value): (source, impression ids, line numbers, the examples framed as in a
# TFRecord file, concatenated and `squeeze`d, the length of each framed example, one byte per record: 1 for eval, 0
# for train).
Packed = tuple[str, list[str], list[int], bytes, list[int], bytes]


class _ReadFileFn(beam.DoFn):
    """A log file path -> Batches of its lines (bounded, numbered; up to BATCH_SIZE lines or BATCH_BYTES bytes), and
    one 'file_issue' quarantine record when the file is empty or unreadable (lines read before a damaged part are
    kept)."""

    def __init__(self, ingest: IngestConfig, logs_uri: str):
        self._ingest = ingest
        self._logs_uri = logs_uri

    def process(self, path: str) -> Iterator[Batch | beam.pvalue.TaggedOutput]:
        source = source_name(self._logs_uri, path)
        count, corrupt = 0, 0
        numbers: list[int] = []
        lines: list[bytes] = []
        sizes: list[int] = []
        size = 0
        max_bytes = self._ingest.max_line_bytes
        try:
            for number, line, line_bytes, intact in read_log_lines(path, max_bytes):
                count += 1
                if not intact:  # its gzip member failed its CRC or length check: never an example
                    corrupt += 1
                    record = quarantine_record(line, CORRUPT_MEMBER_REASON, source, max_bytes, number, line_bytes)
                    yield beam.pvalue.TaggedOutput("file_issue", record)
                    continue
                numbers.append(number)
                lines.append(line)
                sizes.append(line_bytes)
                size += len(line)
                if len(lines) >= BATCH_SIZE or size >= BATCH_BYTES:
                    yield source, numbers, lines, sizes
                    numbers, lines, sizes, size = [], [], [], 0
        except READ_ERRORS as err:
            log.warning("LogIngest: %s is unreadable after %d lines: %s", source, count, err)
            if lines:
                yield source, numbers, lines, sizes
            yield self._issue(UNREADABLE_FILE_REASON, source, count, f"{type(err).__name__} after line {count}")
            count += 1  # the file-level record
        else:
            if lines:
                yield source, numbers, lines, sizes
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
    """A Batch -> (dedup bucket, Packed records) on 'valid' (one per bucket present), quarantine records on
    'quarantine', and one dict of counts per batch on 'counts'.

    The batch is judged as columns (`logformat.columnar.judge_lines`: the per-line parser's verdict for every line,
    the lines it cannot read as columns judged one by one). Each valid record's fingerprint gives its bucket and split
    (vectors over the batch); its example is framed here, once, and squeezed for the trip to the duplicate check. The
    lines of valid records are not passed on: the rare duplicate is read again from its file
    (_QuarantineDuplicatesFn).
    """

    def __init__(self, ingest: IngestConfig):
        self._ingest = ingest

    def process(self, batch: Batch) -> Iterator[beam.pvalue.TaggedOutput]:
        source, numbers, lines, sizes = batch
        counts: Counter[str] = Counter()
        valid: list[int] = []
        examples: list[bytes] = []
        ids: list[str] = []
        for i, (reason, impression_id, serialized) in enumerate(judge_lines(lines, self._ingest)):
            if reason is None and impression_id is not None and serialized is not None:
                valid.append(i)
                ids.append(impression_id)
                examples.append(serialized)
                continue
            yield self._quarantine(source, numbers[i], lines[i], sizes[i], reason or "internal_error", counts)
        if valid:
            prints = fingerprints(ids)
            evals = eval_mask(prints, self._ingest.eval_fraction)
            buckets = dedup_buckets(prints)
            order = np.argsort(buckets, kind="stable")  # log order within each bucket
            ends = np.flatnonzero(np.diff(buckets[order])).tolist()
            for run in np.split(order, [end + 1 for end in ends]):
                picked = run.tolist()
                packed: Packed = (
                    source,
                    [ids[j] for j in picked],
                    [numbers[valid[j]] for j in picked],
                    squeeze(tfrecord_bytes([examples[j] for j in picked])),
                    [len(examples[j]) + FRAME_BYTES for j in picked],
                    evals[run].astype(np.uint8).tobytes(),
                )
                yield beam.pvalue.TaggedOutput("valid", (int(buckets[run[0]]), packed))
        yield beam.pvalue.TaggedOutput("counts", dict(counts))

    def _quarantine(
        self, source: str, number: int, raw: bytes, size: int, reason: str, counts: Counter[str]
    ) -> beam.pvalue.TaggedOutput:
        counts[f"reason:{reason}"] += 1
        record = quarantine_record(raw, reason, source, self._ingest.max_line_bytes, number, size)
        return beam.pvalue.TaggedOutput("quarantine", record)


class _KeepFirstFn(beam.DoFn):
    """(dedup bucket, the Packed records of that bucket) -> for each impression id, the first record in log order
    on its split's output (TFRecord-framed, about BATCH_SIZE examples per element); the others on 'duplicates' as
    (source, (line number, "<source>:<line>" of the kept record)); counts on 'counts'.

    Passes over the grouped values (re-iterable on every runner) instead of sorting them: the ids seen more than once
    (set operations a pack at a time), the first record of each of those, then the packs' framed examples, a pack's
    run of one split at a time. Memory holds one entry per distinct id of the bucket, however many times a hostile
    log repeats an id.
    """

    def __init__(self, ingest: IngestConfig):
        self._ingest = ingest

    def process(self, element: tuple[int, Iterable[Packed]]) -> Iterator[Any]:
        _, packs = element
        first = _first_of_repeated(packs)  # repeated impression id -> (source, line number) first in log order
        counts: Counter[str] = Counter()
        kept_per_file: Counter[str] = Counter()
        out: dict[str, list[bytes]] = {split: [] for split in SPLITS}
        pending: Counter[str] = Counter()  # examples in out[split]
        for source, ids, numbers, squeezed, lengths, evals in packs:
            framed = unsqueeze(squeezed, sum(lengths))
            keep = _keep(source, ids, numbers, first)
            for i in (i for i, kept in enumerate(keep) if not kept):
                counts[f"reason:{DUPLICATE_REASON}"] += 1
                kept_at = first[ids[i]]
                yield beam.pvalue.TaggedOutput("duplicates", (source, (numbers[i], f"{kept_at[0]}:{kept_at[1]}")))
            for split, chosen in _by_split(keep, evals).items():
                if not chosen:
                    continue
                counts[f"split:{split}"] += len(chosen)
                kept_per_file[source] += len(chosen)
                out[split].append(_pick(framed, lengths, chosen))
                pending[split] += len(chosen)
                if pending[split] >= BATCH_SIZE:
                    yield beam.pvalue.TaggedOutput(split, b"".join(out[split]))
                    out[split], pending[split] = [], 0
        for split, chunks in out.items():
            if chunks:
                yield beam.pvalue.TaggedOutput(split, b"".join(chunks))
        yield beam.pvalue.TaggedOutput("counts", dict(counts))
        for source, kept in kept_per_file.items():
            Metrics.counter(ACCOUNTING_NAMESPACE, EXAMPLES_KEPT_PREFIX + source).inc(kept)


def _first_of_repeated(packs: Iterable[Packed]) -> dict[str, tuple[str, int]]:
    """(source, line number) of the first record in log order of each impression id that has more than one record."""
    seen: set[str] = set()
    repeated: set[str] = set()
    for _, ids, *_ in packs:
        distinct = set(ids)
        if len(distinct) < len(ids):
            repeated.update(impression_id for impression_id, n in Counter(ids).items() if n > 1)
        repeated |= seen & distinct
        seen |= distinct
    del seen
    first: dict[str, tuple[str, int]] = {}
    if not repeated:
        return first
    for source, ids, numbers, *_ in packs:
        if repeated.isdisjoint(ids):
            continue
        for impression_id, number in zip(ids, numbers):
            if impression_id in repeated:
                found = first.get(impression_id)
                if found is None or (source, number) < found:
                    first[impression_id] = (source, number)
    return first


def _keep(source: str, ids: list[str], numbers: list[int], first: dict[str, tuple[str, int]]) -> list[bool]:
    """Whether each record of a pack is the first of its id in log order (`first`: of the repeated ids)."""
    if first.keys().isdisjoint(ids):
        return [True] * len(ids)
    return [first.get(i, (source, n)) == (source, n) for i, n in zip(ids, numbers)]


def _by_split(keep: list[bool], evals: bytes) -> dict[str, list[int]]:
    """The indices of the kept records of a pack, per split (`evals`: one byte per record, 1 for eval)."""
    out: dict[str, list[int]] = {split: [] for split in SPLITS}
    for i, (kept, is_eval) in enumerate(zip(keep, evals)):
        if kept:
            out["eval" if is_eval else "train"].append(i)
    return out


def _pick(framed: bytes, lengths: list[int], chosen: list[int]) -> bytes:
    """The framed examples `chosen` (indices, ascending) of a pack's concatenation (their `lengths`)."""
    if len(chosen) == len(lengths):
        return framed
    ends = np.cumsum(lengths).tolist()
    return b"".join([framed[ends[i] - lengths[i] : ends[i]] for i in chosen])


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
