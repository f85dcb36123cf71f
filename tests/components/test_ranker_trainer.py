"""RankerTrainer: TFX's Trainer plus a `simple_model` input, wired from the BaselineTrainer only when the wide part
starts from it, and handed to the run_fn as a serving directory."""

from __future__ import annotations

import dataclasses
import json

from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from components.ranker_trainer import SIMPLE_MODEL_INPUT, Executor, RankerTrainerSpec
from config.settings import default_preset, tiny_preset
from config.validation import validate_config
from models.wide_start import SIMPLE_MODEL_KEY


def test_the_spec_is_the_trainers_plus_an_optional_simple_model():
    inputs = RankerTrainerSpec.INPUTS
    assert set(inputs) == {*standard_component_specs.TrainerSpec.INPUTS, SIMPLE_MODEL_INPUT}
    assert inputs[SIMPLE_MODEL_INPUT].optional and inputs[SIMPLE_MODEL_INPUT].type is standard_artifacts.Model
    assert RankerTrainerSpec.OUTPUTS == standard_component_specs.TrainerSpec.OUTPUTS


def _nodes(config, tmp_path) -> dict:
    from pipeline.pipeline import create_pipeline

    dag = create_pipeline(validate_config(config), str(tmp_path / "root"), str(tmp_path / "serving"))
    return {node.id: node for node in dag.components}


def test_the_trainer_takes_the_simple_model_only_when_its_wide_part_starts_from_it(tmp_path):
    default = default_preset()
    assert default.model.wide_from_simple
    trainer = _nodes(default, tmp_path)["Trainer"]
    assert trainer.inputs[SIMPLE_MODEL_INPUT].producer_component_id == "BaselineTrainer"
    assert "BaselineTrainer" in {node.id for node in trainer.upstream_nodes}
    assert trainer.inputs["base_model"].producer_component_id == "ServedModel"  # the warm-start base, as before

    tiny = tiny_preset()
    assert not tiny.model.wide_from_simple
    trainer = _nodes(tiny, tmp_path)["Trainer"]
    assert SIMPLE_MODEL_INPUT not in trainer.inputs
    assert "BaselineTrainer" not in {node.id for node in trainer.upstream_nodes}
    off = default.replace(model=dataclasses.replace(default.model, wide_from_simple=False))
    assert SIMPLE_MODEL_INPUT not in _nodes(off, tmp_path)["Trainer"].inputs


def _artifact(kind, uri: str, **properties):
    artifact = kind()
    artifact.uri = uri
    for key, value in properties.items():
        setattr(artifact, key, value)
    return artifact


def test_the_executor_hands_the_simple_models_serving_directory_to_the_run_fn(tmp_path):
    examples = _artifact(standard_artifacts.Examples, str(tmp_path / "examples"), split_names='["train", "eval"]')
    inputs = {
        "examples": [examples],
        "transform_graph": [_artifact(standard_artifacts.TransformGraph, str(tmp_path / "transform"))],
    }
    outputs = {
        "model": [_artifact(standard_artifacts.Model, str(tmp_path / "model"))],
        "model_run": [_artifact(standard_artifacts.ModelRun, str(tmp_path / "model_run"))],
    }
    properties = {
        "train_args": proto_utils.proto_to_json(trainer_pb2.TrainArgs(splits=["train"], num_steps=1)),
        "eval_args": proto_utils.proto_to_json(trainer_pb2.EvalArgs(splits=["eval"], num_steps=1)),
        "custom_config": json.dumps({"model": "{}"}),
    }
    without = Executor()._GetFnArgs(inputs, outputs, properties)
    assert without.custom_config == {"model": "{}"}
    simple = _artifact(standard_artifacts.Model, str(tmp_path / "BaselineTrainer" / "model" / "3"))
    with_simple = Executor()._GetFnArgs({**inputs, SIMPLE_MODEL_INPUT: [simple]}, outputs, properties)
    assert with_simple.custom_config == {
        "model": "{}",
        SIMPLE_MODEL_KEY: str(tmp_path / "BaselineTrainer" / "model" / "3" / "Format-Serving"),
    }
    assert with_simple.base_model is None and with_simple.train_files == without.train_files
