"""The directories the ingest reads and writes, and how their files are named.

Logs (a RawLogs uri, written by LogGen; the ingest reads every file matching RAW_LOG_FILE_GLOB)::

    <logs>/day=00003/logs-00000-of-00004.jsonl.gz  one gzipped JSON-lines file per (day, shard)

Examples (the standard layout of an Examples artifact, the names stock ExampleGen uses)::

    <examples>/Split-train/data_tfrecord-*.gz      gzipped TFRecord files of serialized tf.Examples
    <examples>/Split-eval/data_tfrecord-*.gz

Quarantine (a QuarantinedRecords uri)::

    <quarantine>/quarantined-00000-of-00001.jsonl.gz  {"reason", "source", "line", "line_bytes", "truncated"}
    <quarantine>/counts.json                           {"total", "good", "quarantined", "bad_fraction",
                                                        "splits": {...}, "reasons": {reason: count}}

Paths are built only from numbers (day, shard) and constants, never from log content.
"""

from __future__ import annotations

import posixpath

from config.vocabulary import SPLITS as SPLITS  # the splits are the config's; the ingest's layout names them

RAW_LOG_FILE_GLOB = "day=*/logs-*.jsonl*"  # relative to a RawLogs uri
EXAMPLES_FILE_PREFIX = "data_tfrecord"  # the name stock ExampleGen uses
QUARANTINE_FILE_PREFIX = "quarantined"
QUARANTINE_COUNTS_FILE = "counts.json"


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
