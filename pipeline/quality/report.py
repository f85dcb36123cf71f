"""The quality report of one pipeline run: the ranker against the simple models and the world's ceiling on span d+1.

Per task, on all of span d+1 (both splits: the whole span is unseen by the day-d model): the ranker (the run's
Trainer model), the in-pipeline simple model (`BaselineTrainer`, when the pipeline has one), scikit-learn's
logistic regression and HistGradientBoosting on the training window's numeric columns (pipeline/quality/baselines.py),
the ceiling (the oracle's expectations, world/oracle.py; absent when the run ingested its own logs), the share of the
achievable lift over chance the ranker captures, paired bootstrap 95 % intervals of ranker - each baseline on the
same examples, and calibration (mean predicted vs observed). AUC for the binary tasks, RMSE for watch time (log1p
seconds) and the survey rating (surveyed impressions only); chance is 0.5 AUC, or the training mean as a constant.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from config.settings import BINARY_TASKS, TASKS
from pipeline.quality import baselines as B
from pipeline.quality.examples import ExampleTable, read_examples
from pipeline.quality.metrics import Calibration, Interval, SortedScores, calibration, paired_intervals, rmse
from pipeline.quality.scoring import SavedModelScorer
from pipeline.quality.sources import RunSources
from pipeline.quality.staleness import StalenessPoint, measure_staleness, retraining_cadence

RANKER = "ranker"
IN_PIPELINE = "in-pipeline simple model"
CEILING = "ceiling"


@dataclass
class TaskQuality:
    task: str
    metric: str  # AUC | RMSE
    examples: int
    values: dict[str, float]  # model -> metric: the ranker, each baseline, and the ceiling when known
    chance: float
    captured: float | None  # (ranker - chance) / (ceiling - chance)
    intervals: dict[str, Interval]  # baseline -> ranker - baseline (RMSE: baseline - ranker: > 0 = ranker better)
    calibration: dict[str, Calibration]  # model -> mean predicted vs observed (reliability bins)

    def better_than(self, baseline: str) -> bool | None:
        interval = self.intervals.get(baseline)
        return None if interval is None else interval.low > 0


@dataclass
class QualityReport:
    run_id: str
    day: int | None
    model: str
    train_spans: list[int | None]
    eval_span: int | None
    train_examples: int
    eval_examples: int
    baselines: list[str]
    tasks: list[TaskQuality]
    staleness: list[StalenessPoint] = field(default_factory=list)
    cadence: str | None = None
    seconds: float = 0.0

    def task(self, name: str) -> TaskQuality:
        return next(t for t in self.tasks if t.task == name)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True, default=str)


def build_report(sources: RunSources, staleness_days: int = 5, replicates: int = 500) -> QualityReport:
    """The quality report of `sources` (a complete run, see `RunSources.complete`)."""
    started = time.monotonic()
    if not sources.complete:
        raise ValueError(f"run {sources.run_id} has no trained model, training window or span d+1 to report on")
    train = ExampleTable.concat([read_examples(uri, "train") for _, uri in sources.train_examples])  # the Trainer's
    evaluation = read_examples(sources.eval_examples_uri)
    ranker = SavedModelScorer(sources.ranker_uri)
    predictions = {RANKER: ranker.score(evaluation.serialized)}
    if sources.baseline_uri:
        predictions[IN_PIPELINE] = SavedModelScorer(sources.baseline_uri).score(evaluation.serialized)
    fitted = B.fit_and_predict(train, [evaluation], TASKS)
    for name, per_task in fitted.items():
        predictions[name] = {task: values[0] for task, values in per_task.items()}
    oracle = _oracle(sources, evaluation)
    report = QualityReport(
        run_id=sources.run_id,
        day=sources.day,
        model=sources.model_label,
        train_spans=[span for span, _ in sources.train_examples],
        eval_span=sources.eval_span,
        train_examples=len(train),
        eval_examples=len(evaluation),
        baselines=[name for name in predictions if name != RANKER],
        tasks=[_task_quality(task, evaluation, train, predictions, oracle, replicates) for task in TASKS],
    )
    if staleness_days > 0 and sources.world is not None and sources.eval_span is not None:
        report.staleness = measure_staleness(
            sources.world, sources.eval_span, staleness_days, ranker, train, evaluation, predictions[RANKER]
        )
        report.cadence = retraining_cadence(report.staleness)
    report.seconds = time.monotonic() - started
    return report


def _oracle(sources: RunSources, table: ExampleTable) -> dict[str, np.ndarray] | None:
    if sources.world is None or sources.eval_span is None:
        return None
    from world.oracle import Oracle

    expected = Oracle(sources.world).day(sources.eval_span).lookup(table.impression_ids)
    return None if np.isnan(expected["click"]).any() else expected


def _task_quality(
    task: str,
    table: ExampleTable,
    train: ExampleTable,
    predictions: dict[str, dict[str, np.ndarray]],
    oracle: dict[str, np.ndarray] | None,
    replicates: int,
) -> TaskQuality:
    labels, weights = table.label(task)
    keep = weights > 0
    labels = labels[keep]
    models = {name: p[task][keep] for name, p in predictions.items() if task in p}
    scored = dict(models)
    if oracle is not None:
        scored[CEILING] = oracle[task][keep]
    train_labels, train_weights = train.label(task)
    n = int(keep.sum())
    if task in BINARY_TASKS:
        sorted_scores = {name: SortedScores(values, labels) for name, values in scored.items()}
        values = {name: s.auc() for name, s in sorted_scores.items()}
        chance = 0.5

        def metric(name: str, w: np.ndarray | None) -> float:
            return sorted_scores[name].auc(w)

    else:
        values = {name: rmse(v, labels) for name, v in scored.items()}
        constant = float(np.average(train_labels, weights=train_weights))
        chance = rmse(np.full(n, constant), labels)

        def metric(name: str, w: np.ndarray | None) -> float:
            return -rmse(models[name], labels, w)  # higher is better, like AUC

    intervals = paired_intervals(metric, list(models), RANKER, n, replicates) if RANKER in models else {}
    captured = None
    if CEILING in values and RANKER in values and values[CEILING] != chance:
        captured = (values[RANKER] - chance) / (values[CEILING] - chance)
    return TaskQuality(
        task=task,
        metric="AUC" if task in BINARY_TASKS else "RMSE",
        examples=n,
        values=values,
        chance=chance,
        captured=captured,
        intervals=intervals,
        calibration={name: calibration(v, labels) for name, v in scored.items()},
    )
