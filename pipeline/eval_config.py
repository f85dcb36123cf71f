"""TFMA EvalConfig for the Evaluator gate, built from `GateConfig`.

Per task: AUC for binary tasks (for the tasks in `min_auc`: a value threshold, and a change threshold: the
candidate's AUC may not fall more than `max_auc_drop` below the baseline's, the model being served), RMSE for
regression tasks (value threshold `max_rmse`). Labels are read from the transformed features
(`transform_features` signature), so watch time is scored in log1p seconds, as trained. The survey RMSE is
weighted by `has_survey`, i.e. computed over surveyed impressions only.
"""

from __future__ import annotations

import tensorflow_model_analysis as tfma

from config.settings import BINARY_TASKS, REGRESSION_TASKS, GateConfig
from models import features as F


def build_eval_config(gates: GateConfig) -> tfma.EvalConfig:
    label_keys = {t: F.label_key(t) for t in (*BINARY_TASKS, *REGRESSION_TASKS)}
    model_spec = tfma.ModelSpec(
        signature_name="serving_default",
        label_keys=label_keys,
        example_weight_keys={"survey_rating": F.transformed_name(F.SURVEY_MASK)},
        preprocessing_function_names=["transform_features"],
    )
    specs = []
    for task in BINARY_TASKS:
        # Only tasks named in `min_auc` are gated (value and change against the baseline); the others are measured.
        # A small eval day holds a handful of positives for rare tasks, whose AUC change from day to day is noise.
        threshold = (
            tfma.MetricThreshold(
                value_threshold=tfma.GenericValueThreshold(lower_bound={"value": gates.min_auc[task]}),
                change_threshold=tfma.GenericChangeThreshold(
                    direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                    absolute={"value": -gates.max_auc_drop},
                ),
            )
            if task in gates.min_auc
            else None
        )
        specs.append(
            tfma.MetricsSpec(
                output_names=[task],
                metrics=[
                    tfma.MetricConfig(class_name="AUC", threshold=threshold),
                    tfma.MetricConfig(class_name="ExampleCount"),
                ],
            )
        )
    for task in REGRESSION_TASKS:
        upper = gates.max_rmse.get(task)
        threshold = (
            tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(upper_bound={"value": upper}))
            if upper is not None
            else None
        )
        specs.append(
            tfma.MetricsSpec(
                output_names=[task],
                metrics=[tfma.MetricConfig(class_name="RootMeanSquaredError", threshold=threshold)],
            )
        )
    return tfma.EvalConfig(
        model_specs=[model_spec],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=specs,
    )
