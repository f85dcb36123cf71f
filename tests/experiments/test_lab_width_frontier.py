"""The lab's pieces on constructed data: update concentration, the width experiment's onset numbers and
effective step, the uncensored frontier's breaking multiplier, and the width preset's plan."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import ClassVar

import numpy as np
import pytest

from experiments import tables as T
from experiments.figures import effective_step
from experiments.presets import WIDTH_METHODS, WIDTHS, get_lab_preset, model_config
from experiments.runner import update_concentration
from experiments.width import onset_numbers, width_specs


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


class _StubSweep:
    """Sweep's stage logic with a fake `_run`: run ids in, rows out (no TensorFlow)."""

    @staticmethod
    def make(tmp_path, breaks: dict[str, float], learns_from_g0: float):
        from experiments import results as R
        from experiments.sweep import Sweep

        preset = get_lab_preset("frontier")

        class Stub(Sweep):
            ran: ClassVar[list] = []

            def _run(self, specs, base_lrs, path):
                rows = []
                for s in specs:
                    self.ran.append(s)
                    g0 = dict(s.params).get("initial_accumulator_value", 0.0)
                    trained = s.lr_multiplier < breaks.get(s.method, math.inf) and s.seed != 99
                    if s.stage == "no_warmup_g0":
                        learned = g0 >= learns_from_g0
                        R.write_curves(
                            self.out_dir, s.run_id, {"eval": [{"step": 20, "auc_click": 0.6 if learned else 0.5}]}
                        )
                    rows.append({"run_id": s.run_id, "diverged": not trained, "auc_click": 0.68 if trained else 0.5})
                return rows

        return Stub(preset, str(tmp_path), log=lambda m: None)


def test_uncensored_frontier_scans_until_two_seeds_fail(tmp_path):
    sweep = _StubSweep.make(tmp_path, {"gc": 16.0, "clippy": 64.0}, 1.0)
    best = {
        (m, "small"): {"params": "{}", "lr_multiplier": 1.0, "diverged": m == "adagrad", "auc_click": 0.6}
        for m in ("adagrad", "gc", "clippy", "adam")
    }
    sweep.uncensored_frontier(best, {"adagrad": 1.6})
    ran = {(s.method, s.lr_multiplier, s.seed) for s in sweep.ran}
    assert ("gc", 16.0, 1) in ran and ("gc", 8.0, 2) in ran  # where seed 0 fails, seeds 1-2 run there and below
    assert ("clippy", 8.0, 1) not in ran  # elsewhere seed 0 leads alone
    assert ("gc", 32.0, 0) not in ran  # broke at 16x: no further scan
    assert ("clippy", 64.0, 2) in ran and ("clippy", 128.0, 0) not in ran
    assert all(s.method not in ("adam", "adagrad") for s in sweep.ran)  # paper methods that trained at their best


def test_no_warmup_picks_the_smallest_g0_that_learns(tmp_path):
    sweep = _StubSweep.make(tmp_path, {}, learns_from_g0=10.0)
    best = {(m, "small"): {"params": "{}", "lr_multiplier": 2.0} for m in ("gc", "agc", "lamb")}
    assert sweep.no_warmup(best, {"adagrad": 1.6}) == 10.0
    runs = [s for s in sweep.ran if s.stage == "no_warmup"]
    assert runs and all(dict(s.params)["initial_accumulator_value"] == 10.0 for s in runs)
    assert all(s.variant == "no_warmup" for s in runs)


def test_the_frontier_preset_is_full_plus_the_scan():
    full, frontier = get_lab_preset("full"), get_lab_preset("frontier")
    assert not full.frontier_scan and frontier.frontier_scan[0] > max(full.frontier_multipliers)
    # Same world, data and protocol: run into full's --out, it reuses every run of full.
    assert dataclasses.replace(frontier, name="full", frontier_scan=()) == full
