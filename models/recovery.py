"""A Trainer that heals itself (`train.recovery`): roll back a micro-divergence instead of living with it.

Production teams restart diverged jobs by hand: find the last good checkpoint, skip the data that blew up, lower the
learning rate, go again. `RecoveryCallback` does that online, inside `model.fit`:

1. **Detect.** After every logged window the shared detector's spike rule (`models.stability.online_spike`, test 3
   with the configured `stability` thresholds) runs on the curve so far; a spike that starts at the newest point
   fires. A non-finite batch loss fires at once, mid-window (the weights are already poisoned).
2. **Restore.** The last healthy state -- every model weight and every optimizer variable (Adagrad/Clippy
   accumulators, iteration counter, telemetry) -- is kept in memory, copied at the end of every window the rule
   passed. BackupAndRestore runs after this callback at each window end, so the backup directory too only ever
   holds a healthy state (a preempted recovered run resumes from it).
3. **Skip.** The offending window of batches is not replayed: the input iterator moves on, so the batches that
   triggered the spike are dropped (the data order of a run without a spike is unchanged). Its loss point is
   removed from the curve -- those weights no longer exist -- and kept in the recovery event instead.
4. **Cool down.** The dense optimizer's learning rate is multiplied by `lr_factor` (0.5 by default); embeddings
   keep theirs. A learning-rate *schedule* (warm-up) cannot be rescaled after tracing: the event then says so.
5. **Give up.** After `max_recoveries` recoveries the next firing stops training; the report's `recovery.gave_up`
   is true and the stability gate refuses the model. A recovered run is blessed only if its final curve passes the
   usual rules.

Each recovery is recorded in `training_report.json` (`recovery.events`), as TensorBoard scalars under
`<model_run>/recovery` and in `ranker history`. Its compute cost: `wasted_steps`, the steps trained since the
restored state (they are thrown away).

`PoisonCallback` injects the fault the tests and drills need (`train.poison`): it multiplies every dense kernel by
`scale` before a chosen step -- a poisoned update.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

import numpy as np
import tensorflow as tf

from config.settings import PoisonConfig, RecoveryConfig, StabilityConfig
from models.stability import online_spike

log = logging.getLogger(__name__)


def _dense_optimizer(optimizer: Any) -> Any:
    return getattr(optimizer, "dense_optimizer", optimizer)


def _optimizer_variables(optimizer: Any) -> list[tf.Variable]:
    variables = optimizer.variables
    return list(variables() if callable(variables) and not isinstance(variables, list) else variables)


def scale_learning_rate(optimizer: Any, factor: float) -> tuple[float | None, float | None, str]:
    """Multiplies the dense optimizer's learning rate by `factor`: (before, after, note)."""
    dense = _dense_optimizer(optimizer)
    lr = getattr(dense, "_learning_rate", None)
    if isinstance(lr, tf.Variable):
        before = float(lr.numpy())
        lr.assign(before * factor)
        return before, before * factor, ""
    return None, None, f"learning rate is a schedule ({type(lr).__name__}); not rescaled"


def current_learning_rate(optimizer: Any) -> float | None:
    lr = getattr(_dense_optimizer(optimizer), "_learning_rate", None)
    return float(lr.numpy()) if isinstance(lr, tf.Variable) else None


class RecoveryCallback(tf.keras.callbacks.Callback):
    """Restores the last healthy state when the spike rule fires; see the module docstring.

    Put it right after the TrajectoryRecorder (it reads and edits the recorder's curve) and before
    BackupAndRestore. The recorder must not stop on a non-finite batch itself (`stop_on_nonfinite=False`,
    `watch_nonfinite_batches=False`): this callback decides.
    """

    def __init__(
        self,
        recorder: Any,
        config: RecoveryConfig,
        stability: StabilityConfig,
        steps_per_window: int,
        log_dir: str | None = None,
        previous: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.recorder = recorder
        self.config = config
        self.stability = stability
        self.steps_per_window = steps_per_window
        self.log_dir = log_dir
        self.events: list[dict[str, Any]] = list((previous or {}).get("events") or [])
        self.gave_up = False
        self.reason: str | None = None
        self._snapshot: tuple[list[np.ndarray], list[np.ndarray], int] | None = None
        self._epoch = 0
        self._tainted = False  # a non-finite batch was rolled back inside the current window
        self._writer: Any = None  # a tf.summary writer, made on first use

    # ------------------------------------------------------------------ record
    def record(self) -> dict[str, Any]:
        """What training_report.json stores under "recovery"."""
        return {
            "enabled": True,
            "lr_factor": self.config.lr_factor,
            "max_recoveries": self.config.max_recoveries,
            "events": list(self.events),
            "gave_up": self.gave_up,
            "reason": self.reason,
            "wasted_steps": int(sum(e.get("wasted_steps", 0) for e in self.events)),
        }

    # ------------------------------------------------------------------ state
    def _take_snapshot(self, step: int) -> None:
        weights = [v.numpy() for v in self.model.weights]
        opt = [v.numpy() for v in _optimizer_variables(self.model.optimizer)]
        self._snapshot = (weights, opt, step)

    def _restore_snapshot(self) -> int:
        assert self._snapshot is not None
        weights, opt, step = self._snapshot
        for var, value in zip(self.model.weights, weights, strict=True):
            var.assign(value)
        for var, value in zip(_optimizer_variables(self.model.optimizer), opt, strict=True):
            var.assign(value)
        return step

    # ------------------------------------------------------------------ Keras hooks
    def on_train_begin(self, logs=None):
        step = self.recorder.steps[-1] if self.recorder.steps else 0
        self._take_snapshot(step)  # fresh start, warm start or a resumed backup: all healthy by construction

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._tainted = False

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if math.isfinite(loss) or self.gave_up:
            return
        step = self._epoch * self.steps_per_window + batch + 1
        if self._tainted:  # rolled back already in this window and non-finite again: give up at once
            self._give_up("non_finite", step, loss, math.nan, append_point=True)
            return
        finite = [x for x in self.recorder.loss if math.isfinite(x)]
        self._recover("non_finite", step, loss, finite[-1] if finite else math.nan, append_point=True)
        self._tainted = not self.gave_up

    def on_epoch_end(self, epoch, logs=None):
        if self.gave_up or self.recorder.stop_reason is not None:
            return
        if self._tainted:  # this window's point mixes rolled-back batches with a NaN: drop it, keep the old snapshot
            self.recorder.pop_point()
            return
        spike = online_spike(self.recorder.steps, self.recorder.loss, self.stability)
        step = self.recorder.steps[-1]
        if spike is None:
            self._take_snapshot(step)
            return
        rule = "non_finite" if not math.isfinite(self.recorder.loss[-1]) else "spike"
        self._recover(rule, step, self.recorder.loss[-1], spike.reference_level, append_point=False)
        if not self.gave_up:
            self.recorder.pop_point()

    # ------------------------------------------------------------------ actions
    def _recover(self, rule: str, step: int, loss: float, reference: float, append_point: bool) -> None:
        if len(self.events) >= self.config.max_recoveries:
            self._give_up(rule, step, loss, reference, append_point)
            return
        restored = self._restore_snapshot()
        before, after, note = scale_learning_rate(self.model.optimizer, self.config.lr_factor)
        window_end = (step + self.steps_per_window - 1) // self.steps_per_window * self.steps_per_window
        event = {
            "rule": rule,
            "detected_step": int(step),
            "restored_step": int(restored),
            "skipped_batches": [int(restored) + 1, int(window_end)],
            "wasted_steps": int(step - restored),
            "loss": loss,
            "reference_level": reference,
            "lr_before": before,
            "lr_after": after,
        }
        if note:
            event["note"] = note
        self.events.append(event)
        log.warning(
            "recovery %d/%d: %s at step %d (loss %.4g, pre-spike level %.4g); restored the state of step %d, "
            "skipping batches %d-%d, learning rate %s -> %s",
            len(self.events),
            self.config.max_recoveries,
            rule,
            step,
            loss,
            reference,
            restored,
            restored + 1,
            window_end,
            before,
            after,
        )
        self._summary(step, after)

    def _give_up(self, rule: str, step: int, loss: float, reference: float, append_point: bool) -> None:
        self.gave_up = True
        self.reason = (
            f"the {rule.replace('_', '-')} rule fired at step {step} (loss {loss:.4g}, pre-spike level "
            f"{reference:.4g}) after {len(self.events)} recovery(ies), the most train.recovery.max_recoveries allows"
        )
        log.error("giving up: %s", self.reason)
        if append_point:
            self.recorder.append_point(step, loss)
        self.recorder.stop_reason = f"recovery gave up: {self.reason}"
        self.model.stop_training = True
        self._summary(step, current_learning_rate(self.model.optimizer))

    def _summary(self, step: int, lr: float | None) -> None:
        if not self.log_dir:
            return
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "recovery"))
        with self._writer.as_default():
            tf.summary.scalar("recovery/recoveries", len(self.events), step=step)
            tf.summary.scalar("recovery/gave_up", int(self.gave_up), step=step)
            if lr is not None:
                tf.summary.scalar("recovery/learning_rate", lr, step=step)
        self._writer.flush()


class PoisonCallback(tf.keras.callbacks.Callback):
    """Multiplies every dense kernel by `config.scale` before the configured steps (`train.poison`)."""

    def __init__(self, config: PoisonConfig, steps_per_window: int):
        super().__init__()
        self.config = config
        self.steps_per_window = steps_per_window
        self.poisoned_steps: list[int] = []
        self._epoch = 0

    def due(self, step: int) -> bool:
        first, every = self.config.step, self.config.every
        if first <= 0 or step < first:
            return False
        return step == first or (every > 0 and (step - first) % every == 0)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        step = self._epoch * self.steps_per_window + batch + 1
        if not self.due(step):
            return
        is_embedding = getattr(self.model.optimizer, "is_embedding", lambda v: "embedding" in v.name)
        for var in self.model.trainable_variables:
            if "kernel" in var.name and not is_embedding(var):
                var.assign(var * self.config.scale)
        self.poisoned_steps.append(step)
        log.warning("train.poison: dense kernels multiplied by %g before step %d", self.config.scale, step)
