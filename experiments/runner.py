"""One lab run: the pipeline's ranker, optimizer split and detector, trained sequentially over the cached days.

Training protocol (the paper's §5.1.2): the days 1..N-1 are visited in order (each shuffled with the run's seed,
`passes_per_day` passes), the model is evaluated on day N every few windows ("continuous evaluation"), and the
windowed training loss / AUC curve (`models.trainer.TrajectoryRecorder`, which also stops at a non-finite loss) is
judged by the shared detector `models.stability.detect_divergence`. The dense variables get the method under test
(`models.optimizers.make_optimizer`), embeddings plain Adagrad (`split_optimizer`), as the paper and the Trainer do.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from config.settings import BINARY_TASKS, TASKS
from experiments.data import LabData, feature_set
from experiments.presets import LabPreset, model_config


@dataclass(frozen=True)
class RunSpec:
    """One training run. `variant` names an ablation ("clean", "minus_one_task", "minus_two_tasks", "few_features")."""

    method: str
    size: str
    lr_multiplier: float
    seed: int
    params: tuple[tuple[str, float], ...] = ()
    stage: str = "grid"
    variant: str = "clean"
    telemetry_every: int = 0  # 0: one telemetry sample per window
    sigmas: tuple[tuple[str, float], ...] = ()  # frozen_sigma's per-variable σ (too many for the run id: hashed)

    @property
    def run_id(self) -> str:
        params = "-".join(f"{k}={v:g}" for k, v in self.params) or "default"
        probe = f".t{self.telemetry_every}" if self.telemetry_every else ""
        frozen = f".sigmas{hashlib.sha256(repr(self.sigmas).encode()).hexdigest()[:8]}" if self.sigmas else ""
        return f"{self.variant}.{self.method}.{self.size}.x{self.lr_multiplier:g}.s{self.seed}.{params}{probe}{frozen}"

    def params_dict(self) -> dict[str, float]:
        return dict(self.params)

    def optimizer_params(self) -> dict[str, Any]:
        """make_optimizer's parameters: `params`, and `sigmas` as a mapping when given."""
        return self.params_dict() | ({"sigmas": dict(self.sigmas)} if self.sigmas else {})


@dataclass
class RunOutcome:
    """A finished run: the results.csv row and the curves (written to curves/<run_id>.json)."""

    row: dict[str, Any]
    curves: dict[str, Any] = field(default_factory=dict)


VARIANT_TASK_WEIGHTS = {
    "minus_one_task": {"share": 0.0},
    "minus_two_tasks": {"share": 0.0, "survey_rating": 0.0},
}


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if not np.all(np.isfinite(scores)) or len(np.unique(labels)) < 2:
        return float("nan")
    return float(roc_auc_score(labels, scores))


def evaluate(model: Any, features: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> dict[str, float]:
    """AUC per binary task and RMSE per regression task on the evaluation day (survey RMSE over surveyed rows)."""
    pred = model.predict(features, batch_size=4096, verbose=0)
    out = {f"auc_{t}": _auc(labels[t][:, 0], np.asarray(pred[t])[:, 0]) for t in BINARY_TASKS}
    watch = np.asarray(pred["watch_time"])[:, 0]
    out["rmse_watch_time"] = float(np.sqrt(np.mean((watch - labels["watch_time"][:, 0]) ** 2)))
    survey = np.asarray(pred["survey_rating"])[:, 0]
    target, mask = labels["survey_rating"][:, 0], labels["survey_rating"][:, 1] > 0
    out["rmse_survey_rating"] = float(np.sqrt(np.mean((survey[mask] - target[mask]) ** 2))) if mask.any() else math.nan
    return {k: (v if math.isfinite(v) else math.nan) for k, v in out.items()}


def eval_auc_series(steps: list[int], evaluations: list[dict[str, float]]) -> dict[str, list[float]]:
    """The click AUC of the continuous evaluation on day N, aligned with the loss points (NaN where none ran).

    The detector's AUC-collapse test reads this instead of the per-window training AUC, which over ~1k examples
    (~130 clicks) is too noisy for a ±0.05 band; the evaluation day holds up to `eval_examples` examples.
    """
    by_step = {e["step"]: e["auc_click"] for e in evaluations}
    return {"click": [by_step.get(step, math.nan) for step in steps]}


def _split(arrays: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    import tensorflow as tf

    from models.ranker import split_labels

    feats, labels = split_labels({k: tf.constant(v) for k, v in arrays.items()})
    return {k: v.numpy() for k, v in feats.items()}, {k: v.numpy() for k, v in labels.items()}


def _train_stream(data: LabData, preset: LabPreset, seed: int) -> tuple[dict[str, np.ndarray], int, list[int]]:
    """Days 1..N-1 in order, each shuffled (seeded) `passes_per_day` times; returns arrays, steps, day-end steps."""
    rng = np.random.default_rng(seed)
    parts, day_ends, steps = [], [], 0
    for day in data.train_days:
        n = len(next(iter(day.values())))
        for _ in range(preset.passes_per_day):
            per_day = (n // preset.batch_size) // preset.window * preset.window
            order = rng.permutation(n)[: per_day * preset.batch_size]
            parts.append({k: v[order] for k, v in day.items()})
            steps += per_day
        day_ends.append(steps)
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}, steps, day_ends


def _drop_features(features: Any, variant: str) -> Any:
    """The "few_features" ablation keeps only the first half of the generated dense features."""
    if variant != "few_features":
        return features

    kept = features.signed_log_dense[: len(features.signed_log_dense) // 2]
    return dataclasses.replace(features, signed_log_dense=kept)


def shock_feature(data: LabData, preset: LabPreset, features: Any) -> tuple[LabData, str | None]:
    """The "feature_shock" variant: the first generated feature multiplied by `preset.feature_shock_factor` on
    `preset.feature_shock_day` (default: the world's shock days), after normalisation -- a few input coordinates
    change drastically, nothing else does."""
    from models import features as F

    shock_days = (
        {preset.feature_shock_day} if preset.feature_shock_day is not None else {s.day for s in preset.world.shocks}
    )
    if not features.signed_log_dense or not shock_days:
        return data, None
    column = F.transformed_name(features.signed_log_dense[0])
    days = []
    for number, day in zip(data.day_numbers, data.train_days):
        if number in shock_days:
            day = dict(day) | {column: (day[column] * preset.feature_shock_factor).astype(day[column].dtype)}
        days.append(day)
    return dataclasses.replace(data, train_days=days), column


def shock_rows(column: np.ndarray, factor: float, first_row: int) -> np.ndarray:
    """A copy of one input column multiplied by `factor` from `first_row` on (a step-placed shock of the stream)."""
    out = column.copy()
    out[first_row:] = (out[first_row:] * factor).astype(column.dtype)
    return out


def step_losses(running_means: list[float]) -> list[float]:
    """Per-step losses from Keras's batch logs, which hold the running mean of the epoch so far:
    loss_b = (b+1)·m_b − b·m_{b−1} for the b-th batch (0-based) of an epoch (exact up to float32 rounding of m)."""
    out, previous = [], 0.0
    for b, mean in enumerate(running_means):
        total = (b + 1) * float(mean)
        out.append(total - previous if math.isfinite(total) else float(mean))
        previous = total
    return out


def update_concentration(delta: np.ndarray) -> dict[str, float]:
    """How few coordinates carry an update: n90 (the fewest coordinates holding 90 % of ‖Δ‖²), their fraction of all
    coordinates, and the share of ‖Δ‖² in the single largest coordinate."""
    sq = np.sort(np.square(delta.astype(np.float64).ravel()))[::-1]
    total = float(sq.sum())
    if not np.isfinite(total) or total <= 0:
        return {"n90": math.nan, "frac90": math.nan, "top1_share": math.nan}
    n90 = int(np.searchsorted(np.cumsum(sq), 0.9 * total) + 1)
    return {"n90": n90, "frac90": n90 / len(sq), "top1_share": float(sq[0] / total)}


def train_run(spec: RunSpec, data: LabData, preset: LabPreset, base_lr: float) -> RunOutcome:
    """Trains one run and returns its row and curves; never raises on divergence (that is a result)."""
    import tensorflow as tf

    from models import optimizers
    from models.ranker import build_ranker, build_state, compile_ranker
    from models.stability import detect_divergence
    from models.trainer import TrajectoryRecorder

    started, cpu_started = time.time(), time.process_time()
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(spec.seed)
    features = _drop_features(feature_set(data), spec.variant)
    shocked_column = None
    if spec.variant == "feature_shock":
        data, shocked_column = shock_feature(data, preset, features)
    weights = {t: 1.0 for t in TASKS} | VARIANT_TASK_WEIGHTS.get(spec.variant, {})
    config = model_config(spec.size, preset.embedding_dim, preset.width, weights)
    model = build_ranker(config, data.vocab_sizes, features)
    lr = base_lr * spec.lr_multiplier
    warmup = {"warmup_steps": preset.warmup_steps} if preset.warmup_steps and spec.variant != "no_warmup" else {}
    optimizer = optimizers.make_paper_optimizer(
        spec.method, lr, preset.embedding_learning_rate, **spec.optimizer_params(), **warmup
    )
    compile_ranker(model, optimizer, config)

    stream, total_steps, day_ends = _train_stream(data, preset, spec.seed)
    inputs = set(features.input_keys())
    train_x, train_y = _split(stream)
    train_x = {k: v for k, v in train_x.items() if k in inputs}
    eval_rows = {k: v[: preset.eval_examples] for k, v in data.eval_day.items()}
    eval_x, eval_y = _split(eval_rows)
    eval_x = {k: v for k, v in eval_x.items() if k in inputs}
    shock_step = dict(preset.step_shocks).get(spec.variant)
    if shock_step is not None and features.signed_log_dense:
        from models import features as F

        shocked_column = F.transformed_name(features.signed_log_dense[0])
        train_x[shocked_column] = shock_rows(
            train_x[shocked_column], preset.feature_shock_factor, shock_step * preset.batch_size
        )
    dataset = (
        tf.data.Dataset.from_tensor_slices((train_x, train_y)).batch(preset.batch_size, drop_remainder=True).prefetch(2)
    )
    build_state(model, dataset.element_spec)  # every variable now: the train step is traced once, not twice

    windows = total_steps // preset.window
    recorder = TrajectoryRecorder(preset.window, total_steps)
    telemetry = optimizers.OptimizerTelemetry(every_n_steps=spec.telemetry_every or preset.window)
    evaluations: list[dict[str, float]] = []
    eval_steps = set(day_ends) | {
        w * preset.window for w in range(1, windows + 1) if w % preset.eval_every_windows == 0
    }

    class ContinuousEval(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            step = (epoch + 1) * preset.window
            if step in eval_steps and recorder.stop_reason is None:
                evaluations.append({"step": step, **evaluate(self.model, eval_x, eval_y)})

    concentration: list[dict[str, float]] = []

    class Concentration(tf.keras.callbacks.Callback):
        """Per step: how many coordinates of the top shared kernel's update carry it (`update_concentration`)."""

        def on_train_begin(self, logs: dict | None = None) -> None:
            shared = [v for v in self.model.trainable_variables if "shared_dense_" in v.name and "kernel" in v.name]
            self.var = max(shared, key=lambda v: v.name) if shared else None
            self.prev = self.var.numpy() if self.var is not None else None
            self.step = 0

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.step += 1
            if self.var is None:
                return
            now = self.var.numpy()
            concentration.append({"step": self.step, **update_concentration(now - self.prev)})
            self.prev = now

    step_loss: list[float] = []

    class StepLoss(tf.keras.callbacks.Callback):
        """The loss of every step (`step_losses` of each window's running means); index i = optimizer iteration i."""

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.means: list[float] = []

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.means.append(float((logs or {}).get("loss", math.nan)))

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            step_loss.extend(step_losses(self.means))
            self.means = []

        def on_train_end(self, logs: dict | None = None) -> None:
            step_loss.extend(step_losses(getattr(self, "means", [])))  # a window cut short by a non-finite loss

    # Only the unclipped run needs it (the width experiment's onset is that run's).
    extra: list[Any] = [Concentration()] if preset.record_concentration and spec.method == "adagrad" else []
    if preset.record_step_loss:
        extra.append(StepLoss())
    healer = None
    if spec.variant == "recovery":  # train.recovery in the lab (models/recovery.py), the Trainer's defaults
        from config.settings import RecoveryConfig
        from models.recovery import RecoveryCallback

        recorder.stop_on_nonfinite = False
        recorder.watch_nonfinite_batches = False
        healer = RecoveryCallback(recorder, RecoveryConfig(enabled=True), preset.stability, preset.window)
    model.fit(
        dataset.repeat(),
        epochs=windows,
        steps_per_epoch=preset.window,
        callbacks=[recorder, *([healer] if healer else []), telemetry, ContinuousEval(), *extra],
        verbose=0,
    )
    aucs = {t: v for t, v in recorder.auc.items() if v}
    verdict = detect_divergence(
        recorder.steps, recorder.loss, eval_auc_series(recorder.steps, evaluations), preset.stability
    )
    if healer is not None and healer.gave_up and not verdict.fully_diverged:
        verdict = dataclasses.replace(
            verdict, fully_diverged=True, criterion="recovery_gave_up", reason=f"recovery gave up: {healer.reason}"
        )
    final = evaluations[-1] if evaluations and recorder.stop_reason is None else {}
    if recorder.stop_reason is not None:  # weights are non-finite: the model predicts nothing
        final = {f"auc_{t}": 0.5 for t in BINARY_TASKS} | {"rmse_watch_time": math.nan, "rmse_survey_rating": math.nan}
    row = {
        "run_id": spec.run_id,
        "stage": spec.stage,
        "variant": spec.variant,
        "method": spec.method,
        "size": spec.size,
        "lr_multiplier": spec.lr_multiplier,
        "learning_rate": lr,
        "seed": spec.seed,
        "params": json.dumps(spec.params_dict(), sort_keys=True),
        "diverged": bool(verdict.fully_diverged),
        "criterion": verdict.criterion or "",
        "onset_step": verdict.onset_step if verdict.onset_step is not None else "",
        "micro_divergences": len(verdict.micro_divergences),
        **{f"auc_{t}": final.get(f"auc_{t}", math.nan) for t in BINARY_TASKS},
        "rmse_watch_time": final.get("rmse_watch_time", math.nan),
        "rmse_survey_rating": final.get("rmse_survey_rating", math.nan),
        "final_train_loss": recorder.loss[-1] if recorder.loss else math.nan,
        "steps": total_steps,
        "wall_s": round(time.time() - started, 2),
    }
    curves = {
        "spec": asdict(spec),
        "learning_rate": lr,
        "warmup_steps": preset.warmup_steps if warmup else 0,
        "steps": recorder.steps,
        "loss": recorder.loss,
        "train_auc": aucs,
        "day_ends": day_ends,
        "eval": evaluations,
        "telemetry": telemetry.records,
        "divergence": verdict.to_dict(),
        "stop_reason": recorder.stop_reason,
        "concentration": concentration,
        "recovery": healer.record() if healer else None,
        "shocked_column": shocked_column,
        "shock_step": shock_step,
        "step_loss": step_loss,
        "cpu_s": round(time.process_time() - cpu_started, 2),  # every thread of this worker: the run's CPU cost
    }
    if healer is not None:
        row["recoveries"] = len(healer.events)
        row["wasted_steps"] = healer.record()["wasted_steps"]
    row["cpu_s"] = curves["cpu_s"]  # in the progress line and curves/<run_id>.json, not a results.csv column
    return RunOutcome(row=row, curves=curves)
