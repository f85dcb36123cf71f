"""Issue 15's lab pieces on constructed data: update concentration, the width experiment's onset numbers and
effective step, the uncensored frontier's breaking multiplier, and the width preset's plan."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from experiments import tables as T
from experiments.presets import WIDTH_METHODS, WIDTHS, get_lab_preset, model_config
from experiments.runner import update_concentration
from experiments.width import effective_step, onset_numbers, width_specs


def test_update_concentration_counts_the_coordinates_that_carry_an_update():
    spread = np.ones(1000)
    assert update_concentration(spread)["n90"] == 900
    few = np.full(1000, 1e-3)
    few[:3] = 10.0
    out = update_concentration(few)
    assert out["n90"] == 3 and out["frac90"] == pytest.approx(0.003) and out["top1_share"] > 0.3
    assert math.isnan(update_concentration(np.zeros(10))["n90"])


def _telemetry(steps, var, **series):
    return [
        {"step": int(s), "variable": var, **{k: float(v[i]) for k, v in series.items()}} for i, s in enumerate(steps)
    ]


def test_onset_numbers_are_jumps_over_the_steady_level():
    var = "shared_dense_0/kernel"
    steps = np.arange(1, 101)
    g = np.ones(100)
    g[59] = 12.0  # step 60
    gw = np.ones(100)
    gw[59] = 25.0
    rw = np.ones(100)
    rw[60] = 1e4
    curves = {
        "divergence": {"onset_step": 60},
        "telemetry": _telemetry(
            steps, var, grad_norm=g, grad_to_weight=gw, update_to_weight_inf=rw, sigma=np.ones(100)
        ),
        "concentration": [{"step": int(s), "n90": 3.0 if s == 60 else 500.0, "frac90": 0.001} for s in steps],
        "learning_rate": 1.0,
        "warmup_steps": 0,
    }
    numbers = onset_numbers(curves)
    assert numbers["grad_norm_jump"] == pytest.approx(12.0)
    assert numbers["grad_to_weight_jump"] == pytest.approx(25.0)
    assert numbers["update_to_weight_inf_jump"] == pytest.approx(1e4)
    assert numbers["n90_at_onset"] == 3.0 and numbers["n90_steady"] == 500.0
    assert onset_numbers({**curves, "divergence": {"onset_step": None}}) is None


def test_effective_step_is_median_sigma_times_eta():
    var = "shared_dense_0/kernel"
    steps = np.arange(0, 100)
    sigma = np.full(100, 0.05)
    curves = {"telemetry": _telemetry(steps, var, sigma=sigma), "learning_rate": 3.2, "warmup_steps": 0}
    assert effective_step(curves)[var] == pytest.approx(0.16)


def _row(method, mult, seed, trained=True):
    return {
        "method": method,
        "size": "small",
        "lr_multiplier": mult,
        "seed": seed,
        "diverged": not trained,
        "auc_click": 0.68 if trained else 0.5,
        "rmse_watch_time": 1.2,
        "params": json.dumps({}),
        "stage": "grid" if mult in (1.0, 2.0) and seed == 0 else "frontier",
        "variant": "clean",
    }


def test_frontier_reports_where_a_method_breaks_and_when_it_is_censored():
    rows = [_row("clippy", 1.0, 0), _row("clippy", 2.0, 0), _row("clippy", 8.0, 0)]
    rows += [_row("clippy", 16.0, s, trained=s == 2) for s in range(3)]  # 2 of 3 seeds fail at 16x
    rows += [_row("gc", m, 0) for m in (1.0, 2.0, 8.0)]
    by = {e["method"]: e for e in T.frontier(rows)}
    assert by["clippy"]["frontier"] == 8.0 and by["clippy"]["breaks_at"] == 16.0
    assert by["clippy"]["seeds_at"][16.0] == 3
    assert by["gc"]["breaks_at"] is None and by["gc"]["frontier"] == 8.0  # censored at the scan's ceiling


def test_width_preset_plan():
    preset = get_lab_preset("width")
    specs = width_specs(preset)
    assert len(specs) == len(WIDTHS) * len(WIDTH_METHODS) * 2 * 3
    assert {s.size for s in specs} == {f"w{w}" for w in WIDTHS}
    assert all(s.telemetry_every == 1 for s in specs)
    assert specs[0].variant == "clean" and specs[0].seed == 0 and specs[-1].variant == "feature_shock"
    assert {s.seed for s in specs[: len(specs) // 2]} == {0, 1, 2}  # the lab's shock on every seed first
    assert model_config("w4096", 8, 32).hidden_units == (4096,)
