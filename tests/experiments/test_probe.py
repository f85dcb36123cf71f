"""The mechanism probe on constructed curves: its rule (onset, rises, run / condition / overall verdicts), the
preset's shape, the budget accounting, the per-step loss and shock helpers, and the report written from a sweep
directory. No training."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from experiments import probe as P
from experiments import results as R
from experiments.presets import PROBE_PLACEBO, get_lab_preset
from experiments.runner import shock_rows, step_losses

BOTTOM, TOP = "shared_dense_0/kernel", "shared_dense_1/kernel"
SHOCK = 200


def _curves(
    loss: np.ndarray, g: dict[str, np.ndarray], rw: dict[str, np.ndarray], detector: dict | None = None
) -> dict:
    telemetry = [
        {
            "step": t,
            "variable": var,
            "sigma": 1.0,
            "grad_norm": g[var][t],
            "grad_to_weight": g[var][t] / 10,
            "update_to_weight_inf": rw[var][t],
        }
        for t in range(len(loss))
        for var in g
    ]
    spec = {"method": "adagrad", "size": "small", "lr_multiplier": 1.0, "seed": 0, "variant": "shock_early"}
    return {"spec": spec, "step_loss": list(loss), "telemetry": telemetry, "divergence": detector or {}}


def _flat(n: int = 300, level: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    return level * (1.0 + 0.2 * rng.uniform(-1, 1, n))


def _reproducing() -> dict:
    loss, g, rw = _flat(), _flat(), _flat(level=0.01)
    loss[SHOCK + 3 :] = 50.0  # onset at SHOCK + 3
    g[SHOCK + 2] = 12.0  # ‖g‖ rises ~12x ...
    rw[SHOCK + 1] = 0.01 * 1e4  # ... ‖r/w‖∞ ~1e4x, two steps before the onset (inside the window)
    return _curves(loss, {BOTTOM: g, TOP: g.copy()}, {BOTTOM: rw, TOP: rw.copy()})


def test_onset_is_the_first_post_shock_step_above_three_times_the_baseline_median():
    loss = _flat()
    assert P.find_onset(loss, SHOCK)[0] is None
    loss[SHOCK - 5] = 100.0  # before the shock: part of the baseline, not an onset
    assert P.find_onset(loss, SHOCK)[0] is None
    loss[SHOCK + 7] = 2.9  # below 3x
    loss[SHOCK + 9] = 3.5
    onset, baseline = P.find_onset(loss, SHOCK)
    assert onset == SHOCK + 9 and baseline == pytest.approx(1.0, abs=0.1)
    loss[SHOCK + 2] = math.nan  # a non-finite loss is an onset
    assert P.find_onset(loss, SHOCK)[0] == SHOCK + 2


def test_a_clear_reproduction():
    reading = P.read_run(_reproducing(), "shock_early", SHOCK, "run")
    assert reading.status == "onset" and reading.onset == SHOCK + 3
    assert reading.first_layer == BOTTOM
    rw, g = reading.first_rises()
    assert rw == pytest.approx(1e4, rel=0.3) and g == pytest.approx(12, rel=0.3)
    assert reading.reproduced is True
    assert reading.layers[BOTTOM]["update_to_weight_inf_peak"] == SHOCK + 1


def test_a_clear_non_reproduction_gradient_rises_more():
    loss, g, rw = _flat(), _flat(), _flat(level=0.01)
    loss[SHOCK:] = 40.0
    g[SHOCK + 1] = 1e5
    rw[SHOCK + 1] = 0.01 * 500
    reading = P.read_run(_curves(loss, {BOTTOM: g}, {BOTTOM: rw}), "shock_early", SHOCK)
    assert reading.onset == SHOCK and reading.reproduced is False


def test_the_window_ignores_peaks_far_from_the_onset():
    curves = _reproducing()
    for r in curves["telemetry"]:
        if r["step"] == SHOCK + 3 + P.ONSET_WINDOW + 1:  # just outside [onset - w, onset + w]
            r["grad_norm"] = 1e9
    assert P.read_run(curves, "shock_early", SHOCK).reproduced is True


def test_no_onset_and_divergence_before_the_shock_are_reported_not_counted():
    loss, g, rw = _flat(), _flat(), _flat()
    quiet = P.read_run(_curves(loss, {BOTTOM: g}, {BOTTOM: rw}), "shock_late", SHOCK)
    assert quiet.status == "no_onset" and quiet.reproduced is None and quiet.layers == {}
    early = P.read_run(
        _curves(loss, {BOTTOM: g}, {BOTTOM: rw}, {"fully_diverged": True, "onset_step": 80}), "shock_late", SHOCK
    )
    assert early.status == "diverged_before_shock" and early.reproduced is None
    loss[50] = math.inf
    assert P.read_run(_curves(loss, {BOTTOM: g}, {BOTTOM: rw}), "x", SHOCK).status == "diverged_before_shock"
    verdict, held, onsets = P.condition_verdict([quiet, early])
    assert (verdict, held, onsets) == ("undecided", 0, 0)


def test_condition_and_overall_verdicts():
    yes = P.read_run(_reproducing(), "shock_early", SHOCK)
    loss, g, rw = _flat(), _flat(), _flat(level=0.01)
    loss[SHOCK:] = 40.0
    g[SHOCK] = 1e5
    no = P.read_run(_curves(loss, {BOTTOM: g}, {BOTTOM: rw}), "shock_early", SHOCK)
    quiet = P.read_run(_curves(_flat(), {BOTTOM: _flat()}, {BOTTOM: _flat()}), "shock_early", SHOCK)
    assert P.condition_verdict([yes, yes, no]) == ("reproduced", 2, 3)
    assert P.condition_verdict([yes, no, no]) == ("not reproduced", 1, 3)
    assert P.condition_verdict([yes, yes, quiet]) == ("reproduced", 2, 2)  # the quiet seed is not counted
    assert P.condition_verdict([yes, quiet, quiet])[0] == "undecided"
    assert P.overall_verdict(["reproduced", "undecided"]) == "reproduced"
    assert P.overall_verdict(["not reproduced", "not reproduced"]) == "not reproduced"
    assert P.overall_verdict(["reproduced", "not reproduced"]) == "mixed"
    assert P.overall_verdict(["undecided"]) == "undecided"


def test_the_rule_constants_are_the_stated_ones():
    assert (P.BASELINE_STEPS, P.ONSET_FACTOR, P.ONSET_WINDOW, P.RISE_MARGIN, P.MIN_ONSETS) == (40, 3.0, 5, 10.0, 2)
    assert abs(P.SEED_SHARE - 2 / 3) < 1e-12
    for constant in ("40", "3", "10", "2/3"):
        assert constant in P.__doc__


def test_the_preset_shape():
    preset = get_lab_preset("probe")
    shocks = dict(preset.step_shocks)
    assert set(shocks) == {"shock_early", "shock_late"}
    assert preset.warmup_steps + P.BASELINE_STEPS < shocks["shock_early"] < shocks["shock_late"]
    assert shocks["shock_late"] - preset.warmup_steps >= 2 * (shocks["shock_early"] - preset.warmup_steps)
    assert len(preset.seeds) >= 3 and preset.table_multipliers == (1.0, 0.5)
    assert preset.sizes == ("small",) and preset.methods == ("adagrad",) and preset.record_step_loss
    assert not preset.world.shocks  # the probe's shock is the only one
    specs = P.probe_specs(preset)
    assert len(specs) == len(preset.seeds) * 2 * 3 == len({s.run_id for s in specs})
    assert {s.variant for s in specs} == {"shock_early", "shock_late", PROBE_PLACEBO}
    assert all(s.telemetry_every == 1 and s.method == "adagrad" and s.stage == P.STAGE for s in specs)
    assert specs[0].seed == preset.seeds[0] and specs[-1].seed == preset.seeds[-1]  # seed-major


def test_the_budget_accounting():
    preset = get_lab_preset("probe")
    steps = P.total_steps(preset, preset.world.impressions_per_day)
    assert steps == 640
    assert dict(preset.step_shocks)["shock_late"] + 4 * P.BASELINE_STEPS <= steps  # room after the late shock
    assert P.budget_estimate(preset, steps) <= P.BUDGET_S
    assert P.budget_estimate(preset, steps, seconds_per_step=1.0) > P.BUDGET_S  # the check can fail
    quick = get_lab_preset("quick")
    assert quick.step_shocks == () and not quick.record_step_loss  # quick keeps its cost


def test_step_losses_undo_the_running_mean_and_shock_rows_shifts_from_its_row():
    losses = [3.0, 5.0, 1.0, 100.0]
    means = list(np.cumsum(losses) / np.arange(1, 5))
    assert step_losses(means) == pytest.approx(losses)
    assert step_losses([]) == []
    column = np.ones(6, np.float32)
    out = shock_rows(column, 100.0, 4)
    assert out.tolist() == [1, 1, 1, 1, 100, 100] and out.dtype == np.float32 and column[5] == 1.0


def test_the_report_from_a_sweep_directory(tmp_path):
    preset = get_lab_preset("probe")
    out = str(tmp_path)
    assert dict(preset.step_shocks)["shock_early"] == SHOCK
    quiet = _curves(_flat(600), {BOTTOM: _flat(600)}, {BOTTOM: _flat(600)})
    for spec in P.probe_specs(preset)[:3]:  # seed 0 at 1x: early (reproduces), late and placebo (no onset)
        R.write_curves(out, spec.run_id, _reproducing() if spec.variant == "shock_early" else quiet)
        row = {"run_id": spec.run_id, "stage": P.STAGE, "variant": spec.variant, "method": "adagrad"}
        row |= {"size": "small", "lr_multiplier": spec.lr_multiplier, "seed": spec.seed, "steps": 640, "wall_s": 30.0}
        R.append_row(os.path.join(out, R.RESULTS_FILE), row | {"diverged": False, "auc_click": 0.6})
    P.record_session(out, 600.0, 30.0, 3, 2)
    readings = P.write_probe_report(out, out, preset)
    with open(os.path.join(out, P.PROBE_FILE)) as f:
        text = f.read()
    assert "**Verdict: C7 undecided.**" in text  # one onset per condition at most
    assert "holds" in text and "Wall time: 10.0 min" in text
    assert {r.placement for r in readings} >= {"shock_early", "shock_late", f"{PROBE_PLACEBO}@shock_late"}
    assert os.path.exists(os.path.join(out, P.PROBE_PNG)) and os.path.exists(os.path.join(out, P.PROBE_CSV))
