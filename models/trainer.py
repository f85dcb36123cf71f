"""TFX Trainer entry point: `Trainer(run_fn='models.trainer.run_fn')`.

Trains the multitask ranker with the configured rule (Clippy by default) on non-embedding variables and
Adagrad on embeddings, records the loss/AUC trajectory every `log_every_steps` steps, runs the shared
divergence detector on it and writes `training_report.json` into the ModelRun directory beside the
TensorBoard logs. The serving SavedModel is exported even for a diverged run: the stability gate, not the
trainer, decides that it must never be pushed.
"""

from __future__ import annotations

import logging
import math
import os
import time

import tensorflow as tf
import tensorflow_transform as tft

from models import features as F
from models import optimizers
from models.inputs import make_dataset
from models.ranker import build_ranker, compile_ranker
from models.serving import export_serving_model
from models.stability import TRAINING_REPORT_FILE, TrainingReport, detect_divergence
from pipeline.config import BINARY_TASKS, PipelineConfig, TrainConfig

log = logging.getLogger(__name__)


class TrajectoryRecorder(tf.keras.callbacks.Callback):
    """Records the windowed loss and per-task AUC (one Keras "epoch" = one window of steps).

    Also stops training at the first non-finite batch loss and records where it happened.
    """

    def __init__(self, steps_per_window: int, total_steps: int, stop_on_nonfinite: bool = True):
        super().__init__()
        self.steps_per_window = steps_per_window
        self.total_steps = total_steps
        self.stop_on_nonfinite = stop_on_nonfinite
        self.steps: list[int] = []
        self.loss: list[float] = []
        self.auc: dict[str, list[float]] = {t: [] for t in BINARY_TASKS}
        self.stop_reason: str | None = None
        self._epoch = 0
        self._started = time.time()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss) and self.stop_reason is None:
            step = self._epoch * self.steps_per_window + batch + 1
            self.stop_reason = f"non-finite loss ({loss}) at step {step}"
            self.steps.append(step)
            self.loss.append(loss)
            for task in BINARY_TASKS:
                self.auc[task].append(float("nan"))
            if self.stop_on_nonfinite:
                log.error("stopping training: %s", self.stop_reason)
                self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.stop_reason is not None:
            return
        logs = logs or {}
        step = (epoch + 1) * self.steps_per_window
        self.steps.append(step)
        self.loss.append(float(logs.get("loss", float("nan"))))
        for task in BINARY_TASKS:
            self.auc[task].append(float(logs.get(f"{task}_auc", float("nan"))))
        elapsed = time.time() - self._started
        log.info(
            "step %d/%d loss=%.4f click_auc=%.4f (%.1fs)",
            step,
            self.total_steps,
            self.loss[-1],
            self.auc["click"][-1],
            elapsed,
        )


def vocab_sizes(tf_transform_output: tft.TFTransformOutput, config: PipelineConfig) -> dict[str, int]:
    """Embedding input sizes: vocabulary size + OOV buckets for each id / categorical feature."""
    sizes = {}
    for key in F.ID_FEATURES:
        vocab = tf_transform_output.vocabulary_size_by_name(F.vocab_name(key))
        sizes[key] = vocab + config.transform.id_oov_buckets
    for key in F.CATEGORICAL_FEATURES:
        vocab = tf_transform_output.vocabulary_size_by_name(F.vocab_name(key))
        sizes[key] = vocab + config.transform.categorical_oov_buckets
    return sizes


def build_optimizer(train: TrainConfig) -> tf.keras.optimizers.Optimizer:
    """The paper's split: the configured rule on non-embedding variables, Adagrad on embeddings."""
    dense = optimizers.make_optimizer(train.optimizer, train.learning_rate, **train.optimizer_params)
    embedding = optimizers.make_optimizer("adagrad", train.embedding_learning_rate)
    return optimizers.split_optimizer(dense, embedding)


def train_and_export(
    config: PipelineConfig,
    transform_output_dir: str,
    train_files: list[str],
    serving_model_dir: str,
    model_run_dir: str,
) -> TrainingReport:
    """Trains, writes the training report and TensorBoard logs into `model_run_dir`, exports the model."""
    train = config.train
    tf.keras.utils.set_random_seed(train.seed)
    tf_transform_output = tft.TFTransformOutput(transform_output_dir)
    spec = tf_transform_output.transformed_feature_spec()
    dataset = make_dataset(train_files, spec, train.batch_size, shuffle=True, repeat=True, seed=train.seed)

    model = build_ranker(config.model, vocab_sizes(tf_transform_output, config))
    compile_ranker(model, build_optimizer(train), config.model)

    window = max(1, min(train.log_every_steps, train.train_steps))
    windows = max(1, train.train_steps // window)
    recorder = TrajectoryRecorder(window, windows * window, train.stop_on_nonfinite)
    telemetry = optimizers.OptimizerTelemetry(log_dir=os.path.join(model_run_dir, "telemetry"), every_n_steps=window)
    callbacks = [
        recorder,
        telemetry,
        tf.keras.callbacks.TensorBoard(log_dir=model_run_dir, update_freq="epoch"),
    ]
    log.info("training %s for %d steps (%d windows of %d)", train.optimizer, windows * window, windows, window)
    model.fit(dataset, epochs=windows, steps_per_epoch=window, callbacks=callbacks, verbose=0)

    aucs = {t: v for t, v in recorder.auc.items() if v}
    verdict = detect_divergence(recorder.steps, recorder.loss, aucs, config.stability)
    report = TrainingReport(
        steps=recorder.steps,
        loss=recorder.loss,
        auc=aucs,
        stopped_early=recorder.stop_reason is not None,
        stop_reason=recorder.stop_reason,
        telemetry=list(telemetry.records),
        divergence=verdict.to_dict(),
    )
    tf.io.gfile.makedirs(model_run_dir)
    report.save(os.path.join(model_run_dir, TRAINING_REPORT_FILE))
    if verdict.fully_diverged:
        log.error("training diverged: %s", verdict.reason)
    export_serving_model(model, tf_transform_output, config.model, serving_model_dir)
    return report


def run_fn(fn_args) -> None:
    """TFX Trainer hook. `custom_config={'config_json': PipelineConfig.to_json()}`."""
    config = PipelineConfig.from_json(fn_args.custom_config["config_json"])
    train_and_export(
        config,
        transform_output_dir=fn_args.transform_output,
        train_files=fn_args.train_files,
        serving_model_dir=fn_args.serving_model_dir,
        model_run_dir=fn_args.model_run_dir,
    )
