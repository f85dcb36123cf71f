"""StabilityGate executor: blessing files and properties, verdict file, refusal reasons."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from tfx.types import standard_artifacts

from components.stability_gate import VERDICT_FILE, Executor, StabilityGate, read_verdict
from config.settings import PipelineConfig, StabilityConfig, section_json
from models.stability import TrainingReport, training_report_path

STEPS = list(range(0, 600, 10))


def clean_loss() -> list[float]:
    return list(0.4 + 0.6 * np.exp(-np.arange(len(STEPS)) / 8.0))


def write_report(directory: Path, loss: list[float], **kwargs) -> str:
    TrainingReport(STEPS[: len(loss)], loss, **kwargs).with_divergence().save(training_report_path(str(directory)))
    return str(directory)


def run_gate(tmp_path: Path, model_run_dir: str | None, config: PipelineConfig = PipelineConfig()):
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    inputs = {}
    if model_run_dir is not None:
        model_run = standard_artifacts.ModelRun()
        model_run.uri = model_run_dir
        inputs["model_run"] = [model_run]
    Executor().Do(inputs, {"blessing": [blessing]}, {"stability_json": section_json(config.stability)})
    files = sorted(p.name for p in Path(blessing.uri).iterdir())
    return blessing, files, read_verdict(blessing.uri)


def test_clean_training_is_blessed(tmp_path):
    auc = {"click": list(np.linspace(0.55, 0.7, len(STEPS)))}
    blessing, files, verdict = run_gate(tmp_path, write_report(tmp_path / "run", clean_loss(), auc=auc))
    assert files == ["BLESSED", VERDICT_FILE]
    assert blessing.get_int_custom_property("blessed") == 1
    assert "no full divergence" in blessing.get_string_custom_property("reason")
    assert blessing.get_string_custom_property("model_run") == str(tmp_path / "run")
    assert not blessing.has_custom_property("current_model_id")  # never a baseline for the Evaluator
    assert verdict["verdict"] == "BLESSED" and verdict["blessed"] is True
    assert verdict["detector"]["fully_diverged"] is False and verdict["detector"]["num_points"] == len(STEPS)


def test_non_finite_loss_is_not_blessed(tmp_path):
    loss = [*clean_loss()[:35], math.nan]
    run_dir = write_report(tmp_path / "run", loss, stopped_early=True, stop_reason="non-finite loss at step 350")
    blessing, files, verdict = run_gate(tmp_path, run_dir)
    assert files == ["NOT_BLESSED", VERDICT_FILE]
    assert blessing.get_int_custom_property("blessed") == 0
    reason = blessing.get_string_custom_property("reason")
    assert "loss became non-finite (nan) at step 350" in reason and "stopped early" in reason
    assert verdict["verdict"] == "NOT_BLESSED" and verdict["detector"]["onset_step"] == 350
    assert verdict["stopped_early"] is True


def test_blow_up_is_not_blessed_and_verdict_is_strict_json(tmp_path):
    loss = clean_loss()
    loss[40:] = [x * 5.0 for x in loss[40:]]
    loss[-1] = math.inf
    blessing, _, _ = run_gate(tmp_path, write_report(tmp_path / "run", loss))
    assert blessing.get_int_custom_property("blessed") == 0
    text = (Path(blessing.uri) / VERDICT_FILE).read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))


def test_thresholds_come_from_the_config(tmp_path):
    loss = clean_loss()
    loss[40:] = [x * 2.5 for x in loss[40:]]
    run_dir = str(tmp_path / "run")
    TrainingReport(STEPS, loss).save(training_report_path(run_dir))
    assert run_gate(tmp_path / "a", run_dir)[0].get_int_custom_property("blessed") == 0
    lenient = PipelineConfig(stability=StabilityConfig(spike_ratio=3.0, end_level_ratio=None))
    assert run_gate(tmp_path / "b", run_dir, lenient)[0].get_int_custom_property("blessed") == 1


def test_trainer_verdict_of_full_divergence_wins(tmp_path):
    run_dir = str(tmp_path / "run")
    report = TrainingReport(STEPS, clean_loss(), divergence={"fully_diverged": True, "reason": "AUC collapsed"})
    report.save(training_report_path(run_dir))
    blessing, _, _ = run_gate(tmp_path, run_dir)
    assert blessing.get_int_custom_property("blessed") == 0
    assert "Trainer's detector reported full divergence: AUC collapsed" in blessing.get_string_custom_property("reason")


def test_missing_report_is_not_blessed(tmp_path):
    (tmp_path / "run").mkdir()
    blessing, files, verdict = run_gate(tmp_path, str(tmp_path / "run"))
    assert files == ["NOT_BLESSED", VERDICT_FILE]
    assert "training_report.json is missing" in blessing.get_string_custom_property("reason")
    assert verdict["detector"] is None


@pytest.mark.parametrize(
    "content, expected",
    [("{not json", "unreadable"), ('{"steps": [1, 2], "loss": [1.0]}', "loss has 1 points")],
)
def test_unreadable_report_is_not_blessed(tmp_path, content, expected):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "training_report.json").write_text(content)
    blessing, _, _ = run_gate(tmp_path, str(tmp_path / "run"))
    assert blessing.get_int_custom_property("blessed") == 0
    assert expected in blessing.get_string_custom_property("reason")


def test_empty_curve_and_missing_input_are_not_blessed(tmp_path):
    blessing, _, _ = run_gate(tmp_path / "a", write_report(tmp_path / "run", []))
    assert "no loss points" in blessing.get_string_custom_property("reason")
    blessing, _, _ = run_gate(tmp_path / "b", None)
    assert blessing.get_int_custom_property("blessed") == 0
    assert "no model_run" in blessing.get_string_custom_property("reason")


def test_component_interface():
    from tfx import types
    from tfx.types import standard_artifacts as sa

    gate = StabilityGate(model_run=types.Channel(type=sa.ModelRun), stability=PipelineConfig().stability)
    assert set(gate.inputs) == {"model_run"} and set(gate.outputs) == {"blessing"}
    assert gate.outputs["blessing"].type is sa.ModelBlessing
    assert gate.exec_properties["stability_json"] == section_json(PipelineConfig().stability)
