"""Faults during training, at the Trainer's own level (models.trainer.train_and_export) on the transformed data of
the session's shared tiny run (real LogGen -> LogIngest -> Transform components):

* a diverging run stops at the first non-finite loss, its report says when and where, and the gate refuses it;
* a preempted run resumes from its last backup in a *new* model_run directory (a retried TFX execution) and ends
  with the weights and curve of an uninterrupted run;
* two runs with the same seed and configuration give the same weights and metrics.
"""

from __future__ import annotations

import dataclasses
import glob
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.types import standard_artifacts

from components.stability_gate import Executor as GateExecutor
from config.settings import TASKS, PipelineConfig, TrainConfig, section_json, tiny_preset
from models import checkpointing
from models.stability import TrainingReport, training_report_path
from models.trainer import train_and_export

pytestmark = pytest.mark.slow

TRAIN = TrainConfig(batch_size=64, train_steps=20, eval_steps=2, log_every_steps=5)
CONFIG = tiny_preset().replace(train=TRAIN)  # every TrainConfig field from TRAIN, nested sections included


@dataclasses.dataclass(frozen=True)
class Transformed:
    transform_graph: str
    train_files: list[str]
    root: str


@pytest.fixture(scope="module")
def transformed(trained_ranker) -> Transformed:
    """The Transform output of the session's shared tiny run (tests/helpers/trained.py), whose data settings are
    CONFIG's."""
    assert trained_ranker.config.world == CONFIG.world and trained_ranker.config.transform == CONFIG.transform
    return Transformed(trained_ranker.transform_graph, trained_ranker.train_files, trained_ranker.root)


class Preempted(Exception):
    """Stands for the machine going away."""


class PreemptAt(tf.keras.callbacks.Callback):
    """Raises Preempted after `step` training steps of this fit() call."""

    def __init__(self, step: int):
        super().__init__()
        self.step, self.seen = step, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.step:
            raise Preempted(f"preempted after step {self.step}")


def trainer_dirs(root: str, execution_id: int) -> tuple[str, str]:
    """(serving_model_dir, model_run_dir) as TFX lays them out for one Trainer execution."""
    trainer = os.path.join(root, "Trainer")
    return (
        os.path.join(trainer, "model", str(execution_id), "Format-Serving"),
        os.path.join(trainer, "model_run", str(execution_id)),
    )


def train(data: Transformed, config: PipelineConfig, execution_id: int, root: str, callbacks=()) -> TrainingReport:
    serving, model_run = trainer_dirs(root, execution_id)
    return train_and_export(config, data.transform_graph, data.train_files, serving, model_run, callbacks=callbacks)


def exported_weights(root: str, execution_id: int) -> dict[str, np.ndarray]:
    """Every variable of the exported model (weights and optimizer state), telemetry scratch excepted."""
    serving, _ = trainer_dirs(root, execution_id)
    reader = tf.train.load_checkpoint(os.path.join(serving, "variables", "variables"))
    names = [n for n in reader.get_variable_to_shape_map() if "/.ATTRIBUTES/" in n and "_telemetry_" not in n]
    return {name: reader.get_tensor(name) for name in names}


def backups(root: str) -> list[str]:
    return glob.glob(os.path.join(root, "Trainer", "backup", "*"))


def test_divergence_stops_early_and_the_report_says_when_and_where(transformed, tmp_path):
    bad_train = dataclasses.replace(CONFIG.train, optimizer="adagrad", learning_rate=1e30, optimizer_params={})
    config = CONFIG.replace(train=bad_train)
    report = train(transformed, config, 1, str(tmp_path))

    assert report.stopped_early
    step = report.steps[-1]
    assert step < config.train.train_steps  # stopped at the first non-finite loss, not at the end
    assert (
        f"non-finite loss (nan) at step {step}" in report.stop_reason or f"(inf) at step {step}" in report.stop_reason
    )
    assert "non-finite weights in" in report.stop_reason or "non-finite task losses" in report.stop_reason
    assert report.divergence["fully_diverged"] and report.divergence["criterion"] == "non_finite"
    assert report.divergence["onset_step"] == step
    saved = TrainingReport.load(training_report_path(trainer_dirs(str(tmp_path), 1)[1]))
    assert saved.stop_reason == report.stop_reason  # the report on disk says it too
    assert not backups(str(tmp_path))  # nothing left to resume

    model_run, blessing = standard_artifacts.ModelRun(), standard_artifacts.ModelBlessing()
    model_run.uri, blessing.uri = trainer_dirs(str(tmp_path), 1)[1], str(tmp_path / "blessing")
    GateExecutor().Do(
        {"model_run": [model_run]}, {"blessing": [blessing]}, {"stability_json": section_json(config.stability)}
    )
    assert blessing.get_int_custom_property("blessed") == 0
    assert f"at step {step}" in blessing.get_string_custom_property("reason")


@pytest.fixture(scope="module")
def uninterrupted(transformed, tmp_path_factory) -> tuple[str, TrainingReport]:
    """The reference: CONFIG trained start to finish as Trainer execution 1 under its own root."""
    root = str(tmp_path_factory.mktemp("uninterrupted"))
    report = train(transformed, CONFIG, 1, root)
    assert report.loss[-1] < report.loss[0]  # it learned something: equal weights below are not vacuous
    assert sorted(report.task_loss) == sorted(TASKS)  # each task's own loss, one value per logged point
    assert all(len(v) == len(report.steps) for v in report.task_loss.values())
    assert not backups(root)  # a finished training removes its backup
    return root, report


def test_preempted_training_resumes_where_it_stopped(transformed, uninterrupted, tmp_path):
    reference_root, reference = uninterrupted
    root = str(tmp_path)
    with pytest.raises(Preempted):
        train(transformed, CONFIG, 2, root, callbacks=[PreemptAt(12)])  # in the third window of 5 steps
    [backup] = backups(root)
    assert checkpointing.completed_windows(backup) == 2
    assert not os.path.exists(training_report_path(trainer_dirs(root, 2)[1]))  # no report from a dead attempt

    resumed = train(transformed, CONFIG, 3, root)  # the retry: a new execution, a new model_run directory
    assert not backups(root)
    assert resumed.steps == reference.steps == [5, 10, 15, 20]
    np.testing.assert_allclose(resumed.loss, reference.loss, rtol=1e-6)
    for task, values in reference.auc.items():
        np.testing.assert_allclose(resumed.auc[task], values, rtol=1e-6, err_msg=task)
    for task, values in reference.task_loss.items():
        np.testing.assert_allclose(resumed.task_loss[task], values, rtol=1e-6, err_msg=task)
    assert [r["step"] for r in resumed.telemetry] == [r["step"] for r in reference.telemetry]
    expected, got = exported_weights(reference_root, 1), exported_weights(root, 3)
    assert set(got) == set(expected) and len(expected) > 10
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-7, err_msg=name)


def test_same_seed_same_weights_and_metrics(transformed, uninterrupted, tmp_path):
    reference_root, reference = uninterrupted
    again = train(transformed, CONFIG, 2, str(tmp_path))
    assert again.loss == reference.loss and again.auc == reference.auc  # bitwise, with op determinism on CPU
    expected, got = exported_weights(reference_root, 1), exported_weights(str(tmp_path), 2)
    for name, value in expected.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)


def test_backup_location_is_stable_across_executions_and_specific_to_the_training():
    fp = checkpointing.fingerprint(CONFIG.to_json(), "/r/Transform/transform_graph/4", ["/r/T/Split-train/*"])
    assert len(fp) == 16
    assert checkpointing.backup_dir("", "/r/Trainer/model_run/7", fp) == f"/r/Trainer/backup/{fp}"
    assert checkpointing.backup_dir("", "/r/Trainer/model_run/8/", fp) == f"/r/Trainer/backup/{fp}"
    assert checkpointing.backup_dir("gs://b/ckpt", "/r/Trainer/model_run/7", fp) == f"gs://b/ckpt/{fp}"
    other_lr = CONFIG.replace(train=dataclasses.replace(CONFIG.train, learning_rate=0.01))
    assert checkpointing.fingerprint(other_lr.to_json(), "/r/Transform/transform_graph/4", ["/r/T/Split-train/*"]) != fp
    assert checkpointing.fingerprint(CONFIG.to_json(), "/r/Transform/transform_graph/5", ["/r/T/Split-train/*"]) != fp


def test_no_backup_means_a_fresh_start(tmp_path):
    assert checkpointing.completed_windows(str(tmp_path / "nothing")) == 0
    assert checkpointing.load_trajectory(str(tmp_path / "nothing"), 10) is None
