"""Preemption-safe training: where the Trainer backs up, how a restart resumes, and the trajectory that survives it.

The Trainer uses Keras' `BackupAndRestore`: at the end of every log window (one Keras "epoch") it checkpoints the
model, the optimizer state (Clippy's accumulators, ...) and the epoch counter; a restarted `fit` restores them and
continues with the next window. Three things make that work inside TFX:

1. **A directory that a retry finds.** A restarted Trainer is a new TFX execution with a new `model_run` URI
   (`<pipeline root>/Trainer/model_run/<execution id>`), so the backup cannot live there. It lives in
   `<pipeline root>/Trainer/backup/<fingerprint>/` (the `Trainer` directory is two levels above `model_run`), or in
   `<TrainConfig.backup_dir>/<fingerprint>/` when that is set (e.g. a bucket on Kubeflow). The fingerprint hashes
   the configuration and the Trainer's inputs (transform graph, training files, warm-start base model): the same
   training finds its backup, and a different one (new data, new learning rate) never resumes from a stranger's
   weights. The backup is deleted when `fit` ends (normally or stopped on divergence), so only interrupted trainings
   leave one behind.
2. **The same data after a restart.** The input pipeline is a deterministic function of the seed; a resume at
   window k skips the k * window batches the interrupted run consumed (`completed_windows`), so the resumed run sees
   exactly the batches the uninterrupted one would have.
3. **The same report.** The loss/AUC/task-loss trajectory and the optimizer telemetry recorded so far are written to
   `<backup>/trajectory.json` just before each checkpoint and reloaded on resume (cut back to the checkpoint when a
   crash fell between the two writes), so the training report covers the whole run.

Weights after an interrupted-and-resumed run equal those of an uninterrupted run within float32 round-off (bitwise on
CPU with `TrainConfig.op_determinism`); tests/models/test_reliability_training.py checks it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from models.stability import TrainingReport

BACKUP_SUBDIR = "backup"
TRAJECTORY_FILE = "trajectory.json"
_KERAS_READ_DIR = "chief"  # BackupAndRestore reads (and, single-worker, writes) <backup_dir>/chief
_SAVED_EPOCH_KEY = "ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE"  # BackupAndRestore's epoch counter

log = logging.getLogger(__name__)


def fingerprint(
    config_json: str, transform_output_dir: str, train_files: Sequence[str], base_model: str | None = None
) -> str:
    """16 hex digits identifying one training: its configuration and its inputs (warm-start base included)."""
    digest = hashlib.sha256()
    for part in (config_json, transform_output_dir, base_model or "", *sorted(train_files)):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def backup_dir(configured: str, model_run_dir: str, training_fingerprint: str) -> str:
    """`<configured>/<fingerprint>`, or `<model_run_dir>/../../backup/<fingerprint>` when `configured` is ""."""
    if configured:
        root = configured
    else:
        component_dir = os.path.dirname(os.path.dirname(model_run_dir.rstrip("/")))
        root = os.path.join(component_dir, BACKUP_SUBDIR)
    return os.path.join(root, training_fingerprint)


def completed_windows(backup: str) -> int:
    """How many windows (Keras epochs) the backup in `backup` holds; 0 when there is none."""
    checkpoint = tf.train.latest_checkpoint(os.path.join(backup, _KERAS_READ_DIR))
    if checkpoint is None:
        return 0
    epoch = int(tf.train.load_checkpoint(checkpoint).get_tensor(_SAVED_EPOCH_KEY))
    return epoch + 1 if epoch >= 0 else 0


def save_trajectory(backup: str, trajectory: TrainingReport) -> None:
    """Writes the trajectory so far (and telemetry) beside the checkpoint, atomically on a local filesystem."""
    tf.io.gfile.makedirs(backup)
    trajectory.save(os.path.join(backup, TRAJECTORY_FILE))


def load_trajectory(backup: str, up_to_step: int) -> TrainingReport | None:
    """The saved trajectory cut back to steps <= `up_to_step` (the checkpoint), or None when there is none."""
    path = os.path.join(backup, TRAJECTORY_FILE)
    if not tf.io.gfile.exists(path):
        return None
    saved = TrainingReport.load(path)
    keep = [i for i, step in enumerate(saved.steps) if step <= up_to_step]
    return TrainingReport(
        steps=[saved.steps[i] for i in keep],
        loss=[saved.loss[i] for i in keep],
        auc={task: [values[i] for i in keep] for task, values in saved.auc.items()},
        task_loss={task: [values[i] for i in keep] for task, values in saved.task_loss.items()},
        telemetry=[r for r in saved.telemetry if r.get("step", 0) <= up_to_step],
        recovery=_recovery_up_to(saved.recovery, up_to_step),
    )


def _recovery_up_to(record: dict | None, up_to_step: int) -> dict | None:
    """train.recovery's record without the events after the checkpoint (they will happen again, or not)."""
    if not record:
        return record
    events = [e for e in record.get("events") or [] if e.get("detected_step", 0) <= up_to_step]
    return {**record, "events": events}


def remove_backup(backup: str) -> None:
    """Deletes a finished training's backup directory (Keras removes only its checkpoint inside)."""
    if tf.io.gfile.exists(backup):
        tf.io.gfile.rmtree(backup)


class TrajectoryBackup(tf.keras.callbacks.Callback):
    """Saves `trajectory_fn()` to `<backup>/trajectory.json` at the end of every epoch.

    Put it *before* BackupAndRestore in the callback list: the trajectory is then never behind the checkpoint,
    and `load_trajectory` cuts off what is ahead of it.
    """

    def __init__(self, backup: str, trajectory_fn: Callable[[], TrainingReport]):
        super().__init__()
        self.backup = backup
        self.trajectory_fn = trajectory_fn

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        save_trajectory(self.backup, self.trajectory_fn())


@dataclass(frozen=True)
class Resumption:
    """Where a training backs up and what an earlier, interrupted attempt left there."""

    backup: str
    completed_windows: int  # windows (Keras epochs) already trained; 0 for a fresh start
    steps_per_window: int
    trajectory: TrainingReport | None  # the recorded curve up to the checkpoint

    @property
    def completed_steps(self) -> int:
        return self.completed_windows * self.steps_per_window


def prepare_resumption(
    config_json: str,
    configured_dir: str,
    model_run_dir: str,
    transform_output_dir: str,
    train_files: Sequence[str],
    steps_per_window: int,
    base_model: str | None = None,
) -> Resumption:
    """Finds this training's backup directory and what it holds."""
    training = fingerprint(config_json, transform_output_dir, train_files, base_model)
    backup = backup_dir(configured_dir, model_run_dir, training)
    done = completed_windows(backup)
    trajectory = load_trajectory(backup, done * steps_per_window) if done else None
    if done:
        log.warning("resuming an interrupted training after step %d from %s", done * steps_per_window, backup)
    return Resumption(backup, done, steps_per_window, trajectory)


def backup_callbacks(
    resumption: Resumption, trajectory_fn: Callable[[], TrainingReport], write_trajectory: bool = True
) -> list[tf.keras.callbacks.Callback]:
    """[TrajectoryBackup, BackupAndRestore], in that order (see TrajectoryBackup). `write_trajectory` False on
    non-chief workers, which must not write the shared trajectory file."""
    callbacks: list[tf.keras.callbacks.Callback] = []
    if write_trajectory:
        callbacks.append(TrajectoryBackup(resumption.backup, trajectory_fn))
    callbacks.append(tf.keras.callbacks.BackupAndRestore(resumption.backup, save_freq="epoch"))
    return callbacks
