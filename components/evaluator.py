"""Evaluator: TFX's Evaluator whose baseline may be a ServedModel output that holds no model (nothing served yet),
and whose refusal says why.

A TFX resolver answers "nothing served yet" with an empty list and the stock Evaluator then runs without a
baseline (change thresholds dropped). The ServedModel component (components/served_model.py) always emits its
Model artifact, on every orchestrator (KFP passes an output artifact downstream even when an executor leaves it
empty), with `served` = 0 and no SavedModel when nothing is served: this executor drops such a baseline and hands
the rest to TFX's executor unchanged.

After TFX's executor, a NOT_BLESSED blessing gets a `reason` custom property (what the pusher records as the
refusal), one clause per failed threshold naming the task, the slice, both models' values and the threshold, e.g.
`click AUC on the overall slice: the ranker 0.6610 vs the simple model 0.6702 (change -0.0092, required >= +0.0000)`
(components/evaluation_verdict.py).

When the EvalConfig computes confidence intervals (the BaselineEvaluator with `gates.lift_interval`), each failed
change threshold is judged on its 95 % interval: TFMA checks only the point estimate. If every failure is a change
whose interval still reaches its bound, the evaluation does not show the shortfall, and the executor turns the
blessing into BLESSED (the `BLESSED` file and `blessed` = 1, as TFX writes them) with a `reason` that lists the
changes it did not count. Any failure the data confirm keeps the model refused. TFMA's jackknife is seeded
(compat/tfma_jackknife_seed.py): the same models and examples get the same interval, and so the same verdict.
"""

from __future__ import annotations

import os
from typing import Any

from absl import logging
from tfx import types
from tfx.components.evaluator import component as evaluator_component
from tfx.components.evaluator import constants as evaluator_constants
from tfx.components.evaluator import executor as evaluator_executor
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.types import standard_component_specs

from compat import tfma_jackknife_seed
from components.evaluation_verdict import judge_evaluation, pass_note, refusal_reason
from components.served_model import SERVED_PROPERTY, holds_saved_model

BASELINE_KEY = standard_component_specs.BASELINE_MODEL_KEY
SIMPLE_MODEL_NODE = "BaselineTrainer"  # the node id of the Trainer of models/baseline.py


def without_empty_baseline(input_dict: dict[str, list[types.Artifact]]) -> dict[str, list[types.Artifact]]:
    baselines = input_dict.get(BASELINE_KEY) or []
    if all(holds_saved_model(b) for b in baselines):
        return input_dict
    logging.info("Evaluator: the baseline holds no model (nothing served yet): evaluating without a baseline")
    return {key: value for key, value in input_dict.items() if key != BASELINE_KEY}


class Executor(evaluator_executor.Executor):
    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        inputs = without_empty_baseline(input_dict)
        tfma_jackknife_seed.install()  # the same intervals, and so the same verdict, for the same models and examples
        super().Do(inputs, output_dict, exec_properties)
        blessings = output_dict.get(standard_component_specs.BLESSING_KEY) or []
        evaluations = output_dict.get(standard_component_specs.EVALUATION_KEY) or []
        if not blessings or not evaluations or not blessings[0].has_custom_property("blessed"):
            return  # no thresholds: TFX's executor gave no verdict
        if blessings[0].get_int_custom_property("blessed") != 1:
            baselines = inputs.get(BASELINE_KEY) or []
            judgement = judge_evaluation(evaluations[0].uri, baseline_label(baselines[0] if baselines else None))
            if judgement.not_shown and not judgement.shown:
                note = pass_note(judgement)
                bless(blessings[0], note)
                logging.info("Evaluator: BLESSED on the intervals: %s", note)
                return
            reason = refusal_reason(judgement)
            blessings[0].set_string_custom_property("reason", reason)
            logging.warning("Evaluator: NOT BLESSED: %s", reason)


def bless(blessing: types.Artifact, reason: str) -> None:
    """Turns TFX's NOT_BLESSED `blessing` into BLESSED, with `reason` saying why."""
    refused = os.path.join(blessing.uri, evaluator_constants.NOT_BLESSED_FILE_NAME)
    if fileio.exists(refused):
        fileio.remove(refused)
    with fileio.open(os.path.join(blessing.uri, evaluator_constants.BLESSED_FILE_NAME), "w") as f:
        f.write("")
    blessing.set_int_custom_property("blessed", 1)
    blessing.set_string_custom_property("reason", reason)


def baseline_label(baseline: types.Artifact | None) -> str:
    """What the baseline model is, in words: the model being served (a ServedModel output), the simple model (a
    Model written under a `BaselineTrainer` node directory), or the baseline model."""
    if baseline is None:
        return "no baseline"
    if baseline.has_custom_property(SERVED_PROPERTY):
        return "the served model"
    if f"/{SIMPLE_MODEL_NODE}/" in baseline.uri:
        return "the simple model"
    return "the baseline model"


class Evaluator(evaluator_component.Evaluator):
    """TFX's Evaluator (same spec and arguments); use `.with_id("Evaluator")` to keep the stock node id."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
