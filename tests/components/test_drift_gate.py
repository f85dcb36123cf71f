"""Between-span drift and skew checks: the daily drift of the world passes, a x1000 logging change and a new-country
launch stop the run with a message naming the feature and the statistic, and an acknowledgement lets them through."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

from components.drift_gate import (
    REPORT_FILE,
    DriftError,
    DriftGate,
    compare,
    failure_message,
    is_acknowledged,
)
from config.settings import ConfigError, DriftConfig, ShockConfig, section_json, tiny_preset
from config.validation import parse_acknowledgement, validate_drift
from logformat.parser import parse_line
from logformat.tf_schema import world_schema
from world.simulator import World

SLOW = pytest.mark.slow  # the `stats` fixture runs five TFDV Beam pipelines (~15 s on 2 cores)

TINY = tiny_preset().world
RESCALE = ShockConfig(kind="counter_rescale", day=2, field="video_views", factor=1000.0)
LAUNCH = ShockConfig(kind="new_country", day=2, traffic_share=0.25)
SCHEMA = world_schema(TINY)


def _statistics(world, day: int, tmp_path) -> tfdv.types.DatasetFeatureStatisticsList:
    """TFDV statistics of the ingested examples of one day (what StatisticsGen computes for the train split)."""
    path = str(tmp_path / f"{abs(hash(world))}-{day}.tfrecord")
    w = World(world)
    with tf.io.TFRecordWriter(path) as writer:
        for shard in range(world.num_shards):
            for line in w.generate_lines(day, shard):
                writer.write(parse_line(line, tiny_preset().ingest).example.SerializeToString())
    return tfdv.generate_statistics_from_tfrecord(path)


@pytest.fixture(scope="module")
def stats(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stats")
    rescaled = dataclasses.replace(TINY, shocks=(RESCALE,))
    launched = dataclasses.replace(TINY, shocks=(LAUNCH,))
    return {
        "plain": {d: _statistics(TINY, d, tmp) for d in (0, 1, 2)},
        "rescaled": _statistics(rescaled, 2, tmp),
        "launched": _statistics(launched, 2, tmp),
    }


@SLOW
def test_the_worlds_daily_drift_passes(stats):
    plain = stats["plain"]
    comparisons, _, skipped = compare(plain[1], SCHEMA, DriftConfig(), 1, previous=plain[0], next_=plain[2])
    assert not skipped
    checked = {(c.feature, c.check) for c in comparisons}
    assert {("video_views", "drift"), ("country", "skew"), ("user_language", "drift")} <= checked
    assert not [c.describe() for c in comparisons if c.violated]
    assert max(c.value / c.threshold for c in comparisons) < 0.7  # well inside the thresholds


@SLOW
def test_a_x1000_counter_rescale_is_caught_by_drift_and_by_skew(stats):
    plain = stats["plain"]
    comparisons, _, _ = compare(stats["rescaled"], SCHEMA, DriftConfig(), 2, previous=plain[1])
    [violation] = [c for c in comparisons if c.blocking]
    assert (violation.feature, violation.check, violation.spans) == ("video_views", "drift", (1, 2))
    assert violation.statistic == "Jensen-Shannon divergence" and violation.value > 0.9
    message = failure_message(2, comparisons)
    assert "video_views: Jensen-Shannon divergence" in message and "between span 2 and span 1 (drift)" in message
    assert "video_views@2" in message  # how to acknowledge it
    # The day before sees the same change coming on its evaluation day (skew against span d+1).
    comparisons, _, _ = compare(plain[1], SCHEMA, DriftConfig(), 1, previous=plain[0], next_=stats["rescaled"])
    assert [(c.feature, c.check) for c in comparisons if c.blocking] == [("video_views", "skew")]


@SLOW
def test_an_acknowledged_shift_is_reported_but_does_not_stop(stats):
    plain = stats["plain"]
    drift = DriftConfig(acknowledged=("video_views@2",))
    for current, previous, next_, day in (
        (stats["rescaled"], plain[1], None, 2),
        (plain[1], plain[0], stats["rescaled"], 1),
    ):
        comparisons, _, _ = compare(current, SCHEMA, drift, day, previous=previous, next_=next_)
        assert [c for c in comparisons if c.violated and c.acknowledged] and not [c for c in comparisons if c.blocking]


@SLOW
def test_a_new_country_launch_is_caught_on_country_and_language(stats):
    comparisons, _, _ = compare(stats["launched"], SCHEMA, DriftConfig(), 2, previous=stats["plain"][1])
    blocking = {c.feature: c for c in comparisons if c.blocking}
    assert "country" in blocking and blocking["country"].statistic == "L-infinity distance"
    assert blocking["country"].value > 0.15
    comparisons, _, _ = compare(
        stats["launched"], SCHEMA, DriftConfig(acknowledged=("*@2",)), 2, previous=stats["plain"][1]
    )
    assert not [c for c in comparisons if c.blocking]


@SLOW
def test_the_component_writes_its_report_and_stops_the_run(stats, tmp_path):
    def statistics_artifact(proto, name):
        artifact = standard_artifacts.ExampleStatistics()
        artifact.uri = str(tmp_path / name)
        artifact.split_names = artifact_utils.encode_split_names(["train"])
        io_utils.write_bytes_file(
            os.path.join(artifact.uri, "Split-train", "FeatureStats.pb"), proto.SerializeToString()
        )
        return artifact

    schema = standard_artifacts.Schema()
    schema.uri = str(tmp_path / "schema")
    io_utils.write_pbtxt_file(os.path.join(schema.uri, "schema.pbtxt"), SCHEMA)
    report = standard_artifacts.ExampleAnomalies()
    report.uri = str(tmp_path / "report")
    inputs = {
        "statistics": [statistics_artifact(stats["rescaled"], "today")],
        "previous_statistics": [statistics_artifact(stats["plain"][1], "yesterday")],
        "schema": [schema],
    }
    config = tiny_preset()
    executor = DriftGate.EXECUTOR_SPEC.executor_class()
    with pytest.raises(DriftError, match=r"video_views: Jensen-Shannon divergence 0\.9\d+ between span 2 and span 1"):
        executor.Do(inputs, {"report": [report]}, {"drift_json": section_json(config.drift), "day": 2})
    with open(os.path.join(report.uri, REPORT_FILE)) as f:
        written = json.load(f)
    assert written["previous_span"] == 1 and any(c["violated"] for c in written["comparisons"])

    acknowledged = config.replace(drift=DriftConfig(acknowledged=("video_views@2",)))
    report2 = standard_artifacts.ExampleAnomalies()
    report2.uri = str(tmp_path / "report2")
    executor.Do(inputs, {"report": [report2]}, {"drift_json": section_json(acknowledged.drift), "day": 2})
    assert report2.get_int_custom_property("num_violations") == 0
    assert report2.get_int_custom_property("num_acknowledged") == 1


def test_acknowledgements_parse_and_cover_the_boundary_only():
    assert parse_acknowledgement("video_views@5") == ("video_views", 5)
    assert is_acknowledged("video_views", (4, 5), ("video_views@5",))
    assert not is_acknowledged("video_views", (5, 6), ("video_views@5",))  # after the boundary: a new shift
    assert not is_acknowledged("country", (4, 5), ("video_views@5",))
    assert is_acknowledged("country", (4, 5), ("*@5",))
    with pytest.raises(ValueError, match="FEATURE@DAY"):
        parse_acknowledgement("video_views")


@pytest.mark.parametrize(
    "drift, field",
    [
        (DriftConfig(acknowledged=("video_views",)), "drift.acknowledged"),
        (DriftConfig(jsd_thresholds={"video_views": -1.0}), "drift.jsd_thresholds.video_views"),
        (DriftConfig(split="test"), "drift.split"),
    ],
)
def test_drift_config_errors_name_the_field(drift, field):
    with pytest.raises(ConfigError, match=field):
        validate_drift(drift)
