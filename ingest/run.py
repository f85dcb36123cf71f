"""IngestLogs: the Beam pipeline of the ingest (what the LogIngest component runs), and `run_ingest` outside TFX.

Beam pipeline::

    Create(<logs>/day=*/logs-*.jsonl*) -> Reshuffle -> ParDo(read each file in batches of <= 4096 lines, each line
                                                             bounded to max_line_bytes + 1 bytes)
      --batches-->      ParDo(judge_lines: Arrow table, vectorized checks, examples; per line what it cannot read)
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

The split, the duplicate check, the file-level records and the checks that nothing was lost are described in the
package docstring (ingest/__init__.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import apache_beam as beam
import tensorflow as tf
from apache_beam.io import iobase

from compat.install import install_patches
from config.settings import IngestConfig, PipelineConfig
from config.validation import validate_ingest
from ingest.accounting import accounting_counters, check_accounting
from ingest.counts import _issue_counts, _SumCounts, read_counts, summarize_counts
from ingest.dofns import _KeepFirstFn, _ParseBatchFn, _QuarantineDuplicatesFn, _ReadFileFn, source_name
from ingest.errors import IngestError
from ingest.layout import (
    EXAMPLES_FILE_PREFIX,
    QUARANTINE_COUNTS_FILE,
    QUARANTINE_FILE_PREFIX,
    SPLITS,
    join,
    raw_log_pattern,
)
from ingest.sink import WriteJsonFile, _TFRecordListSink


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
            | "WriteCounts" >> WriteJsonFile(join(self._quarantine_uri, QUARANTINE_COUNTS_FILE))
        )


def list_log_files(logs_uri: str) -> list[str]:
    """The log files of a RawLogs uri; IngestError when there are none."""
    files = sorted(tf.io.gfile.glob(raw_log_pattern(logs_uri)))
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
    install_patches()
    pipeline = beam.Pipeline(argv=list(beam_args or []))
    _ = pipeline | IngestLogs(logs_uri, config.ingest, examples_uri, quarantine_uri, files, tamper)
    result = pipeline.run()
    result.wait_until_finish()
    counts = read_counts(quarantine_uri)
    check_accounting(accounting_counters(result), examples_uri, quarantine_uri, counts)
    return counts
