"""Platt scaling: the fit recovers a known map, falls back to the identity when it cannot be trusted, and the
Trainer's exported model serves calibrated probabilities (on the data it was fitted on, mean predicted = observed)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from config.settings import BINARY_TASKS
from models.calibration import CALIBRATION_FILE, MIN_CLASS_COUNT, Platt, fit_calibration, fit_platt


def _draw(slope: float, intercept: float, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.5, n)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(slope * z + intercept)))).astype(np.float64)
    return z, y


def test_fit_recovers_a_known_map() -> None:
    z, y = _draw(0.6, -1.2, 50_000)
    platt = fit_platt(z, y)
    assert platt.slope == pytest.approx(0.6, abs=0.03)
    assert platt.intercept == pytest.approx(-1.2, abs=0.03)
    assert (platt.examples, platt.positives) == (50_000, int(y.sum()))
    assert platt.probability(z).mean() == pytest.approx(
        y.mean(), rel=1e-6
    )  # the MLE with an intercept matches the observed rate


def test_too_few_positives_keep_the_identity() -> None:
    z = np.linspace(-3, 3, 1_000)
    y = np.zeros(1_000)
    y[-(MIN_CLASS_COUNT - 1) :] = 1.0  # the highest logits
    assert fit_platt(z, y).identity
    y[-(MIN_CLASS_COUNT + 5) :] = 1.0
    assert not fit_platt(z, y).identity


def test_an_inverted_fit_keeps_the_identity() -> None:
    z, y = _draw(-1.0, 0.0, 5_000)
    platt = fit_platt(z, y)
    assert platt.identity and platt.examples == 5_000


def test_fit_calibration_reads_every_batch_once() -> None:
    z, y = _draw(2.0, 0.5, 4_000, seed=1)
    inputs = tf.keras.Input(shape=(), name="z")
    outputs = {t: tf.keras.layers.Reshape((1,), name=t)(inputs) for t in BINARY_TASKS}
    model = tf.keras.Model({"z": inputs}, outputs)
    labels = {t: y.reshape(-1, 1) for t in BINARY_TASKS}
    dataset = tf.data.Dataset.from_tensor_slices(({"z": z.astype(np.float32), "unused": z}, labels)).batch(512)
    fitted = fit_calibration(model, dataset)
    assert set(fitted) == set(BINARY_TASKS)
    for platt in fitted.values():
        assert platt.examples == 4_000
        assert platt.slope == pytest.approx(2.0, abs=0.2)


def test_the_trained_ranker_serves_calibrated_probabilities(trained_ranker) -> None:
    """The shared tiny run's Trainer fitted Platt scaling on day 0 (both splits): served through `serving_default`,
    day 0's mean click probability is its click rate (the logistic MLE's defining property)."""
    from pipeline.quality.examples import read_examples

    with open(os.path.join(trained_ranker.model_run, CALIBRATION_FILE)) as f:
        fitted = {task: Platt(**values) for task, values in json.load(f).items()}
    assert not fitted["click"].identity
    table = read_examples(trained_ranker.examples_uri)
    assert fitted["click"].examples == len(table)
    serve = tf.saved_model.load(trained_ranker.serving_model_dir).signatures["serving_default"]
    predicted = np.concatenate(
        [serve(examples=tf.constant(table.serialized[i : i + 512]))["click"].numpy() for i in range(0, len(table), 512)]
    )
    assert predicted.mean() == pytest.approx(table.columns["click"].mean(), rel=1e-3)
