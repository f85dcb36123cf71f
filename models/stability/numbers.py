"""Loss and AUC values as the detector and the training report read them: finite tests and strict-JSON encoding.

Curves hold floats in memory (NaN, +inf and -inf included); on disk they are strict JSON (`allow_nan=False`), so a
NaN is written as null and ±inf as the strings "inf" / "-inf".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

NONFINITE_STRINGS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def is_finite_loss(x: Any) -> bool:
    """True for a real, finite number (None, NaN, ±inf, strings and bools are not finite losses)."""
    if x is None or isinstance(x, bool | str | bytes):
        return False
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def nonfinite_kind(x: float) -> str:
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def as_float_array(values: Iterable[Any]) -> np.ndarray:
    return np.asarray([decode_float(v) for v in values], dtype=np.float64)


def decode_float(x: Any) -> float:
    """null -> NaN, "nan"/"inf"/"-inf" -> the float, numbers -> float."""
    if x is None:
        return math.nan
    if isinstance(x, str):
        if x.lower() in NONFINITE_STRINGS:
            return NONFINITE_STRINGS[x.lower()]
        raise ValueError(f"not a number: {x!r}")
    return float(x)


def encode_series_value(x: float | None) -> float | str | None:
    """Strict-JSON encoding of a curve point: NaN -> null, ±inf -> "inf"/"-inf"."""
    x = decode_float(x)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return nonfinite_kind(x)
    return x


def json_safe(obj: Any) -> Any:
    """Strict-JSON-ready copy of nested dicts/lists: non-finite floats -> "nan"/"inf"/"-inf", numpy -> Python."""
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else nonfinite_kind(float(obj))
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [json_safe(v) for v in obj]
    return obj


def decode_tree(obj: Any) -> Any:
    if isinstance(obj, str) and obj.lower() in NONFINITE_STRINGS:
        return NONFINITE_STRINGS[obj.lower()]
    if isinstance(obj, Mapping):
        return {k: decode_tree(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode_tree(v) for v in obj]
    return obj
