"""The simple baselines of the quality report: scikit-learn models on the training span's logged numeric columns.

Inputs: every numeric column of the logs except labels, ids and time (`ExampleTable.numeric_features`), each as
sign(x) log1p(|x|), z-scored with the training span's mean and deviation; a missing value becomes the mean (0).
Per task: logistic regression and HistGradientBoosting (classifier for the binary tasks, linear regression and the
regressor for log1p watch time and the survey rating, the latter fitted on surveyed impressions only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.quality.examples import ExampleTable

BINARY = ("click", "like", "share", "dismiss")
LINEAR = "logistic regression"
GBDT = "HistGradientBoosting"
SEED = 0
# One thread: on a busy machine OpenMP's spinning workers thrash (a HistGradientBoosting fit of 48k x 16 took 21.5 s
# with the default threads, 1.4 s with one, on this project's shared 2-core machine).
SKLEARN_THREADS = 1


@dataclass(frozen=True)
class Standardizer:
    names: list[str]
    mean: np.ndarray
    scale: np.ndarray

    @staticmethod
    def fit(table: ExampleTable) -> Standardizer:
        names = table.numeric_features()
        x = _signed_log(table, names)
        mean = np.nanmean(x, axis=0)
        scale = np.nanstd(x, axis=0)
        return Standardizer(names, np.nan_to_num(mean), np.where(scale > 0, scale, 1.0))

    def transform(self, table: ExampleTable) -> np.ndarray:
        return np.nan_to_num((_signed_log(table, self.names) - self.mean) / self.scale)


def _signed_log(table: ExampleTable, names: list[str]) -> np.ndarray:
    n = len(table)
    x = np.column_stack([table.columns.get(name, np.full(n, np.nan)) for name in names])
    return np.sign(x) * np.log1p(np.abs(x))


def fit_and_predict(
    train: ExampleTable, tables: list[ExampleTable], tasks: tuple[str, ...], kinds: tuple[str, ...] = (LINEAR, GBDT)
) -> dict[str, dict[str, list[np.ndarray]]]:
    """{baseline: {task: [predictions on each of `tables`]}} (probabilities for binary tasks, values otherwise)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(SKLEARN_THREADS):
        return _fit_and_predict(train, tables, tasks, kinds)


def _fit_and_predict(
    train: ExampleTable, tables: list[ExampleTable], tasks: tuple[str, ...], kinds: tuple[str, ...]
) -> dict[str, dict[str, list[np.ndarray]]]:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LinearRegression, LogisticRegression

    standardizer = Standardizer.fit(train)
    x_train = standardizer.transform(train)
    x_eval = [standardizer.transform(table) for table in tables]
    out: dict[str, dict[str, list[np.ndarray]]] = {kind: {} for kind in kinds}
    for task in tasks:
        y, weight = train.label(task)
        keep = weight > 0
        if task in BINARY:
            models = {
                LINEAR: LogisticRegression(max_iter=1_000),
                GBDT: HistGradientBoostingClassifier(random_state=SEED),
            }
        else:
            models = {LINEAR: LinearRegression(), GBDT: HistGradientBoostingRegressor(random_state=SEED)}
        for name, model in models.items():
            if name not in kinds:
                continue
            model.fit(x_train[keep], y[keep])
            predict = (lambda x, m=model: m.predict_proba(x)[:, 1]) if task in BINARY else model.predict
            out[name][task] = [predict(x) for x in x_eval]
    return out
