"""RankerTrainer: TFX's Trainer with one more optional input, the simple model the ranker's wide part starts from.

TFX's Trainer takes one model input, `base_model`, which the pipeline already gives to the model being served (the
warm-start base). The ranker's wide part can also start from the BaselineTrainer's model (`model.wide_from_simple`,
models/wide_start.py), so this component's spec is TFX's `TrainerSpec` plus an optional `simple_model` channel:
the dependency is an edge of the DAG, recorded in MLMD like any other input, and the orchestrators (local Beam,
Kubeflow) schedule the Trainer after the BaselineTrainer. The executor is TFX's `GenericExecutor`; it hands the
simple model's serving directory to the `run_fn` as `custom_config[SIMPLE_MODEL_KEY]`. Every other argument,
output and behaviour is the stock Trainer's.
"""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.components.trainer import executor as trainer_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import trainer_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import json_utils, path_utils

from models.wide_start import SIMPLE_MODEL_KEY

SIMPLE_MODEL_INPUT = "simple_model"


class RankerTrainerSpec(standard_component_specs.TrainerSpec):
    INPUTS = {
        **standard_component_specs.TrainerSpec.INPUTS,
        SIMPLE_MODEL_INPUT: ChannelParameter(type=standard_artifacts.Model, optional=True),
    }


class Executor(trainer_executor.GenericExecutor):
    def _GetFnArgs(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ):
        fn_args = super()._GetFnArgs(input_dict, output_dict, exec_properties)
        simple = input_dict.get(SIMPLE_MODEL_INPUT) or []
        if simple:
            saved_model = path_utils.serving_model_path(artifact_utils.get_single_uri(simple))
            fn_args.custom_config = {**(fn_args.custom_config or {}), SIMPLE_MODEL_KEY: saved_model}
        return fn_args


class RankerTrainer(base_component.BaseComponent):
    """TFX's Trainer (run_fn form) with an optional `simple_model` input; use `.with_id("Trainer")`."""

    SPEC_CLASS = RankerTrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        transform_graph: types.BaseChannel,
        schema: types.BaseChannel,
        run_fn: str,
        train_args: trainer_pb2.TrainArgs,
        eval_args: trainer_pb2.EvalArgs,
        custom_config: dict[str, Any],
        base_model: types.BaseChannel | None = None,
        hyperparameters: types.BaseChannel | None = None,
        simple_model: types.BaseChannel | None = None,
    ):
        spec = RankerTrainerSpec(
            examples=examples,
            transform_graph=transform_graph,
            schema=schema,
            base_model=base_model,
            hyperparameters=hyperparameters,
            simple_model=simple_model,
            train_args=train_args,
            eval_args=eval_args,
            run_fn=run_fn,
            custom_config=json_utils.dumps(custom_config),
            model=types.Channel(type=standard_artifacts.Model),
            model_run=types.Channel(type=standard_artifacts.ModelRun),
        )
        super().__init__(spec=spec)
