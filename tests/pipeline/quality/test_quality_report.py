"""The quality report on the shared tiny run: every column, the ranker's numbers as TFMA computes them, the ceiling
from the oracle, staleness on generated days, the PNGs, the CLI and the history's section; no ceiling without the
world (a run on your own logs)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from config.settings import BINARY_TASKS, TASKS
from pipeline.quality.baselines import GBDT, LINEAR
from pipeline.quality.by_day import quality_section
from pipeline.quality.plots import write_plots
from pipeline.quality.render import render_markdown
from pipeline.quality.report import CEILING, IN_PIPELINE, RANKER, build_report
from pipeline.quality.sources import read_sources

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sources(tiny_pipeline):
    """The shared run's pipeline run (its only one: later days run on copies of its store)."""
    return next(r for r in read_sources(tiny_pipeline.paths.metadata_path) if r.complete)


@pytest.fixture(scope="module")
def report(sources):
    return build_report(sources, staleness_days=2, replicates=50)


def test_the_sources_of_the_tiny_run(sources, tiny_pipeline):
    start = tiny_pipeline.config.world.start_day
    assert sources.complete and sources.day == start
    assert [span for span, _ in sources.train_examples] == [start] and sources.eval_span == start + 1
    assert sources.world == tiny_pipeline.config.world
    assert sources.pushed_version  # the tiny run pushes its model


def test_the_ranker_column_is_what_the_evaluator_measured(report, tiny_pipeline):
    """Our scoring of the ranker on all of span d + 1 agrees with TFMA's AUC (10,000 thresholds) on the same
    examples: the Evaluator scores the splits in `gates.eval_splits`, both of them."""
    assert set(tiny_pipeline.config.gates.eval_splits) == {"train", "eval"}
    for task in ("click", "dismiss"):
        ours = report.task(task).values[RANKER]
        assert abs(ours - tiny_pipeline.summary.metrics[task]["auc"]) < 2e-3, task


def test_every_column_of_the_report(report, tiny_pipeline):
    assert [t.task for t in report.tasks] == list(TASKS)
    assert report.eval_examples == tiny_pipeline.config.world.impressions_per_day  # all of span d+1, both splits
    assert report.baselines == [IN_PIPELINE, LINEAR, GBDT]  # the pipeline's BaselineTrainer, then scikit-learn's
    for t in report.tasks:
        assert set(t.values) == {RANKER, IN_PIPELINE, LINEAR, GBDT, CEILING}, t.task
        assert all(np.isfinite(v) for v in t.values.values()), t.task
        assert t.captured is not None and np.isfinite(t.captured)
        for interval in t.intervals.values():
            assert interval.low <= interval.estimate <= interval.high
        assert set(t.calibration) == set(t.values)
    for task in ("click", "dismiss"):  # enough positives on 4,000 impressions for the ceiling to stand clear
        t = report.task(task)
        assert t.values[CEILING] > max(t.values[m] for m in (RANKER, IN_PIPELINE, LINEAR, GBDT)), (task, t.values)
    text = render_markdown(report)
    assert all(f"| {task} |" in text for task in TASKS) and "ceiling (oracle)" in text


def test_staleness_scores_the_model_on_generated_later_days(report, tiny_pipeline):
    per_day = tiny_pipeline.config.world.impressions_per_day
    assert [(p.day, p.age, p.examples) for p in report.staleness] == [(1, 1, per_day), (2, 2, per_day)]
    for point in report.staleness:
        assert set(point.ranker) == set(point.ceiling) == set(point.linear) == set(BINARY_TASKS)
        assert 0.5 < point.ceiling["click"] < 1 and 0.5 < point.ranker["click"] < point.ceiling["click"]
    assert report.staleness[0].ranker["click"] == report.task("click").values[RANKER]
    assert report.cadence and "retrain" in report.cadence


def test_the_pngs(report, tmp_path):
    paths = write_plots(report, str(tmp_path))
    assert len(paths) == 3
    for path in paths:
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_without_the_world_there_is_no_ceiling_and_an_in_pipeline_model_gets_its_column(sources):
    """A run on your own logs has no LogGen, so no world config: no oracle, no generated days. A `BaselineTrainer`
    model is scored through its serving_default like the ranker's (here the ranker's own SavedModel stands in)."""
    logs_run = dataclasses.replace(sources, world=None, baseline_uri=sources.ranker_uri)
    report = build_report(logs_run, staleness_days=2, replicates=20)
    assert all(CEILING not in t.values and t.captured is None for t in report.tasks)
    assert report.staleness == [] and report.cadence is None
    assert "ceiling (oracle)" not in render_markdown(report)
    assert report.baselines == [IN_PIPELINE, LINEAR, GBDT]
    for t in report.tasks:
        same = t.intervals[IN_PIPELINE]
        assert t.values[IN_PIPELINE] == t.values[RANKER] and same.estimate == same.low == same.high == 0.0


def test_the_cli_and_the_history_section(tiny_pipeline, tmp_path, capsys):
    from ranker.cli import main

    root = tiny_pipeline.paths.pipeline_root
    markdown = tmp_path / "quality.md"
    args = ["quality", "--pipeline-root", root, "--staleness-days", "0", "--replicates", "20"]
    assert main([*args, "--markdown", str(markdown)]) == 0
    assert "| click | AUC |" in markdown.read_text()
    assert main(["quality", "--pipeline-root", str(tmp_path / "nothing")]) == 1
    section = quality_section(tiny_pipeline.paths.metadata_path)
    rows = [line.split() for line in section.splitlines()[3:]]
    assert [row[1] for row in rows if row[0] == "0"][: len(TASKS)] == list(TASKS)
