"""How the world writes a record as a log line: compact JSON, key order kept (the log format's line encoding)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson


def json_lines(fields: tuple[str, ...], columns: dict[str, list]) -> list[bytes]:
    """Compact JSON objects (keys in `fields` order) of one batch, as `orjson.dumps` writes each record.

    Each column is serialised once by orjson (a JSON array) and split into its value tokens; a line is then the
    key/value template filled row by row. Splitting on "," is exact because no value a world writes contains a
    comma (numbers, null, and ids, enums and bucket names made of letters, digits, "_", "-" and "+").
    """
    template = b"{" + b",".join(b'"' + name.encode() + b'":%s' for name in fields) + b"}"
    tokens = [orjson.dumps(columns[name])[1:-1].split(b",") for name in fields]
    return [template % row for row in zip(*tokens)]


def record_rows(fields: tuple[str, ...], columns: dict[str, list]) -> Iterator[dict[str, Any]]:
    """Record dicts (keys in `fields` order) from one batch of column lists."""
    for row in zip(*(columns[name] for name in fields)):
        yield dict(zip(fields, row))


def encode_record(record: dict[str, Any]) -> str:
    """The canonical JSON text of a record (compact, key order preserved)."""
    return orjson.dumps(record).decode("utf-8")


def encode_line(line: str) -> bytes:
    """Bytes of a generated line. Lone surrogates (the `invalid_utf8` corruption) become raw bytes."""
    return line.encode("utf-8", "surrogateescape")
