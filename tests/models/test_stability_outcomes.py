"""The detector's outcomes on the failure modes the gate must refuse: below chance, a blow-up during warm-up,
"never learned" apart from "blew up", each refused with its own reason; and the healthy curves it must keep."""

from __future__ import annotations

import numpy as np
import pytest

from config.settings import ConfigError, StabilityConfig
from config.validation import validate_stability
from models.stability import detect_divergence, gate_verdict

N = 15
STEPS = list(range(10, 10 * N + 1, 10))
HEALTHY_LOSS = 3.4 + 2.5 * np.exp(-np.arange(N) / 2.0)  # ~1.7x from the first window to the level after warm-up


def learning(end: float = 0.68) -> list[float]:
    return list(np.linspace(0.5, end, N))


def flat(level: float) -> list[float]:
    return [level] * N


def test_a_healthy_curve_is_healthy():
    report = detect_divergence(STEPS, HEALTHY_LOSS, {"click": learning(), "share": flat(0.3)})
    assert report.outcome == "healthy" and not report.fully_diverged
    assert gate_verdict(report)[0]


@pytest.mark.parametrize("level", [0.42, 0.3, 0.5, 0.53])
def test_below_chance_is_not_learning(level):
    report = detect_divergence(STEPS, HEALTHY_LOSS, {"click": flat(level)})
    assert report.fully_diverged and report.criterion == "auc_at_chance"
    assert report.outcome == "never_learned", report.reason
    blessed, reason = gate_verdict(report)
    assert not blessed and reason.startswith("training never learned")


def test_an_inverted_click_that_looked_learned_is_not_a_learned_task():
    # Two-sided, |0.40 - 0.5| >= 0.05 made this task "learned" and its collapse a full divergence; it never learned.
    aucs = {"click": [0.40] * 10 + [0.5] * 5}
    report = detect_divergence(STEPS, HEALTHY_LOSS, aucs)
    assert report.criterion == "auc_at_chance" and report.outcome == "never_learned"


def test_rare_task_noise_does_not_keep_a_dead_run_alive():
    # A dead model: click at chance; a rare task's window AUCs (a few dozen positives) reach 0.6 by noise.
    aucs = {"click": flat(0.5), "dismiss": [0.5] * 12 + [0.56, 0.58, 0.62]}
    report = detect_divergence(STEPS, HEALTHY_LOSS, aucs)
    assert report.fully_diverged and report.criterion == "auc_at_chance"


def test_chance_tasks_absent_means_every_task_counts():
    report = detect_divergence(STEPS, HEALTHY_LOSS, {"auc": flat(0.5)})
    assert report.criterion == "auc_at_chance"
    assert not detect_divergence(STEPS, HEALTHY_LOSS, {"auc": learning()}).fully_diverged


def test_a_first_window_blow_up_then_chance_is_a_blow_up_not_never_learned():
    # The shape: 1.8e6 at step 10 (inside the 5-point warm-up), then a dead model at chance.
    loss = np.concatenate([[1.8e6], np.full(N - 1, 9.0)])
    report = detect_divergence(STEPS, loss, {"click": flat(0.5)})
    assert report.fully_diverged and report.outcome == "blew_up", report.reason
    assert report.micro_divergences[0].start_step == 10
    blessed, reason = gate_verdict(report)
    assert not blessed and reason.startswith("training blew up")


def test_a_first_window_blow_up_that_recovers_and_learns_is_a_micro_divergence():
    loss = np.concatenate([[1.8e6], HEALTHY_LOSS[1:]])
    report = detect_divergence(STEPS, loss, {"click": learning()})
    assert report.outcome == "healthy" and len(report.micro_divergences) == 1
    assert report.micro_divergences[0].peak_ratio > 1e5


def test_a_warmup_rise_is_a_spike():
    loss = HEALTHY_LOSS.copy()
    loss[2] = 50.0  # inside the 5-point warm-up, ~10x the lowest level reached before it
    report = detect_divergence(STEPS, loss, {"click": learning()})
    assert [e.start_step for e in report.micro_divergences] == [30]
    assert report.outcome == "healthy"


def test_a_warmup_rise_that_never_recovers_is_a_blow_up():
    loss = np.concatenate([HEALTHY_LOSS[:2], np.full(N - 2, 60.0)])
    report = detect_divergence(STEPS, loss)
    assert report.fully_diverged and report.criterion == "unrecovered_spike" and report.onset_step == 30


def test_natural_early_decrease_is_never_a_spike():
    loss = 40.0 * np.exp(-np.arange(N) / 1.5) + 3.0  # steep: 13x from the first window to the floor
    report = detect_divergence(STEPS, loss, {"click": learning()})
    assert report.outcome == "healthy" and report.micro_divergences == []


def test_learned_then_chance_without_a_spike_is_a_blow_up():
    click = [*list(np.linspace(0.55, 0.66, 9)), 0.52, 0.5, 0.5, 0.5, 0.5, 0.5]
    report = detect_divergence(STEPS, HEALTHY_LOSS, {"click": click})
    assert report.fully_diverged and report.outcome == "blew_up", report.reason


def test_non_finite_is_a_blow_up():
    loss = [*list(HEALTHY_LOSS[:5]), float("nan"), *list(HEALTHY_LOSS[6:])]
    assert detect_divergence(STEPS, loss).outcome == "blew_up"


def test_an_empty_curve_has_no_outcome_and_is_refused():
    report = detect_divergence([], [])
    assert report.outcome == "no_points" and not gate_verdict(report)[0]


@pytest.mark.parametrize("ratio", [1.5, 0.0, float("nan")])
def test_first_point_blowup_ratio_must_exceed_the_spike_ratio(ratio):
    with pytest.raises(ConfigError):
        validate_stability(StabilityConfig(first_point_blowup_ratio=ratio))


def test_first_point_rule_can_be_turned_off():
    loss = np.concatenate([[1.8e6], HEALTHY_LOSS[1:]])
    report = detect_divergence(STEPS, loss, {"click": learning()}, StabilityConfig(first_point_blowup_ratio=None))
    assert report.micro_divergences == []
