"""The quality report as Markdown: the per-task table, the calibration table and the staleness curve."""

from __future__ import annotations

from pipeline.quality.report import CEILING, RANKER, QualityReport, TaskQuality
from pipeline.quality.staleness import mean_captured


def _value(t: TaskQuality, name: str) -> str:
    value = t.values.get(name)
    return "–" if value is None else f"{value:.3f}"


def _difference(t: TaskQuality, baseline: str) -> str:
    interval = t.intervals.get(baseline)
    if interval is None:
        return "–"
    mark = "**" if interval.excludes_zero() else ""
    return f"{mark}{interval.estimate:+.3f}{mark} [{interval.low:+.3f}, {interval.high:+.3f}]"


def _calibration(t: TaskQuality) -> str:
    c = t.calibration.get(RANKER)
    if c is None:
        return "–"
    if t.metric == "AUC":
        return (
            f"{c.mean_predicted:.4f} / {c.observed:.4f} ({100 * (c.mean_predicted - c.observed) / c.observed:+.1f} %)"
        )
    return f"{c.mean_predicted:.3f} / {c.observed:.3f}"


def quality_table(report: QualityReport) -> str:
    """One row per task: the models, the ceiling, the captured share, ranker - baseline with its 95 % interval."""
    has_ceiling = any(CEILING in t.values for t in report.tasks)
    header = ["task", "metric", RANKER, *report.baselines]
    if has_ceiling:
        header += ["ceiling (oracle)", "captured"]
    header += [f"ranker − {b} [95 % CI]" for b in report.baselines]
    header += ["ranker: mean predicted / observed"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for t in report.tasks:
        row = [t.task, t.metric, _value(t, RANKER), *(_value(t, b) for b in report.baselines)]
        if has_ceiling:
            row += [_value(t, CEILING), "–" if t.captured is None else f"{100 * t.captured:.0f} %"]
        row += [_difference(t, b) for b in report.baselines]
        row += [_calibration(t)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def staleness_table(report: QualityReport) -> str:
    tasks = list(report.staleness[0].ranker) if report.staleness else []
    header = ["day", "age", "examples", *(f"{task} AUC (ceiling)" for task in tasks), "captured (mean)", "LR click"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for p in report.staleness:
        row = [f"{p.day}", f"d+{p.age}", f"{p.examples}"]
        row += [f"{p.ranker[task]:.3f} ({p.ceiling[task]:.3f})" for task in tasks]
        row += [f"{100 * mean_captured(p):.1f} %", f"{p.linear['click']:.3f}"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def render_markdown(report: QualityReport) -> str:
    spans = ",".join(str(s) for s in report.train_spans)
    lines = [
        f"Run {report.run_id}: ranker ({report.model}) trained on span {spans} ({report.train_examples} training "
        f"examples), scored on all of span {report.eval_span} ({report.eval_examples} examples, both splits).",
        "",
        quality_table(report),
        "",
        "AUC: higher is better; RMSE (watch time in log1p seconds, survey rating over surveyed impressions): lower is "
        "better, and its difference is baseline − ranker, so a positive difference favours the ranker everywhere. "
        "Intervals: paired bootstrap over the same examples (bold: excludes 0). The logistic regression is a "
        "linear regression for the two regression tasks."
        + (
            " Captured: (ranker − chance) / (ceiling − chance), chance = AUC 0.5 or the training mean as a constant."
            if any(CEILING in t.values for t in report.tasks)
            else " No ceiling: the run did not generate its logs, so there is no oracle."
        ),
    ]
    if report.staleness:
        lines += ["", "Staleness (the same model on later days; ceiling = the oracle's AUC on that day):", ""]
        lines += [staleness_table(report), "", f"Retraining cadence: {report.cadence}."]
    return "\n".join(lines)
