"""Collapse to chance: a run whose binary-task AUCs end at chance is a failed run.

The shared detector's test 6 ("auc_at_chance") on constructed curves, the gate's verdict, and the training report
naming the rule. The reference case (naive Adagrad at learning rate 8 on the tiny preset: click AUC 0.501 and
blessed) runs end to end in tests/models/test_training_recovery.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from components.stability_gate import judge_model_run
from config.settings import ConfigError, PipelineConfig, StabilityConfig
from config.validation import validate_config
from models.stability import TrainingReport, detect_divergence, gate_verdict

N = 30
STEPS = list(range(10, 10 * N + 1, 10))


def healthy_loss() -> np.ndarray:
    return 0.9 + 0.5 * np.exp(-np.arange(N) / 5.0)


def test_never_learned_run_is_a_failed_run():
    # Flat loss (no spike, no creep) and every AUC at chance from the start: tests 1-5 all miss it.
    loss = np.full(N, 1.1)
    aucs = {"click": np.full(N, 0.501), "like": np.full(N, 0.49)}
    report = detect_divergence(STEPS, loss, aucs)
    assert report.fully_diverged and report.criterion == "auc_at_chance"
    assert report.onset_step == STEPS[0]
    assert "never learned" in report.reason and "click" in report.reason
    assert gate_verdict(report)[0] is False


def test_collapse_before_the_first_healthy_point():
    # Above chance only at the first point, below the collapse test's (5) "learned" margin (here 0.1), so test 5 is
    # silent; the chance rule sees the end and dates it from the first point of the final near-chance stretch
    # (0.56 is outside ±0.05 of 0.5, 0.54 inside).
    aucs = {"click": np.concatenate([[0.56, 0.54], np.full(N - 2, 0.5)])}
    report = detect_divergence(STEPS, healthy_loss(), aucs, StabilityConfig(auc_learned_margin=0.1))
    assert report.fully_diverged and report.criterion == "auc_at_chance"
    assert report.onset_step == STEPS[1]


def test_noisy_window_aucs_around_chance_are_caught():
    # The reference case as the tiny preset's Trainer logged it (naive Adagrad, learning rate 8, world seed 1234,
    # train seed 7): per-window training AUCs scatter by ±0.05 around 0.5 and no single band holds them all.
    aucs = {
        "click": [0.498, 0.479, 0.518, 0.501, 0.5, 0.469, 0.499, 0.492, 0.481, 0.483, 0.451, 0.511, 0.51, 0.465, 0.501],
        "dismiss": [
            0.462,
            0.5,
            0.417,
            0.518,
            0.552,
            0.465,
            0.49,
            0.403,
            0.461,
            0.475,
            0.493,
            0.484,
            0.496,
            0.475,
            0.481,
        ],
        "like": [0.507] + [0.5] * 14,
        "share": [0.46, 0.499, 0.5, 0.5, 0.5, 0.5, 0.499, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.499],
    }
    loss = [1.19e9, 76102.8, 47.4, 8.57, 141.8, 10.25, 10.1, 8.1, 9.04, 8.55, 8.19, 9.34, 9.31, 9.01, 7.83]
    steps = list(range(10, 151, 10))
    report = detect_divergence(steps, loss, aucs)
    assert report.fully_diverged and report.criterion == "auc_at_chance", report.reason
    assert report.outcome == "blew_up" and "blew up first" in report.reason  # 1.19e9 in the first window


def test_one_task_that_learned_keeps_the_run_healthy():
    aucs = {"click": np.linspace(0.55, 0.7, N), "share": np.full(N, 0.5), "like": np.full(N, 0.5)}
    report = detect_divergence(STEPS, healthy_loss(), aucs)
    assert not report.fully_diverged and report.criterion is None


def test_a_run_that_leaves_chance_at_the_end_is_healthy():
    aucs = {"click": np.concatenate([np.full(N - 3, 0.5), [0.57, 0.6, 0.62]])}
    assert not detect_divergence(STEPS, healthy_loss(), aucs).fully_diverged


def test_the_margin_is_configurable():
    aucs = {"click": np.full(N, 0.56)}
    assert not detect_divergence(STEPS, healthy_loss(), aucs).fully_diverged  # 0.06 >= default margin 0.05
    wide = StabilityConfig(chance_margin=0.08)
    assert detect_divergence(STEPS, healthy_loss(), aucs, wide).criterion == "auc_at_chance"
    with pytest.raises(ConfigError, match="chance_margin"):
        detect_divergence(STEPS, healthy_loss(), aucs, StabilityConfig(chance_margin=0.0))


def test_too_few_auc_points_say_nothing():
    aucs = {"click": [np.nan] * (N - 2) + [0.5, 0.5]}  # fewer than auc_collapse_points finite AUCs
    assert not detect_divergence(STEPS, healthy_loss(), aucs).fully_diverged


def test_without_aucs_the_rule_is_silent():
    assert not detect_divergence(STEPS, healthy_loss()).fully_diverged


def test_the_rule_can_be_turned_off_for_an_unlearnable_world():
    aucs = {"click": np.full(N, 0.5)}
    report = detect_divergence(STEPS, healthy_loss(), aucs, StabilityConfig(chance_is_failure=False))
    assert not report.fully_diverged


def test_chance_is_failure_is_validated():
    with pytest.raises(ConfigError, match=r"stability.chance_is_failure"):
        validate_config(PipelineConfig(stability=StabilityConfig(chance_is_failure="yes")))


def test_gate_refuses_and_names_the_rule(tmp_path):
    report = TrainingReport(steps=STEPS, loss=list(np.full(N, 1.1)), auc={"click": [0.501] * N})
    report = report.with_divergence()
    report.save(str(tmp_path / "training_report.json"))
    saved = json.loads((tmp_path / "training_report.json").read_text())
    assert saved["divergence"]["criterion"] == "auc_at_chance"
    verdict = judge_model_run(str(tmp_path), StabilityConfig())
    assert not verdict.blessed
    assert "ended at chance" in verdict.reason
    assert verdict.detector["criterion"] == "auc_at_chance"
