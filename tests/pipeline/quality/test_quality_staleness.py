"""The retraining cadence a staleness curve implies."""

from __future__ import annotations

from config.settings import BINARY_TASKS
from pipeline.quality.staleness import StalenessPoint, mean_captured, retraining_cadence


def _point(age: int, ranker_auc: float) -> StalenessPoint:
    return StalenessPoint(
        day=age,
        age=age,
        examples=1,
        ranker=dict.fromkeys(BINARY_TASKS, ranker_auc),
        ceiling=dict.fromkeys(BINARY_TASKS, 0.75),
        linear=dict.fromkeys(BINARY_TASKS, 0.7),
    )


def test_the_cadence_is_the_last_age_within_the_tolerance():
    assert abs(mean_captured(_point(1, 0.72)) - 0.88) < 1e-12
    flat = retraining_cadence([_point(1, 0.72), _point(2, 0.719), _point(3, 0.7185)])
    assert "every 3 days (the longest gap measured)" in flat and "at most 0.6 points" in flat
    falling = retraining_cadence([_point(1, 0.72), _point(2, 0.716), _point(3, 0.70), _point(4, 0.72)])
    assert falling.endswith("retrain at least every 2 days") and "d+3: -8.0" in falling
    assert retraining_cadence([_point(1, 0.72)]) == "not measured (one day)"
