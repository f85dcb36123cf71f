"""Predictions of log records as the command line prints them: JSON lines or an aligned table."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from config.settings import TASKS
from serving.log_records import LogRecords


def output_order(names: Sequence[str]) -> list[str]:
    """The task outputs in TASKS order, then `score`, then anything else (sorted)."""
    known = [n for n in (*TASKS, "score") if n in names]
    return known + sorted(set(names) - set(known))


def prediction_rows(records: LogRecords, outputs: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """One dict per record: line, impression_id, then each output as a float."""
    names = output_order(list(outputs))
    return [
        {
            "line": records.line_numbers[i],
            "impression_id": records.impression_ids[i],
            **{name: float(outputs[name][i]) for name in names},
        }
        for i in range(len(records.examples))
    ]


def render_rows(rows: list[dict[str, Any]], fmt: str = "jsonl") -> str:
    """JSON lines (`jsonl`) or an aligned text table (`table`)."""
    if fmt == "jsonl":
        return "\n".join(json.dumps(row) for row in rows)
    if fmt != "table":
        raise ValueError(f"unknown output format {fmt!r}; use jsonl or table")
    if not rows:
        return ""
    columns = list(rows[0])
    cells = [[f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)
