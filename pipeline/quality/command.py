"""`ranker quality --pipeline-root DIR [--day D] [--png DIR] [--markdown FILE] [--json] [--staleness-days N]`."""

from __future__ import annotations

import os
from typing import Any

from pipeline.paths import LocalPaths
from pipeline.quality.sources import RunSources, read_sources


def pick_run(runs: list[RunSources], day: int | None) -> RunSources | None:
    """The newest complete run (of `day` when given)."""
    complete = [r for r in runs if r.complete and (day is None or r.day == day)]
    return complete[-1] if complete else None


def cmd_quality(args: Any) -> int:
    from pipeline.quality.plots import write_plots
    from pipeline.quality.render import render_markdown
    from pipeline.quality.report import build_report

    paths = LocalPaths.under(args.pipeline_root)
    try:
        runs = read_sources(paths.metadata_path)
    except FileNotFoundError as err:
        print(f"quality: {err}")
        return 1
    sources = pick_run(runs, args.day)
    if sources is None:
        which = "" if args.day is None else f" of day {args.day}"
        print(f"quality: no run{which} with a trained model, its training window and span d+1 in {paths.metadata_path}")
        return 1
    report = build_report(sources, staleness_days=args.staleness_days, replicates=args.replicates)
    text = render_markdown(report)
    print(report.to_json() if args.json else f"{text}\n\n(report computed in {report.seconds:.0f} s)")
    if args.markdown:
        os.makedirs(os.path.dirname(os.path.abspath(args.markdown)), exist_ok=True)
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
        print(f"wrote {args.markdown}")
    if args.png:
        for path in write_plots(report, args.png):
            print(f"wrote {path}")
    return 0
