"""LogIngest: a Beam-powered ExampleGen that turns RawLogs into tf.Examples and quarantines bad lines.

Beam pipeline::

    Create(<logs>/day=*/logs-*.jsonl*) -> Reshuffle -> ParDo(read each file in batches of <= 1024 lines, each line
                                                             bounded to max_line_bytes + 1 bytes)
      --batches-->      ParDo(check_line each, encode_examples per batch)
                          --valid-->  (dedup bucket, records) -> GroupByKey -> ParDo(keep the first of each id, split)
                                        --train-->  <examples>/Split-train/data_tfrecord-*.gz
                                        --eval-->   <examples>/Split-eval/data_tfrecord-*.gz
                                        --duplicates-->  GroupByKey(file) -> ParDo(read their lines again)
      --file issues-->  (empty or unreadable files)
    every quarantined record  ->  <quarantine>/quarantined-*.jsonl.gz
    every step's counts       ->  CombineGlobally(sum per split and per reason) -> <quarantine>/counts.json

Elements are batches, not lines or records: the DirectRunner's cost per element and step would otherwise exceed the
parsing itself. Valid records travel to the duplicate check packed by file and by a bucket of their impression id
(`farmhash.fingerprint64(impression_id) % DEDUP_BUCKETS`: all records of one id meet in one bucket) as serialized
examples only; a duplicate's line is read again from its file to be quarantined. Examples are written a batch at a
time, gzipped at level EXAMPLES_GZIP_LEVEL.

The Examples artifact has the standard layout, `split_names` ["train", "eval"], `span` (the logs' day)
and the payload/file format custom properties, so stock StatisticsGen, Transform and Evaluator read it.

Split: deterministic by impression, `farmhash.fingerprint64(impression_id) % 10000` below
`eval_fraction * 10000` goes to eval. The fingerprint is stable across processes, machines and runs
(unlike Python's `hash`), so an impression always lands in the same split.

Duplicates: impression ids are unique by contract (a logger retry or a replayed file repeats them). Valid
records are grouped by `impression_id` (within its bucket); the first in log order (source file path, then line
number: the zero-padded `day=` directories make that chronological) becomes the example, every other one is
quarantined as `duplicate_impression_id` with `duplicate_of` = "<source>:<line>" of the kept one. The choice
depends on the data only, never on runner or bundle order.

Files: each file is read through `logformat.line_reader` (bounded memory per line, strict gzip). An empty
file is quarantined as `empty_file` and a truncated or corrupt one as `unreadable_file` (its lines read before
the damage are kept), one record per file.

Nothing is dropped silently: every line is either an example of one split or a quarantined record with
its reason, and `counts.json` holds `total = good + quarantined` (lines plus the file-level records). When
`quarantined / total` exceeds `IngestConfig.max_bad_fraction` (or there are no lines at all), the executor
raises `BadRecordsError` naming the worst reasons, after the quarantine has been written so it can be inspected.

Untrusted input: lines are only `json.loads`-ed (never evaluated or unpickled), bounded in size before
decoding, and nothing taken from a line ever becomes part of a path: output paths are built from the
artifact URIs and constants, quarantine records name the source file by its path relative to the logs URI.
"""

from __future__ import annotations

import gzip
import json
import logging
import struct
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import apache_beam as beam
import farmhash
from apache_beam.io import filebasedsink, iobase
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.tfrecordio import _TFRecordUtil
from apache_beam.metrics.metric import Metrics, MetricsFilter
from tfx import types
from tfx.dsl.components.base import base_beam_component, base_beam_executor, executor_spec
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.beam_safety import make_direct_runner_safe
from components.types import (
    QUARANTINE_COUNTS_FILE,
    QUARANTINE_FILE_PREFIX,
    QuarantinedRecords,
    RawLogs,
    join,
    raw_log_pattern,
)
from config.settings import IngestConfig, PipelineConfig, section_from_json, section_json
from config.validation import validate_ingest
from logformat.line_reader import READ_ERRORS, read_log_lines
from logformat.log_files import pattern_base, span_files, span_glob
from logformat.parser import REASONS, check_line, encode_examples, record_to_example

SPLITS: tuple[str, ...] = ("train", "eval")
SPLIT_BUCKETS = 10_000
BATCH_SIZE = 1_024  # lines parsed and encoded together (and examples written together)
BATCH_BYTES = 8 << 20  # a batch of lines also ends once it holds this many bytes
DEDUP_BUCKETS = 64  # keys of the duplicate check's GroupByKey (each id falls in exactly one)
# Examples: level 6 (zlib's default, Beam's) costs ~28 us per 1.2 kB example, level 3 ~11 us for files ~15 % larger.
EXAMPLES_GZIP_LEVEL = 3
EXAMPLES_FILE_PREFIX = "data_tfrecord"  # the name stock ExampleGen uses
# Custom properties that stock components read from an Examples artifact (tfx.components.example_gen.utils;
# set directly so that Beam workers need not import every TFX component).
PAYLOAD_FORMAT_PROPERTY = "payload_format"
FILE_FORMAT_PROPERTY = "file_format"
FILE_FORMAT = "tfrecords_gzip"
TOP_REASONS_IN_ERROR = 5
# Quarantine reasons decided by the ingest rather than by the line parser.
DUPLICATE_REASON = "duplicate_impression_id"
EMPTY_FILE_REASON = "empty_file"
UNREADABLE_FILE_REASON = "unreadable_file"
CORRUPT_MEMBER_REASON = "corrupt_member"  # a line with bytes from a gzip member that fails its CRC or length check
INGEST_REASONS: frozenset[str] = frozenset(
    {DUPLICATE_REASON, EMPTY_FILE_REASON, UNREADABLE_FILE_REASON, CORRUPT_MEMBER_REASON}
)
# The accounting (Beam metrics: reported by the runner outside the data plane, read after the run).
ACCOUNTING_NAMESPACE = "ranker.ingest"
RECORDS_READ_PREFIX = "records_read:"  # per file: its lines, plus one per file-level record (empty or unreadable)
EXAMPLES_KEPT_PREFIX = "examples_kept:"  # per file: the examples the duplicate check passed on to the writers
QUARANTINE_REASONS: frozenset[str] = REASONS | INGEST_REASONS  # everything counts.json can list

log = logging.getLogger(__name__)


class IngestError(RuntimeError):
    """The ingest cannot produce a usable span."""


class BadRecordsError(IngestError):
    """Too many (or all, or no) log lines were quarantined; the message names the worst reasons."""


class AccountingError(IngestError):
    """Lines were read that are neither an example nor a quarantined record on disk (lost on the way)."""


def split_of(impression_id: str, eval_fraction: float) -> str:
    """'eval' or 'train' for an impression: a stable fingerprint of its id, bucketed."""
    bucket = farmhash.fingerprint64(impression_id) % SPLIT_BUCKETS
    return "eval" if bucket < round(eval_fraction * SPLIT_BUCKETS) else "train"


def source_name(logs_uri: str, path: str) -> str:
    """How quarantine records name a log file: its path relative to the logs uri."""
    prefix = logs_uri.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else path


def dedup_bucket(impression_id: str) -> int:
    """The GroupByKey key of an impression's records in the duplicate check (stable, like the split)."""
    return farmhash.fingerprint64(impression_id) % DEDUP_BUCKETS


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

    Lines are checked one by one (`check_line`); the valid records of a batch are encoded together
    (`encode_examples`), falling back to one at a time, so a failure never takes a batch down. The lines of valid
    records are not passed on: the rare duplicate is read again from its file (_QuarantineDuplicatesFn).
    """

    def __init__(self, ingest: IngestConfig):
        self._ingest = ingest

    def process(self, batch: Sequence[Line]) -> Iterator[beam.pvalue.TaggedOutput]:
        counts: Counter[str] = Counter()
        valid: list[tuple[Line, dict[str, Any]]] = []
        for line in batch:
            record, reason = check_line(line[2], self._ingest)
            if record is None:
                yield self._quarantine(line, reason or "internal_error", counts)
            else:
                valid.append((line, record))
        groups: defaultdict[tuple[int, str], list[tuple[str, int, bytes]]] = defaultdict(list)
        for (line, record), serialized in zip(valid, _encode([r for _, r in valid])):
            if serialized is None:
                yield self._quarantine(line, "internal_error", counts)
                continue
            impression_id = record["impression_id"]
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


_FRAME_HEADS: dict[int, bytes] = {}  # record length -> its 12-byte TFRecord header (length, masked crc32c)
_MAX_FRAME_HEADS = 1 << 16


def tfrecord_bytes(records: Iterable[bytes]) -> bytes:
    """`records` framed as in a TFRecord file (length, masked crc32c, record, masked crc32c), as Beam writes them."""
    masked_crc32c = _TFRecordUtil._masked_crc32c
    chunks: list[bytes] = []
    for record in records:
        head = _FRAME_HEADS.get(len(record))
        if head is None:
            length = struct.pack("<Q", len(record))
            head = length + struct.pack("<I", masked_crc32c(length))
            if len(_FRAME_HEADS) < _MAX_FRAME_HEADS:
                _FRAME_HEADS[len(record)] = head
        chunks += (head, record, struct.pack("<I", masked_crc32c(record)))
    return b"".join(chunks)


class GzipWriter:
    """A write-only gzip stream at `level` over a binary file handle (Beam's own gzip is fixed at level 6)."""

    def __init__(self, raw: Any, level: int):
        self._raw = raw
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

    def write(self, data: bytes) -> None:
        self._raw.write(self._compressor.compress(data))

    def close(self) -> None:
        self._raw.write(self._compressor.flush())
        self._raw.close()


class _TFRecordListSink(filebasedsink.FileBasedSink):
    """Gzipped TFRecord files (the format and names of `beam.io.WriteToTFRecord`) written from elements that hold
    records already framed (`tfrecord_bytes`)."""

    def __init__(self, file_path_prefix: str):
        super().__init__(
            file_path_prefix,
            coder=None,
            file_name_suffix=".gz",
            mime_type="application/octet-stream",
            compression_type=CompressionTypes.UNCOMPRESSED,
        )

    def open(self, temp_path: str) -> GzipWriter:
        raw = FileSystems.create(temp_path, self.mime_type, CompressionTypes.UNCOMPRESSED)
        return GzipWriter(raw, EXAMPLES_GZIP_LEVEL)

    def write_record(self, file_handle: GzipWriter, value: bytes) -> None:
        file_handle.write(value)


def _issue_counts(record: str) -> dict[str, int]:
    return {f"reason:{json.loads(record)['reason']}": 1}


def _encode(records: Sequence[dict[str, Any]]) -> list[bytes | None]:
    """Serialized Examples of validated records: one batch pass, else one by one (None where that fails)."""
    if not records:
        return []
    try:
        return list(encode_examples(records))
    except Exception:  # noqa: BLE001 - isolate the record that breaks the batch encoder
        out: list[bytes | None] = []
        for record in records:
            try:
                out.append(record_to_example(record).SerializeToString(deterministic=True))
            except Exception:  # noqa: BLE001
                out.append(None)
        return out


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


class IngestLogs(beam.PTransform):
    """Parses the RawLogs under `logs_uri` (or the given `files`, named relative to `logs_uri`); writes examples,
    quarantine and counts.json. `tamper`: a PTransform applied to the parsed valid records on their way to the
    duplicate check (tests use it to lose data on purpose and show that the accounting catches it)."""

    def __init__(
        self,
        logs_uri: str,
        ingest: IngestConfig,
        examples_uri: str,
        quarantine_uri: str,
        files: Sequence[str] | None = None,
        tamper: beam.PTransform | None = None,
    ):
        super().__init__()
        validate_ingest(ingest)
        self._logs_uri = logs_uri
        self._ingest = ingest
        self._examples_uri = examples_uri
        self._quarantine_uri = quarantine_uri
        self._files = list(files) if files is not None else None
        self._tamper = tamper

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.pvalue.PDone:
        files = self._files if self._files is not None else list_log_files(self._logs_uri)
        if not files:
            raise IngestError(f"LogIngest: no log files under {self._logs_uri}")
        read = (
            pbegin
            | "ListFiles" >> beam.Create(files)
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadFiles"
            >> beam.ParDo(_ReadFileFn(self._ingest, self._logs_uri)).with_outputs("file_issue", main="batches")
        )
        parsed = read["batches"] | "Parse" >> beam.ParDo(_ParseBatchFn(self._ingest)).with_outputs(
            "valid", "quarantine", "counts"
        )
        valid = parsed["valid"] if self._tamper is None else parsed["valid"] | "Tamper" >> self._tamper
        kept = (
            valid
            | "GroupByImpression" >> beam.GroupByKey()
            | "KeepFirst" >> beam.ParDo(_KeepFirstFn(self._ingest)).with_outputs(*SPLITS, "duplicates", "counts")
        )
        for split in SPLITS:
            _ = kept[split] | f"Write{split.title()}" >> iobase.Write(
                _TFRecordListSink(join(self._examples_uri, f"Split-{split}", EXAMPLES_FILE_PREFIX))
            )
        paths = {source_name(self._logs_uri, path): path for path in files}
        duplicates = (
            kept["duplicates"]
            | "GroupDuplicatesByFile" >> beam.GroupByKey()
            | "QuarantineDuplicates" >> beam.ParDo(_QuarantineDuplicatesFn(self._ingest, paths))
        )
        quarantined = (
            read["file_issue"],
            parsed["quarantine"],
            duplicates,
        ) | "AllQuarantined" >> beam.Flatten()
        _ = quarantined | "WriteQuarantine" >> beam.io.WriteToText(
            join(self._quarantine_uri, QUARANTINE_FILE_PREFIX), file_name_suffix=".jsonl.gz"
        )
        issue_counts = read["file_issue"] | "CountFileIssues" >> beam.Map(_issue_counts)
        return (
            (issue_counts, parsed["counts"], kept["counts"])
            | "AllCounts" >> beam.Flatten()
            | "Count" >> beam.CombineGlobally(_SumCounts())
            | "Summarise" >> beam.Map(lambda counts: json.dumps(summarize_counts(counts), sort_keys=True))
            | "WriteCounts"
            >> beam.io.WriteToText(
                join(self._quarantine_uri, QUARANTINE_COUNTS_FILE.removesuffix(".json")),
                file_name_suffix=".json",
                num_shards=1,
                shard_name_template="",
            )
        )


def read_counts(quarantine_uri: str) -> dict[str, Any]:
    """The counts.json written by IngestLogs."""
    with fileio.open(join(quarantine_uri, QUARANTINE_COUNTS_FILE)) as handle:
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


def list_log_files(logs_uri: str) -> list[str]:
    """The log files of a RawLogs uri; IngestError when there are none."""
    files = sorted(fileio.glob(raw_log_pattern(logs_uri)))
    if not files:
        raise IngestError(f"LogIngest: no log files match {raw_log_pattern(logs_uri)}")
    return files


def run_ingest(
    config: PipelineConfig,
    logs_uri: str,
    examples_uri: str,
    quarantine_uri: str,
    beam_args: Sequence[str] | None = None,
    files: Sequence[str] | None = None,
    tamper: beam.PTransform | None = None,
) -> dict[str, Any]:
    """Runs the ingest outside TFX, checks its accounting (AccountingError) and returns counts.json (the
    bad-fraction check is left to the caller)."""
    make_direct_runner_safe()
    pipeline = beam.Pipeline(argv=list(beam_args or []))
    _ = pipeline | IngestLogs(logs_uri, config.ingest, examples_uri, quarantine_uri, files, tamper)
    result = pipeline.run()
    result.wait_until_finish()
    counts = read_counts(quarantine_uri)
    check_accounting(accounting_counters(result), examples_uri, quarantine_uri, counts)
    return counts


# -- the accounting: every line read is an example or a quarantined record on disk ---------------------------------
#
# counts.json travels the same channel as the data, so it cannot see data lost on the way. The accounting does not:
# _ReadFileFn counts each file's records read and _KeepFirstFn each file's examples handed to the writers in Beam
# metrics counters, which runners report outside the data plane (the FnApiRunner in the bundle's control-plane
# response); after the run they are compared with what is on disk, read back: the examples in the Split-* files and
# the quarantined records per source file.


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
    for path in fileio.glob(join(examples_uri, "Split-*", f"{EXAMPLES_FILE_PREFIX}-*")):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        skip, pending = 0, b""  # bytes of the current record still to pass; a partial header
        with fileio.open(path, "rb") as raw:
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
    for path in fileio.glob(join(quarantine_uri, f"{QUARANTINE_FILE_PREFIX}-*")):
        with fileio.open(path, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as handle:
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


# -- the TFX component -----------------------------------------------------------------------------


class LogIngestSpec(types.ComponentSpec):
    """LogIngest: input `logs` (or, with `ingest.logs_pattern`, none); exec properties `ingest_json` (an
    IngestConfig), `span` (the span whose files the pattern names) and `logs_fingerprint` (of those files, so that
    the cache sees them change); outputs `examples`, `quarantine`."""

    PARAMETERS = {
        "ingest_json": ExecutionParameter(type=str),
        "span": ExecutionParameter(type=int, optional=True),
        "logs_fingerprint": ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {"logs": ChannelParameter(type=RawLogs, optional=True)}
    OUTPUTS = {
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "quarantine": ChannelParameter(type=QuarantinedRecords),
    }


def _annotate(examples: types.Artifact, quarantine: types.Artifact, span: int, counts: dict[str, Any]) -> None:
    examples.split_names = artifact_utils.encode_split_names(list(SPLITS))
    examples.span = span
    examples.set_string_custom_property(
        PAYLOAD_FORMAT_PROPERTY, example_gen_pb2.PayloadFormat.Name(example_gen_pb2.FORMAT_TF_EXAMPLE)
    )
    examples.set_string_custom_property(FILE_FORMAT_PROPERTY, FILE_FORMAT)
    quarantine.span = span
    for artifact in (examples, quarantine):
        artifact.set_int_custom_property("num_total", counts["total"])
        artifact.set_int_custom_property("num_good", counts["good"])
        artifact.set_int_custom_property("num_quarantined", counts["quarantined"])
        artifact.set_float_custom_property("bad_fraction", counts["bad_fraction"])
    for split, count in counts["splits"].items():
        examples.set_int_custom_property(f"num_{split}", count)
    for reason, count in counts["reasons"].items():
        quarantine.set_int_custom_property(f"reason:{reason}", count)


def pattern_files(pattern: str, span: int) -> list[str]:
    """The log files of `span` under a `{SPAN}` pattern (logformat.log_files); IngestError when there are none."""
    files = span_files(pattern, span)
    if not files:
        raise IngestError(f"LogIngest: no log files of span {span} match {span_glob(pattern, span)} ({pattern})")
    return files


class LogIngestExecutor(base_beam_executor.BaseBeamExecutor):
    """Runs IngestLogs, checks the accounting, annotates both outputs with the counts, then enforces
    max_bad_fraction. Nothing is published (so nothing downstream runs) when either check fails."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        ingest = section_from_json(IngestConfig, exec_properties["ingest_json"], "ingest")
        examples = artifact_utils.get_single_instance(output_dict["examples"])
        quarantine = artifact_utils.get_single_instance(output_dict["quarantine"])
        pattern = ingest.logs_pattern
        if pattern:  # the user's own logs: the files of this span
            span = int(exec_properties.get("span") or 0)
            files: list[str] | None = pattern_files(pattern, span)
            logs_uri = pattern_base(pattern)
            log.info("LogIngest: span %d: %d files matching %s", span, len(files or []), pattern)
        else:
            logs = artifact_utils.get_single_instance(input_dict["logs"])
            span, files, logs_uri = int(logs.span or 0), None, logs.uri
        make_direct_runner_safe()
        pipeline = self._make_beam_pipeline()
        _ = pipeline | "IngestLogs" >> IngestLogs(logs_uri, ingest, examples.uri, quarantine.uri, files)
        result = pipeline.run()
        result.wait_until_finish()
        counts = read_counts(quarantine.uri)
        check_accounting(accounting_counters(result), examples.uri, quarantine.uri, counts)
        _annotate(examples, quarantine, span, counts)
        check_bad_fraction(counts, ingest, quarantine.uri)


class LogIngest(base_beam_component.BaseBeamComponent):
    """Parses RawLogs (or the files of `span` named by `ingest.logs_pattern`) into train/eval tf.Examples and
    quarantines malformed lines, with Beam.

    Input: `logs` (RawLogs; None when `ingest.logs_pattern` is set). Settings: the ingest section (exec property
    `ingest_json`); `span`, `logs_fingerprint` with a logs pattern. Outputs: `examples` (Examples, splits
    train/eval) and `quarantine` (QuarantinedRecords).
    """

    SPEC_CLASS = LogIngestSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(LogIngestExecutor)

    def __init__(
        self,
        logs: types.Channel | None,
        ingest: IngestConfig,
        span: int | None = None,
        logs_fingerprint: str | None = None,
    ):
        super().__init__(
            spec=LogIngestSpec(
                logs=logs,
                ingest_json=section_json(ingest),
                span=span,
                logs_fingerprint=logs_fingerprint,
                examples=types.Channel(type=standard_artifacts.Examples),
                quarantine=types.Channel(type=QuarantinedRecords),
            )
        )
