"""Metrics of the quality report on numpy arrays: weighted AUC and RMSE, paired bootstrap intervals, calibration.

The bootstrap resamples examples (multinomial counts, i.e. weights), so one replicate of a metric on n examples is
O(n) once each score's rank is known: `SortedScores` ranks once and evaluates any weights in two `bincount`s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_REPLICATES = 500
BOOTSTRAP_SEED = 0


class SortedScores:
    """Scores ranked once (tie groups in score order), for weighted AUCs of any weights over the same labels."""

    def __init__(self, scores: np.ndarray, labels: np.ndarray):
        unique, self.group = np.unique(scores, return_inverse=True)
        self.num_groups = len(unique)
        self.positive = (labels > 0.5).astype(np.float64)

    def auc(self, weights: np.ndarray | None = None) -> float:
        """P(score of a positive > score of a negative) + ties / 2, each example counted `weights` times."""
        w = np.ones(len(self.group)) if weights is None else weights
        positive_weight = w * self.positive
        pos = np.bincount(self.group, positive_weight, self.num_groups)
        neg = np.bincount(self.group, w - positive_weight, self.num_groups)
        total_pos, total_neg = pos.sum(), neg.sum()
        if total_pos == 0 or total_neg == 0:
            return float("nan")
        neg_below = np.cumsum(neg) - neg
        return float((pos * (neg_below + 0.5 * neg)).sum() / (total_pos * total_neg))


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    return SortedScores(np.asarray(scores, dtype=np.float64), np.asarray(labels)).auc()


def rmse(predictions: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float:
    w = np.ones(len(labels)) if weights is None else weights
    return float(np.sqrt((w * (predictions - labels) ** 2).sum() / w.sum()))


def bootstrap_weights(n: int, replicates: int = BOOTSTRAP_REPLICATES, seed: int = BOOTSTRAP_SEED):
    """Yields `replicates` resamples of n examples as counts (multinomial: n draws with replacement)."""
    rng = np.random.default_rng(seed)
    for _ in range(replicates):
        yield np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)


@dataclass(frozen=True)
class Interval:
    """A difference of a metric (`estimate` on all examples) with its paired bootstrap 95 % interval."""

    estimate: float
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def paired_intervals(
    metric: Callable[[str, np.ndarray | None], float],
    names: list[str],
    reference: str,
    n: int,
    replicates: int = BOOTSTRAP_REPLICATES,
) -> dict[str, Interval]:
    """`metric(reference) - metric(name)` for each other name, with 95 % percentile intervals from the same
    resamples of the same n examples for every model (paired: the example-level noise cancels). `metric(name,
    weights)`: the metric with each example counted `weights` times (None: once)."""
    others = [name for name in names if name != reference]
    diffs: dict[str, list[float]] = {name: [] for name in others}
    for weights in bootstrap_weights(n, replicates):
        ref = metric(reference, weights)
        for name in others:
            diffs[name].append(ref - metric(name, weights))
    out = {}
    for name in others:
        values = np.asarray(diffs[name])
        values = values[np.isfinite(values)]
        low, high = np.percentile(values, [2.5, 97.5]) if len(values) else (np.nan, np.nan)
        out[name] = Interval(float(metric(reference, None) - metric(name, None)), float(low), float(high))
    return out


@dataclass(frozen=True)
class Calibration:
    """Mean prediction vs mean label, overall and per bin of equal example counts (the reliability diagram)."""

    mean_predicted: float
    observed: float
    bin_predicted: list[float]
    bin_observed: list[float]
    bin_counts: list[int]

    @property
    def relative_error(self) -> float:
        """|mean predicted - observed| / observed."""
        return abs(self.mean_predicted - self.observed) / self.observed if self.observed else float("nan")


def calibration(predictions: np.ndarray, labels: np.ndarray, bins: int = 10) -> Calibration:
    order = np.argsort(predictions, kind="stable")
    chunks = [chunk for chunk in np.array_split(order, bins) if len(chunk)]
    return Calibration(
        mean_predicted=float(np.mean(predictions)),
        observed=float(np.mean(labels)),
        bin_predicted=[float(predictions[c].mean()) for c in chunks],
        bin_observed=[float(labels[c].mean()) for c in chunks],
        bin_counts=[len(c) for c in chunks],
    )
