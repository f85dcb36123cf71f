"""Aggregations of results.csv shared by summary.md and the docs/results reports (Table 2, frontier, ablation)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from experiments import results as R

Row = dict[str, Any]
LABELS = {
    "adagrad": "Naive",
    "gc": "GC",
    "agc": "AGC",
    "lamb": "LAMB",
    "clippy": "Clippy",
    "adam": "Adam",
    "clippy_adam": "Clippy-Adam",
}
SIZE_LABELS = {"small": "Small", "large": "Large", "large_dcn": "Large+DCN"}


def _finite(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, int | float) and math.isfinite(float(v))]


def mean_std(values: Sequence[Any]) -> tuple[float, float]:
    vals = _finite(values)
    if not vals:
        return math.nan, math.nan
    return float(np.mean(vals)), float(np.std(vals))


def table_rows(rows: Sequence[Row]) -> list[Row]:
    """rows of the grid/repeat stages (clean variant, no probes)."""
    return [r for r in rows if r["stage"] in ("grid", "repeat") and r["variant"] == "clean"]


def config_key(row: Row) -> tuple[str, str, float, str]:
    return (
        row["method"],
        row["size"],
        float(row["lr_multiplier"]),
        json.dumps(json.loads(row["params"]), sort_keys=True),
    )


def table2(rows: Sequence[Row]) -> list[Row]:
    """Per (method, size): the best configuration (seed-0 grid), its seeds' mean ± std, divergence count.

    `cell` is "diverged" when any seed of the best configuration fully diverged (the paper reports a method as
    diverged when its runs diverge), else the mean ± std of click AUC (in %) and watch-time RMSE.
    """
    rows = table_rows(rows)
    grid = [r for r in rows if r["stage"] == "grid"]
    out = []
    for (method, size), best in R.best_configs(grid).items():
        key = config_key(best)
        seeds = [r for r in rows if config_key(r) == key]
        diverged = sum(bool(r["diverged"]) for r in seeds)
        healthy = [r for r in seeds if not r["diverged"]]
        auc = mean_std([100 * r["auc_click"] for r in healthy])
        rmse = mean_std([r["rmse_watch_time"] for r in healthy])
        out.append(
            {
                "method": method,
                "size": size,
                "lr_multiplier": best["lr_multiplier"],
                "params": best["params"],
                "seeds": len(seeds),
                "diverged": diverged,
                "micro": sum(int(r["micro_divergences"]) for r in seeds),
                "auc_mean": auc[0],
                "auc_std": auc[1],
                "rmse_mean": rmse[0],
                "rmse_std": rmse[1],
                "all_diverged_in_grid": all(bool(r["diverged"]) for r in R.select(grid, method=method, size=size)),
            }
        )
    return out


def divergence_counts(rows: Sequence[Row], method: str, size: str, mult: float) -> tuple[int, int]:
    """(diverged, tried) over every clean grid/repeat/frontier run of (method, size, mult), all hyper-parameters."""
    group = [
        r
        for r in rows
        if r["variant"] == "clean"
        and r["stage"] in ("grid", "repeat", "frontier")
        and r["method"] == method
        and r["size"] == size
        and float(r["lr_multiplier"]) == mult
    ]
    return sum(bool(r["diverged"]) for r in group), len(group)


def trained(row: Row) -> bool:
    """Not fully diverged and above chance (a run that never learned is no more usable than a diverged one)."""
    auc = row["auc_click"]
    return not row["diverged"] and isinstance(auc, float) and math.isfinite(auc) and auc >= R.CHANCE_AUC


def frontier(rows: Sequence[Row]) -> list[Row]:
    """Per (method, size), with the best configuration's hyper-parameters: the largest multiplier at which every seed
    tried trained (no full divergence and click AUC >= CHANCE_AUC), and the multipliers that did. The ablation's
    clean runs count too: they are the same configuration (naive Adagrad at the ablation multiplier; a frontier run
    with the same id is never run twice)."""
    stages = ("grid", "repeat", "frontier", "ablation")
    rows = [r for r in rows if r["variant"] == "clean" and r["stage"] in stages]
    out = []
    for (method, size), best in R.best_configs([r for r in rows if r["stage"] == "grid"]).items():
        same = [r for r in rows if r["method"] == method and r["size"] == size and r["params"] == best["params"]]
        mults = sorted({float(r["lr_multiplier"]) for r in same})
        ok = [m for m in mults if all(trained(r) for r in same if float(r["lr_multiplier"]) == m)]
        breaks = [m for m in mults if sum(not trained(r) for r in same if float(r["lr_multiplier"]) == m) >= 2]
        seeds_at = {m: sum(1 for r in same if float(r["lr_multiplier"]) == m) for m in mults}
        out.append(
            {
                "method": method,
                "size": size,
                "params": best["params"],
                "tried": mults,
                "stable": ok,
                "frontier": max(ok) if ok else 0.0,
                # The smallest multiplier at which >= 2 seeds failed (None: never seen breaking; censored).
                "breaks_at": min(breaks) if breaks else None,
                "seeds_at": seeds_at,
            }
        )
    return out


def ablation(rows: Sequence[Row]) -> list[Row]:
    """Table 3 analogue: diverged / tried per ablation variant."""
    rows = [r for r in rows if r["stage"] == "ablation"]
    out = []
    for variant, size, label in (
        ("clean", "large_dcn", "Clean (Large+DCN)"),
        ("clean", "small", "Smaller model (Small)"),
        ("few_features", "large_dcn", "Remove half the generated features"),
        ("minus_one_task", "large_dcn", "Remove one task (share)"),
        ("minus_two_tasks", "large_dcn", "Remove two tasks (share, survey_rating)"),
    ):
        group = R.select(rows, variant=variant, size=size)
        if group:
            out.append({"change": label, "diverged": sum(bool(r["diverged"]) for r in group), "tried": len(group)})
    return out


def fmt(mean: float, std: float, digits: int) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"
