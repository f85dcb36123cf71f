"""Custom TFX artifact types of the log generator and the log ingest, and the layout of their directories.

RawLogs layout (written by LogGen, read by LogIngest)::

    <uri>/day=00003/logs-00000-of-00004.jsonl.gz   one gzipped JSON-lines file per (day, shard)
    <uri>/generation.json                          what was generated: days, shards, lines, corruptions

QuarantinedRecords layout (written by LogIngest)::

    <uri>/quarantined-00000-of-00001.jsonl.gz      {"reason", "source", "line", "line_bytes", "truncated"}
    <uri>/counts.json                              {"total", "good", "quarantined", "bad_fraction",
                                                    "splits": {...}, "reasons": {reason: count}}

The names and paths of the log files and of the quarantine live with the ingest (ingest/layout.py) and are
re-exported here, with generation.json from generation/layout.py. Paths are built only from numbers (day, shard) and
constants, never from log content.
"""

from __future__ import annotations

from tfx.types.artifact import Artifact

from generation.layout import GENERATION_SUMMARY_FILE
from ingest.layout import (
    QUARANTINE_COUNTS_FILE,
    QUARANTINE_FILE_PREFIX,
    RAW_LOG_FILE_GLOB,
    day_dir,
    join,
    raw_log_pattern,
    shard_path,
)

__all__ = [
    "GENERATION_SUMMARY_FILE",
    "QUARANTINE_COUNTS_FILE",
    "QUARANTINE_FILE_PREFIX",
    "RAW_LOG_FILE_GLOB",
    "SPAN_PROPERTY_NAME",
    "QuarantinedRecords",
    "RawLogs",
    "day_dir",
    "join",
    "raw_log_pattern",
    "shard_path",
]

SPAN_PROPERTY_NAME = "span"


class _SpanArtifact(Artifact):
    """An artifact with a `span` attribute kept as an int *custom* property.

    Kubeflow V2 compiles custom artifact types against the generic `Artifact` schema, which declares no
    properties (`PROPERTIES` would make the compiler fail), so `span` lives among the custom properties.
    """

    @property
    def span(self) -> int:
        return self.get_int_custom_property(SPAN_PROPERTY_NAME)

    @span.setter
    def span(self, value: int) -> None:
        self.set_int_custom_property(SPAN_PROPERTY_NAME, int(value))


class RawLogs(_SpanArtifact):
    """A directory of raw impression logs (gzipped JSON lines), one span per day.

    `span` (int custom property) is the day of the logs. Custom properties set by LogGen: `day`,
    `num_lines`, `num_shards`, `num_corrupted`, `seed`.
    """

    # "<importable module>.<Class>": Kubeflow V2 encodes a custom type's name as its schema title and the
    # container imports the class from it (one dot, lowercase module: KFP's schema-title rule).
    TYPE_NAME = "components.RawLogs"


class QuarantinedRecords(_SpanArtifact):
    """Log lines that failed to parse or validate, each with its reason, plus `counts.json`.

    `span` (int custom property) is the span of the logs they came from. Custom properties set by LogIngest:
    `num_total`, `num_good`, `num_quarantined`, `bad_fraction` and `reason:<code>` counts.
    """

    TYPE_NAME = "components.QuarantinedRecords"  # importable path, as for RawLogs
