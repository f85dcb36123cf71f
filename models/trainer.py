"""TFX Trainer entry point: `RankerTrainer(run_fn='models.trainer.run_fn')` (components/ranker_trainer.py: TFX's
Trainer with the simple model as an optional input, from which the wide part starts: models/wide_start.py).

Trains the multitask ranker with the configured rule (Clippy by default) on non-embedding variables and
Adagrad on embeddings, records the loss/AUC trajectory every `log_every_steps` steps, runs the shared
divergence detector on it and writes `training_report.json` into the ModelRun directory beside the
TensorBoard logs. The serving SavedModel is exported even for a diverged run: the stability gate, not the
trainer, decides that it must never be pushed. A non-finite loss stops training at once; the report's stop
reason names the step, the task losses and the variables that are no longer finite.

Preemption-safe: BackupAndRestore checkpoints every window and a restarted Trainer resumes where the interrupted
one stopped, with the same data order (models/checkpointing.py). With `train.op_determinism` the same seed,
configuration and data give the same weights.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from config.settings import BINARY_TASKS, TASKS, PipelineConfig, TrainConfig
from models import (
    calibration,
    checkpointing,
    distribution,
    feature_selection,
    optimizers,
    recovery,
    warm_start,
    wide_start,
)
from models import features as F
from models.hyperparameters import apply_hyperparameters
from models.inputs import make_dataset
from models.ranker import build_ranker, build_state, compile_ranker
from models.serving import export_serving_model
from models.stability import TRAINING_REPORT_FILE, TrainingReport, detect_divergence

log = logging.getLogger(__name__)

# The configuration sections the Trainer reads: its custom_config (and so its cache key) holds exactly these.
TRAINER_SECTIONS: tuple[str, ...] = ("model", "train", "transform", "stability", "sequential")


class TrajectoryRecorder(tf.keras.callbacks.Callback):
    """Records the windowed loss and per-task AUC (one Keras "epoch" = one window of steps).

    Also stops training at the first non-finite batch loss and records where it happened.
    """

    def __init__(
        self,
        steps_per_window: int,
        total_steps: int,
        stop_on_nonfinite: bool = True,
        watch_nonfinite_batches: bool = True,
    ):
        super().__init__()
        self.steps_per_window = steps_per_window
        self.total_steps = total_steps
        self.stop_on_nonfinite = stop_on_nonfinite
        # False when train.recovery owns non-finite batches (models/recovery.py): they are rolled back, not recorded.
        self.watch_nonfinite_batches = watch_nonfinite_batches
        self.steps: list[int] = []
        self.loss: list[float] = []
        self.auc: dict[str, list[float]] = {t: [] for t in BINARY_TASKS}
        # Each task's unweighted loss per window: which task the shared layers mostly serve.
        self.task_loss: dict[str, list[float]] = {t: [] for t in TASKS}
        self.stop_reason: str | None = None
        self._epoch = 0
        self._started = time.time()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss) and self.stop_reason is None and self.watch_nonfinite_batches:
            step = self._epoch * self.steps_per_window + batch + 1
            self.stop_reason = f"non-finite loss ({loss}) at step {step}" + nonfinite_location(logs, self.model)
            self.append_point(step, loss)
            if self.stop_on_nonfinite:
                log.error("stopping training: %s", self.stop_reason)
                self.model.stop_training = True

    def append_point(self, step: int, loss: float) -> None:
        """A point outside the window rhythm (a non-finite batch): AUCs unknown."""
        self.steps.append(step)
        self.loss.append(loss)
        for task in BINARY_TASKS:
            self.auc[task].append(float("nan"))
        for task in TASKS:
            self.task_loss[task].append(float("nan"))

    def pop_point(self) -> None:
        """Removes the newest point (a window that train.recovery rolled back)."""
        self.steps.pop()
        self.loss.pop()
        for values in (*self.auc.values(), *self.task_loss.values()):
            if values:
                values.pop()

    def restore(self, trajectory: TrainingReport | None) -> None:
        """Continues the curve of an interrupted attempt (see models/checkpointing.py)."""
        if trajectory is not None:
            self.steps, self.loss = list(trajectory.steps), list(trajectory.loss)
            self.auc = {t: list(trajectory.auc.get(t, [])) for t in BINARY_TASKS}
            self.task_loss = {t: list(trajectory.task_loss.get(t, [])) for t in TASKS}

    def trajectory(self) -> TrainingReport:
        """The curve so far (what a restarted attempt restores)."""
        return TrainingReport(
            steps=list(self.steps),
            loss=list(self.loss),
            auc={t: list(v) for t, v in self.auc.items()},
            task_loss={t: list(v) for t, v in self.task_loss.items()},
        )

    def on_epoch_end(self, epoch, logs=None):
        if self.stop_reason is not None:
            return
        logs = logs or {}
        step = (epoch + 1) * self.steps_per_window
        self.steps.append(step)
        self.loss.append(float(logs.get("loss", float("nan"))))
        for task in BINARY_TASKS:
            self.auc[task].append(float(logs.get(f"{task}_auc", float("nan"))))
        for task in TASKS:
            self.task_loss[task].append(float(logs.get(f"{task}_loss", float("nan"))))
        elapsed = time.time() - self._started
        log.info(
            "step %d/%d loss=%.4f click_auc=%.4f (%.1fs)",
            step,
            self.total_steps,
            self.loss[-1],
            self.auc["click"][-1],
            elapsed,
        )


def nonfinite_location(logs: Mapping[str, Any] | None, model: tf.keras.Model | None, limit: int = 5) -> str:
    """Where a non-finite loss came from: the task losses and the weights that are no longer finite."""
    tasks = [
        key.removesuffix("_loss")
        for key, value in (logs or {}).items()
        if key.endswith("_loss") and not math.isfinite(float(value))
    ]
    weights = [v.name for v in (model.weights if model is not None else []) if not np.all(np.isfinite(v.numpy()))]
    where = f"; non-finite task losses: {', '.join(sorted(tasks))}" if tasks else ""
    if weights:
        shown = ", ".join(weights[:limit]) + (f" and {len(weights) - limit} more" if len(weights) > limit else "")
        where += f"; non-finite weights in {len(weights)} of {len(model.weights)} variables: {shown}"
    return where


def vocab_sizes(
    tf_transform_output: tft.TFTransformOutput, config: PipelineConfig, features: F.FeatureSet = F.CORE_FEATURES
) -> dict[str, int]:
    """Embedding input sizes: vocabulary size + OOV buckets for each id / categorical feature."""
    sizes = {}
    for key in features.ids:
        vocab = tf_transform_output.vocabulary_size_by_name(F.vocab_name(key))
        sizes[key] = vocab + config.transform.id_oov_buckets
    for key in features.categoricals:
        vocab = tf_transform_output.vocabulary_size_by_name(F.vocab_name(key))
        sizes[key] = vocab + config.transform.categorical_oov_buckets
    return sizes


def build_optimizer(train: TrainConfig) -> tf.keras.optimizers.Optimizer:
    """The paper's split: the configured rule on non-embedding variables, Adagrad on embeddings."""
    return optimizers.make_paper_optimizer(
        train.optimizer, train.learning_rate, train.embedding_learning_rate, **train.optimizer_params
    )


def model_screening(
    config: PipelineConfig,
    features: F.FeatureSet,
    train_files: list[str],
    transformed_spec: dict,
    base_model: str | None,
    simple_model: str | None,
) -> feature_selection.Screening | None:
    """The generated features the ranker takes (models/feature_selection.py; None: all of them). A warm-started model
    keeps its base model's (all of them when the base was built without a screening), a wide part started from the
    simple model takes the simple model's; otherwise the training span is screened."""
    alpha = config.model.feature_screening_alpha
    if alpha is None:
        return None
    if base_model and config.sequential.warm_start:
        return feature_selection.load_screening(base_model)
    if simple_model and config.model.wide_from_simple:
        inherited = feature_selection.load_screening(simple_model)
        if inherited is not None:
            return inherited
    return feature_selection.screen_span(train_files, transformed_spec, features, alpha)


def train_and_export(
    config: PipelineConfig,
    transform_output_dir: str,
    train_files: list[str],
    serving_model_dir: str,
    model_run_dir: str,
    callbacks: Sequence[tf.keras.callbacks.Callback] = (),
    base_model: str | None = None,
    eval_files: list[str] | None = None,
    simple_model: str | None = None,
) -> TrainingReport:
    """Trains, writes the training report and TensorBoard logs into `model_run_dir`, exports the model.

    Preemption-safe: an interrupted attempt resumes from its last window (models/checkpointing.py).
    `callbacks` are extra Keras callbacks (tests use one to interrupt training). `base_model` (the served model's
    SavedModel) is continued from when `sequential.warm_start` is on (models/warm_start.py). With `model.calibrate`
    and `eval_files` (the training span's eval split), the exported binary outputs are Platt-scaled on the whole
    training span, `train_files` and `eval_files` (models/calibration.py). `simple_model` (the BaselineTrainer's
    SavedModel, with `model.wide_from_simple`) starts the wide part when the model is not warm-started
    (models/wide_start.py).
    """
    train = config.train
    # First: MultiWorkerMirroredStrategy configures collective ops, which must precede other TF work.
    strategy = distribution.make_strategy(train.distribution)
    model_run_dir = distribution.worker_dir(model_run_dir, strategy)  # non-chief workers write to scratch
    serving_model_dir = distribution.worker_dir(serving_model_dir, strategy)
    tf.keras.utils.set_random_seed(train.seed)
    if train.op_determinism:
        tf.config.experimental.enable_op_determinism()
    window = max(1, min(train.log_every_steps, train.train_steps))
    windows = max(1, train.train_steps // window)
    resumption = checkpointing.prepare_resumption(
        json.dumps(config.sections_json(TRAINER_SECTIONS), sort_keys=True),
        train.backup_dir,
        model_run_dir,
        transform_output_dir,
        train_files,
        window,
        base_model,
    )
    tf_transform_output = tft.TFTransformOutput(transform_output_dir)
    spec = tf_transform_output.transformed_feature_spec()
    dataset = make_dataset(train_files, spec, train.batch_size, shuffle=True, repeat=True, seed=train.seed)
    dataset = dataset.skip(resumption.completed_steps)  # the batches the interrupted attempt already trained on
    dataset = dataset.with_options(distribution.dataset_options(strategy))

    features = F.feature_set_from_spec(tf_transform_output.raw_feature_spec())  # the world's inputs, via the schema
    screening = model_screening(config, features, train_files, spec, base_model, simple_model)
    if screening is not None:
        features = feature_selection.kept_features(features, screening)
        log.info("the ranker takes %d of %d generated features", len(screening.kept), len(screening.p_values))
    with strategy.scope():  # model variables and optimizer slots are created mirrored across replicas
        model = build_ranker(config.model, vocab_sizes(tf_transform_output, config, features), features)
        compile_ranker(model, build_optimizer(train), config.model)
        if base_model and config.sequential.warm_start:
            warm = warm_start.warm_start_from_transform(
                model,
                base_model,
                tf_transform_output,
                features,
                config.transform.id_oov_buckets,
                config.transform.categorical_oov_buckets,
            )
            warm.save(os.path.join(model_run_dir, warm_start.WARM_START_FILE))
            log.info("warm start from %s (%d iterations)", base_model, warm.base_iterations or 0)
        elif simple_model and config.model.wide_from_simple:
            chained = config.model.conditional_tasks
            weights = wide_start.linear_weights_of_saved_model(simple_model)
            layers = wide_start.start_wide_part(model, weights, chained)
            wide_start.save_wide_start(model_run_dir, simple_model, layers, chained)
            log.info("wide part started from the simple model %s (%d layers)", simple_model, len(layers))
    if strategy is tf.distribute.get_strategy():  # single device: trace the train step once, not twice
        build_state(model, dataset.element_spec)

    recovering = train.recovery.enabled
    recorder = TrajectoryRecorder(
        window, windows * window, train.stop_on_nonfinite and not recovering, watch_nonfinite_batches=not recovering
    )
    telemetry = optimizers.OptimizerTelemetry(log_dir=os.path.join(model_run_dir, "telemetry"), every_n_steps=window)
    recorder.restore(resumption.trajectory)
    telemetry.records.extend(resumption.trajectory.telemetry if resumption.trajectory else [])
    healer = (
        recovery.RecoveryCallback(
            recorder,
            train.recovery,
            config.stability,
            window,
            log_dir=model_run_dir,
            previous=resumption.trajectory.recovery if resumption.trajectory else None,
        )
        if recovering
        else None
    )

    def trajectory() -> TrainingReport:
        return dataclasses.replace(
            recorder.trajectory(), telemetry=list(telemetry.records), recovery=healer.record() if healer else None
        )

    all_callbacks = [
        recorder,
        *([healer] if healer else []),
        *([recovery.PoisonCallback(train.poison, window)] if train.poison.step > 0 else []),
        telemetry,
        # Scalars per window; not the train function's graph, whose serialization costs ~1.7 s per run.
        tf.keras.callbacks.TensorBoard(log_dir=model_run_dir, update_freq="epoch", write_graph=False),
        *callbacks,
        *checkpointing.backup_callbacks(resumption, trajectory, strategy.extended.should_checkpoint),
    ]
    log.info("training %s for %d steps (%d windows of %d)", train.optimizer, windows * window, windows, window)
    model.fit(dataset, epochs=windows, steps_per_epoch=window, callbacks=all_callbacks, verbose=0)
    checkpointing.remove_backup(resumption.backup)  # finished (or stopped on divergence): nothing to resume

    aucs = {t: v for t, v in recorder.auc.items() if v}
    verdict = detect_divergence(recorder.steps, recorder.loss, aucs, config.stability)
    if healer is not None and healer.gave_up and not verdict.fully_diverged:
        verdict = dataclasses.replace(
            verdict,
            fully_diverged=True,
            criterion="recovery_gave_up",
            reason=f"training stopped as diverged: {healer.reason}",
            onset_step=recorder.steps[-1] if recorder.steps else None,
        )
    report = TrainingReport(
        steps=recorder.steps,
        loss=recorder.loss,
        auc=aucs,
        task_loss={t: v for t, v in recorder.task_loss.items() if v},
        stopped_early=recorder.stop_reason is not None,
        stop_reason=recorder.stop_reason,
        telemetry=list(telemetry.records),
        divergence=verdict.to_dict(),
        recovery=healer.record() if healer else None,
    )
    tf.io.gfile.makedirs(model_run_dir)
    report.save(os.path.join(model_run_dir, TRAINING_REPORT_FILE))
    if verdict.fully_diverged:
        log.error("training diverged: %s", verdict.reason)
    platt = None
    if config.model.calibrate and eval_files and not verdict.fully_diverged:
        span = make_dataset([*train_files, *eval_files], spec, 4_096, shuffle=False, repeat=False)
        platt = calibration.fit_calibration(model, span)
        calibration.save_calibration(platt, model_run_dir)
    export_serving_model(model, tf_transform_output, config.model, serving_model_dir, platt)
    if screening is not None:
        feature_selection.save_screening(screening, serving_model_dir)
    return report


def run_fn(fn_args) -> None:
    """TFX Trainer hook. `custom_config=PipelineConfig.sections_json(TRAINER_SECTIONS)`."""
    sections = dict(fn_args.custom_config)
    simple_model = sections.pop(wide_start.SIMPLE_MODEL_KEY, None)  # set by components/ranker_trainer.py
    config = PipelineConfig.from_sections_json(sections)
    if getattr(fn_args, "hyperparameters", None):  # the Tuner's best trial (tuning.enabled; models/tuning.py)
        config = apply_hyperparameters(config, fn_args.hyperparameters)
    base_model = fn_args.base_model
    if base_model and not tf.io.gfile.exists(os.path.join(base_model, "saved_model.pb")):
        base_model = None  # the ServedModel component found nothing served yet: train from scratch
    train_and_export(
        config,
        transform_output_dir=fn_args.transform_output,
        train_files=fn_args.train_files,
        serving_model_dir=fn_args.serving_model_dir,
        model_run_dir=fn_args.model_run_dir,
        base_model=base_model,
        eval_files=fn_args.eval_files,
        simple_model=simple_model,
    )
