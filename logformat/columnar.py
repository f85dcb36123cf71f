"""The verdicts of a batch of log lines, judged as columns: Arrow's JSON reader parses the batch into a table,
vectorized checks accept the valid rows and `logformat.example_encoder` encodes them; the lines this cannot judge
go to the per-line parser.

`judge_lines` gives every line exactly what the per-line reference gives it (`logformat.parser.check_line`, then
`record_to_example(...).SerializeToString(deterministic=True)`): the same quarantine reason, or an example with the
same bytes. The columnar path only ever *accepts*: it takes the lines whose form it can read without doubt, and of
those the rows that pass every rule; every other line (a reason to name, or a form it does not read) is judged by
`check_line`. So the reasons come from one set of rules, and the columnar checks are the same rules as vectors.

A line is read as a column row only when it is plainly one flat JSON object (`_PLAIN`): `{` ... `}` with no other
brace, no bracket, no escaped quote (a string then holds no `"` of its own, so `":` marks exactly the end of a key;
other escapes, `\\u` included, Arrow decodes as json does, and it rejects a lone surrogate) and no control character,
within `max_line_bytes`, valid UTF-8, holding exactly the keys of the batch's layout (the keys of its first plain
line: core and world fields, and unknown fields with scalar values, read as columns of their type and otherwise
ignored). Arrow's reader then parses it the way `json.loads` does (numbers correctly rounded; a duplicate key, a
wrong JSON type, an int token in an int column that is not an int64 are errors). A batch that fails to parse is
parsed again without the failing line (Arrow names its row) or, when no row is named, in halves, down to single
lines.

Checks on the table, as in `validate_record`: non-null where required; strings of 1..max_field_chars characters and
in their enum; ints in range; floats finite and below 2**63 in magnitude (an int token beyond int64 reads as a float
here, so such rows go to the per-line path, and so do zeros written `-0`: an int 0 to json, -0.0 here), in range
after the cast to float32 (positive fields > 0 after it); and the cross-field rules on the float32 values.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from config.settings import IngestConfig
from logformat.example_encoder import encode_columns
from logformat.parser import (
    FIELD_TYPES,
    POSITIVE_FIELDS,
    VALUE_RANGES,
    check_line,
    encode_examples,
    record_to_example,
)
from logformat.schema import (
    ENUMS,
    EXAMPLE_BYTES_FEATURES,
    EXAMPLE_FLOAT_FEATURES,
    EXAMPLE_INT_FEATURES,
    world_field_spec,
)

# One flat JSON object, no escaped quote, no control characters: the form the columnar path reads (see above).
_PLAIN = re.compile(rb'\{(?:[^\x00-\x1f\\\[\]{}]|\\(?!"))*\}')
_PLAIN_BYTES = bytes(b for b in range(256) if b >= 0x20 and b not in b"[]")  # braces are counted
_NUMBER_LIMIT = 2.0**63  # floats from it on go to the per-line path (an int token there is out_of_range)
_MAX_CACHED_LAYOUTS = 64
_ROW = re.compile(r"in row (\d+)")
_LAYOUT_TRIES = 8  # plain lines tried for the batch's layout
PARSE_ROWS = 1_024  # lines parsed by one call of Arrow's reader (a failure parses again at most that many)
_MAX_PARSE_FAILURES = 16  # per PARSE_ROWS lines; a batch failing more often (hostile input): per-line path

# A line's verdict: (reason, impression id, serialized example); reason None for an example.
Verdict = tuple[str | None, str | None, bytes | None]


@dataclass(frozen=True)
class _Field:
    name: str
    kind: type  # int, float or str: the Arrow column's type (int64, float64, utf8)
    nullable: bool
    low: float | None
    high: float | None
    positive: bool
    enum: tuple[str, ...] | None


class _Layout:
    """What the columnar path needs to know about one tuple of keys: the Arrow schema, the checks, the features."""

    def __init__(self, keys: Sequence[str], unknown: dict[str, pa.DataType]):
        fields = []
        for name in keys:
            if name in unknown:
                continue
            types = FIELD_TYPES.get(name)
            if types is not None:
                kind = str if str in types else float if float in types else int
                low, high, _ = VALUE_RANGES.get(name, (None, None, ""))
                fields.append(
                    _Field(name, kind, type(None) in types, low, high, name in POSITIVE_FIELDS, ENUMS.get(name))
                )
            else:
                spec = world_field_spec(name)
                assert spec is not None
                fields.append(_Field(name, spec.type, spec.nullable, spec.low, spec.high, False, spec.enum))
        self.fields = tuple(fields)  # the known fields, checked and encoded
        self.keys = len(keys)
        arrow = {int: pa.int64(), float: pa.float64(), str: pa.string()}
        self.schema = pa.schema([*((f.name, arrow[f.kind]) for f in fields), *unknown.items()])
        self.world = tuple(f for f in fields if f.name not in FIELD_TYPES)


_LAYOUTS: dict[tuple[Any, ...], _Layout | None] = {}


def _unknown_type(value: Any) -> pa.DataType | None:
    """The Arrow type that reads an unknown field's scalar value (None: not read as a column)."""
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        return pa.int64() if -(2**63) <= value < 2**63 else None
    if isinstance(value, float):
        return pa.float64()
    return pa.string() if isinstance(value, str) else None


def _layout(line: bytes) -> _Layout | None:
    """The layout of a plain line's keys, None when one of them is not a known field or an unknown field with a
    scalar value, or a core field is missing (such lines are judged one by one). Unknown fields are read as columns of
    their first value's type (a row where it has another type fails to parse: judged one by one) and ignored."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    unknown = {
        name: _unknown_type(value)
        for name, value in record.items()
        if name not in FIELD_TYPES and world_field_spec(name) is None
    }
    cache_key = (tuple(record), tuple(unknown.items()))
    if cache_key in _LAYOUTS:
        return _LAYOUTS[cache_key]
    readable = None not in unknown.values() and all(name in record for name in FIELD_TYPES)
    layout = _Layout(tuple(record), unknown) if readable else None
    if len(_LAYOUTS) >= _MAX_CACHED_LAYOUTS:
        _LAYOUTS.clear()
    _LAYOUTS[cache_key] = layout
    return layout


def _read(lines: Sequence[bytes], schema: pa.Schema) -> pa.Table:
    buffer = b"\n".join(lines)
    return pa_json.read_json(
        io.BytesIO(buffer),
        read_options=pa_json.ReadOptions(use_threads=False, block_size=len(buffer) + 1),
        parse_options=pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error"),
    )


def _parse(lines: list[bytes], rows: list[int], schema: pa.Schema) -> tuple[list[pa.Table], list[int]]:
    """Tables of the lines Arrow parses, with the row numbers they hold (in order); rows it cannot parse are left
    out (the per-line path judges them), and so is the rest of a batch after _MAX_PARSE_FAILURES failures per
    PARSE_ROWS lines (each failure parses again what it had read: hostile input must not cost quadratic time). The
    lines are parsed PARSE_ROWS at a time, so a failure costs the same whatever the batch size."""
    tables, kept = [], []
    starts = range(0, len(rows), PARSE_ROWS)
    pending = [(start, min(start + PARSE_ROWS, len(rows))) for start in reversed(starts)]
    failures = 0
    while pending and failures <= _MAX_PARSE_FAILURES * len(starts):
        start, stop = pending.pop()
        try:
            table = _read([lines[r] for r in rows[start:stop]], schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            failures += 1
            if stop - start == 1:
                continue
            match = _ROW.search(str(err))
            bad = start + int(match.group(1)) if match else -1
            if start <= bad < stop:
                pending += [(bad + 1, stop), (start, bad)] if bad > start else [(bad + 1, stop)]
            else:
                middle = (start + stop) // 2
                pending += [(middle, stop), (start, middle)]
            continue
        if table.num_rows != stop - start:  # never expected for plain lines; judged one by one then
            continue
        tables.append(table)
        kept.extend(rows[start:stop])
    return tables, kept


def _present(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(column.is_valid(), dtype=bool)


def _accepted(table: pa.Table, layout: _Layout, max_field_chars: int) -> np.ndarray:
    """Which rows pass every rule of `validate_record` (vectorized; see the module docstring)."""
    ok = np.ones(table.num_rows, dtype=bool)
    float32: dict[str, np.ndarray] = {}
    for field in layout.fields:
        column = table.column(field.name)
        present = _present(column)
        if field.kind is str:
            chars = pc.utf8_length(column).fill_null(1).to_numpy()
            good = (chars > 0) & (chars <= max_field_chars)
            if field.enum is not None:
                good &= np.asarray(pc.is_in(column, value_set=pa.array(field.enum)).fill_null(True), dtype=bool)
        elif field.kind is int:
            values = column.fill_null(0).to_numpy()
            good = np.ones(values.size, dtype=bool)
            if field.low is not None:
                good &= values >= field.low
            if field.high is not None:
                good &= values <= field.high
        else:
            values = column.fill_null(0.0).to_numpy()
            with np.errstate(invalid="ignore"):
                good = np.abs(values) < _NUMBER_LIMIT  # False for NaN and infinities
                good &= ~((values == 0) & np.signbit(values))  # -0: the float -0.0, or the int 0 (json: 0.0)
                rounded = np.where(good, values, 0.0).astype(np.float32).astype(np.float64)
                if field.positive:
                    good &= rounded > 0
                if field.low is not None:
                    good &= rounded >= field.low
                if field.high is not None:
                    good &= rounded <= field.high
            float32[field.name] = rounded
        ok &= (good | ~present) if field.nullable else (good & present)
    watch, duration = float32["watch_time_s"], float32["video_duration_s"]
    click = table.column("click").fill_null(0).to_numpy()
    ok &= (watch <= duration) & ((watch <= 0) | (click != 0))
    return ok


def _examples(table: pa.Table, layout: _Layout) -> list[bytes]:
    """The serialized tf.Examples of accepted rows (as `record_to_example`, in the canonical bytes)."""
    names: list[str] = []
    columns: list[pa.Array] = []

    def column(name: str) -> pa.Array:
        return table.column(name).combine_chunks()

    def add(name: str, values: pa.Array) -> None:
        names.append(name)
        if pa.types.is_floating(values.type):
            values = values.cast(pa.float32(), safe=False)  # round to nearest, as the proto's float
        elif pa.types.is_string(values.type):
            values = values.cast(pa.binary())
        columns.append(values)

    rating = column("survey_rating")
    for name in EXAMPLE_INT_FEATURES:
        add(name, rating.is_valid().cast(pa.int64()) if name == "has_survey" else column(name))
    for name in EXAMPLE_FLOAT_FEATURES:
        add(name, rating.fill_null(0).cast(pa.float64()) if name == "survey_rating" else column(name))
    for name in (*EXAMPLE_BYTES_FEATURES, *(field.name for field in layout.world)):
        add(name, column(name))
    return encode_columns(names, columns)


def _judge_each(lines: Sequence[bytes], ingest: IngestConfig) -> list[Verdict]:
    """The per-line path: `check_line` for each line, the valid records encoded together (`encode_examples`; one by
    one when the batch fails, and a record that fails alone is an internal_error)."""
    checked = [check_line(line, ingest) for line in lines]
    records = [record for record, _ in checked if record is not None]
    try:
        examples: list[bytes | None] = list(encode_examples(records))
    except Exception:  # noqa: BLE001 - isolate the record that breaks the batch
        examples = [_example_or_none(record) for record in records]
    encoded = iter(examples)
    out: list[Verdict] = []
    for record, reason in checked:
        if record is None:
            out.append((reason or "internal_error", None, None))
            continue
        example = next(encoded)
        out.append((None, record["impression_id"], example) if example is not None else ("internal_error", None, None))
    return out


def _example_or_none(record: dict[str, Any]) -> bytes | None:
    try:
        return record_to_example(record).SerializeToString(deterministic=True)
    except Exception:  # noqa: BLE001 - defence in depth: a bug here must not crash the ingest
        return None


def _columnar(lines: Sequence[bytes], ingest: IngestConfig, verdicts: list[Verdict | None]) -> None:
    """Fills in the verdicts of the lines the columnar path accepts."""
    plain = _plain_lines(lines, ingest.max_line_bytes)
    if not plain:
        return
    layout = next(filter(None, (_layout(lines[i]) for i in plain[:_LAYOUT_TRIES])), None)
    if layout is None:
        return
    candidates = [i for i in plain if lines[i].count(b'":') == layout.keys]
    if not b"".join(lines[i] for i in candidates).isascii():
        candidates = [i for i in candidates if _utf8(lines[i])]
    tables, rows = _parse(list(lines), candidates, layout.schema)
    if not tables:
        return
    table = pa.concat_tables(tables)
    accepted = _accepted(table, layout, ingest.max_field_chars)
    table = table.filter(pa.array(accepted))
    rows = [r for r, ok in zip(rows, accepted.tolist()) if ok]
    if not rows:
        return
    ids = table.column("impression_id").to_pylist()
    for row, impression_id, example in zip(rows, ids, _examples(table, layout)):
        verdicts[row] = (None, impression_id, example)


def _plain_lines(lines: Sequence[bytes], max_line_bytes: int) -> list[int]:
    """The indices of the lines of `_PLAIN` form: one check of the whole batch when it is clean (the common case)."""
    fits = [i for i, line in enumerate(lines) if len(line) <= max_line_bytes and line[:1] == b"{" and line[-1:] == b"}"]
    buffer = b"".join(lines[i] for i in fits)
    clean = (
        not buffer.translate(None, _PLAIN_BYTES) and buffer.count(b"{") == len(fits) and buffer.count(b"}") == len(fits)
    )
    if clean:  # no quote preceded by a backslash: every quote delimits a string
        return fits if b'\\"' not in buffer else [i for i in fits if b'\\"' not in lines[i]]
    return [i for i in fits if _PLAIN.fullmatch(lines[i]) is not None]


def _utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def judge_lines(lines: Sequence[bytes], ingest: IngestConfig) -> list[Verdict]:
    """(reason, impression id, example) of each line: the per-line parser's verdict, a batch at a time. Never raises
    for any input (the columnar path failing as a whole leaves every line to the per-line path)."""
    verdicts: list[Verdict | None] = [None] * len(lines)
    try:
        _columnar(lines, ingest, verdicts)
    except Exception:  # noqa: BLE001 - defence in depth: the per-line path judges the batch
        verdicts = [None] * len(lines)
    rest = [i for i, v in enumerate(verdicts) if v is None]
    for i, verdict in zip(rest, _judge_each([lines[i] for i in rest], ingest)):
        verdicts[i] = verdict
    return verdicts  # type: ignore[return-value]
