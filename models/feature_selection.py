"""Which generated features carry signal: a screening test per feature on the training span.

A world (or a user's logs) may add many generated columns (`f_dense_*`, `f_cat_*`), some informative, some noise.
On one day of data a flexible model fits the noise ones, and the ranker's next-day AUC pays for it. Each generated
feature is tested for association with each label on the training examples, and kept when any test rejects
independence at family-wise level `alpha` (Bonferroni over every feature x label test):

* a dense feature (its transformed, z-scored value) against each label: Pearson correlation, two-sided t test;
* a categorical feature (its vocabulary index) against each binary label: the chi-square test of independence of
  the label and the value (values seen fewer than `MIN_VALUE_COUNT` times are pooled into one cell); against a
  regression label, the one-way ANOVA F test of the label's mean across values.

Core (non-generated) features are always kept. The rule has one parameter, a significance level stated before any
run, not a threshold fitted to a result.

In the pipeline (`model.feature_screening_alpha`), the BaselineTrainer and the Trainer screen the first
`SCREENING_EXAMPLES` examples of the training span (`screen_span`) and build their models on the kept features; the
outcome travels with each exported model (`assets.extra/feature_screening.json`, which TF Serving ignores), so a
warm-started day keeps its base model's features (`inherited_screening`) and the ranker's wide part, started from the
simple model, has the simple model's.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from scipy import stats

from logformat import schema as log_schema
from models import features as F

# Values of a categorical feature seen fewer times than this are pooled (the chi-square test needs expected
# counts of about 5 or more per cell).
MIN_VALUE_COUNT = 20
# The examples of the training span the pipeline screens on (the first ones in file order): enough to find a
# correlation of 0.02 at the default level, and a bounded cost at any day size.
SCREENING_EXAMPLES = 100_000
SCREENING_FILE = "feature_screening.json"
# The labels screened against: the binary tasks and watch time (the survey rating exists on few impressions).
SCREENED_LABELS: tuple[str, ...] = (*F.BINARY_TASKS, "watch_time")


@dataclass(frozen=True)
class Screening:
    """The outcome per generated feature: its smallest p-value over the labels, and whether it is kept."""

    kept: tuple[str, ...]
    dropped: tuple[str, ...]
    p_values: Mapping[str, float]
    alpha: float
    tests: int


def is_generated(feature: str) -> bool:
    """Whether `feature` is a generated column (by its name pattern)."""
    return feature.startswith((log_schema.EXTRA_DENSE_PREFIX, log_schema.EXTRA_CATEGORICAL_PREFIX))


def dense_p_value(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided p-value of Pearson's correlation of `x` and `y` (1.0 when either is constant)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.std() == 0 or y.std() == 0:
        return 1.0
    r = float(np.clip(np.corrcoef(x, y)[0, 1], -0.999999, 0.999999))
    n = len(x)
    t = r * np.sqrt((n - 2) / (1 - r * r))
    return float(2 * stats.t.sf(abs(t), n - 2))


def _pooled(values: np.ndarray) -> np.ndarray:
    """Value codes with the rare values (fewer than MIN_VALUE_COUNT) pooled into one code."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    rare = counts < MIN_VALUE_COUNT
    codes = np.where(rare[inverse], -1, inverse)
    return np.unique(codes, return_inverse=True)[1]


def categorical_p_value(values: np.ndarray, y: np.ndarray, binary: bool) -> float:
    """p-value of independence of a categorical `values` and the label `y` (module docstring)."""
    codes = _pooled(np.asarray(values).reshape(-1))
    y = np.asarray(y, np.float64).reshape(-1)
    k = int(codes.max()) + 1
    if k < 2 or y.std() == 0:
        return 1.0
    if binary:
        positives = np.bincount(codes, weights=y, minlength=k)
        totals = np.bincount(codes, minlength=k).astype(np.float64)
        table = np.stack([positives, totals - positives])
        return float(stats.chi2_contingency(table, correction=False)[1])
    groups = [y[codes == c] for c in range(k)]
    return float(stats.f_oneway(*groups).pvalue)


def screen(
    columns: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
    dense: tuple[str, ...],
    categorical: tuple[str, ...],
    binary_labels: tuple[str, ...],
    alpha: float = 0.01,
) -> Screening:
    """Tests each generated feature of `dense` and `categorical` (raw names; `columns` holds their transformed
    values by raw name) against every label in `labels` (binary ones named in `binary_labels`)."""
    candidates = [(f, False) for f in dense if is_generated(f)] + [(f, True) for f in categorical if is_generated(f)]
    tests = max(1, len(candidates) * len(labels))
    p_values: dict[str, float] = {}
    for feature, is_categorical in candidates:
        x = np.asarray(columns[feature]).reshape(-1)
        p = 1.0
        for name, y in labels.items():
            y = np.asarray(y).reshape(-1)
            if is_categorical:
                p = min(p, categorical_p_value(x, y, binary=name in binary_labels))
            else:
                p = min(p, dense_p_value(x, y))
        p_values[feature] = p
    kept = tuple(f for f, _ in candidates if p_values[f] * tests <= alpha)
    dropped = tuple(f for f, _ in candidates if p_values[f] * tests > alpha)
    return Screening(kept=kept, dropped=dropped, p_values=p_values, alpha=alpha, tests=tests)


def kept_features(features: F.FeatureSet, screening: Screening) -> F.FeatureSet:
    """`features` without the generated features the screening dropped."""
    dropped = set(screening.dropped)
    return dataclasses.replace(
        features,
        categoricals=tuple(k for k in features.categoricals if k not in dropped),
        signed_log_dense=tuple(k for k in features.signed_log_dense if k not in dropped),
        optional=tuple(k for k in features.optional if k not in dropped),
    )


def screen_span(
    train_files: list[str],
    transformed_spec: dict,
    features: F.FeatureSet,
    alpha: float,
    max_examples: int = SCREENING_EXAMPLES,
) -> Screening:
    """Screens the generated `features` on the first `max_examples` examples of the transformed `train_files`."""
    from models.inputs import make_dataset

    batches = make_dataset(train_files, transformed_spec, 8_192, shuffle=False, repeat=False)
    generated = [k for k in features.raw_inputs if is_generated(k)]
    if not generated:
        return Screening(kept=(), dropped=(), p_values={}, alpha=alpha, tests=0)
    columns: dict[str, list[np.ndarray]] = {k: [] for k in (*generated, *SCREENED_LABELS)}
    seen = 0
    for batch_features, batch_labels in batches:
        for key in generated:
            columns[key].append(np.asarray(batch_features[F.transformed_name(key)]).reshape(-1))
        for task in SCREENED_LABELS:
            columns[task].append(np.asarray(batch_labels[task]).reshape(-1))
        seen += len(columns[SCREENED_LABELS[0]][-1])
        if seen >= max_examples:
            break
    stacked = {k: np.concatenate(v)[:max_examples] for k, v in columns.items()}
    return screen(
        {k: stacked[k] for k in generated},
        {t: stacked[t] for t in SCREENED_LABELS},
        features.dense,
        features.embedded,
        F.BINARY_TASKS,
        alpha,
    )


def save_screening(screening: Screening, saved_model_dir: str) -> None:
    """Writes the outcome beside an exported model (`assets.extra/feature_screening.json`)."""
    directory = os.path.join(saved_model_dir, "assets.extra")
    tf.io.gfile.makedirs(directory)
    with tf.io.gfile.GFile(os.path.join(directory, SCREENING_FILE), "w") as f:
        json.dump(dataclasses.asdict(screening), f, indent=1, sort_keys=True)


def load_screening(saved_model_dir: str) -> Screening | None:
    """The outcome saved beside an exported model, or None when it was built without a screening."""
    path = os.path.join(saved_model_dir, "assets.extra", SCREENING_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        data = json.load(f)
    return Screening(
        kept=tuple(data["kept"]),
        dropped=tuple(data["dropped"]),
        p_values=dict(data["p_values"]),
        alpha=float(data["alpha"]),
        tests=int(data["tests"]),
    )
