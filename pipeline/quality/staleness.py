"""Staleness: the day-d model scored on the days after d+1 that it never saw, generated in-process from the world.

Day d+1 is the run's own span (the report's examples); days d+2 ... d+N are generated from the run's world config
(the records `World.generate_shard` formats into log lines, encoded by the ingest's `encode_examples`; no line is
corrupted on the way, so none is quarantined).
Each day reports the ranker's AUC per binary task, the oracle's (the day's ceiling: days differ in difficulty) and
the day-d logistic regression's, aged alike. The captured share of the achievable lift, (AUC - 0.5) / (ceiling -
0.5), takes the day's difficulty out; its fall with age is the cost of not retraining.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from config.settings import BINARY_TASKS, WorldConfig
from pipeline.quality import baselines as B
from pipeline.quality.examples import ExampleTable, table_of
from pipeline.quality.metrics import auc
from pipeline.quality.scoring import SavedModelScorer


@dataclass
class StalenessPoint:
    day: int
    age: int  # days after the training day
    examples: int
    ranker: dict[str, float]
    ceiling: dict[str, float]
    linear: dict[str, float]  # the day-d logistic regression, aged alike

    def captured(self, task: str) -> float | None:
        if task not in self.ceiling or self.ceiling[task] == 0.5:
            return None
        return (self.ranker[task] - 0.5) / (self.ceiling[task] - 0.5)


# Retrain at least as often as the largest age whose mean captured share (over the binary tasks) is within this
# many points of age 1's.
CADENCE_TOLERANCE = 0.02


def generated_day(world: WorldConfig, day: int) -> ExampleTable:
    """Every impression of `day` of the world as the ingest encodes it (its batch encoder of validated records)."""
    from logformat.parser import encode_examples
    from world.simulator import World

    simulated = World(world)
    serialized = []
    for shard in range(world.num_shards):
        serialized += encode_examples(list(simulated.generate_shard(day, shard)))
    return table_of(serialized)


def measure_staleness(
    world: WorldConfig,
    eval_span: int,
    days: int,
    ranker: SavedModelScorer,
    train: ExampleTable,
    evaluation: ExampleTable,
    ranker_on_evaluation: dict[str, np.ndarray],
) -> list[StalenessPoint]:
    """One point per day d+1 ... d+`days` (d+1 = `eval_span`, scored already: `ranker_on_evaluation`)."""
    from world.oracle import Oracle

    oracle = Oracle(world)
    tables = [evaluation] + [generated_day(world, eval_span + age) for age in range(1, days)]
    linear = B.fit_and_predict(train, tables, BINARY_TASKS, kinds=(B.LINEAR,))[B.LINEAR]
    points = []
    for i, table in enumerate(tables):
        day = eval_span + i
        scores = ranker_on_evaluation if i == 0 else ranker.score(table.serialized)
        expected = oracle.day(day).lookup(table.impression_ids)
        labels = {task: table.label(task)[0] for task in BINARY_TASKS}
        points.append(
            StalenessPoint(
                day=day,
                age=i + 1,
                examples=len(table),
                ranker={task: auc(scores[task], labels[task]) for task in BINARY_TASKS},
                ceiling={task: auc(expected[task], labels[task]) for task in BINARY_TASKS},
                linear={task: auc(linear[task][i], labels[task]) for task in BINARY_TASKS},
            )
        )
    return points


def mean_captured(point: StalenessPoint) -> float:
    shares = [point.captured(task) for task in BINARY_TASKS]
    return float(np.mean([s for s in shares if s is not None]))


def retraining_cadence(points: list[StalenessPoint]) -> str:
    """The retraining cadence the curve implies, as a sentence."""
    if len(points) < 2:
        return "not measured (one day)"
    first = mean_captured(points[0])
    keeps = [p.age for p in points if first - mean_captured(p) <= CADENCE_TOLERANCE]
    last_good = 1
    for age in range(2, points[-1].age + 1):
        if age not in keeps:
            break
        last_good = age
    drops = ", ".join(f"d+{p.age}: {100 * (mean_captured(p) - first):+.1f}" for p in points[1:])
    if last_good == points[-1].age:
        worst = max(first - mean_captured(p) for p in points[1:])
        return (
            f"over the {last_good} days measured the day-d model loses at most {100 * max(worst, 0.0):.1f} points of "
            f"its share of the achievable lift ({drops} points vs d+1): retraining every {last_good} days (the "
            f"longest gap measured) keeps the loss within {100 * CADENCE_TOLERANCE:.0f} points, so daily retraining "
            f"is a choice here, not a necessity"
        )
    return (
        f"the day-d model's share of the achievable lift falls by more than {100 * CADENCE_TOLERANCE:.0f} points after "
        f"d+{last_good} ({drops} points vs d+1): retrain at least every {last_good} day{'s' if last_good > 1 else ''}"
    )
