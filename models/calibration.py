"""Platt scaling of the ranker's binary outputs, fitted on the training span after training.

Rare-task loss weights, the click-chained heads and dropout all move the mean of a binary task's predicted
probability away from the rate it predicts, although they order the examples well. Per binary task k the served
probability is

  p_k = σ(a_k · z_k + b_k)          (z_k: the model's logit, inference mode)

with (a_k, b_k) the maximum-likelihood logistic fit of the label on z_k over the whole span the model was trained on
(train and eval splits). The rare tasks need all of it: a day's eval split alone holds ~50 shares, so a fit on it
moves the share rate by its own sampling noise (±13 %), more than the bias it corrects. An affine map with a_k > 0
keeps every AUC. A task with fewer than `MIN_CLASS_COUNT` positives or negatives, or whose fit is not finite with
a_k > 0, keeps (1, 0).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass

import numpy as np
import tensorflow as tf

from config.settings import BINARY_TASKS

log = logging.getLogger(__name__)

CALIBRATION_FILE = "calibration.json"
MIN_CLASS_COUNT = 20
_NEWTON_STEPS = 50
_RIDGE = 1e-6  # keeps the 2x2 Newton system solvable when z is constant


@dataclass(frozen=True)
class Platt:
    """p = σ(slope · z + intercept) for one task, fitted on `examples` (`positives` of them positive)."""

    slope: float = 1.0
    intercept: float = 0.0
    examples: int = 0
    positives: int = 0

    @property
    def identity(self) -> bool:
        return self.slope == 1.0 and self.intercept == 0.0

    def probability(self, logits: np.ndarray) -> np.ndarray:
        """σ(slope · logits + intercept), what the served model outputs for these logits (numpy)."""
        return 1.0 / (1.0 + np.exp(-(self.slope * np.asarray(logits, dtype=np.float64) + self.intercept)))


def fit_platt(logits: np.ndarray, labels: np.ndarray) -> Platt:
    """The maximum-likelihood (slope, intercept) of labels ~ Bernoulli(σ(slope · logits + intercept)), by Newton's
    method from (1, 0); the identity when either class has fewer than MIN_CLASS_COUNT examples or the fit fails."""
    z = np.asarray(logits, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=np.float64).ravel()
    positives = int(y.sum())
    if min(positives, len(y) - positives) < MIN_CLASS_COUNT:
        return Platt(examples=len(y), positives=positives)
    x = np.stack([z, np.ones_like(z)], axis=1)
    theta = np.array([1.0, 0.0])
    for _ in range(_NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ theta, -30.0, 30.0)))
        gradient = x.T @ (p - y)
        hessian = (x * (p * (1.0 - p))[:, None]).T @ x + _RIDGE * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        theta = theta - step
        if np.max(np.abs(step)) < 1e-10:
            break
    slope, intercept = float(theta[0]), float(theta[1])
    if not (np.isfinite(slope) and np.isfinite(intercept) and slope > 0.0):
        return Platt(examples=len(y), positives=positives)
    return Platt(slope, intercept, len(y), positives)


def fit_calibration(model: tf.keras.Model, dataset: tf.data.Dataset) -> dict[str, Platt]:
    """One Platt fit per binary task of `model` over `dataset` ((features, labels) batches, read once)."""
    logits: dict[str, list[np.ndarray]] = {t: [] for t in BINARY_TASKS}
    labels: dict[str, list[np.ndarray]] = {t: [] for t in BINARY_TASKS}
    for features, batch_labels in dataset:
        outputs = model({k: features[k] for k in model.input}, training=False)
        for task in BINARY_TASKS:
            logits[task].append(outputs[task].numpy().ravel())
            labels[task].append(batch_labels[task].numpy().ravel())
    if not logits[BINARY_TASKS[0]]:
        return {task: Platt() for task in BINARY_TASKS}
    return {task: fit_platt(np.concatenate(logits[task]), np.concatenate(labels[task])) for task in BINARY_TASKS}


def save_calibration(calibration: dict[str, Platt], model_run_dir: str) -> None:
    tf.io.gfile.makedirs(model_run_dir)
    with tf.io.gfile.GFile(os.path.join(model_run_dir, CALIBRATION_FILE), "w") as f:
        json.dump({task: asdict(platt) for task, platt in calibration.items()}, f, indent=1, sort_keys=True)
    log.info("calibration: %s", {t: (round(p.slope, 3), round(p.intercept, 3)) for t, p in calibration.items()})
