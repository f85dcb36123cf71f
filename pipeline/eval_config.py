"""TFMA EvalConfigs of the two Evaluators, built from `GateConfig`.

`build_eval_config` (the `Evaluator`: the ranker against the served model). Per task: AUC for binary tasks (for the
tasks in `min_auc`: a value threshold, and a change threshold: the candidate's AUC may not fall more than
`max_auc_drop` below the baseline's, the model being served), RMSE for regression tasks (value threshold
`max_rmse`). Sliced by each value of `slice_features` and, with `cold_start_slices`, by cold start
(`slicing_specs`); with `max_slice_auc_drop`, each gated task's AUC on every slice may not fall more than that below
the served model's.

`build_baseline_eval_config` (the `BaselineEvaluator`: the ranker against the simple model of models/baseline.py,
trained on the same span): the same metrics on the whole of span d + 1, and for each task in `min_auc` a change
threshold: the ranker's AUC minus the simple model's must be at least `min_lift_over_baseline` (none when it is None:
the lift is then measured only). With `lift_interval`, TFMA also computes its jackknife confidence intervals there,
and the Evaluator's executor (components/evaluator.py) judges each lift on its 95 % interval instead of the point.

Labels are read from the transformed features (`transform_features` signature), so watch time is scored in log1p
seconds, as trained. The survey RMSE is weighted by `has_survey`, i.e. computed over surveyed impressions only.

Cold-start slices are TFMA SQL slices over the raw features: `cold_video` (video_age_days below
`cold_video_max_age_days`: uploaded within the last day) and `cold_user` (user_watch_count below
`cold_user_max_watch_count`: little history), each "true" or "false".
"""

from __future__ import annotations

import tensorflow_model_analysis as tfma

from config.settings import BINARY_TASKS, REGRESSION_TASKS, GateConfig
from models import features as F

COLD_VIDEO_SLICE = "cold_video"
COLD_USER_SLICE = "cold_user"
OVERALL = tfma.SlicingSpec()


def model_spec() -> tfma.ModelSpec:
    """The ranker's (and the simple model's) serving signature, with labels read from the transformed features."""
    return tfma.ModelSpec(
        signature_name="serving_default",
        label_keys={t: F.label_key(t) for t in (*BINARY_TASKS, *REGRESSION_TASKS)},
        example_weight_keys={"survey_rating": F.transformed_name(F.SURVEY_MASK)},
        preprocessing_function_names=["transform_features"],
    )


def slice_keys(gates: GateConfig) -> list[str]:
    """The slice columns: `slice_features` and the cold-start keys (with `cold_start_slices`)."""
    return [*gates.slice_features, *((COLD_VIDEO_SLICE, COLD_USER_SLICE) if gates.cold_start_slices else ())]


def slicing_specs(gates: GateConfig) -> list[tfma.SlicingSpec]:
    """The overall slice, one slice per value of each of `slice_features`, and the two cold-start slices (with
    `cold_start_slices`)."""
    cold = {
        COLD_VIDEO_SLICE: ("video_age_days", f"video_age_days < {float(gates.cold_video_max_age_days)!r}"),
        COLD_USER_SLICE: ("user_watch_count", f"user_watch_count < {int(gates.cold_user_max_watch_count)}"),
    }
    return [
        OVERALL,
        *(tfma.SlicingSpec(feature_keys=[key]) for key in gates.slice_features),
        *(
            tfma.SlicingSpec(
                slice_keys_sql=f"SELECT STRUCT(IF({condition}, 'true', 'false') AS {name}) FROM example.{column}"  # noqa: S608 - TFMA slice SQL over our own feature names, no user input
            )
            for name, (column, condition) in cold.items()
            if gates.cold_start_slices
        ),
    ]


def _auc_threshold(value: float | None, change: float | None) -> tfma.MetricThreshold | None:
    if value is None and change is None:
        return None
    return tfma.MetricThreshold(
        value_threshold=(tfma.GenericValueThreshold(lower_bound={"value": value}) if value is not None else None),
        change_threshold=(
            tfma.GenericChangeThreshold(direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": change})
            if change is not None
            else None
        ),
    )


def _metrics_specs(
    gates: GateConfig, auc_thresholds: dict[str, list[tfma.PerSliceMetricThreshold]], rmse_bounds: bool = True
) -> list[tfma.MetricsSpec]:
    """AUC (and the example count) per binary task, with `auc_thresholds` per task; RMSE per regression task, bounded
    by `max_rmse` on the overall slice when `rmse_bounds`."""
    specs = []
    for task in BINARY_TASKS:
        auc = tfma.MetricConfig(class_name="AUC", per_slice_thresholds=auc_thresholds.get(task, []))
        specs.append(tfma.MetricsSpec(output_names=[task], metrics=[auc, tfma.MetricConfig(class_name="ExampleCount")]))
    for task in REGRESSION_TASKS:
        upper = gates.max_rmse.get(task) if rmse_bounds else None
        thresholds = (
            [
                _on(
                    [OVERALL],
                    tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(upper_bound={"value": upper})),
                )
            ]
            if upper is not None
            else []
        )
        rmse = tfma.MetricConfig(class_name="RootMeanSquaredError", per_slice_thresholds=thresholds)
        specs.append(tfma.MetricsSpec(output_names=[task], metrics=[rmse]))
    return specs


def _on(slices: list[tfma.SlicingSpec], threshold: tfma.MetricThreshold) -> tfma.PerSliceMetricThreshold:
    return tfma.PerSliceMetricThreshold(slicing_specs=slices, threshold=threshold)


def build_eval_config(gates: GateConfig) -> tfma.EvalConfig:
    """The ranker against the served model (module docstring).

    Thresholds are per slice (TFMA checks a MetricConfig's plain `threshold` on every slice): the value and change
    thresholds on the overall slice, `max_slice_auc_drop` on each of the other slices.
    """
    # Only tasks named in `min_auc` are gated (value and change against the baseline); the others are measured.
    # A small eval day holds a handful of positives for rare tasks, whose AUC change from day to day is noise.
    thresholds = {
        task: [_on([OVERALL], _auc_threshold(bound, -gates.max_auc_drop))] for task, bound in gates.min_auc.items()
    }
    if gates.max_slice_auc_drop is not None and slice_keys(gates):
        sliced = [tfma.SlicingSpec(feature_keys=[key]) for key in slice_keys(gates)]
        for task in gates.min_auc:
            thresholds[task].append(_on(sliced, _auc_threshold(None, -gates.max_slice_auc_drop)))
    return tfma.EvalConfig(
        model_specs=[model_spec()],
        slicing_specs=slicing_specs(gates),
        metrics_specs=_metrics_specs(gates, thresholds),
    )


def build_baseline_eval_config(gates: GateConfig) -> tfma.EvalConfig:
    """The ranker against the simple model (module docstring): overall slice only."""
    thresholds = {}
    if gates.min_lift_over_baseline is not None:
        thresholds = {
            task: [_on([OVERALL], _auc_threshold(None, gates.min_lift_over_baseline))] for task in gates.min_auc
        }
    options = None
    if thresholds and gates.lift_interval:
        options = tfma.Options(
            compute_confidence_intervals={"value": True},
            confidence_intervals=tfma.ConfidenceIntervalOptions(method=tfma.ConfidenceIntervalOptions.JACKKNIFE),
        )
    return tfma.EvalConfig(
        model_specs=[model_spec()],
        slicing_specs=[OVERALL],
        metrics_specs=_metrics_specs(gates, thresholds, rmse_bounds=False),  # the Evaluator bounds the RMSE
        options=options,
    )


def gates_baseline(gates: GateConfig) -> bool:
    """Whether the BaselineEvaluator's verdict gates the push (it measures the lift either way)."""
    return gates.min_lift_over_baseline is not None and bool(gates.min_auc)
