"""Parsing of the world fields of a log line (log_schema.WORLD_FIELDS and the generated f_dense_* / f_cat_*).

Used by logformat/parser.py after the core fields are valid. World fields are optional in a line: absent or null
is a missing value (the tf.Example then has an empty feature of that name: TFDV and tf.io.parse_example read it as
missing). A present value must have the field's JSON type and lie in its range or enum, or the line is quarantined
with the same reason kinds as core fields (`wrong_type:<f>`, `non_finite:<f>`, `out_of_range:<f>`, ...), where a
generated name is reported by its pattern (`wrong_type:f_dense_*`) so the vocabulary of reasons stays bounded.
Which world fields a span must contain, and how often they may be missing, is the curated schema's business.
"""

from __future__ import annotations

import math
import struct
from typing import Any

from tensorflow.core.example import feature_pb2

from logformat.schema import (
    FLOAT32_MAX,
    INT64_MAX,
    INT64_MIN,
    REASON_WORLD_FIELDS,
    FieldSpec,
    reason_field,
    world_field_spec,
)

_FLOAT32 = struct.Struct("<f")
REASON_KINDS: tuple[str, ...] = (
    "null_field",
    "wrong_type",
    "empty_field",
    "oversized_field",
    "invalid_utf8",
    "unknown_enum",
    "non_finite",
    "out_of_range",
)
# Every reason `check_world_fields` can return.
REASONS: frozenset[str] = frozenset(f"{kind}:{field}" for kind in REASON_KINDS for field in REASON_WORLD_FIELDS)


def world_keys(record: dict[str, Any]) -> tuple[str, ...]:
    """The world fields present in `record`, sorted."""
    return tuple(sorted(name for name in record if world_field_spec(name) is not None))


def check_world_fields(record: dict[str, Any], max_field_chars: int) -> str | None:
    """The quarantine reason of the first invalid world field of `record`, or None."""
    for name in world_keys(record):
        reason = _check(name, world_field_spec(name), record[name], max_field_chars)  # type: ignore[arg-type]
        if reason is not None:
            return f"{reason}:{reason_field(name)}"
    return None


def _check(name: str, spec: FieldSpec, value: Any, max_field_chars: int) -> str | None:
    if value is None:
        return None if spec.nullable else "null_field"
    accepted = (int, float) if spec.type is float else (spec.type,)
    if isinstance(value, bool) or not isinstance(value, accepted):
        return "wrong_type"
    if isinstance(value, str):
        if not value:
            return "empty_field"
        if len(value) > max_field_chars:
            return "oversized_field"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "invalid_utf8"
        return "unknown_enum" if spec.enum is not None and value not in spec.enum else None
    if isinstance(value, float) and not math.isfinite(value):
        return "non_finite"
    if spec.type is float and abs(value) > FLOAT32_MAX:  # would become inf in the float32 example
        return "non_finite"
    if abs(value) > INT64_MAX or value < INT64_MIN:
        return "out_of_range"
    if spec.type is float:
        value = as_float32(value)  # judged as the example will hold it
    if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
        return "out_of_range"
    return None


def as_float32(value: float) -> float:
    """`value` as a tf.Example float feature will hold it (rounded to float32; |value| <= FLOAT32_MAX)."""
    return _FLOAT32.unpack(_FLOAT32.pack(value))[0]


def add_world_features(features: Any, record: dict[str, Any]) -> None:
    """Adds the world fields of a validated record to a tf.Example's feature map (null: an empty feature)."""
    for name in world_keys(record):
        value, kind = record[name], world_field_spec(name).type  # type: ignore[union-attr]
        feature: feature_pb2.Feature = features[name]
        if value is None:
            continue  # the map entry now exists, empty: a missing value
        if kind is int:
            feature.int64_list.value.append(int(value))
        elif kind is float:
            feature.float_list.value.append(float(value))
        else:
            feature.bytes_list.value.append(value.encode("utf-8"))
