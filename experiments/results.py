"""results.csv: one row per completed run, appended atomically; curves beside it as JSON.

A row is written only after its run finished and its curves file was renamed into place, with one ``write`` of the
whole line followed by ``fsync``: an interrupted sweep leaves only complete rows, and a restarted one skips them.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

from models.stability import json_safe, write_text

RESULTS_FILE = "results.csv"
CALIBRATION_FILE = "calibration.csv"
CURVES_DIR = "curves"

#: The documented columns, in order (the first eight are the required ones).
COLUMNS: tuple[str, ...] = (
    "method",
    "size",
    "lr_multiplier",
    "seed",
    "diverged",
    "micro_divergences",
    "auc_click",
    "rmse_watch_time",
    "auc_like",
    "auc_share",
    "auc_dismiss",
    "rmse_survey_rating",
    "stage",
    "variant",
    "params",
    "learning_rate",
    "criterion",
    "onset_step",
    "final_train_loss",
    "steps",
    "wall_s",
    "run_id",
    "recoveries",
    "wasted_steps",
)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def append_row(path: str, row: dict[str, Any], columns: Sequence[str] = COLUMNS) -> None:
    """Appends `row` (header first if the file is new) in one write, then fsyncs."""
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    if new:
        writer.writeheader()
    writer.writerow({k: _format(row.get(k, "")) for k in columns})
    with open(path, "a") as f:
        f.write(buffer.getvalue())
        f.flush()
        os.fsync(f.fileno())


def _parse(value: str) -> Any:
    if value in ("True", "False"):
        return value == "True"
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if value.lstrip("-").isdigit() else number


def read_rows(path: str) -> list[dict[str, Any]]:
    """The rows of a results file with numbers and booleans parsed; [] when it does not exist."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(f)]


def done_run_ids(path: str) -> set[str]:
    return {str(row["run_id"]) for row in read_rows(path)}


def write_curves(out_dir: str, run_id: str, curves: dict[str, Any]) -> str:
    """Writes curves/<run_id>.json atomically (`models.stability.write_text`); NaN/inf become strings."""
    path = os.path.join(out_dir, CURVES_DIR, f"{run_id}.json")
    write_text(path, json.dumps(json_safe(curves)))
    return path


def read_curves(out_dir: str, run_id: str) -> dict[str, Any] | None:
    path = os.path.join(out_dir, CURVES_DIR, f"{run_id}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def select(rows: Iterable[dict[str, Any]], **where: Any) -> list[dict[str, Any]]:
    """Rows whose fields equal every `where` value."""
    return [r for r in rows if all(r.get(k) == v for k, v in where.items())]


# A run whose click AUC stays below this never learned: the detector cannot call it diverged (nothing to fall
# from), and the lab labels it "≈ chance" rather than healthy.
CHANCE_AUC = 0.55


def _score(row: dict[str, Any]) -> tuple[float, float]:
    auc = row["auc_click"] if isinstance(row["auc_click"], float) and math.isfinite(row["auc_click"]) else 0.0
    rmse = row["rmse_watch_time"]
    return (auc, -(rmse if isinstance(rmse, float) and math.isfinite(rmse) else math.inf))


def best_configs(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (method, size): the non-diverged grid row with the highest click AUC (then lowest RMSE); if every run
    diverged or stayed near chance (click AUC < `CHANCE_AUC`, a run that never learned and so cannot be called
    diverged by the detector), the lowest-multiplier run with the highest AUC, so the repeats show the failure."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for key in sorted({(r["method"], r["size"]) for r in rows}):
        group = select(rows, method=key[0], size=key[1])
        healthy = [r for r in group if not r["diverged"] and _score(r)[0] >= CHANCE_AUC]
        if healthy:
            best[key] = max(healthy, key=_score)
        else:
            low = min(r["lr_multiplier"] for r in group)
            best[key] = max((r for r in group if r["lr_multiplier"] == low), key=_score)
    return best
