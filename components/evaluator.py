"""Evaluator: TFX's Evaluator whose baseline may be a ServedModel output that holds no model (nothing served yet).

A TFX resolver answers "nothing served yet" with an empty list and the stock Evaluator then runs without a
baseline (change thresholds dropped). The ServedModel component (components/served_model.py) always emits its
Model artifact, on every orchestrator (KFP passes an output artifact downstream even when an executor leaves it
empty), with `served` = 0 and no SavedModel when nothing is served: this executor drops such a baseline and hands
the rest to TFX's executor unchanged.
"""

from __future__ import annotations

from typing import Any

from absl import logging
from tfx import types
from tfx.components.evaluator import component as evaluator_component
from tfx.components.evaluator import executor as evaluator_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_component_specs

from components.served_model import holds_saved_model

BASELINE_KEY = standard_component_specs.BASELINE_MODEL_KEY


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
        super().Do(without_empty_baseline(input_dict), output_dict, exec_properties)


class Evaluator(evaluator_component.Evaluator):
    """TFX's Evaluator (same spec and arguments); use `.with_id("Evaluator")` to keep the stock node id."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
