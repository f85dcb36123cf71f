"""Sequential training pieces that need no pipeline run: --days parsing, the served-model resolution on a real MLMD
store (a refused day leaves the baseline and warm-start base on the last pushed model), history rendering."""

from __future__ import annotations

import ml_metadata as mlmd
import pytest
from ml_metadata.proto import metadata_store_pb2
from tfx.types import standard_artifacts

from components.served_model import LatestPushedModelStrategy
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


class _Store:
    """A real SQLite MLMD store with Trainer models and RankerPusher executions linked by events."""

    def __init__(self, path: str):
        config = metadata_store_pb2.ConnectionConfig()
        config.sqlite.filename_uri = path
        config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        self.store = mlmd.MetadataStore(config)
        self.pusher_type = self.store.put_execution_type(metadata_store_pb2.ExecutionType(name="RankerPusher"))
        self.models: list = []
        self.pushes: list = []

    def _put(self, artifact):
        artifact_type = artifact.artifact_type
        artifact_type.ClearField("id")
        type_id = self.store.put_artifact_type(artifact_type)
        artifact.mlmd_artifact.type_id = type_id
        [artifact.id] = self.store.put_artifacts([artifact.mlmd_artifact])
        return artifact

    def model(self):
        model = self._put(standard_artifacts.Model())
        self.models.append(model)
        return model

    def push(self, model, pushed: bool, day: int):
        """RankerPusher of the run of `day`: its `examples` input is the evaluation span, day + 1."""
        record = standard_artifacts.PushedModel()
        record.set_int_custom_property("pushed", int(pushed))
        record = self._put(record)
        examples = standard_artifacts.Examples()
        examples.span = day + 1
        examples = self._put(examples)
        [execution_id] = self.store.put_executions([metadata_store_pb2.Execution(type_id=self.pusher_type)])
        events = []
        inputs = ((model, "INPUT", "model"), (examples, "INPUT", "examples"), (record, "OUTPUT", "pushed_model"))
        for artifact, kind, key in inputs:
            event = metadata_store_pb2.Event(
                artifact_id=artifact.id, execution_id=execution_id, type=getattr(metadata_store_pb2.Event, kind)
            )
            event.path.steps.add().key = key
            events.append(event)
        self.store.put_events(events)
        self.pushes.append(record)

    def resolve(self, before_day: int | None = None):
        inputs = {"model": list(self.models), "pushed_model": list(self.pushes)}
        return LatestPushedModelStrategy(before_day=before_day).resolve_artifacts(self.store, inputs)


def test_the_served_model_is_the_latest_pushed_one(tmp_path):
    store = _Store(str(tmp_path / "mlmd.sqlite"))
    assert store.resolve(0) == {"model": [], "pushed_model": []}  # day 0: nothing served yet, train from scratch
    day0 = store.model()
    store.push(day0, pushed=True, day=0)
    day1 = store.model()
    store.push(day1, pushed=False, day=1)  # day 1 failed a gate
    store.model()  # day 2 trained; not evaluated yet
    assert [m.id for m in store.resolve(2)["model"]] == [day0.id]  # day 2 continues from day 0's model
    day3 = store.model()
    store.push(day3, pushed=True, day=3)
    assert [m.id for m in store.resolve(4)["model"]] == [day3.id]
    assert [m.id for m in store.resolve()["model"]] == [day3.id]
    # A rerun of day 3 resolves what day 3 started from, not its own push: reruns are idempotent.
    assert [m.id for m in store.resolve(3)["model"]] == [day0.id]


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
