"""Sequential training pieces that need no pipeline run: --days parsing, history rendering. (The served-model
resolution, a refused day leaving the baseline on the last pushed model, is in
tests/serving/test_object_store_push.py.)"""

from __future__ import annotations

import pytest
from tfx.types import standard_artifacts

from config.settings import ConfigError
from pipeline.history import DayRecord, plot_history, render_table
from pipeline.sequential import parse_days


@pytest.mark.parametrize("text, days", [("3-5", [3, 4, 5]), ("7", [7]), ("0, 2,5", [0, 2, 5]), (" 1 - 1 ", [1])])
def test_days_parse(text, days):
    assert parse_days(text) == days


@pytest.mark.parametrize("text", ["5-3", "a-b", "-1", "2,2", "3,1", ""])
def test_bad_days_name_the_option(text):
    with pytest.raises(ConfigError, match="--days"):
        parse_days(text)


def test_history_table_and_plot(tmp_path):
    records = [
        DayRecord(
            "r0",
            0,
            day=0,
            status="pushed",
            train_spans=[0],
            eval_span=1,
            pushed_version="100",
            schema_check="ok",
            drift_check="ok",
            stability="BLESSED",
            evaluator="BLESSED",
            metrics={"click": {"auc": 0.61}, "watch_time": {"root_mean_squared_error": 1.4}},
        ),
        DayRecord(
            "r1",
            1,
            day=1,
            status="refused",
            train_spans=[0, 1],
            eval_span=2,
            warm_start_from="100",
            schema_check="ok",
            drift_check="ok",
            stability="NOT BLESSED",
            stability_reason="loss blew up",
            evaluator="BLESSED",
            metrics={"click": {"auc": 0.5}},
        ),
        DayRecord(
            "r2",
            2,
            day=2,
            status="failed",
            error="DriftError: video_views: Jensen-Shannon divergence 0.98",
            schema_check="ok",
            drift_check="FAILED",
        ),
    ]
    table = render_table(records)
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["day", "train", "spans", "eval"]
    assert "0-1" in lines[3] and "refused" in lines[3] and "100" in lines[3]
    assert "day 1 stability gate: loss blew up" in table
    assert "day 2 failed: DriftError: video_views: Jensen-Shannon divergence 0.98" in table
    path = plot_history(records, str(tmp_path / "history.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_span_strategy_picks_the_latest_artifact_of_the_span():
    from components.span_resolver import SpanStrategy

    artifacts = []
    for artifact_id, span in ((1, 0), (2, 1), (3, 1), (4, 2)):
        statistics = standard_artifacts.ExampleStatistics()
        statistics.id = artifact_id
        statistics.span = span
        artifacts.append(statistics)
    resolved = SpanStrategy(span=1).resolve_artifacts(None, {"statistics": artifacts})
    assert [a.id for a in resolved["statistics"]] == [3]  # a rerun of day 1 supersedes the first one
    assert SpanStrategy(span=5).resolve_artifacts(None, {"statistics": artifacts}) == {"statistics": []}
