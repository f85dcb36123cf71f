"""The powered comparison's plan, its tuning rule, its tables' arithmetic and its resumption."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from scipy.stats import t as student_t

from experiments import controls, gate_audit, presets, probe
from experiments import powered as P
from experiments import results as R


def _row(
    method: str,
    size: str,
    seed: int,
    auc: float,
    *,
    world: int = P.TUNING_WORLD,
    mult: float = 1.0,
    params: dict[str, float] | None = None,
    stage: str = "eval",
    diverged: bool = False,
    rmse: float = 1.66,
    outcome: str = "",
    max_eval_auc: float = math.nan,
) -> dict:
    return {
        "world_seed": world,
        "method": method,
        "size": size,
        "lr_multiplier": mult,
        "seed": seed,
        "params": json.dumps(params or {}, sort_keys=True),
        "stage": stage,
        "variant": "clean",
        "diverged": diverged,
        "outcome": outcome,
        "max_eval_auc": max_eval_auc,
        "auc_click": auc,
        "auc_like": auc + 0.05,
        "auc_share": auc + 0.02,
        "auc_dismiss": auc - 0.01,
        "rmse_watch_time": rmse,
        "rmse_survey_rating": 1.1,
    }


def _tune_row(c: P.Candidate, size: str, seed: int, auc: float, **kw) -> dict:
    return _row(c.method, size, seed, auc, mult=c.multiplier, params=dict(c.params), stage="tune", **kw)


# -- the tuning rule ------------------------------------------------------------------------------------------------
def test_tuning_prefers_more_trained_seeds_over_a_higher_auc():
    low, mid, high = P.GRIDS["adagrad"]
    rows = [_tune_row(low, "small", s, 0.64) for s in (7, 8)]
    rows += [_tune_row(mid, "small", 7, 0.70), _tune_row(mid, "small", 8, 0.52)]
    rows += [_tune_row(high, "small", s, 0.69, diverged=True) for s in (7, 8)]
    assert P.pick_winner(P.GRIDS["adagrad"], rows) == low


def test_tuning_takes_the_higher_mean_auc_then_the_lower_rmse_then_the_first_listed():
    a, b, c = P.GRIDS["gc"]
    rows = [_tune_row(x, "large_dcn", s, 0.66) for x in (a, b, c) for s in (7, 8)]
    assert P.pick_winner(P.GRIDS["gc"], rows) == a  # exact tie: the first listed
    rows = [_tune_row(a, "large_dcn", s, 0.66, rmse=1.70) for s in (7, 8)]
    rows += [_tune_row(b, "large_dcn", s, 0.66, rmse=1.65) for s in (7, 8)]
    rows += [_tune_row(c, "large_dcn", s, 0.65) for s in (7, 8)]
    assert P.pick_winner(P.GRIDS["gc"], rows) == b
    rows.append(_tune_row(c, "large_dcn", 999, 0.90))  # a third seed of c: mean 0.733
    assert P.pick_winner(P.GRIDS["gc"], rows) == c


def test_every_method_has_the_same_tuning_budget():
    assert {len(g) for g in P.GRIDS.values()} == {3}
    assert set(P.GRIDS) == set(P.METHODS)
    for method, grid in P.GRIDS.items():
        assert all(c.method == method for c in grid) and len(set(grid)) == 3


# -- failure kinds and the tables' arithmetic -----------------------------------------------------------------------
def test_failure_kinds_split_blow_ups_from_never_learned():
    healthy = _row("gc", "small", 1, 0.66)
    blew = _row("gc", "small", 2, 0.50, diverged=True, outcome="blew_up")
    never = _row("gc", "small", 3, 0.51, diverged=True, outcome="never_learned")
    lost = _row("gc", "small", 4, 0.53, outcome="healthy", max_eval_auc=0.62)  # learned, ends below 0.55
    flat = _row("gc", "small", 5, 0.53, outcome="healthy", max_eval_auc=0.56)
    kinds = [P.failure_kind(r) for r in (healthy, blew, never, lost, flat)]
    assert kinds == ["healthy", "blew_up", "never_learned", "blew_up", "never_learned"]
    counts = P.failure_counts([healthy, blew, never, lost, flat])
    assert counts == {"runs": 5, "failed": 4, "blew_up": 2, "never_learned": 2}


def test_clopper_pearson_cells():
    assert P._ci(0, 20) == "0/20 [0-17 %]"
    assert P._ci(20, 20) == "20/20 [83-100 %]"
    assert P._ci(3, 10) == "3/10 [7-65 %]"


def _eval_rows(diffs: dict[int, list[float]], other: str = "gc", size: str = "small") -> list[dict]:
    rows = []
    for world, values in diffs.items():
        for seed, d in zip(P.EVAL_SEEDS, values):
            rows.append(_row("clippy", size, seed, 0.66 + d, world=world, rmse=1.66 - d))
            rows.append(_row(other, size, seed, 0.66, world=world, rmse=1.66))
    return rows


def test_paired_interval_per_world_and_pooled():
    rng = np.random.default_rng(0)
    w1, w2 = P.EVAL_WORLDS
    diffs = {w1: list(rng.normal(0.01, 0.005, 10)), w2: list(rng.normal(0.0, 0.005, 10))}
    rows = _eval_rows(diffs)
    pooled = {d.metric: d for d in P.paired_diffs(rows, "small", P.EVAL_WORLDS, "gc", "both")}
    values = 100 * np.array(diffs[w1] + diffs[w2])
    half = student_t.ppf(0.975, 19) * values.std(ddof=1) / math.sqrt(20)
    click = pooled["auc_click"]
    assert click.pairs == 20
    assert click.mean == pytest.approx(values.mean())
    assert (click.low, click.high) == pytest.approx((values.mean() - half, values.mean() + half))
    assert pooled["rmse_watch_time"].mean == pytest.approx(-values.mean() / 100)
    one = {d.metric: d for d in P.paired_diffs(rows, "small", [w1], "gc", str(w1))}["auc_click"]
    assert one.pairs == 10 and one.excludes_zero and one.clippy_better(lower_is_better=False)
    assert "**" in P._cell(one)


def test_pairs_drop_failed_runs_and_match_world_and_seed():
    w1, w2 = P.EVAL_WORLDS
    rows = _eval_rows({w1: [0.01] * 10, w2: [0.02] * 10})
    rows[0] = {**rows[0], "diverged": True}  # Clippy, world 1, first seed
    rows[3] = {**rows[3], "auc_click": 0.50}  # the other method at chance, world 1, second seed
    pooled = {d.metric: d for d in P.paired_diffs(rows, "small", P.EVAL_WORLDS, "gc", "both")}["auc_click"]
    assert pooled.pairs == 18
    assert pooled.mean == pytest.approx((8 * 1.0 + 10 * 2.0) / 18)


def test_c6_and_rate_claims_follow_their_rules():
    w1, w2 = P.EVAL_WORLDS
    rng = np.random.default_rng(1)
    rows = []
    for size in P.SIZES:
        rows += _eval_rows({w: list(0.01 + rng.normal(0, 0.002, 10)) for w in (w1, w2)}, "gc", size)
    verdicts = {claim: verdict for claim, verdict, _ in P.claim_verdicts(rows)}
    assert verdicts["C6"] == "reproduced"
    assert verdicts["C2"] == "reproduced"  # 0/40 Clippy failures: upper bound 8.8 %
    assert verdicts["C7"] == P.NOT_TESTED
    worse = [{**r, "auc_click": 0.62, "rmse_watch_time": 1.7} if r["method"] == "clippy" else r for r in rows]
    assert {c: v for c, v, _ in P.claim_verdicts(worse)}["C6"] == "contradicted"


# -- the plan -------------------------------------------------------------------------------------------------------
def test_run_count_and_unique_ids():
    tuning = P.tuning_runs()
    assert len(tuning) == 3 * len(P.METHODS) * len(P.SIZES) * len(P.TUNING_SEEDS) == 60
    winners = {(m, s): P.GRIDS[m][1] for m in P.METHODS for s in P.SIZES}
    evaluation = P.eval_runs(winners)
    assert len(evaluation) == len(P.METHODS) * len(P.SIZES) * len(P.EVAL_WORLDS) * len(P.EVAL_SEEDS) == 200
    assert P.planned_total() == 260
    assert [r.spec.method for r in evaluation[:40]] == ["clippy"] * 40  # whole methods first: a deadline cuts methods
    ids = [r.run_id for r in tuning + evaluation]
    assert len(set(ids)) == len(ids)
    assert len(P.EVAL_SEEDS) >= 10 and len(P.EVAL_WORLDS) >= 2


def test_seeds_are_held_out_from_each_other_and_the_other_presets():
    tuning, evaluation, worlds = set(P.TUNING_SEEDS), set(P.EVAL_SEEDS), set(P.EVAL_WORLDS)
    assert not tuning & evaluation and P.TUNING_WORLD not in worlds
    others = set()
    for make in presets.PRESETS.values():
        preset = make()
        others |= {*preset.seeds, *preset.calibration_seeds, *preset.ablation_seeds, preset.world.seed}
    others |= {*controls.SEEDS, *gate_audit.AuditPlan().world_seeds}
    assert not (tuning | evaluation | worlds) & others
    assert probe.PROBE_PLACEBO  # the probe runs on the presets' seeds, counted above


def test_seeds_follow_the_rule_and_no_other_file_uses_them():
    roots = [gate_audit.REPO / name for name in P.SEED_SOURCES]
    used = P.repository_integers_except_powered(roots)
    assert not (set(P.TUNING_SEEDS) | set(P.EVAL_SEEDS) | set(P.EVAL_WORLDS)) & used
    firsts = P.SEED_RULE_FIRSTS
    assert gate_audit.held_out_seeds(len(P.TUNING_SEEDS), firsts["tuning"], used) == P.TUNING_SEEDS
    assert gate_audit.held_out_seeds(len(P.EVAL_SEEDS), firsts["eval"], used) == P.EVAL_SEEDS
    assert gate_audit.held_out_seeds(len(P.EVAL_WORLDS), firsts["worlds"], used) == P.EVAL_WORLDS


def test_a_resumed_sweep_trains_nothing(tmp_path, monkeypatch):
    """Every planned run already in powered.csv: the sweep starts no worker and trains nothing."""
    sweep = P.PoweredSweep(str(tmp_path), workers=1, log=lambda m: None)
    monkeypatch.setattr(P.PoweredSweep, "_prepare", lambda self, world: None)
    tuning = P.tuning_runs()
    for i, run in enumerate(tuning):
        s = run.spec
        row = _tune_row(P.Candidate(s.method, s.lr_multiplier, s.params), s.size, s.seed, 0.6 + 0.001 * i)
        R.append_row(sweep.path, {**row, "run_id": run.run_id, "kind": "healthy"}, P.COLUMNS)
    assert len(sweep.pending(tuning)) == 0
    winners = P.winners_of(R.read_rows(sweep.path))
    evaluation = P.eval_runs(winners)
    assert len(sweep.pending(evaluation)) == 200
    for run in evaluation[:150]:
        s = run.spec
        row = _row(s.method, s.size, s.seed, 0.66, world=run.world_seed, mult=s.lr_multiplier, params=dict(s.params))
        R.append_row(sweep.path, {**row, "run_id": run.run_id, "kind": "healthy"}, P.COLUMNS)
    assert [r.run_id for r in sweep.pending(evaluation)] == [r.run_id for r in evaluation[150:]]
    for run in evaluation[150:]:
        s = run.spec
        row = _row(s.method, s.size, s.seed, 0.66, world=run.world_seed, mult=s.lr_multiplier, params=dict(s.params))
        R.append_row(sweep.path, {**row, "run_id": run.run_id, "kind": "healthy"}, P.COLUMNS)
    rows = sweep.run()
    assert sweep.trained_here == 0 and sweep._pool is None
    assert len(rows) == 260
    assert os.path.exists(tmp_path / P.INVOCATIONS_FILE)
    text = P.powered_markdown(rows)
    assert "C1-C11" in text and "| Small | both | GC | 20 |" in text


def test_the_preset_is_cheaper_than_full():
    preset = P.powered_preset()
    full = presets.get_lab_preset("full")
    assert preset.world == full.world and preset.passes_per_day == 1 < full.passes_per_day
    assert P.powered_preset(P.EVAL_WORLDS[0]).world.seed == P.EVAL_WORLDS[0]
