"""Why TFMA refused a model, in words: one clause per failed threshold, with the task, the slice, both models'
values and the threshold, read back from an Evaluator's output (its validation result and metrics).

TFMA checks every threshold on the point estimate, even when it computes confidence intervals. `judge` also reads
the intervals of the change (diff) metrics: a failed change threshold whose 95 % interval still reaches the bound
is *not shown* by the evaluation (the shortfall is within the day's noise) and is listed apart from the failures
the data confirm. The Evaluator's executor (components/evaluator.py) blesses on that judgement when the EvalConfig
asks for intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import tensorflow_model_analysis as tfma

CANDIDATE = "candidate"
BASELINE = "baseline"
METRIC_NAMES = {"auc": "AUC", "root_mean_squared_error": "RMSE", "example_count": "example count"}


def slice_name(slice_key: Any) -> str:
    """ "the overall slice" or "the slice country=US" of a TFMA SliceKey proto."""
    parts = []
    for single in slice_key.single_slice_keys:
        kind = single.WhichOneof("kind")
        value = getattr(single, kind) if kind else ""
        value = value.decode() if isinstance(value, bytes) else value
        parts.append(f"{single.column}={value}")
    return "the slice " + ", ".join(parts) if parts else "the overall slice"


def _value(metric_value: Any) -> float:
    if metric_value.HasField("bounded_value"):
        return metric_value.bounded_value.value.value
    return metric_value.double_value.value


def _metric_values(metrics: list[Any]) -> dict[tuple, float]:
    """{(slice name, output, metric, model name): value} of the non-diff metrics."""
    values = {}
    for per_slice in metrics:
        where = slice_name(per_slice.slice_key)
        for kv in per_slice.metric_keys_and_values:
            if not kv.key.is_diff:
                values[(where, kv.key.output_name, kv.key.name, kv.key.model_name)] = _value(kv.value)
    return values


def _diff_intervals(metrics: list[Any]) -> dict[tuple, tuple[float, float]]:
    """{(slice name, output, metric): (lower, upper)} of the diff metrics that carry a confidence interval."""
    intervals = {}
    for per_slice in metrics:
        where = slice_name(per_slice.slice_key)
        for kv in per_slice.metric_keys_and_values:
            if kv.key.is_diff and kv.HasField("confidence_interval"):
                bounds = kv.confidence_interval
                intervals[(where, kv.key.output_name, kv.key.name)] = (
                    _value(bounds.lower_bound),
                    _value(bounds.upper_bound),
                )
    return intervals


def _threshold(threshold: Any) -> str:
    if threshold.HasField("change_threshold"):
        change = threshold.change_threshold
        bound = change.absolute.value or 0.0  # not -0.0
        sign = ">=" if change.direction == tfma.MetricDirection.HIGHER_IS_BETTER else "<="
        return f"required {sign} {bound:+.4f}"
    value = threshold.value_threshold
    bounds = []
    if value.HasField("lower_bound"):
        bounds.append(f">= {value.lower_bound.value:.4f}")
    if value.HasField("upper_bound"):
        bounds.append(f"<= {value.upper_bound.value:.4f}")
    return "required " + " and ".join(bounds)


def interval_reaches(threshold: Any, interval: tuple[float, float]) -> bool:
    """Whether an absolute change threshold's bound lies within reach of `interval` (lower, upper): its upper end
    reaches the bound when higher is better, its lower end when lower is better. A relative change threshold is
    never within reach: the interval is of the absolute difference, not of the ratio."""
    change = threshold.change_threshold
    if not change.HasField("absolute"):
        return False
    bound = change.absolute.value
    lower, upper = interval
    if change.direction == tfma.MetricDirection.LOWER_IS_BETTER:
        return lower <= bound
    return upper >= bound


@dataclass(frozen=True)
class Judgement:
    """The failed thresholds of one evaluation, one clause each: `shown` (a value threshold, or a change whose
    interval lies wholly on the wrong side of its bound, or any failure when no interval was computed) and
    `not_shown` (a change threshold failed by the point estimate while its interval reaches the bound)."""

    shown: tuple[str, ...]
    not_shown: tuple[str, ...]


def judge(result: Any, metrics: list[Any], baseline_label: str, candidate_label: str = "the ranker") -> Judgement:
    """The failures of `result` (a TFMA ValidationResult) in words, split by what the intervals of `metrics` (TFMA
    MetricsForSlice) show."""
    values = _metric_values(metrics)
    intervals = _diff_intervals(metrics)
    shown: list[str] = []
    not_shown: list[str] = []
    for per_slice in result.metric_validations_per_slice:
        where = slice_name(per_slice.slice_key)
        for failure in per_slice.failures:
            key = failure.metric_key
            task, metric = key.output_name, METRIC_NAMES.get(key.name, key.name)
            observed = _value(failure.metric_value)
            required = _threshold(failure.metric_threshold)
            if not key.is_diff:
                shown.append(f"{task} {metric} on {where}: {candidate_label} {observed:.4f} ({required})")
                continue
            candidate = values.get((where, task, key.name, CANDIDATE))
            baseline = values.get((where, task, key.name, BASELINE))
            models = (
                f"{candidate_label} {candidate:.4f} vs {baseline_label} {baseline:.4f}"
                if candidate is not None and baseline is not None
                else f"{candidate_label} vs {baseline_label}"
            )
            interval = intervals.get((where, task, key.name))
            if interval is None:
                shown.append(f"{task} {metric} on {where}: {models} (change {observed:+.4f}, {required})")
                continue
            change = f"change {observed:+.4f}, 95 % interval [{interval[0]:+.4f}, {interval[1]:+.4f}]"
            clause = f"{task} {metric} on {where}: {models} ({change}, {required})"
            if failure.metric_threshold.HasField("change_threshold") and interval_reaches(
                failure.metric_threshold, interval
            ):
                not_shown.append(clause)
            else:
                shown.append(clause)
    return Judgement(tuple(shown), tuple(not_shown))


def judge_evaluation(evaluation_uri: str, baseline_label: str, candidate_label: str = "the ranker") -> Judgement:
    """`judge` on the Evaluator output at `evaluation_uri`."""
    return judge(
        tfma.load_validation_result(evaluation_uri),
        list(tfma.load_metrics(evaluation_uri)),
        baseline_label,
        candidate_label,
    )


NO_FAILED_THRESHOLD = "TFMA marked the model NOT_BLESSED without a failed threshold (see its validation result)"


def refusal_reason(judgement: Judgement) -> str:
    """The failures the evaluation shows, joined by "; " (with those it does not show, when there are any)."""
    if not judgement.shown:
        return NO_FAILED_THRESHOLD
    reason = "; ".join(judgement.shown)
    if judgement.not_shown:
        reason += "; within the 95 % interval, not counted: " + "; ".join(judgement.not_shown)
    return reason


def pass_note(judgement: Judgement) -> str:
    """Why a model whose point estimates miss a change threshold passes: the intervals reach every bound."""
    return "point estimates below the bound, not shown at 95 %: " + "; ".join(judgement.not_shown)
