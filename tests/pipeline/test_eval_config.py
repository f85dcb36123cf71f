"""The Evaluators' TFMA configs: thresholds on the slices they are meant for, the lift over the simple model, the
slices (feature values and SQL cold-start slices, checked against TFX-BSL's own SQL engine), and both Evaluators
scoring every split of span d + 1 in the DAG."""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import pytest
import tensorflow_model_analysis as tfma

from config.settings import BINARY_TASKS, SLICE_FEATURES, GateConfig, default_preset, tiny_preset
from config.validation import validate_config
from pipeline.eval_config import (
    COLD_USER_SLICE,
    COLD_VIDEO_SLICE,
    build_baseline_eval_config,
    build_eval_config,
    gates_baseline,
    slicing_specs,
)


def _thresholds(config: tfma.EvalConfig) -> dict[tuple[str, str], list]:
    """{(task, metric class): [(slicing specs, threshold)]}."""
    out = {}
    for spec in config.metrics_specs:
        for metric in spec.metrics:
            assert not metric.HasField("threshold"), "a plain threshold is checked on every slice"
            out[(spec.output_names[0], metric.class_name)] = [
                (list(t.slicing_specs), t.threshold) for t in metric.per_slice_thresholds
            ]
    return out


def test_the_served_model_gate_holds_on_the_overall_slice_only():
    gates = GateConfig()
    thresholds = _thresholds(build_eval_config(gates))
    for task in BINARY_TASKS:
        if task not in gates.min_auc:
            assert thresholds[(task, "AUC")] == []
            continue
        [(slices, threshold)] = thresholds[(task, "AUC")]
        assert slices == [tfma.SlicingSpec()]
        assert threshold.value_threshold.lower_bound.value == gates.min_auc[task]
        assert threshold.change_threshold.absolute.value == pytest.approx(-gates.max_auc_drop)
        assert threshold.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    [(slices, rmse)] = thresholds[("watch_time", "RootMeanSquaredError")]
    assert slices == [tfma.SlicingSpec()] and rmse.value_threshold.upper_bound.value == gates.max_rmse["watch_time"]


SLICED = dataclasses.replace(GateConfig(), slice_features=SLICE_FEATURES, cold_start_slices=True)


def test_slices_are_opt_in():
    assert list(build_eval_config(GateConfig()).slicing_specs) == [tfma.SlicingSpec()]
    specs = build_eval_config(SLICED).slicing_specs
    assert [list(s.feature_keys) for s in specs if s.feature_keys] == [[f] for f in SLICE_FEATURES]
    assert len([s for s in specs if s.slice_keys_sql]) == 2


def test_the_slice_gate_is_off_by_default_and_covers_every_slice_when_on():
    assert all(len(v) <= 1 for v in _thresholds(build_eval_config(SLICED)).values())
    gates = dataclasses.replace(SLICED, max_slice_auc_drop=0.03)
    thresholds = _thresholds(build_eval_config(gates))
    for task in gates.min_auc:
        _overall, (slices, threshold) = thresholds[(task, "AUC")]
        assert {s.feature_keys[0] for s in slices} == {*gates.slice_features, COLD_VIDEO_SLICE, COLD_USER_SLICE}
        assert threshold.change_threshold.absolute.value == pytest.approx(-0.03)
        assert not threshold.HasField("value_threshold")


def test_the_baseline_gate_asks_each_gated_task_for_the_lift():
    gates = dataclasses.replace(GateConfig(), min_lift_over_baseline=0.01)
    config = build_baseline_eval_config(gates)
    assert list(config.slicing_specs) == [tfma.SlicingSpec()]
    thresholds = _thresholds(config)
    for task in BINARY_TASKS:
        if task not in gates.min_auc:
            assert thresholds[(task, "AUC")] == []
            continue
        [(slices, threshold)] = thresholds[(task, "AUC")]
        assert slices == [tfma.SlicingSpec()]
        assert threshold.change_threshold.absolute.value == pytest.approx(0.01)
        assert threshold.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
        assert not threshold.HasField("value_threshold")
    assert gates_baseline(gates)


def test_without_a_lift_the_baseline_is_measured_but_not_gated():
    gates = dataclasses.replace(GateConfig(), min_lift_over_baseline=None)
    config = build_baseline_eval_config(gates)
    assert not gates_baseline(gates)
    assert not tfma.metrics.metric_thresholds_from_metrics_specs(config.metrics_specs, eval_config=config)
    assert not config.options.compute_confidence_intervals.value


@pytest.mark.parametrize("lift_interval", [True, False])
def test_a_gated_lift_asks_tfma_for_jackknife_intervals_unless_judged_on_the_point(lift_interval):
    config = build_baseline_eval_config(dataclasses.replace(GateConfig(), lift_interval=lift_interval))
    assert config.options.compute_confidence_intervals.value is lift_interval
    if lift_interval:
        assert config.options.confidence_intervals.method == tfma.ConfidenceIntervalOptions.JACKKNIFE
    # The Evaluator against the served model judges its change thresholds on the point estimate.
    assert not build_eval_config(GateConfig()).options.compute_confidence_intervals.value


def test_cold_start_slices_are_sql_that_tfx_bsl_runs_on_raw_features():
    from tfx_bsl.arrow import sql_util

    sql = [s.slice_keys_sql for s in slicing_specs(SLICED) if s.slice_keys_sql]
    assert len(sql) == 2
    batch = pa.RecordBatch.from_arrays(
        [pa.array([[0.4], [3.0], [0.99]]), pa.array([[10], [500], [49]], type=pa.list_(pa.int64()))],
        ["video_age_days", "user_watch_count"],
    )
    keys = []
    for query in sql:
        statement = f"SELECT ARRAY({query}) as slice_key FROM Examples as example;"  # noqa: S608 - TFMA's own query
        keys.append(sql_util.RecordBatchSQLSliceQuery(statement, batch.schema).Execute(batch))
    assert keys[0] == [[[(COLD_VIDEO_SLICE, "true")]], [[(COLD_VIDEO_SLICE, "false")]], [[(COLD_VIDEO_SLICE, "true")]]]
    assert keys[1] == [[[(COLD_USER_SLICE, "true")]], [[(COLD_USER_SLICE, "false")]], [[(COLD_USER_SLICE, "true")]]]


@pytest.mark.parametrize("preset", [tiny_preset, default_preset])
def test_both_evaluators_score_all_of_the_next_day(preset, tmp_path):
    from pipeline.pipeline import create_pipeline

    config = preset()
    dag = create_pipeline(config, str(tmp_path / "root"), str(tmp_path / "serving"))
    nodes = {node.id: node for node in dag.components}
    for node in ("Evaluator", "BaselineEvaluator"):
        assert nodes[node].exec_properties["example_splits"] == '["train", "eval"]', node
    pusher = nodes["RankerPusher"]
    assert pusher.exec_properties["gated_by_baseline"] == int(gates_baseline(config.gates))
    assert "BaselineTrainer" in nodes and "Tuner" not in nodes


def test_without_the_baseline_neither_the_simple_model_nor_its_evaluator_is_in_the_dag(tmp_path):
    from pipeline.pipeline import create_pipeline

    config = tiny_preset()
    config = config.replace(baseline=dataclasses.replace(config.baseline, enabled=False))
    dag = create_pipeline(validate_config(config), str(tmp_path / "root"), str(tmp_path / "serving"))
    nodes = {node.id: node for node in dag.components}
    assert "BaselineTrainer" not in nodes and "BaselineEvaluator" not in nodes
    assert {"Trainer", "Evaluator", "StabilityGate"} <= set(nodes)
    pusher = nodes["RankerPusher"]
    assert pusher.exec_properties["gated_by_baseline"] == 0 and "baseline_blessing" not in pusher.inputs
