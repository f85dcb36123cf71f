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

from tfx.types.artifact import Artifact, Property, PropertyType

SPAN_PROPERTY = Property(type=PropertyType.INT)

RAW_LOG_FILE_GLOB = "day=*/logs-*.jsonl*"  # relative to a RawLogs uri
GENERATION_SUMMARY_FILE = "generation.json"
QUARANTINE_FILE_PREFIX = "quarantined"
QUARANTINE_COUNTS_FILE = "counts.json"


class RawLogs(Artifact):
    """A directory of raw impression logs (gzipped JSON lines), one span per day.

    Properties: `span` (int) is the day of the logs. Custom properties set by LogGen: `day`,
    `num_lines`, `num_shards`, `num_corrupted`, `seed`.
    """

    TYPE_NAME = "RawLogs"
    PROPERTIES = {"span": SPAN_PROPERTY}


class QuarantinedRecords(Artifact):
    """Log lines that failed to parse or validate, each with its reason, plus `counts.json`.

    Properties: `span` (int), the span of the logs they came from. Custom properties set by LogIngest:
    `num_total`, `num_good`, `num_quarantined`, `bad_fraction` and `reason:<code>` counts.
    """

    TYPE_NAME = "QuarantinedRecords"
    PROPERTIES = {"span": SPAN_PROPERTY}


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
