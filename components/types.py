"""Custom TFX artifact types of the log generator and the log ingest, and the layout of their directories.

RawLogs layout (written by LogGen, read by LogIngest)::

    <uri>/day=00003/logs-00000-of-00004.jsonl.gz   one gzipped JSON-lines file per (day, shard)
    <uri>/generation.json                          what was generated: days, shards, lines, corruptions

QuarantinedRecords layout (written by LogIngest)::

    <uri>/quarantined-00000-of-00001.jsonl.gz      {"reason", "source", "line", "line_bytes", "truncated"}
    <uri>/counts.json                              {"total", "good", "quarantined", "bad_fraction",
                                                    "splits": {...}, "reasons": {reason: count}}

Paths are built only from numbers (day, shard) and constants, never from log content.
"""

from __future__ import annotations

import posixpath

from tfx.types.artifact import Artifact

SPAN_PROPERTY_NAME = "span"

RAW_LOG_FILE_GLOB = "day=*/logs-*.jsonl*"  # relative to a RawLogs uri
GENERATION_SUMMARY_FILE = "generation.json"
QUARANTINE_FILE_PREFIX = "quarantined"
QUARANTINE_COUNTS_FILE = "counts.json"


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


def join(base: str, *parts: str) -> str:
    """Joins URI parts with '/', for local paths and gs:// or s3:// URIs alike."""
    return posixpath.join(base, *parts)


def day_dir(logs_uri: str, day: int) -> str:
    """The directory of one day inside a RawLogs uri."""
    return join(logs_uri, f"day={int(day):05d}")


def shard_path(logs_uri: str, day: int, shard: int, num_shards: int) -> str:
    """The file of one (day, shard) inside a RawLogs uri."""
    return join(day_dir(logs_uri, day), f"logs-{int(shard):05d}-of-{int(num_shards):05d}.jsonl.gz")


def raw_log_pattern(logs_uri: str) -> str:
    """The glob of every log file of a RawLogs uri."""
    return join(logs_uri, RAW_LOG_FILE_GLOB)
