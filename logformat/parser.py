"""Parse one raw log line into a tf.Example, or give the stable reason it must be quarantined.

`parse_line` is a pure function that never raises, whatever the input: logs are untrusted. It never
evaluates or unpickles anything (only `json.loads`), bounds the line size before decoding and the size
of every string field, and its quarantine reasons come from a fixed vocabulary (field names in reasons
are always schema field names, never text taken from the line), so counting by reason stays bounded.

Checks, in order (the first failure is the reason):

====================================  =============================================================
reason                                when
====================================  =============================================================
``invalid_input``                     the input is neither bytes nor str
``internal_error``                    a bug in the parser itself (never expected; kept, not raised)
``oversized_line``                    the line is longer than ``IngestConfig.max_line_bytes`` bytes
``invalid_utf8``                      the bytes are not valid UTF-8
``empty_line``                        the line is empty or only whitespace
``invalid_json``                      not parseable as JSON (truncated, garbage, too deep, ...)
``duplicate_key``                     an object repeats a key (ambiguous: which value is right?)
``not_an_object``                     valid JSON but not an object
``missing_field:<f>``                 a required field is absent
``null_field:<f>``                    a non-nullable field is null
``wrong_type:<f>``                    a field has the wrong JSON type (bool is never a number)
``empty_field:<f>``                   a string field is empty
``invalid_utf8:<f>``                  a string field holds an escaped lone surrogate (not UTF-8)
``oversized_field:<f>``               a string field is longer than ``IngestConfig.max_field_chars``
``unknown_enum:<f>``                  an enum field (device, surface) has an unknown value
``non_finite:<f>``                    a float field is NaN or infinite, or becomes infinite as float32 (> 3.4e38)
``out_of_range:<f>``                  outside int64, or the field's valid range after the float32 cast (a video > 24 h)
``negative:<f>``                      a count, time or age below zero
``watch_time_exceeds_duration``       watch_time_s > video_duration_s
``watch_without_click``               watch_time_s > 0 on an impression that was not clicked
====================================  =============================================================

The ingest adds reasons no single line can show: ``duplicate_impression_id``, ``empty_file`` and
``unreadable_file`` (ingest/dofns.py).

Unknown extra fields are ignored (forward compatible: a newer logger may add fields before the
ingest knows them). World fields (language, subscriptions, generated f_dense_* / f_cat_* features, ...) are
optional and checked by `logformat.world_fields` with the same reason kinds. Valid records become a
tf.Example with exactly the features listed in `log_schema.EXAMPLE_{INT,FLOAT,BYTES}_FEATURES` plus the
world fields present; `survey_rating` is 0.0 when null, with `has_survey` 0/1.
"""

from __future__ import annotations

import functools
import json
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tensorflow.core.example import example_pb2

from config.settings import IngestConfig
from logformat.schema import (
    ENUMS,
    EXAMPLE_BYTES_FEATURES,
    EXAMPLE_FLOAT_FEATURES,
    EXAMPLE_INT_FEATURES,
    FIELD_TYPES,
    FLOAT32_MAX,
    INT64_MAX,
    INT64_MIN,
    world_field_spec,
)
from logformat.world_fields import REASONS as WORLD_REASONS
from logformat.world_fields import add_world_features, as_float32, check_world_fields

# Absurd durations: no video on the platform is longer than a day (uploads are capped at 12 hours); a larger
# value is a unit or logging bug. Watch times are bounded by the duration (watch_time_exceeds_duration).
MAX_VIDEO_DURATION_S = 24 * 3600.0

# Inclusive valid ranges of numeric fields: (low, high, reason kind when violated). None: unbounded.
VALUE_RANGES: dict[str, tuple[float | None, float | None, str]] = {
    "timestamp": (0, None, "negative"),
    "day": (0, None, "negative"),
    "position": (0, None, "negative"),
    "hour_of_day": (0, 23, "out_of_range"),
    "video_views": (0, None, "negative"),
    "creator_subscribers": (0, None, "negative"),
    "user_watch_count": (0, None, "negative"),
    "video_age_days": (0, None, "negative"),
    "user_topic_share": (0, 1, "out_of_range"),
    "click": (0, 1, "out_of_range"),
    "like": (0, 1, "out_of_range"),
    "share": (0, 1, "out_of_range"),
    "dismiss": (0, 1, "out_of_range"),
    "watch_time_s": (0, None, "negative"),
    "survey_rating": (1, 5, "out_of_range"),
    "video_duration_s": (None, MAX_VIDEO_DURATION_S, "out_of_range"),
}
POSITIVE_FIELDS: tuple[str, ...] = ("video_duration_s",)  # must be > 0 (reason out_of_range:<f>)
# Fields that become float32 example features: their values are judged after that cast (a positive-only value that
# underflows to 0.0 is out_of_range; comparisons see the rounded values).
FLOAT32_FIELDS: frozenset[str] = frozenset(EXAMPLE_FLOAT_FEATURES) & frozenset(FIELD_TYPES)

_FIELD_REASON_KINDS = (
    "invalid_utf8",
    "missing_field",
    "null_field",
    "wrong_type",
    "empty_field",
    "oversized_field",
    "unknown_enum",
    "non_finite",
    "out_of_range",
    "negative",
)
_PLAIN_REASONS = (
    "invalid_input",
    "internal_error",
    "oversized_line",
    "invalid_utf8",
    "empty_line",
    "invalid_json",
    "duplicate_key",
    "not_an_object",
    "watch_time_exceeds_duration",
    "watch_without_click",
)
# Every reason parse_line can return (and nothing else): a bounded vocabulary.
REASONS: frozenset[str] = (
    frozenset(_PLAIN_REASONS)
    | frozenset(f"{kind}:{field}" for kind in _FIELD_REASON_KINDS for field in FIELD_TYPES)
    | WORLD_REASONS
)


@dataclass(frozen=True)
class ParseResult:
    """Either `example` (a valid record) or `reason` (why the line is quarantined), never both."""

    example: example_pb2.Example | None = None
    reason: str | None = None
    impression_id: str | None = None  # the split key of a valid record

    @property
    def ok(self) -> bool:
        return self.example is not None


class _DuplicateKeyError(ValueError):
    pass


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKeyError
    return obj


# One decoder for every line (json.loads with a hook builds a new one per call). Like json.loads for a str, except
# for its explicit byte-order-mark error: a BOM is not JSON whitespace, so decode() rejects it as well (invalid_json).
_DECODER = json.JSONDecoder(object_pairs_hook=_reject_duplicate_keys)


def parse_line(line: bytes | str, ingest: IngestConfig) -> ParseResult:
    """Parses one JSON log line (trailing newline optional). Never raises; see the module docstring."""
    record, reason = check_line(line, ingest)
    if record is None:
        return ParseResult(reason=reason)
    try:
        return ParseResult(example=record_to_example(record), impression_id=record["impression_id"])
    except Exception:  # noqa: BLE001 - defence in depth: a bug here must not crash the ingest
        return ParseResult(reason="internal_error")


def check_line(line: bytes | str, ingest: IngestConfig) -> tuple[dict[str, Any] | None, str | None]:
    """(the validated record, None) or (None, the quarantine reason). Never raises."""
    try:
        return _check_line(line, ingest)
    except Exception:  # noqa: BLE001 - defence in depth: a parser bug must not crash the ingest
        return None, "internal_error"


def _check_line(line: bytes | str, ingest: IngestConfig) -> tuple[dict[str, Any] | None, str | None]:
    if isinstance(line, str):
        try:
            size = len(line.encode("utf-8"))
        except UnicodeEncodeError:  # lone surrogates: not representable as UTF-8
            return None, "invalid_utf8"
        if size > ingest.max_line_bytes:
            return None, "oversized_line"
        text = line
    elif isinstance(line, (bytes, bytearray, memoryview)):
        if len(line) > ingest.max_line_bytes:
            return None, "oversized_line"
        try:
            text = bytes(line).decode("utf-8")
        except UnicodeDecodeError:
            return None, "invalid_utf8"
    else:
        return None, "invalid_input"
    if not text or text.isspace():  # the whitespace of str.strip()
        return None, "empty_line"
    try:
        record = _DECODER.decode(text)
    except _DuplicateKeyError:
        return None, "duplicate_key"
    except (ValueError, RecursionError):
        return None, "invalid_json"
    if not isinstance(record, dict):
        return None, "not_an_object"
    if is_valid_fast(record, ingest.max_field_chars):
        return record, None
    reason = validate_record(record, ingest)
    return (None, reason) if reason is not None else (record, None)


def validate_record(record: dict[str, Any], ingest: IngestConfig) -> str | None:
    """The quarantine reason of a decoded JSON object, or None when it is a valid record.

    The reference: field by field, in order, so the first failure names the reason. `check_line` asks the
    conservative `is_valid_fast` first and comes here only for the records it does not accept.
    """
    for field, types in FIELD_TYPES.items():
        if field not in record:
            return f"missing_field:{field}"
        value = record[field]
        if value is None:
            if type(None) in types:
                continue
            return f"null_field:{field}"
        if isinstance(value, bool) or not isinstance(value, types):
            return f"wrong_type:{field}"
        reason = _check_value(field, value, ingest)
        if reason is not None:
            return reason
    world_reason = check_world_fields(record, ingest.max_field_chars)
    if world_reason is not None:
        return world_reason
    duration, watch = as_float32(record["video_duration_s"]), as_float32(record["watch_time_s"])
    if watch > duration:
        return "watch_time_exceeds_duration"
    if watch > 0 and record["click"] == 0:
        return "watch_without_click"
    return None


def _check_value(field: str, value: Any, ingest: IngestConfig) -> str | None:
    if isinstance(value, str):
        if not value:
            return f"empty_field:{field}"
        if len(value) > ingest.max_field_chars:
            return f"oversized_field:{field}"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a JSON escape of a lone surrogate, e.g. "\\ud800"
            return f"invalid_utf8:{field}"
        if field in ENUMS and value not in ENUMS[field]:
            return f"unknown_enum:{field}"
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"non_finite:{field}"
        if abs(value) > FLOAT32_MAX:  # finite here, but the float32 example would hold inf
            return f"non_finite:{field}"
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        return f"out_of_range:{field}"
    if field in FLOAT32_FIELDS:  # judged as the float32 example will hold it: 1e-50 becomes 0.0
        value = as_float32(value)
    if field in POSITIVE_FIELDS and not value > 0:
        return f"out_of_range:{field}"
    bounds = VALUE_RANGES.get(field)
    if bounds is not None:
        low, high, kind = bounds
        if (low is not None and value < low) or (high is not None and value > high):
            return f"{kind}:{field}"
    return None


def record_to_example(record: dict[str, Any]) -> example_pb2.Example:
    """The tf.Example of a validated record: exactly the features of log_schema.EXAMPLE_*_FEATURES."""
    example = example_pb2.Example()
    features = example.features.feature
    for name in EXAMPLE_INT_FEATURES:
        features[name].int64_list.value.append(int(_example_value(record, name)))
    for name in EXAMPLE_FLOAT_FEATURES:
        features[name].float_list.value.append(float(_example_value(record, name)))
    for name in EXAMPLE_BYTES_FEATURES:
        features[name].bytes_list.value.append(record[name].encode("utf-8"))
    add_world_features(features, record)
    return example


def _example_value(record: dict[str, Any], name: str) -> Any:
    rating = record["survey_rating"]
    if name == "has_survey":
        return int(rating is not None)
    if name == "survey_rating":
        return float(rating or 0.0)
    return record[name]


# -- encoding a batch: the wire format of tf.Example, column by column with numpy ------------------------------------
#
# A tf.Example with one value per feature, as `record_to_example(r).SerializeToString(deterministic=True)` writes it
# (map entries sorted by key; the tests check byte equality):
#
#   Example:   0a <len> Features
#   Features:  per feature, in key order: 0a <len> Entry
#   Entry:     0a <len(key)> key  12 <len> Feature      (a missing world value: an empty Feature, "12 00")
#   Feature:   int64_list 1a <len> (0a <len> varint), float_list 12 06 (0a 04 float32),
#              or bytes_list 0a <len> (0a <len> b)
#
# Each record's bytes are a sequence of segments (constant prefixes, varints, float32s, strings), built a column of
# segments at a time with numpy and packed into records with one boolean mask (_Segments). Bytes, not protos, so the
# output does not depend on a C++ map's iteration order: the same records always give the same bytes.

_SHIFTS = np.arange(0, 64, 7, dtype=np.uint64)  # the 7-bit groups of a 64-bit varint (10 of them)
_MAX_KEY_BYTES = 100  # keeps every length inside an entry prefix below 128, i.e. a one-byte varint


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _varints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Base-128 varints of int64 or uint64 `values` (negative: ten bytes, two's complement, as protobuf writes
    int64): (an n x width uint8 matrix, the length of each row's varint)."""
    v = values.astype(np.int64).view(np.uint64) if values.dtype.kind == "i" else values.astype(np.uint64)
    if v.size == 0 or int(v.max()) < 0x80:
        return v.astype(np.uint8).reshape(-1, 1), np.ones(v.size, dtype=np.int64)
    groups = v[:, None] >> _SHIFTS
    lengths = np.maximum(1, np.count_nonzero(groups, axis=1))
    more = np.arange(_SHIFTS.size) < (lengths - 1)[:, None]
    return ((groups & np.uint64(0x7F)) | (more.astype(np.uint64) << np.uint64(7))).astype(np.uint8), lengths


class _Segments:
    """The serializations of n records as columns of segments (each column: one segment per record, possibly empty).

    Columns are laid side by side in an n x width matrix, each padded to its widest segment; a boolean mask of the
    bytes in use then packs the matrix row by row into the records' concatenation (numpy's row-major order).
    """

    def __init__(self, n: int):
        self.n = n
        self._columns: list[tuple[np.ndarray, np.ndarray | None]] = []  # (n x w or 1 x w uint8, lengths or None)

    def rows(self, matrix: np.ndarray, lengths: np.ndarray | None, present: np.ndarray | None = None) -> None:
        """Row i of `matrix`, its first lengths[i] bytes (all of it: None; nothing where not present[i])."""
        if present is not None:
            lengths = np.where(present, matrix.shape[1] if lengths is None else lengths, 0)
        self._columns.append((matrix, lengths))

    def const(self, data: bytes, present: np.ndarray | None = None) -> None:
        """The same bytes in every record (none where not present[i])."""
        self.rows(np.frombuffer(data, dtype=np.uint8).reshape(1, -1), None, present)

    def blob(self, data: bytes, lengths: np.ndarray) -> None:
        """Consecutive pieces of `data`: lengths[i] bytes for record i."""
        used = np.arange(int(lengths.max(initial=0))) < lengths[:, None]
        matrix = np.zeros(used.shape, dtype=np.uint8)
        matrix[used] = np.frombuffer(data, dtype=np.uint8)
        self._columns.append((matrix, lengths))

    def varints(self, values: np.ndarray, present: np.ndarray | None = None) -> None:
        matrix, lengths = _varints(values)
        self.rows(matrix, lengths, present)

    def serialize(self) -> list[bytes]:
        """Each record: 0a <varint length> followed by its segments in column order."""
        full = np.array([c.shape[1] if lengths is None else 0 for c, lengths in self._columns]).sum()
        body = full + sum((lengths for _, lengths in self._columns if lengths is not None), np.zeros(self.n, np.int64))
        header, header_lengths = _varints(body)
        columns = [(np.full((1, 1), 0x0A, dtype=np.uint8), None), (header, header_lengths), *self._columns]
        width = sum(c.shape[1] for c, _ in columns)
        packed = np.empty((self.n, width), dtype=np.uint8)
        used = np.ones((self.n, width), dtype=bool)
        at = 0
        for matrix, lengths in columns:
            w = matrix.shape[1]
            packed[:, at : at + w] = matrix
            if lengths is not None:
                used[:, at : at + w] = np.arange(w) < lengths[:, None]
            at += w
        data = packed[used].tobytes()
        ends = np.cumsum(body + 1 + header_lengths).tolist()
        return [data[a:b] for a, b in zip([0, *ends[:-1]], ends)]


def _entry_head(key: bytes, length: int) -> bytes:
    """A map entry up to its Feature's payload: 0a <entry length> 0a <len(key)> key 12."""
    return b"\x0a" + _varint(length) + b"\x0a" + _varint(len(key)) + key + b"\x12"


@functools.lru_cache(maxsize=4096)
def _int_heads(key: bytes) -> np.ndarray:
    """Everything of an int64 feature's entry before its varint, which depends only on the varint's length k:
    row k - 1, for k in 1..10 (rows of equal width)."""
    heads = [_entry_head(key, len(key) + 8 + k) + bytes([k + 4, 0x1A, k + 2, 0x0A, k]) for k in range(1, 11)]
    return np.array([list(head) for head in heads], dtype=np.uint8)


def _add_feature(segments: _Segments, name: str, kind: type, values: Sequence[Any]) -> None:
    """The map entry of feature `name` for every record (None: a missing value, an empty Feature)."""
    key = name.encode("utf-8")
    present = None
    if None in values:
        present = np.array([v is not None for v in values], dtype=bool)
        segments.const(_entry_head(key, len(key) + 4) + b"\x00", ~present)  # 12 00: the empty Feature
        values = [0 if v is None else v for v in values] if kind is not str else [v or "" for v in values]
    if kind is float:
        floats = np.asarray(values, dtype=np.float64).astype("<f4")  # as float(v) then the proto's float
        segments.const(_entry_head(key, len(key) + 12) + b"\x08\x12\x06\x0a\x04", present)
        segments.rows(floats.view(np.uint8).reshape(-1, 4), None, present)
    elif kind is int:
        matrix, lengths = _varints(np.asarray(values, dtype=np.int64))
        # Everything before the varint depends only on its length k (1..10): ten alternatives of equal width.
        segments.rows(_int_heads(key)[lengths - 1], None, present)
        segments.rows(matrix, lengths, present)
    else:
        text = "".join(values)
        if text.isascii():
            data, sizes = text.encode("ascii"), np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        else:
            encoded = [v.encode("utf-8") for v in values]
            data, sizes = b"".join(encoded), np.fromiter(map(len, encoded), dtype=np.int64, count=len(values))
        list_length = 1 + _varints(sizes)[1] + sizes  # 0a <m> b
        feature_length = 1 + _varints(list_length)[1] + list_length  # 0a <len> BytesList
        entry_length = 2 + len(key) + 1 + _varints(feature_length)[1] + feature_length
        segments.const(b"\x0a", present)
        segments.varints(entry_length, present)
        segments.const(b"\x0a" + _varint(len(key)) + key + b"\x12", present)
        segments.varints(feature_length, present)
        segments.const(b"\x0a", present)
        segments.varints(list_length, present)
        segments.const(b"\x0a", present)
        segments.varints(sizes, present)
        segments.blob(data, sizes if present is None else np.where(present, sizes, 0))


_CORE_FEATURES: tuple[tuple[str, type], ...] = (
    *((name, int) for name in EXAMPLE_INT_FEATURES),
    *((name, float) for name in EXAMPLE_FLOAT_FEATURES),
    *((name, str) for name in EXAMPLE_BYTES_FEATURES),
)
_DERIVED = ("has_survey", "survey_rating")  # features computed from survey_rating (_example_value)


def encode_examples(records: Sequence[dict[str, Any]]) -> list[bytes]:
    """Serialized tf.Examples of validated records, a batch at a time with numpy.

    Byte for byte `record_to_example(r).SerializeToString(deterministic=True)` (the tests check it), several times
    faster per record: the ingest's Beam pipeline encodes whole batches this way. A batch whose records do not all
    carry the same world fields is encoded record by record.
    """
    if not records:
        return []
    world = {_layout_of(record).world for record in records}
    if len(world) != 1:
        return [record_to_example(r).SerializeToString(deterministic=True) for r in records]
    features = sorted((*_CORE_FEATURES, *world.pop()), key=lambda f: f[0].encode("utf-8"))
    if max(len(name.encode("utf-8")) for name, _ in features) > _MAX_KEY_BYTES:
        return [record_to_example(r).SerializeToString(deterministic=True) for r in records]
    names = [name for name, _ in features if name not in _DERIVED]
    # Row by row into tuples (one C call per record, each dict read once), then transposed into columns.
    columns: dict[str, Sequence[Any]] = dict(zip(names, zip(*map(operator.itemgetter(*names), records))))
    for name in _DERIVED:
        columns[name] = [_example_value(r, name) for r in records]
    segments = _Segments(len(records))
    for name, kind in features:
        _add_feature(segments, name, kind, columns[name])
    return segments.serialize()


# -- the fast path: one test of a whole record for the common, all-valid case ---------------------------------------
#
# Records of one log format share their keys (in order), so what the checks need to know about the keys (which are
# world fields, which spec each follows, their bounds) is worked out once per distinct key tuple, in a bounded cache,
# and a record is then checked in a few tight loops (type identity and one chained comparison per field). The test is
# conservative: whatever it accepts, `validate_record` accepts too (the tests check it on valid, invalid and fuzzed
# records); whatever it does not accept goes through `validate_record`, which names the reason. It is stricter where
# that keeps it simple: numbers beyond +-(2**63 - 1) (a NaN or an infinity fails every comparison) go to the slow path.

_FAST_LIMIT = 2**63 - 1  # within int64 and within float32 range alike
# The smallest positive float32 (2**-149): a value at least this large stays > 0 after the float32 cast (smaller
# positive values go to the slow path, which judges the cast value).
_MIN_POSITIVE = 2.0**-149
_MAX_CACHED_LAYOUTS = 256
_MAX_LAYOUT_KEYS = 4_096  # records with more keys than that always take the slow path


class _FastCheck:
    """`ok(record)`: True only for a valid record (of the key layout it was built for); see above."""

    def __init__(self, world: Sequence[tuple[str, type]], max_field_chars: int):
        self._max_chars = max_field_chars
        strings: list[tuple[str, bool]] = []  # (name, nullable)
        enums: list[tuple[str, frozenset[str | None]]] = []  # (name, the accepted values; None when nullable)
        ints: list[tuple[str, bool, float, float]] = []  # (name, nullable, low, high)
        numbers: list[tuple[str, bool, float, float]] = []  # int or float

        def add(name: str, kind: type, nullable: bool, low: float | None, high: float | None, enum: Any) -> None:
            if enum is not None:
                accepted = {v for v in enum if 0 < len(v) <= max_field_chars and v.isascii()}
                enums.append((name, frozenset(accepted | ({None} if nullable else set()))))
            elif kind is str:
                strings.append((name, nullable))
            else:
                low = -_FAST_LIMIT if low is None else max(low, -_FAST_LIMIT)
                high = _FAST_LIMIT if high is None else min(high, _FAST_LIMIT)
                (numbers if kind is float else ints).append((name, nullable, low, high))

        for name, types in FIELD_TYPES.items():
            kind = str if str in types else float if float in types else int
            low, high, _ = VALUE_RANGES.get(name, (None, None, ""))
            if name in POSITIVE_FIELDS:
                low = _MIN_POSITIVE if low is None else max(low, _MIN_POSITIVE)
            add(name, kind, type(None) in types, low, high, ENUMS.get(name))
        for name, _ in world:
            spec = world_field_spec(name)
            assert spec is not None
            add(name, spec.type, spec.nullable, spec.low, spec.high, spec.enum)
        self._strings, self._enums = tuple(strings), tuple(enums)
        self._ints, self._numbers = tuple(ints), tuple(numbers)

    def ok(self, record: dict[str, Any]) -> bool:
        try:
            return self._ok(record)
        except Exception:  # noqa: BLE001 - anything odd (an unhashable value, ...): the slow path decides
            return False

    def _ok(self, record: dict[str, Any]) -> bool:
        max_chars = self._max_chars
        for name, nullable in self._strings:
            value = record[name]
            if value is None:
                if nullable:
                    continue
                return False
            if type(value) is not str or not 0 < len(value) <= max_chars:
                return False
            if not value.isascii():
                value.encode("utf-8")  # UnicodeEncodeError (a lone surrogate): not accepted
        for name, accepted in self._enums:
            if record[name] not in accepted:
                return False
        for name, nullable, low, high in self._ints:
            value = record[name]
            if value is None:
                if nullable:
                    continue
                return False
            if type(value) is not int or not low <= value <= high:  # bool is not int
                return False
        for name, nullable, low, high in self._numbers:
            value = record[name]
            if value is None:
                if nullable:
                    continue
                return False
            kind = type(value)
            if (kind is not float and kind is not int) or not low <= value <= high:
                return False
        watch = record["watch_time_s"]
        return watch <= record["video_duration_s"] and (watch <= 0 or record["click"] != 0)


class _Layout:
    """What the parser needs to know about one tuple of record keys: its world fields, sorted, with their types."""

    def __init__(self, keys: Sequence[str]):
        world = []
        for name in sorted(keys):
            spec = world_field_spec(name)
            if spec is not None:
                world.append((name, spec.type))
        self.world: tuple[tuple[str, type], ...] = tuple(world)
        self.has_core_fields = all(name in keys for name in FIELD_TYPES)
        self._checks: dict[int, _FastCheck] = {}

    def check(self, max_field_chars: int) -> _FastCheck | None:
        if not self.has_core_fields:
            return None  # the slow path names the missing field
        check = self._checks.get(max_field_chars)
        if check is None:
            check = self._checks[max_field_chars] = _FastCheck(self.world, max_field_chars)
        return check


_LAYOUTS: dict[tuple[str, ...], _Layout] = {}


def _layout_of(record: dict[str, Any]) -> _Layout:
    keys = tuple(record)
    layout = _LAYOUTS.get(keys)
    if layout is None:
        layout = _Layout(set(keys))
        if len(keys) <= _MAX_LAYOUT_KEYS:
            if len(_LAYOUTS) >= _MAX_CACHED_LAYOUTS:
                _LAYOUTS.clear()  # hostile input with ever new keys: memory stays bounded
            _LAYOUTS[keys] = layout
    return layout


def is_valid_fast(record: dict[str, Any], max_field_chars: int) -> bool:
    """True only when `validate_record` would accept `record` (False says nothing: ask validate_record)."""
    if len(record) > _MAX_LAYOUT_KEYS:
        return False
    check = _layout_of(record).check(max_field_chars)
    return check is not None and check.ok(record)
