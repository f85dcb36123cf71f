"""The lab's PNG figures (matplotlib, Agg): Figure 4/5/6 analogues and the stability frontier."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from experiments import tables as T

Row = dict[str, Any]
#: Figure 4 thresholds, as in the paper's Figure 4 legend (λ_GC 1e-1, λ_AGC 1e-3, λ_Clippy 1e-1).
FIG4_THRESHOLDS = {"gc": 1e-1, "agc": 1e-3, "clippy": 1e-1}
COLORS = {
    "adagrad": "black",
    "gc": "tab:blue",
    "agc": "tab:orange",
    "lamb": "tab:green",
    "clippy": "tab:red",
    "adam": "tab:brown",
    "clippy_adam": "tab:purple",
}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "figure.dpi": 110})
    return plt


def as_float(x: Any) -> float:
    """A curve's recorded value as a float; NaN for what is not a number (None, "nan" written as text)."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def layer_series(curves: dict[str, Any], variable: str, field: str) -> tuple[np.ndarray, np.ndarray]:
    recs = [r for r in curves.get("telemetry", []) if r["variable"] == variable]
    return np.array([r["step"] for r in recs], float), np.array([as_float(r[field]) for r in recs], float)


def eta_series(curves: dict[str, Any], steps: np.ndarray) -> np.ndarray:
    """η_t at `steps`: the run's learning rate with its linear warm-up."""
    lr, warmup = float(curves["learning_rate"]), float(curves.get("warmup_steps") or 0)
    return lr * (np.minimum(1.0, (steps + 1.0) / warmup) if warmup else np.ones_like(steps))


def effective_step(curves: dict[str, Any], kernels_only: bool = True) -> dict[str, float]:
    """Per variable of the telemetry (dense kernels only with `kernels_only`), in the telemetry's order: the median
    over training of σ_t·η_t, the step the method really takes per unit of r."""
    out = {}
    for var in dict.fromkeys(r["variable"] for r in curves.get("telemetry", [])):
        if kernels_only and "kernel" not in var:
            continue
        steps, sigma = layer_series(curves, var, "sigma")
        ok = np.isfinite(sigma)
        if ok.any():
            out[var] = float(np.median(sigma[ok] * eta_series(curves, steps)[ok]))
    return out


def kernel_variables(curves: dict[str, Any]) -> list[str]:
    names = []
    for r in curves.get("telemetry", []):
        if r["variable"] not in names and "kernel" in r["variable"]:
            names.append(r["variable"])
    return names


def top_shared_kernel(curves: dict[str, Any]) -> str | None:
    shared = [v for v in kernel_variables(curves) if re.search(r"shared_dense_\d+", v)]
    return max(shared, key=lambda v: int(re.search(r"shared_dense_(\d+)", v).group(1))) if shared else None


def implied_sigmas(curves: dict[str, Any], variable: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """σ each method would apply to `variable`, from an unclipped run's telemetry (Figure 4 thresholds):
    GC min(1, λ/‖g‖₂), AGC min(1, λ‖w‖₂/‖g‖₂) (per layer), Clippy min(1, λ/(η_t ‖r/w‖_∞)) (λ_abs left out)."""
    steps, g = layer_series(curves, variable, "grad_norm")
    _, gw = layer_series(curves, variable, "grad_to_weight")
    _, rw = layer_series(curves, variable, "update_to_weight_inf")
    eta = eta_series(curves, steps)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "gc": (steps, np.minimum(1.0, FIG4_THRESHOLDS["gc"] / g)),
            "agc": (steps, np.minimum(1.0, FIG4_THRESHOLDS["agc"] / gw)),
            "clippy": (steps, np.minimum(1.0, FIG4_THRESHOLDS["clippy"] / (eta * rw))),
        }


def figure4(curves: dict[str, Any], path: str) -> None:
    plt = _plt()
    var = top_shared_kernel(curves)
    onset = curves.get("divergence", {}).get("onset_step")
    fig, axes = plt.subplots(5, 1, figsize=(8, 12), sharex=True)
    steps = np.array(curves["steps"], float)
    loss = np.array([as_float(x) for x in curves["loss"]])
    axes[0].plot(steps, loss, color="black", label="train loss (window mean)")
    ax2 = axes[0].twinx()
    ax2.plot(
        steps,
        [as_float(x) for x in curves["train_auc"].get("click", [])],
        color="tab:red",
        lw=0.8,
        alpha=0.5,
        label="train click AUC (window)",
    )
    evals = curves.get("eval", [])
    ax2.plot(
        [e["step"] for e in evals],
        [as_float(e.get("auc_click")) for e in evals],
        "o-",
        color="tab:red",
        label="eval click AUC (day N)",
    )
    ax2.set_ylabel("click AUC", color="tab:red")
    ax2.legend(loc="upper right", fontsize=8)
    axes[0].set_ylabel("loss")
    axes[0].set_yscale("log")
    axes[0].set_title(
        f"Figure 4 analogue: naive Adagrad ({curves['spec']['size']}, lr {curves['learning_rate']:g}); layer {var}"
    )
    fields = [
        ("grad_norm", "GC: ‖g‖₂"),
        ("grad_to_weight", "AGC: ‖g‖₂/‖w‖₂"),
        ("update_to_weight_inf", "Clippy: ‖r/w‖∞"),
    ]
    for ax, (field, label) in zip(axes[1:4], fields):
        s, v = layer_series(curves, var, field)
        ax.plot(s, v, color="tab:blue")
        ax.set_yscale("log")
        ax.set_ylabel(label)
    for method, (s, v) in implied_sigmas(curves, var).items():
        lam = FIG4_THRESHOLDS[method]
        axes[4].plot(s, v, label=f"{T.LABELS[method]} σ (λ={lam:g})", color=COLORS[method])
    axes[4].set_yscale("log")
    axes[4].set_ylabel("σ the method would apply")
    axes[4].set_xlabel("training step")
    axes[4].legend(loc="lower left")
    for ax in axes:
        for end in curves.get("day_ends", []):
            ax.axvline(end, color="grey", lw=0.5, ls=":")
        if onset is not None:
            ax.axvline(float(onset), color="red", lw=1, ls="--")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def figure5(
    curves_by_key: dict[tuple[str, str, float], dict[str, Any]], sizes: Sequence[str], mults: Sequence[float], path: str
) -> None:
    """Eval click AUC on day N over training; one panel per (size, multiplier), one line per method (seed 0)."""
    plt = _plt()
    fig, axes = plt.subplots(len(sizes), len(mults), figsize=(5 * len(mults), 3.6 * len(sizes)), squeeze=False)
    for i, size in enumerate(sizes):
        for j, mult in enumerate(mults):
            ax = axes[i][j]
            for method in T.LABELS:
                curves = curves_by_key.get((method, size, mult))
                if not curves or not curves.get("eval"):
                    continue
                s = [e["step"] for e in curves["eval"]]
                a = [as_float(e.get("auc_click")) for e in curves["eval"]]
                tag = " (diverged)" if curves.get("divergence", {}).get("fully_diverged") else ""
                ax.plot(s, a, marker=".", color=COLORS[method], label=T.LABELS[method] + tag)
            ax.set_title(f"{T.SIZE_LABELS[size]}, {mult:g}x LR")
            ax.set_xlabel("training step")
            ax.set_ylabel("eval click AUC (day N)")
            ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Figure 5 analogue: continuous evaluation on the held-out day (best hyper-parameters, seed 0)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def figure6(curves: dict[str, Any], path: str) -> dict[str, float]:
    """Clippy's σ per layer (kernels) over training; returns each layer's mean σ."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 5))
    means = {}
    names = [v for v in kernel_variables(curves) if "tower" not in v]
    palette = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(names), 1)))
    for color, var in zip(palette, names):
        s, v = layer_series(curves, var, "sigma")
        means[var] = float(np.nanmean(v)) if len(v) else math.nan
        style = "-" if ("shared" in var or "dcn" in var) else "--"
        ax.plot(s, v, style, color=color, label=f"{var.split(':')[0]} (mean {means[var]:.2f})", lw=1.4)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("Clippy clipping factor σ")
    spec = curves["spec"]
    ax.set_title(f"Figure 6 analogue: Clippy σ per layer ({T.SIZE_LABELS[spec['size']]}, {spec['lr_multiplier']:g}x)")
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return means


def frontier_plot(entries: Sequence[Row], path: str) -> None:
    plt = _plt()
    sizes = [s for s in T.SIZE_LABELS if any(e["size"] == s for e in entries)]
    methods = [m for m in T.LABELS if any(e["method"] == m for e in entries)]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / max(len(sizes), 1)
    for i, size in enumerate(sizes):
        vals, breaks = [], []
        for m in methods:
            e = next((e for e in entries if e["method"] == m and e["size"] == size), None)
            vals.append(e["frontier"] if e else 0.0)
            breaks.append(e.get("breaks_at") if e else None)
        x = np.arange(len(methods)) + i * width
        bars = ax.bar(x, [max(v, 1e-3) for v in vals], width, label=T.SIZE_LABELS[size])
        color = bars.patches[0].get_facecolor() if bars.patches else None
        for xi, v, b in zip(x, vals, breaks):
            if b is not None:  # the real upper bound: the multiplier at which >= 2 seeds failed
                ax.plot([xi], [b], marker="v", color=color, markeredgecolor="black", ms=7)
            else:  # censored: never seen breaking
                ax.plot([xi], [max(v, 1e-3)], marker="^", color=color, markeredgecolor="black", ms=7)
    ax.set_xticks(np.arange(len(methods)) + width * (len(sizes) - 1) / 2)
    ax.set_xticklabels([T.LABELS[m] for m in methods])
    ax.set_yscale("log", base=2)
    ax.set_ylabel("largest LR multiplier without divergence")
    ax.set_title(
        "Stability frontier: bar = largest multiplier every seed trained; ▼ = breaks (>= 2 seeds failed); "
        "▲ = never broke (censored)",
        fontsize=9,
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
