"""The divergence detector on constructed curves, and the TrainingReport JSON round trip."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from config.settings import ConfigError, PipelineConfig, StabilityConfig
from config.validation import validate_stability
from models.stability import (
    DivergenceReport,
    SpikeEvent,
    TrainingReport,
    detect_divergence,
    gate_verdict,
    is_finite_loss,
    training_report_path,
)

N = 100
STEPS = list(range(0, 10 * N, 10))


def clean_curve() -> np.ndarray:
    """Natural training: steep early decrease towards 0.4."""
    return 0.4 + 0.6 * np.exp(-np.arange(N) / 8.0)


def learning_auc(end: int = N) -> np.ndarray:
    return np.linspace(0.55, 0.72, end)


def test_clean_decreasing_curve_is_stable():
    report = detect_divergence(STEPS, clean_curve())
    assert not report.fully_diverged
    assert report.micro_divergences == [] and report.unresolved_spike is None
    assert report.onset_step is None and report.criterion is None
    assert gate_verdict(report) == (True, report.reason)


def test_steep_start_is_covered_by_warmup():
    # The first points drop by 10x: the warm-up keeps that from looking like anything.
    loss = clean_curve()
    loss[:3] = [5.0, 2.5, 1.2]
    assert not detect_divergence(STEPS, loss).fully_diverged
    assert detect_divergence(STEPS, loss).micro_divergences == []


@pytest.mark.parametrize("seed", range(5))
def test_noisy_clean_curve_has_no_events(seed):
    rng = np.random.default_rng(seed)
    loss = clean_curve() * np.exp(rng.normal(0.0, 0.12, N))  # ~12% multiplicative minibatch noise
    auc = learning_auc() + rng.normal(0.0, 0.01, N)
    report = detect_divergence(STEPS, loss, {"click": auc})
    assert not report.fully_diverged
    assert report.micro_divergences == []
    assert report.unresolved_spike is None


def test_micro_spike_that_recovers():
    loss = clean_curve()
    loss[50:54] = loss[50:54] * np.array([3.0, 4.0, 2.0, 1.5])
    report = detect_divergence(STEPS, loss)
    assert not report.fully_diverged
    [event] = report.micro_divergences
    assert (event.start_step, event.peak_step, event.recovery_step) == (500, 510, 540)
    assert event.peak_ratio == pytest.approx(4.0, rel=0.05)
    assert event.reference_level == pytest.approx(0.4, rel=0.05)
    assert "1 micro-divergence" in report.reason
    assert gate_verdict(report)[0]


def test_two_micro_spikes_are_counted_separately():
    loss = clean_curve()
    loss[30] *= 3.0
    loss[70:72] *= 5.0
    report = detect_divergence(STEPS, loss)
    assert [e.start_step for e in report.micro_divergences] == [300, 700]
    assert not report.fully_diverged


def test_blow_up_that_never_recovers():
    loss = clean_curve()
    loss[60:] = loss[60:] * 4.3
    auc = np.concatenate([learning_auc(60), np.full(40, 0.5)])
    report = detect_divergence(STEPS, loss, {"click": auc})
    assert report.fully_diverged
    assert report.criterion == "unrecovered_spike"
    assert report.onset_step == 600
    assert "blew up at step 600" in report.reason and "4.3x" in report.reason
    assert "never recovered below 1.2x" in report.reason and "AUC fell to 0.50 (click)" in report.reason
    assert report.auc_collapsed_tasks == ["click"]
    ok, why = gate_verdict(report)
    assert not ok and why.startswith("training blew up")


def test_blow_up_that_settles_between_recovery_and_spike_ratio_is_still_full():
    loss = clean_curve()
    loss[60:63] *= 5.0
    loss[63:] *= 1.6  # back down, but never below 1.2x the pre-spike level
    report = detect_divergence(STEPS, loss)
    assert report.fully_diverged and report.criterion == "unrecovered_spike"


@pytest.mark.parametrize("value, kind", [(math.nan, "nan"), (math.inf, "inf"), (None, "nan")])
def test_non_finite_loss(value, kind):
    loss = list(clean_curve()[:35])
    loss[34] = value  # the Trainer stops at the first non-finite loss
    report = detect_divergence(STEPS[:35], loss)
    assert report.fully_diverged and report.criterion == "non_finite"
    assert report.onset_step == 340
    assert report.reason.startswith(f"loss became non-finite ({kind}) at step 340")


def test_non_finite_wins_over_earlier_micro_spike():
    loss = clean_curve()
    loss[20] *= 4.0
    loss[80] = -math.inf
    report = detect_divergence(STEPS, loss)
    assert report.fully_diverged and report.onset_step == 800 and "(-inf)" in report.reason
    assert [e.start_step for e in report.micro_divergences] == [200]


def test_auc_collapse_alone_is_full_divergence():
    auc = {
        "click": np.concatenate([learning_auc(80), np.full(20, 0.505)]),
        "like": np.concatenate([np.linspace(0.52, 0.6, 80), np.full(20, 0.49)]),
    }
    report = detect_divergence(STEPS, clean_curve(), auc, StabilityConfig(chance_tasks=()))
    assert report.fully_diverged and report.criterion == "auc_collapse"
    assert report.onset_step == 800
    assert report.auc_collapsed_tasks == ["click", "like"]
    assert detect_divergence(STEPS, clean_curve(), auc).auc_collapsed_tasks == ["click"]  # the primary task


def test_auc_collapse_needs_every_learned_task():
    auc = {"click": np.concatenate([learning_auc(80), np.full(20, 0.5)]), "like": learning_auc()}
    every_task = StabilityConfig(chance_tasks=())  # test 6 over every task: like still learns
    report = detect_divergence(STEPS, clean_curve(), auc, every_task)
    assert not report.fully_diverged
    assert report.auc_collapsed_tasks == ["click"]
    # With the default chance task (click), the primary task's collapse refuses the run.
    assert detect_divergence(STEPS, clean_curve(), auc).criterion == "auc_collapse"


def test_auc_that_never_learned_is_not_a_collapse():
    # A rare task whose AUC stays near 0.5 all along did not collapse: it never learned (and click learned, so
    # the at-chance rule, which needs every task at chance, does not fire either).
    report = detect_divergence(STEPS, clean_curve(), {"share": np.full(N, 0.51), "click": learning_auc()})
    assert not report.fully_diverged


def test_auc_nan_points_are_ignored_and_plain_sequence_accepted():
    auc = learning_auc()
    auc[::7] = np.nan
    assert not detect_divergence(STEPS, clean_curve(), auc).fully_diverged


def test_require_auc_collapse_downgrades_uncorroborated_blow_up():
    loss = clean_curve()
    loss[60:] *= 4.0
    config = StabilityConfig(require_auc_collapse=True)
    report = detect_divergence(STEPS, loss, {"click": learning_auc()}, config)
    assert not report.fully_diverged
    assert "require_auc_collapse" in report.reason
    # Without AUCs there is nothing to corroborate with: the loss test stands.
    assert detect_divergence(STEPS, loss, None, config).fully_diverged


def test_spike_at_the_very_end_is_unresolved_and_blocks_the_gate():
    loss = clean_curve()
    loss[-1] *= 5.0
    report = detect_divergence(STEPS, loss)
    assert not report.fully_diverged
    assert report.unresolved_spike is not None and report.unresolved_spike.start_step == 990
    assert report.unresolved_spike.recovery_step is None
    ok, why = gate_verdict(report)
    assert not ok and "ended inside a loss spike" in why
    assert gate_verdict(report, StabilityConfig(block_unresolved_spike=False))[0]


def test_spike_lasting_persist_points_at_the_end_is_full():
    loss = clean_curve()
    loss[-3:] *= 5.0
    report = detect_divergence(STEPS, loss)
    assert report.fully_diverged and report.onset_step == 970


def test_blow_up_inside_warmup_is_an_unrecovered_spike():
    loss = np.concatenate([[0.7, 0.6, 0.55], np.full(N - 3, 6.0)])
    report = detect_divergence(STEPS, loss)
    assert report.fully_diverged and report.criterion == "unrecovered_spike" and report.outcome == "blew_up"
    assert report.onset_step == 30


def test_slow_creep_is_caught_by_end_level():
    loss = np.concatenate([clean_curve()[:50], 0.4 * np.geomspace(1.0, 4.0, 50)])  # never 2x in one step
    report = detect_divergence(STEPS, loss)
    assert report.fully_diverged and report.criterion == "end_level"
    assert detect_divergence(STEPS, loss, config=StabilityConfig(end_level_ratio=None)).fully_diverged is False


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_short_curves(n):
    report = detect_divergence(STEPS[:n], clean_curve()[:n])
    assert not report.fully_diverged and report.num_points == n


def test_short_curve_ending_in_blow_up():
    report = detect_divergence([0, 10, 20], [0.5, 0.5, 50.0])
    assert not report.fully_diverged and report.unresolved_spike is not None
    assert not gate_verdict(report)[0]


def test_empty_curve():
    report = detect_divergence([], [])
    assert not report.fully_diverged and report.num_points == 0
    ok, why = gate_verdict(report)
    assert not ok and "no loss points" in why


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="3 steps but 2 losses"):
        detect_divergence([0, 1, 2], [1.0, 1.0])
    with pytest.raises(ValueError, match="'click'"):
        detect_divergence([0, 1], [1.0, 1.0], {"click": [0.6]})


def test_impossible_thresholds_name_the_field():
    with pytest.raises(ConfigError, match="spike_ratio"):
        validate_stability(StabilityConfig(spike_ratio=1.1, recovery_ratio=1.2))
    with pytest.raises(ConfigError, match="ema_alpha"):
        detect_divergence([0], [1.0], config=StabilityConfig(ema_alpha=0.0))


def test_is_finite_loss():
    assert is_finite_loss(0.3) and is_finite_loss(np.float32(2)) and is_finite_loss(0)
    for bad in (math.nan, math.inf, -math.inf, None, "0.3", True):
        assert not is_finite_loss(bad)


def test_divergence_report_dict_round_trip():
    loss = clean_curve()
    loss[50] *= 3.0
    loss[-1] *= 9.0
    report = detect_divergence(STEPS, loss)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    again = DivergenceReport.from_dict(data)
    assert again == report
    assert isinstance(again.micro_divergences[0], SpikeEvent)


def test_training_report_round_trip_with_non_finite_values(tmp_path):
    report = TrainingReport(
        steps=[0, 10, 20, 30],
        loss=[0.9, 0.7, math.inf, math.nan],
        auc={"click": [0.5, 0.6, math.nan, -math.inf]},
        task_loss={"watch_time": [2.5, 2.4, math.nan, math.inf]},
        stopped_early=True,
        stop_reason="non-finite loss",
        telemetry=[{"layer": "dense", "sigma": math.nan, "r_over_w": math.inf, "n": np.int64(3)}],
    ).with_divergence()
    path = training_report_path(str(tmp_path / "model_run"))
    report.save(path)
    raw = json.loads(Path(path).read_text())  # strict JSON: no NaN/Infinity tokens
    assert raw["loss"] == [0.9, 0.7, "inf", None]
    assert raw["auc"]["click"] == [0.5, 0.6, None, "-inf"]
    assert raw["task_loss"]["watch_time"] == [2.5, 2.4, None, "inf"]
    assert raw["telemetry"][0]["sigma"] == "nan" and raw["format_version"] == 1
    loaded = TrainingReport.load(path)
    assert loaded.steps == report.steps and loaded.stopped_early and loaded.stop_reason == "non-finite loss"
    assert loaded.loss[:3] == [0.9, 0.7, math.inf] and math.isnan(loaded.loss[3])
    assert math.isnan(loaded.auc["click"][2]) and loaded.auc["click"][3] == -math.inf
    assert math.isnan(loaded.telemetry[0]["sigma"]) and loaded.telemetry[0]["r_over_w"] == math.inf
    assert loaded.divergence["fully_diverged"] and loaded.divergence["onset_step"] == 20
    assert loaded.detect().to_dict() == report.divergence
    assert [p.name for p in (tmp_path / "model_run").iterdir()] == ["training_report.json"]  # no temp file left


def test_training_report_rejects_bad_content():
    with pytest.raises(ValueError, match="lacks"):
        TrainingReport.from_json('{"steps": [1]}')
    with pytest.raises(ValueError, match="loss has 1 points"):
        TrainingReport.from_json('{"steps": [1, 2], "loss": [1.0]}')
    with pytest.raises(ValueError, match=r"task_loss\.click has 1 points"):
        TrainingReport.from_json('{"steps": [1, 2], "loss": [1.0, 2.0], "task_loss": {"click": [0.3]}}')
    with pytest.raises(ValueError, match="not a number"):
        TrainingReport.from_json('{"steps": [1], "loss": ["oops"]}')


def test_stability_config_survives_pipeline_config_json():
    config = PipelineConfig(stability=StabilityConfig(end_level_ratio=None, require_auc_collapse=True))
    assert PipelineConfig.from_json(config.to_json()).stability == config.stability
