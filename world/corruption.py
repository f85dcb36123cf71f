"""Deliberately malformed lines (`world.malformed_rate`): each kind maps a clean record to a bad line, and
`EXPECTED_REASON_PREFIX[kind]` is the start of the quarantine reason the parser must give it (field-specific reasons
end with ":<field>"). They exercise the ingest's quarantine."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from logformat.schema import ENUMS, FIELD_TYPES, FLOAT_FEATURE_FIELDS
from world.encoding import encode_record

# -- corruption: deliberately malformed lines (exercise the ingest's quarantine) ----------------------
#
# Each kind maps a clean record to a bad line. `EXPECTED_REASON_PREFIX[kind]` is the start of the
# quarantine reason the parser must give it (field-specific reasons end with ":<field>").

OVERSIZED_LINE_CHARS = 1 << 17  # larger than the default IngestConfig.max_line_bytes
_NUMERIC_FIELDS = tuple(f for f, types in FIELD_TYPES.items() if int in types and f != "survey_rating")
_STRING_FIELDS = tuple(f for f, types in FIELD_TYPES.items() if types == (str,))
_NON_NULLABLE = tuple(f for f, types in FIELD_TYPES.items() if type(None) not in types)


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(0, len(options)))]


def _truncated(record: dict[str, Any], rng: np.random.Generator) -> str:
    line = encode_record(record)
    return line[: int(rng.integers(1, len(line) - 1))]


def _invalid_utf8(record: dict[str, Any], rng: np.random.Generator) -> str:
    field = _pick(rng, _STRING_FIELDS)
    value = record[field]
    cut = int(rng.integers(0, len(value) + 1))
    marker = "@@invalid-utf8@@"
    line = encode_record({**record, field: value[:cut] + marker + value[cut:]})
    # U+DCFF U+DCFE are surrogate escapes: `encode_line` writes them as the raw bytes 0xff 0xfe.
    return line.replace(marker, "\udcff\udcfe")


def _not_an_object(record: dict[str, Any], rng: np.random.Generator) -> str:
    return encode_record(list(record.values()))  # type: ignore[arg-type]


def _empty_line(record: dict[str, Any], rng: np.random.Generator) -> str:
    return ""


def _missing_field(record: dict[str, Any], rng: np.random.Generator) -> str:
    field = _pick(rng, tuple(FIELD_TYPES))
    return encode_record({k: v for k, v in record.items() if k != field})


def _null_field(record: dict[str, Any], rng: np.random.Generator) -> str:
    return encode_record({**record, _pick(rng, _NON_NULLABLE): None})


def _wrong_type(record: dict[str, Any], rng: np.random.Generator) -> str:
    field = _pick(rng, tuple(FIELD_TYPES))
    value = record[field]
    if field == "survey_rating" or isinstance(value, (int, float)):
        bad: Any = str(value if value is not None else 3)  # a number as a string
    else:
        bad = int(rng.integers(0, 1000))  # a string field as a number
    return encode_record({**record, field: bad})


def _non_finite(record: dict[str, Any], rng: np.random.Generator) -> str:
    field = _pick(rng, (*FLOAT_FEATURE_FIELDS, "watch_time_s"))
    value = (math.nan, math.inf, -math.inf)[int(rng.integers(0, 3))]
    # orjson writes NaN as null; the stdlib writes the NaN/Infinity tokens that some loggers emit.
    return json.dumps({**record, field: value}, separators=(",", ":"))


def _negative_watch_time(record: dict[str, Any], rng: np.random.Generator) -> str:
    return encode_record({**record, "click": 1, "watch_time_s": -round(float(rng.uniform(0.1, 100.0)), 1)})


def _watch_exceeds_duration(record: dict[str, Any], rng: np.random.Generator) -> str:
    too_long = round(record["video_duration_s"] * float(rng.uniform(1.1, 3.0)) + 1.0, 1)
    return encode_record({**record, "click": 1, "watch_time_s": too_long})


def _rating_out_of_range(record: dict[str, Any], rng: np.random.Generator) -> str:
    return encode_record({**record, "survey_rating": int(rng.choice([-1, 0, 6, 10, 99]))})


def _bad_label(record: dict[str, Any], rng: np.random.Generator) -> str:
    return encode_record({**record, _pick(rng, ("click", "like", "share", "dismiss")): 2})


def _unknown_enum(record: dict[str, Any], rng: np.random.Generator) -> str:
    field = _pick(rng, tuple(ENUMS))
    return encode_record({**record, field: f"unknown_{field}_{int(rng.integers(0, 100))}"})


def _oversized_line(record: dict[str, Any], rng: np.random.Generator) -> str:
    return encode_record({**record, "debug_blob": "x" * OVERSIZED_LINE_CHARS})


CORRUPTIONS: dict[str, Callable[[dict[str, Any], np.random.Generator], str]] = {
    "truncated": _truncated,
    "invalid_utf8": _invalid_utf8,
    "not_an_object": _not_an_object,
    "empty_line": _empty_line,
    "missing_field": _missing_field,
    "null_field": _null_field,
    "wrong_type": _wrong_type,
    "non_finite": _non_finite,
    "negative_watch_time": _negative_watch_time,
    "watch_exceeds_duration": _watch_exceeds_duration,
    "rating_out_of_range": _rating_out_of_range,
    "bad_label": _bad_label,
    "unknown_enum": _unknown_enum,
    "oversized_line": _oversized_line,
}
CORRUPTION_KINDS: tuple[str, ...] = tuple(CORRUPTIONS)

EXPECTED_REASON_PREFIX: dict[str, str] = {
    "truncated": "invalid_json",
    "invalid_utf8": "invalid_utf8",
    "not_an_object": "not_an_object",
    "empty_line": "empty_line",
    "missing_field": "missing_field:",
    "null_field": "null_field:",
    "wrong_type": "wrong_type:",
    "non_finite": "non_finite:",
    "negative_watch_time": "negative:watch_time_s",
    "watch_exceeds_duration": "watch_time_exceeds_duration",
    "rating_out_of_range": "out_of_range:survey_rating",
    "bad_label": "out_of_range:",
    "unknown_enum": "unknown_enum:",
    "oversized_line": "oversized_line",
}
