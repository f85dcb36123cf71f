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
import pyarrow as pa
from tensorflow.core.example import example_pb2

from config.settings import IngestConfig
from logformat.example_encoder import MAX_KEY_BYTES, encode_columns
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
from logformat.world_fields import add_world_features, as_float32, check_world_fields, world_keys

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
    reason = validate_record(record, ingest)
    return (None, reason) if reason is not None else (record, None)


def validate_record(record: dict[str, Any], ingest: IngestConfig) -> str | None:
    """The quarantine reason of a decoded JSON object, or None when it is a valid record.

    Field by field, in order, so the first failure names the reason (`logformat.columnar` checks the same rules
    a batch of columns at a time, for the lines it reads).
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


@functools.lru_cache(maxsize=256)
def _world_of(keys: tuple[str, ...]) -> tuple[str, ...]:
    """The world fields among a record's keys, sorted (records of one log format share their keys)."""
    return world_keys(dict.fromkeys(keys))


def encode_examples(records: Sequence[dict[str, Any]]) -> list[bytes]:
    """Serialized tf.Examples of validated records, a batch at a time (`logformat.example_encoder`): byte for byte
    `record_to_example(r).SerializeToString(deterministic=True)`. Records that do not all carry the same world fields
    (or carry an over-long one) are encoded record by record."""
    if not records:
        return []
    world = {_world_of(tuple(record)) for record in records}
    world_names = next(iter(world))
    if len(world) != 1 or any(len(name.encode("utf-8")) > MAX_KEY_BYTES for name in world_names):
        return [record_to_example(r).SerializeToString(deterministic=True) for r in records]
    fields = [name for name in (*EXAMPLE_INT_FEATURES, *EXAMPLE_FLOAT_FEATURES) if name != "has_survey"]
    fields += [*EXAMPLE_BYTES_FEATURES, *world_names]
    # Row by row into tuples (one C call per record, each dict read once), then transposed into columns.
    values = dict(zip(fields, zip(*map(operator.itemgetter(*fields), records))))
    rating = pa.array(values["survey_rating"], pa.float64())
    columns: dict[str, pa.Array] = {
        "has_survey": rating.is_valid().cast(pa.int64()),
        "survey_rating": rating.fill_null(0.0).cast(pa.float32()),
    }
    kinds = {name: int for name in EXAMPLE_INT_FEATURES} | {name: float for name in EXAMPLE_FLOAT_FEATURES}
    kinds |= {name: str for name in EXAMPLE_BYTES_FEATURES}
    kinds |= {name: world_field_spec(name).type for name in world_names}  # type: ignore[union-attr]
    for name in fields:
        if name in columns:
            continue
        column = values[name]
        if kinds[name] is int:
            columns[name] = pa.array(column, pa.int64())
        elif kinds[name] is float:  # as float(v), then the proto's float32
            floats = [None if v is None else float(v) for v in column] if None in column else column
            columns[name] = pa.array(np.asarray(floats, dtype=np.float64) if floats is column else floats, pa.float64())
            columns[name] = columns[name].cast(pa.float32(), safe=False)
        else:
            columns[name] = pa.array(column, pa.string()).cast(pa.binary())
    return encode_columns(list(columns), list(columns.values()))
