"""The report's metrics: weighted AUC as scikit-learn computes it, paired bootstrap intervals, calibration bins."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from pipeline.quality.metrics import SortedScores, auc, bootstrap_weights, calibration, paired_intervals, rmse


def test_auc_matches_scikit_learn_with_ties_and_weights():
    rng = np.random.default_rng(0)
    labels = rng.random(3_000) < 0.2
    scores = np.round(rng.random(3_000) + 0.3 * labels, 2)  # rounded: many ties
    assert abs(auc(scores, labels) - roc_auc_score(labels, scores)) < 1e-12
    for weights in bootstrap_weights(3_000, replicates=3, seed=1):
        assert weights.sum() == 3_000
        expected = roc_auc_score(labels, scores, sample_weight=weights)
        assert abs(SortedScores(scores, labels).auc(weights) - expected) < 1e-12
    assert np.isnan(auc(scores, np.zeros(3_000)))


def test_paired_intervals_cover_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(0)
    n = 4_000
    labels = rng.random(n) < 0.3
    signal = labels + rng.normal(0, 1, n)
    models = {"good": signal, "worse": signal + rng.normal(0, 1, n), "same": signal + 1e-9 * rng.normal(0, 1, n)}
    sorted_scores = {name: SortedScores(s, labels) for name, s in models.items()}
    intervals = paired_intervals(lambda name, w: sorted_scores[name].auc(w), list(models), "good", n, replicates=200)
    assert intervals["worse"].excludes_zero() and intervals["worse"].low > 0
    assert not intervals["same"].excludes_zero()
    assert intervals["worse"].low <= intervals["worse"].estimate <= intervals["worse"].high


def test_rmse_and_calibration():
    labels = np.array([0.0, 1.0, 2.0, 3.0])
    assert rmse(labels + 1, labels) == 1.0
    assert rmse(np.array([0.0, 0.0, 0.0, 5.0]), labels, np.array([1.0, 1.0, 1.0, 0.0])) == np.sqrt(5 / 3)
    predictions = np.linspace(0.01, 0.5, 1_000)
    outcome = (np.arange(1_000) % 4 == 0).astype(float)
    c = calibration(predictions, outcome, bins=10)
    assert len(c.bin_counts) == 10 and sum(c.bin_counts) == 1_000
    assert abs(c.mean_predicted - predictions.mean()) < 1e-12 and c.observed == 0.25
    assert c.bin_predicted == sorted(c.bin_predicted)
