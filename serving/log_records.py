"""Raw log records -> label-free serialized tf.Examples, parsed exactly as LogIngest parses them.

What a client sends to `serving_default` (models/serving.py) is serialized tf.Examples of the raw serving features.
:func:`read_log_records` turns a JSON-lines log file into those examples with the ingest's own parser
(`logformat.parser.parse_line`), labels removed; malformed lines come back with their quarantine reason.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass, field

from config.settings import IngestConfig
from logformat.parser import parse_line
from serving.export import LABEL_FEATURES, strip_features


@dataclass
class LogRecords:
    """Valid records as label-free serialized tf.Examples, and the lines that failed, with their reasons."""

    examples: list[bytes] = field(default_factory=list)
    impression_ids: list[str] = field(default_factory=list)
    line_numbers: list[int] = field(default_factory=list)
    quarantined: list[tuple[int, str]] = field(default_factory=list)  # (1-based line number, reason)


def _lines(path: str) -> Iterator[bytes]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        yield from f


def read_log_records(path: str, ingest: IngestConfig | None = None, limit: int | None = None) -> LogRecords:
    """Parses a JSON-lines log file (optionally .gz) exactly as LogIngest does; blank lines are skipped.

    `limit` bounds the number of valid records read. Labels (click, like, ..., survey) are removed: clients send
    only the features.
    """
    ingest = ingest or IngestConfig()
    out = LogRecords()
    for number, line in enumerate(_lines(path), start=1):
        if limit is not None and len(out.examples) >= limit:
            break
        if not line.strip():
            continue
        result = parse_line(line.rstrip(b"\r\n"), ingest)
        if result.example is None:
            out.quarantined.append((number, result.reason or "unknown"))
            continue
        out.examples.append(strip_features(result.example.SerializeToString(), LABEL_FEATURES))
        out.impression_ids.append(result.impression_id or "")
        out.line_numbers.append(number)
    return out
