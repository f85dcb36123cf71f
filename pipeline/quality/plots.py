"""PNGs of the quality report: the summary (every model and the ceiling per task), reliability, staleness."""

from __future__ import annotations

import os

import numpy as np

from pipeline.quality.report import CEILING, RANKER, QualityReport
from pipeline.quality.staleness import mean_captured

SUMMARY_PNG = "quality.png"
RELIABILITY_PNG = "reliability.png"
STALENESS_PNG = "staleness.png"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def plot_summary(report: QualityReport, path: str) -> str:
    """Per task, a bar per model (ranker first, ceiling last); AUC above, RMSE below."""
    plt = _pyplot()
    names = [RANKER, *report.baselines, CEILING]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [2, 1]})
    for ax, metric in zip(axes, ("AUC", "RMSE")):
        tasks = [t for t in report.tasks if t.metric == metric]
        width = 0.8 / len(names)
        for i, name in enumerate(names):
            xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(tasks))]
            values = [t.values.get(name, np.nan) for t in tasks]
            ax.bar(xs, values, width, label=name, color="black" if name == CEILING else None)
        ax.set_xticks(range(len(tasks)), [t.task for t in tasks])
        finite = [v for t in tasks for v in t.values.values() if np.isfinite(v)]
        if metric == "AUC":
            ax.set_ylim(max(0.5, min(finite) - 0.03), max(finite) + 0.02)
            ax.set_ylabel(f"AUC on span {report.eval_span} (higher is better)")
        else:
            ax.set_ylim(min(finite) * 0.9, max(finite) * 1.03)
            ax.set_ylabel("RMSE (lower is better)")
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle(f"Ranker vs simple models vs the world's ceiling ({report.model}, day {report.day})")
    return _save(fig, path)


def plot_reliability(report: QualityReport, path: str) -> str:
    """Per binary task: observed rate vs mean prediction per decile of the prediction, for every model."""
    plt = _pyplot()
    tasks = [t for t in report.tasks if t.metric == "AUC"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 4))
    for ax, t in zip(np.atleast_1d(axes), tasks):
        top = 0.0
        for name, c in t.calibration.items():
            style = "k--" if name == CEILING else "o-"
            ax.plot(c.bin_predicted, c.bin_observed, style, label=name, markersize=3)
            top = max(top, max(c.bin_predicted), max(c.bin_observed))
        ax.plot([0, top], [0, top], color="grey", linewidth=0.8)
        ax.set_title(t.task)
        ax.set_xlabel("mean predicted (decile)")
        ax.set_ylabel("observed rate")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.suptitle(f"Reliability on span {report.eval_span}")
    return _save(fig, path)


def plot_staleness(report: QualityReport, path: str) -> str:
    """AUC per task over the model's age (solid: ranker, dashed: that day's ceiling) and the captured share."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, (ax_auc, ax_share) = plt.subplots(1, 2, figsize=(12, 4.5))
    ages = [p.age for p in report.staleness]
    for task in report.staleness[0].ranker:
        (line,) = ax_auc.plot(ages, [p.ranker[task] for p in report.staleness], "o-", label=f"{task} ranker")
        ax_auc.plot(ages, [p.ceiling[task] for p in report.staleness], "--", color=line.get_color(), alpha=0.6)
        shares = [p.captured(task) for p in report.staleness]
        ax_share.plot(ages, [100 * s for s in shares], "o-", color=line.get_color(), label=task)
    ax_share.plot(ages, [100 * mean_captured(p) for p in report.staleness], "k-", linewidth=2, label="mean")
    for ax in (ax_auc, ax_share):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(f"age of the day-{report.day} model (days after its training day)")
    ax_auc.set_ylabel("AUC (dashed: the oracle's, that day)")
    ax_share.set_ylabel("share of the achievable lift captured (%)")
    ax_auc.legend(fontsize=8)
    ax_share.legend(fontsize=8)
    fig.suptitle("Staleness: the same model on the days after it was trained")
    return _save(fig, path)


def write_plots(report: QualityReport, directory: str) -> list[str]:
    written = [
        plot_summary(report, os.path.join(directory, SUMMARY_PNG)),
        plot_reliability(report, os.path.join(directory, RELIABILITY_PNG)),
    ]
    if report.staleness:
        written.append(plot_staleness(report, os.path.join(directory, STALENESS_PNG)))
    return written
