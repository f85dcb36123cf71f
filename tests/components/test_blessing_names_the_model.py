"""A blessing names the model it judged, and the pusher refuses a blessing for another model (both gates), with
the real StabilityGate and RankerPusher executors: no resolver filters blessings by producer on KFP."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from helpers.tiny_model import evaluator_blessing, model_artifact, save_tiny_ranker
from tfx.types import standard_artifacts

from components.pusher import Executor
from components.stability_gate import JUDGED_MODEL_ID_PROPERTY, JUDGED_MODEL_PROPERTY
from components.stability_gate import Executor as GateExecutor
from config.settings import PipelineConfig, section_json
from models.stability import TrainingReport, training_report_path

MODEL = "ranker"


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    first, second = (
        model_artifact(save_tiny_ranker(str(root / n / "Format-Serving"), w)) for n, w in (("a", 0.3), ("b", 0.6))
    )
    first.id, second.id = 11, 12
    return first, second


def gate_blessing(root: Path, model) -> standard_artifacts.ModelBlessing:
    steps = list(range(0, 400, 10))
    TrainingReport(steps, list(0.4 + 0.6 * np.exp(-np.arange(len(steps)) / 8.0))).save(
        training_report_path(str(root / "model_run"))
    )
    model_run, blessing = standard_artifacts.ModelRun(), standard_artifacts.ModelBlessing()
    model_run.uri, blessing.uri = str(root / "model_run"), str(root / "stability_blessing")
    inputs = {"model_run": [model_run], "model": [model]}
    GateExecutor().Do(inputs, {"blessing": [blessing]}, {"stability_json": section_json(PipelineConfig().stability)})
    return blessing


def push(root: Path, model, model_blessing, stability_blessing):
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(root / "pushed_model")
    inputs = {"model": [model], "model_blessing": [model_blessing], "stability_blessing": [stability_blessing]}
    props = {"serving_root": str(root / "serving"), "model_name": MODEL, "num_warmup_records": 0}
    Executor().Do(inputs, {"pushed_model": [pushed]}, props)
    return json.loads(Path(pushed.uri, "push_record.json").read_text())


def test_the_stability_blessing_names_the_model_it_judged(tmp_path, two_models):
    first, _ = two_models
    blessing = gate_blessing(tmp_path, first)
    assert blessing.get_int_custom_property("blessed") == 1
    assert blessing.get_string_custom_property(JUDGED_MODEL_PROPERTY) == first.uri
    assert blessing.get_int_custom_property(JUDGED_MODEL_ID_PROPERTY) == first.id


def test_blessings_for_the_same_model_push(tmp_path, two_models):
    first, _ = two_models
    evaluator = evaluator_blessing(tmp_path, True)
    evaluator.set_string_custom_property("current_model", first.uri)
    evaluator.set_int_custom_property("current_model_id", first.id)
    record = push(tmp_path, first, evaluator, gate_blessing(tmp_path, first))
    assert record["pushed"] is True, record


@pytest.mark.parametrize("wrong", ["stability_gate", "evaluator"])
def test_a_blessing_for_another_model_refuses_the_push(tmp_path, two_models, wrong):
    first, second = two_models
    evaluator = evaluator_blessing(tmp_path, True)
    evaluator.set_string_custom_property("current_model", (second if wrong == "evaluator" else first).uri)
    gate = gate_blessing(tmp_path, second if wrong == "stability_gate" else first)
    record = push(tmp_path, first, evaluator, gate)
    assert record["pushed"] is False and list(record["refusals"]) == [wrong], record
    assert "not for" in record["refusals"][wrong]
    assert not os.path.exists(tmp_path / "serving" / MODEL)
