"""The verdict read back from an Evaluator's output: failures in words, and change thresholds judged on intervals.

Synthetic TFMA protos (a ValidationResult and MetricsForSlice, as TFMA writes them) stand in for an evaluation, so
each rule is checked on a case built for it; tests/components/test_evaluator_gate.py runs the real Evaluator.
"""

from __future__ import annotations

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.proto import metrics_for_slice_pb2, validation_result_pb2

from components.evaluation_verdict import NO_FAILED_THRESHOLD, interval_reaches, judge, pass_note, refusal_reason

SIMPLE = "the simple model"


def _lift_threshold(bound: float, higher_is_better: bool = True) -> tfma.MetricThreshold:
    direction = tfma.MetricDirection.HIGHER_IS_BETTER if higher_is_better else tfma.MetricDirection.LOWER_IS_BETTER
    return tfma.MetricThreshold(
        change_threshold=tfma.GenericChangeThreshold(direction=direction, absolute={"value": bound})
    )


def _key(task: str, model: str, diff: bool = False) -> metrics_for_slice_pb2.MetricKey:
    return metrics_for_slice_pb2.MetricKey(name="auc", output_name=task, model_name=model, is_diff=diff)


def _evaluation(
    lifts: dict[str, tuple[float, tuple[float, float] | None]], bound: float = 0.0, value_failure: bool = False
) -> tuple[validation_result_pb2.ValidationResult, list[metrics_for_slice_pb2.MetricsForSlice]]:
    """A failed change threshold per task of `lifts` ({task: (lift, interval or None)}), the models' AUCs, and with
    `value_failure` a failed click value threshold."""
    metrics = metrics_for_slice_pb2.MetricsForSlice(slice_key=metrics_for_slice_pb2.SliceKey())
    result = validation_result_pb2.ValidationResult(validation_ok=False)
    per_slice = result.metric_validations_per_slice.add(slice_key=metrics_for_slice_pb2.SliceKey())
    for task, (lift, interval) in lifts.items():
        metrics.metric_keys_and_values.add(key=_key(task, "candidate")).value.double_value.value = 0.72 + lift
        metrics.metric_keys_and_values.add(key=_key(task, "baseline")).value.double_value.value = 0.72
        diff = metrics.metric_keys_and_values.add(key=_key(task, "candidate", diff=True))
        diff.value.double_value.value = lift
        if interval is not None:
            diff.confidence_interval.lower_bound.double_value.value = interval[0]
            diff.confidence_interval.upper_bound.double_value.value = interval[1]
        failure = per_slice.failures.add(metric_key=_key(task, "candidate", diff=True))
        failure.metric_value.double_value.value = lift
        failure.metric_threshold.CopyFrom(_lift_threshold(bound))
    if value_failure:
        failure = per_slice.failures.add(metric_key=_key("click", "candidate"))
        failure.metric_value.double_value.value = 0.52
        failure.metric_threshold.value_threshold.lower_bound.value = 0.55
    return result, [metrics]


def test_a_shortfall_within_the_interval_is_not_shown():
    verdict = judge(*_evaluation({"click": (-0.0001, (-0.0012, 0.0010))}), SIMPLE)
    assert verdict.shown == ()
    [clause] = verdict.not_shown
    assert clause.startswith("click AUC on the overall slice: the ranker 0.7199 vs the simple model 0.7200")
    assert "95 % interval [-0.0012, +0.0010]" in clause and "required >= +0.0000" in clause
    assert "not shown at 95 %" in pass_note(verdict)


def test_a_shortfall_the_whole_interval_confirms_is_shown():
    verdict = judge(
        *_evaluation({"click": (-0.0001, (-0.0012, 0.0010)), "dismiss": (-0.003, (-0.005, -0.001))}), SIMPLE
    )
    assert [c.split(" ")[0] for c in verdict.shown] == ["dismiss"]
    assert [c.split(" ")[0] for c in verdict.not_shown] == ["click"]
    reason = refusal_reason(verdict)
    assert reason.startswith("dismiss AUC") and "within the 95 % interval, not counted: click AUC" in reason


def test_the_bound_is_a_lift_not_zero():
    # A required lift of +0.002: an interval reaching +0.001 does not reach it.
    verdict = judge(*_evaluation({"click": (0.0005, (-0.0005, 0.0010))}, bound=0.002), SIMPLE)
    assert len(verdict.shown) == 1 and verdict.not_shown == ()
    verdict = judge(*_evaluation({"click": (0.0005, (-0.0005, 0.0030))}, bound=0.002), SIMPLE)
    assert verdict.shown == () and len(verdict.not_shown) == 1


def test_without_intervals_every_failure_is_shown():
    verdict = judge(*_evaluation({"click": (-0.0001, None)}), SIMPLE)
    assert verdict.not_shown == ()
    assert refusal_reason(verdict) == (
        "click AUC on the overall slice: the ranker 0.7199 vs the simple model 0.7200 "
        "(change -0.0001, required >= +0.0000)"
    )


def test_a_value_threshold_is_never_waived_by_an_interval():
    verdict = judge(*_evaluation({"click": (-0.0001, (-0.0012, 0.0010))}, value_failure=True), SIMPLE)
    assert verdict.shown == ("click AUC on the overall slice: the ranker 0.5200 (required >= 0.5500)",)
    assert len(verdict.not_shown) == 1


def test_lower_is_better_reaches_with_the_lower_end():
    assert interval_reaches(_lift_threshold(0.0, higher_is_better=False), (-0.01, 0.02))
    assert not interval_reaches(_lift_threshold(0.0, higher_is_better=False), (0.001, 0.02))
    assert interval_reaches(_lift_threshold(0.0), (-0.01, 0.0))
    assert not interval_reaches(_lift_threshold(0.0), (-0.01, -0.0001))


def test_no_failure_names_the_validation_result():
    assert refusal_reason(judge(validation_result_pb2.ValidationResult(), [], SIMPLE)) == NO_FAILED_THRESHOLD


def test_bless_turns_a_refusal_into_a_blessing_as_tfx_writes_it(tmp_path):
    from tfx.types import standard_artifacts

    from components.evaluator import bless

    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path)
    (tmp_path / "NOT_BLESSED").touch()
    blessing.set_int_custom_property("blessed", 0)
    bless(blessing, "why")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["BLESSED"]
    assert blessing.get_int_custom_property("blessed") == 1
    assert blessing.get_string_custom_property("reason") == "why"


def test_a_relative_change_threshold_is_never_within_reach_of_the_absolute_interval():
    relative = tfma.MetricThreshold(
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER, relative={"value": 0.0}
        )
    )
    assert not interval_reaches(relative, (-0.01, 0.01))
    assert interval_reaches(_lift_threshold(0.0), (-0.01, 0.01))
