"""Why TFMA refused a model, in words: one clause per failed threshold, with the task, the slice, both models'
values and the threshold, read back from an Evaluator's output (its validation result and metrics)."""

from __future__ import annotations

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


def _metric_values(evaluation_uri: str) -> dict[tuple, float]:
    """{(slice name, output, metric, model name): value} of the non-diff metrics."""
    values = {}
    for per_slice in tfma.load_metrics(evaluation_uri):
        where = slice_name(per_slice.slice_key)
        for kv in per_slice.metric_keys_and_values:
            if not kv.key.is_diff:
                values[(where, kv.key.output_name, kv.key.name, kv.key.model_name)] = _value(kv.value)
    return values


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


def refusal_reason(evaluation_uri: str, baseline_label: str, candidate_label: str = "the ranker") -> str:
    """The failed thresholds of the evaluation at `evaluation_uri`, one clause each, joined by "; "."""
    result = tfma.load_validation_result(evaluation_uri)
    values = _metric_values(evaluation_uri)
    clauses = []
    for per_slice in result.metric_validations_per_slice:
        where = slice_name(per_slice.slice_key)
        for failure in per_slice.failures:
            key = failure.metric_key
            task, metric = key.output_name, METRIC_NAMES.get(key.name, key.name)
            observed = _value(failure.metric_value)
            if key.is_diff:
                candidate = values.get((where, task, key.name, CANDIDATE))
                baseline = values.get((where, task, key.name, BASELINE))
                models = (
                    f"{candidate_label} {candidate:.4f} vs {baseline_label} {baseline:.4f}"
                    if candidate is not None and baseline is not None
                    else f"{candidate_label} vs {baseline_label}"
                )
                clauses.append(
                    f"{task} {metric} on {where}: {models} (change {observed:+.4f}, "
                    f"{_threshold(failure.metric_threshold)})"
                )
            else:
                clauses.append(
                    f"{task} {metric} on {where}: {candidate_label} {observed:.4f} "
                    f"({_threshold(failure.metric_threshold)})"
                )
    if not clauses:
        return "TFMA marked the model NOT_BLESSED without a failed threshold (see its validation result)"
    return "; ".join(clauses)
