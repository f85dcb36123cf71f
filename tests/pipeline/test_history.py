"""`ranker history`'s plot: days are integers, one tick per day, also on a one-day root."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from pipeline.history import DayRecord, history_figure


@pytest.mark.parametrize("days", [[0], [3, 4, 5, 6, 7], list(range(40))])
def test_history_ticks_are_whole_days(days):
    records = [
        DayRecord(f"r{d}", d, day=d, status="pushed", metrics={"click": {"auc": 0.7}, "watch_time": {"rmse": 1.5}})
        for d in days
    ]
    fig = history_figure(records)
    ticks = fig.axes[-1].get_xticks()
    plt.close(fig)
    assert all(float(t).is_integer() for t in ticks), ticks
    if len(days) <= 30:
        assert list(ticks) == days
