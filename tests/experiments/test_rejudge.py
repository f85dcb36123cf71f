"""The re-judging rules: paired intervals, the C6 decision and the failure rule."""

from __future__ import annotations

import math

import pytest

from experiments import rejudge as J


def test_paired_interval_matches_the_t_formula():
    mean, low, high = J.paired_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and low == pytest.approx(2.0 - 4.302653 * 1.0 / math.sqrt(3), rel=1e-5)
    assert high == pytest.approx(4.0 - low)
    assert math.isnan(J.paired_interval([1.0])[1])


def _e(metric: str, verdict: str) -> dict:
    return {"metric": metric, "verdict": verdict}


def test_c6_verdicts():
    win = [_e("auc_click", "Clippy better"), _e("auc_click", "Clippy better"), _e("rmse_watch_time", "no")]
    assert J.c6_verdict(win) == "reproduced"
    assert J.c6_verdict([*win, _e("rmse_watch_time", "GC better")]) == "not detected"
    assert J.c6_verdict([_e("auc_click", "no"), _e("rmse_watch_time", "GC better")]) == "contradicted"


@pytest.mark.parametrize("diverged, auc, out", [(True, 0.7, True), (False, 0.54, True), (False, 0.6, False)])
def test_failed(diverged, auc, out):
    assert J.failed({"diverged": diverged, "auc_click": auc}) is out
