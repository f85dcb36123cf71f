"""`ranker sweep --preset width`: the paper's mechanism where it lives -- wide layers.

The paper's §4.1 explains why GC and AGC fail: the L2 norm is insensitive to drastic changes in a few coordinates,
especially in wide layers, while Clippy's ‖r/w‖_∞ is not. Our Table 2 models have 32-128-wide hidden layers; this
experiment widens the top (here: the only) shared layer to {64, 256, 1024, 4096} units on the same world and shock,
small batches and few steps so that it fits two cores, and trains naive Adagrad, GC, AGC and Clippy at their best
settings of the `full` sweep's grid on Small (GC λ 1e-1, AGC λ 1e-2, Clippy λ_rel 0.5 / λ_abs 1e-2), 3 seeds each.

Two shocks (variants):
* "clean": the lab world's own shock (`video_views` logged x1000 from day 2, through log1p and the z-score);
* "feature_shock": in addition, one generated feature is multiplied by 100 *after* normalisation on day 1 only (the
  middle training day, so that a run has a day to recover) --
  a counter rescale that bypasses normalisation, a drastic change of a few input coordinates (one input row of the
  shared kernel) and nothing else: the paper's mechanism, tested directly.

Recorded per step (not per window): the optimizer telemetry of every layer (σ, ‖g‖₂, ‖g‖₂/‖w‖₂, ‖r/w‖_∞) and, for
the top shared kernel, how many coordinates carry 90 % of the update's squared norm (`runner.update_concentration`).
The report (`width.md`, `width.csv`, `width.png`) gives per width: the sensitivity ratio of each statistic at the
unclipped run's onset over its steady level (`claims.onset_ratios`, the paper's Figure 4 numbers), each method's own
σ around that onset, the number of coordinates carrying the onset, divergence rates and click AUC over the seeds,
and each method's effective step (median σ·η over training) beside its nominal learning rate.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from experiments import results as R
from experiments.figures import as_float, effective_step, layer_series
from experiments.presets import WIDTH_BASE_LR, WIDTH_METHODS, WIDTH_VARIANTS, WIDTHS, LabPreset, width_preset
from experiments.runner import RunSpec
from experiments.sweep import Sweep

WIDTH_FILE, WIDTH_CSV, WIDTH_PNG = "width.md", "width.csv", "width.png"


def width_specs(preset: LabPreset) -> list[RunSpec]:
    """Variant-major, then seed: an interrupted sweep has the lab's shock at every width, method and seed first."""
    return [
        RunSpec(method, size, mult, seed, tuple(sorted(WIDTH_METHODS[method].items())), "width", variant, 1)
        for variant in WIDTH_VARIANTS
        for seed in preset.seeds
        for size in preset.sizes
        for method in preset.methods
        for mult in preset.table_multipliers
    ]


class WidthSweep(Sweep):
    """The width experiment's runs (no calibration: the base LR is `WIDTH_BASE_LR`), then its report."""

    def planned_total(self) -> int:
        return len(width_specs(self.preset))

    def run(self) -> dict[str, float]:
        started = time.time()
        base_lrs, _ = self.run_at_fixed_rate(width_specs(self.preset), WIDTH_BASE_LR)
        write_width_report(self.out_dir, self.out_dir)
        self.log(f"width sweep finished in {(time.time() - started) / 60:.1f} min")
        return base_lrs


def run_width_sweep(out_dir: str, workers: int | None = None) -> int:
    WidthSweep(width_preset(), out_dir, log=lambda m: print(m, flush=True), workers=workers).run()
    print(f"wrote {os.path.join(out_dir, WIDTH_FILE)}", flush=True)
    return 0


# ------------------------------------------------------------------------------------------------------------------
# Analysis


def _top_kernel(curves: dict[str, Any]) -> str | None:
    names = {r["variable"] for r in curves.get("telemetry", []) if "shared_dense_" in r["variable"]}
    kernels = sorted(n for n in names if "kernel" in n)
    return kernels[-1] if kernels else None


def onset_numbers(unclipped: dict[str, Any], window: int = 10) -> dict[str, float] | None:
    """Sensitivity ratios at the unclipped run's onset (max within ±`window` steps over the median before it) for
    ‖g‖₂, ‖g‖₂/‖w‖₂, ‖r/w‖_∞ of the top shared kernel, and how many coordinates carry the update there."""
    onset = (unclipped.get("divergence") or {}).get("onset_step")
    var = _top_kernel(unclipped)
    if onset is None or var is None:
        return None
    onset = float(onset)
    out: dict[str, float] = {"onset_step": onset}
    for field in ("grad_norm", "grad_to_weight", "update_to_weight_inf"):
        s, v = layer_series(unclipped, var, field)
        before = v[(s < onset - window) & np.isfinite(v)]
        around = v[(np.abs(s - onset) <= window) & np.isfinite(v)]
        if len(before) and len(around):
            out[f"{field}_jump"] = float(np.nanmax(around) / max(float(np.median(before)), 1e-30))
            out[f"{field}_peak_step"] = float(s[np.abs(s - onset) <= window][np.nanargmax(around)])
    conc = unclipped.get("concentration") or []
    if conc:
        s = np.array([c["step"] for c in conc], float)
        n90 = np.array([as_float(c["n90"]) for c in conc], float)
        frac = np.array([as_float(c["frac90"]) for c in conc], float)
        peak = out.get("grad_norm_peak_step", onset)
        at = np.abs(s - peak) <= 1
        before = (s < onset - window) & np.isfinite(n90)
        if at.any() and before.any():
            out["n90_at_onset"] = float(np.nanmin(n90[at]))
            out["frac90_at_onset"] = float(np.nanmin(frac[at]))
            out["n90_steady"] = float(np.median(n90[before]))
            out["frac90_steady"] = float(np.median(frac[before]))
    return out


def sigma_around(curves: dict[str, Any], onset: float, window: int = 10) -> tuple[float, float]:
    """(min σ of the top shared kernel within ±window steps of `onset`, median σ before it) of a method's own run."""
    var = _top_kernel(curves)
    if var is None:
        return math.nan, math.nan
    s, sig = layer_series(curves, var, "sigma")
    around = sig[(np.abs(s - onset) <= window) & np.isfinite(sig)]
    before = sig[(s < onset - window) & np.isfinite(sig)]
    return (
        float(np.min(around)) if len(around) else math.nan,
        float(np.median(before)) if len(before) else math.nan,
    )


def _failed(row: dict[str, Any]) -> bool:
    auc = row["auc_click"]
    return bool(row["diverged"]) or not (isinstance(auc, float) and math.isfinite(auc) and auc >= 0.55)


def width_table(out_dir: str) -> list[dict[str, Any]]:
    """One entry per (variant, width, method): runs, failures, AUC, effective step, onset numbers, σ at onset."""
    rows = [r for r in R.read_rows(os.path.join(out_dir, R.RESULTS_FILE)) if r["stage"] == "width"]
    entries = []
    for variant in WIDTH_VARIANTS:
        for width in WIDTHS:
            size = f"w{width}"
            group = [r for r in rows if r["variant"] == variant and r["size"] == size]
            if not group:
                continue
            curves = {r["run_id"]: R.read_curves(out_dir, r["run_id"]) or {} for r in group}
            onsets = {}
            for r in group:
                if r["method"] == "adagrad":
                    numbers = onset_numbers(curves[r["run_id"]])
                    if numbers:
                        onsets[r["seed"]] = numbers
            for method in WIDTH_METHODS:
                runs = sorted((r for r in group if r["method"] == method), key=lambda r: r["seed"])
                if not runs:
                    continue
                aucs = [r["auc_click"] for r in runs if isinstance(r["auc_click"], float)]
                eff = [effective_step(curves[r["run_id"]]) for r in runs]
                top = [v for e, r in zip(eff, runs) for k, v in e.items() if k == _top_kernel(curves[r["run_id"]])]
                sig_on, sig_steady = [], []
                for r in runs:
                    if r["seed"] in onsets:
                        a, b = sigma_around(curves[r["run_id"]], onsets[r["seed"]]["onset_step"])
                        sig_on.append(a)
                        sig_steady.append(b)
                entry = {
                    "variant": variant,
                    "width": width,
                    "method": method,
                    "runs": len(runs),
                    "diverged": sum(bool(r["diverged"]) for r in runs),
                    "failed": sum(_failed(r) for r in runs),
                    "auc_mean": float(np.nanmean(aucs)) if aucs else math.nan,
                    "auc_std": float(np.nanstd(aucs)) if aucs else math.nan,
                    "nominal_lr": float(runs[0]["learning_rate"]),
                    "effective_step_top": float(np.median(top)) if top else math.nan,
                    "sigma_at_onset": float(np.nanmedian(sig_on)) if sig_on else math.nan,
                    "sigma_steady": float(np.nanmedian(sig_steady)) if sig_steady else math.nan,
                }
                if method == "adagrad":
                    entry["onsets"] = len(onsets)
                    for key in (
                        "onset_step",
                        "grad_norm_jump",
                        "grad_to_weight_jump",
                        "update_to_weight_inf_jump",
                        "n90_at_onset",
                        "frac90_at_onset",
                        "n90_steady",
                        "frac90_steady",
                    ):
                        values = [o[key] for o in onsets.values() if key in o]
                        entry[key] = float(np.median(values)) if values else math.nan
                entries.append(entry)
    return entries


def _fmt(x: Any, spec: str = ".3g") -> str:
    return "–" if not isinstance(x, int | float) or not math.isfinite(x) else format(x, spec)


def width_markdown(entries: Sequence[dict[str, Any]]) -> str:
    labels = {"adagrad": "naive", "gc": "GC", "agc": "AGC", "clippy": "Clippy"}
    lines = []
    for variant in WIDTH_VARIANTS:
        ent = [e for e in entries if e["variant"] == variant]
        if not ent:
            continue
        title = {
            "clean": "the lab's shock",
            "feature_shock": "+ one feature x100 after normalisation on day 1 (steps 46-90)",
        }
        lines += [f"#### Width experiment: {title[variant]}", ""]
        lines.append(
            "| width | unclipped onsets | ‖g‖₂ jump | ‖g‖/‖w‖ jump | ‖r/w‖∞ jump | coords carrying 90 % of the update "
            "(onset / steady) | "
            + " | ".join(f"{labels[m]} failed" for m in WIDTH_METHODS)
            + " | "
            + " | ".join(f"{labels[m]} AUC" for m in WIDTH_METHODS)
            + " |"
        )
        lines.append("|" + "---|" * (6 + 2 * len(WIDTH_METHODS)))
        for width in WIDTHS:
            by = {e["method"]: e for e in ent if e["width"] == width}
            if not by:
                continue
            a = by.get("adagrad", {})
            conc = (
                f"{_fmt(a.get('n90_at_onset'), '.0f')} ({_fmt(100 * a.get('frac90_at_onset', math.nan), '.2g')} %) / "
                f"{_fmt(a.get('n90_steady'), '.0f')} ({_fmt(100 * a.get('frac90_steady', math.nan), '.2g')} %)"
            )
            cells = [
                str(width),
                f"{a.get('onsets', 0)}/{a.get('runs', 0)}",
                _fmt(a.get("grad_norm_jump")) + "x",
                _fmt(a.get("grad_to_weight_jump")) + "x",
                _fmt(a.get("update_to_weight_inf_jump")) + "x",
                conc,
            ]
            cells += [f"{by[m]['failed']}/{by[m]['runs']}" if m in by else "–" for m in WIDTH_METHODS]
            cells += [
                f"{100 * by[m]['auc_mean']:.1f} ± {100 * by[m]['auc_std']:.1f}" if m in by else "–"
                for m in WIDTH_METHODS
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines += [
            "",
            "σ of the top shared kernel (each method's own run; around the unclipped onset / steady) and "
            "effective step (median σ·η over training) beside the nominal learning rate:",
            "",
        ]
        lines.append(
            "| width | " + " | ".join(f"{labels[m]} σ onset / steady | {labels[m]} σ·η" for m in WIDTH_METHODS) + " |"
        )
        lines.append("|" + "---|" * (1 + 2 * len(WIDTH_METHODS)))
        for width in WIDTHS:
            by = {e["method"]: e for e in ent if e["width"] == width}
            if not by:
                continue
            cells = [str(width)]
            for m in WIDTH_METHODS:
                e = by.get(m, {})
                cells.append(f"{_fmt(e.get('sigma_at_onset'))} / {_fmt(e.get('sigma_steady'))}")
                cells.append(f"{_fmt(e.get('effective_step_top'))} (η {_fmt(e.get('nominal_lr'))})")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def width_figure(entries: Sequence[dict[str, Any]], path: str) -> None:
    from experiments.figures import COLORS, _plt

    plt = _plt()
    variants = [v for v in WIDTH_VARIANTS if any(e["variant"] == v for e in entries)]
    fig, axes = plt.subplots(len(variants), 2, figsize=(11, 4 * len(variants)), squeeze=False)
    for row, variant in enumerate(variants):
        ent = [e for e in entries if e["variant"] == variant]
        ax = axes[row][0]
        naive = sorted((e for e in ent if e["method"] == "adagrad"), key=lambda e: e["width"])
        for key, label in (
            ("grad_norm_jump", "‖g‖₂"),
            ("grad_to_weight_jump", "‖g‖/‖w‖"),
            ("update_to_weight_inf_jump", "‖r/w‖∞"),
        ):
            ax.plot([e["width"] for e in naive], [e.get(key, math.nan) for e in naive], "o-", label=label)
        jumps = [e.get(k, math.nan) for e in naive for k in ("grad_norm_jump", "update_to_weight_inf_jump")]
        positive = any(isinstance(j, float) and math.isfinite(j) and j > 0 for j in jumps)
        ax.set(xscale="log", yscale="log" if positive else "linear", xlabel="top shared layer width")
        ax.set_ylabel("jump at onset / steady")
        ax.set_title(f"{variant}: sensitivity of each statistic (unclipped run)")
        ax.legend()
        ax = axes[row][1]
        for method in WIDTH_METHODS:
            es = sorted((e for e in ent if e["method"] == method), key=lambda e: e["width"])
            ax.plot(
                [e["width"] for e in es],
                [e["failed"] / max(e["runs"], 1) for e in es],
                "o-",
                color=COLORS.get(method),
                label=method,
            )
        ax.set(xscale="log", ylim=(-0.05, 1.05), xlabel="top shared layer width", ylabel="failed runs (of seeds)")
        ax.set_title(f"{variant}: diverged or at chance")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_width_report(results_dir: str, out_dir: str) -> list[dict[str, Any]]:
    entries = width_table(results_dir)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, WIDTH_FILE), "w") as f:
        f.write(width_markdown(entries))
    import csv

    keys = sorted({k for e in entries for k in e})
    with open(os.path.join(out_dir, WIDTH_CSV), "w", newline="") as f:
        writer = csv.DictWriter(f, keys)
        writer.writeheader()
        writer.writerows(entries)
    if entries:
        width_figure(entries, os.path.join(out_dir, WIDTH_PNG))
    return entries
