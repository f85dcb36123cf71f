"""The quality section of `ranker history --quality`: per day, the ranker against the simple models and the ceiling.

One quality report per day with a trained model (no staleness, fewer bootstrap replicates: a day's report takes
seconds), one row per day and task.
"""

from __future__ import annotations

from pipeline.quality.baselines import LINEAR
from pipeline.quality.report import CEILING, RANKER, QualityReport, build_report
from pipeline.quality.sources import read_sources

HISTORY_REPLICATES = 200


def day_reports(metadata_path: str) -> list[QualityReport]:
    return [
        build_report(sources, staleness_days=0, replicates=HISTORY_REPLICATES)
        for sources in read_sources(metadata_path)
        if sources.complete
    ]


def render_section(reports: list[QualityReport]) -> str:
    if not reports:
        return "quality: no day with a trained model, its training window and span d+1"
    baselines = list(reports[0].baselines)
    header = ["day", "task", "metric", RANKER, *baselines, CEILING, "captured", f"ranker − {LINEAR} [95 % CI]"]
    rows = []
    for report in reports:
        for t in report.tasks:
            interval = t.intervals.get(LINEAR)
            difference = "-" if interval is None else f"{interval.estimate:+.4f} "
            difference += "" if interval is None else f"[{interval.low:+.4f}, {interval.high:+.4f}]"
            rows.append(
                [
                    "?" if report.day is None else str(report.day),
                    t.task,
                    t.metric,
                    *(f"{t.values[name]:.4f}" if name in t.values else "-" for name in (RANKER, *baselines, CEILING)),
                    "-" if t.captured is None else f"{100 * t.captured:.0f} %",
                    "-"
                    if interval is None
                    else f"{interval.estimate:+.4f} [{interval.low:+.4f}, {interval.high:+.4f}]",
                ]
            )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = ["quality on span d+1 (all of it; RMSE differences are baseline − ranker: > 0 favours the ranker)"]
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def quality_section(metadata_path: str) -> str:
    return render_section(day_reports(metadata_path))
