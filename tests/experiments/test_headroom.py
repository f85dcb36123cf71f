"""The headroom preset's plan, its tuning rule, the regime rule's verdicts, its resumption and its held-out seeds."""

from __future__ import annotations

import json
import math
import os

import pytest

from experiments import controls, gate_audit, presets
from experiments import headroom as H
from experiments import powered as P
from experiments import results as R


def _row(
    method: str,
    mult: float,
    seed: int,
    auc: float,
    *,
    world: int = H.TUNING_WORLD,
    stage: str = "eval",
    diverged: bool = False,
    outcome: str = "",
    rmse: float = 1.66,
    regime: str = H.REGIMES[0].name,
) -> dict:
    return {
        "world_seed": world,
        "method": method,
        "size": H.SIZE,
        "lr_multiplier": mult,
        "seed": seed,
        "params": json.dumps(dict(H.candidate(method, mult).params), sort_keys=True),
        "stage": stage,
        "variant": regime,
        "diverged": diverged,
        "outcome": outcome,
        "max_eval_auc": math.nan,
        "auc_click": auc,
        "auc_like": auc + 0.05,
        "auc_share": auc + 0.02,
        "auc_dismiss": auc - 0.01,
        "rmse_watch_time": rmse,
        "rmse_survey_rating": 1.1,
    }


def _tuning(naive: dict[float, float], clippy: dict[float, float], failing: frozenset[tuple[str, float]] = frozenset()):
    rows = []
    for method, curve in (("adagrad", naive), ("clippy", clippy)):
        for mult, auc in curve.items():
            for seed in H.TUNING_SEEDS:
                bad = (method, mult) in failing
                rows.append(
                    _row(method, mult, seed, 0.5 if bad else auc, stage="tune", diverged=bad, outcome="blew_up")
                )
    return rows


def _evaluation(configs: dict[tuple[str, float], float], failing: dict[tuple[str, float], int] | None = None):
    """Every evaluation pair at the given click AUC plus a small per-seed wobble; `failing`: blown-up runs per
    configuration (the first k pairs)."""
    failing = failing or {}
    rows = []
    pairs = [(w, s) for s in H.EVAL_SEEDS for w in H.EVAL_WORLDS]
    for (method, mult), auc in configs.items():
        for i, (world, seed) in enumerate(pairs):
            bad = i < failing.get((method, mult), 0)
            wobble = 0.002 * ((i * 7) % 5 - 2)
            rows.append(
                _row(method, mult, seed, 0.5 if bad else auc + wobble, world=world, diverged=bad, outcome="blew_up")
            )
    return rows


# -- the plan -------------------------------------------------------------------------------------------------------
def test_the_plan_scans_both_curves_then_five_configurations():
    choice = H.Choice(naive=0.25, clippy=2.0)
    roles = [role for role, _, _ in choice.eval_configs()]
    assert roles == ["naive_half", "naive_best", "naive_next", "clippy_same", "clippy_best"]
    ids = []
    for regime in H.REGIMES:
        tuning = H.tuning_runs(regime.name)
        assert len(tuning) == len(H.TUNING_SEEDS) * (len(H.NAIVE_RATES) + len(H.CLIPPY_RATES))
        assert {(r.spec.size, r.spec.variant) for r in tuning} == {(H.SIZE, regime.name)}
        evaluation = H.eval_runs(regime.name, choice)
        assert len(evaluation) == 5 * len(H.EVAL_SEEDS) * len(H.EVAL_WORLDS)
        ids += [r.run_id for r in tuning + evaluation]
    assert len(set(ids)) == len(ids) == 216
    # Clippy's best rate equal to naive's: one configuration, not two
    assert len(H.Choice(naive=0.5, clippy=0.5).eval_configs()) == 4
    assert all(r.spec.params == H.CLIPPY_PARAMS for r in evaluation if r.spec.method == "clippy")
    assert len(H.EVAL_SEEDS) * len(H.EVAL_WORLDS) >= 16


def test_the_tuning_rule_prefers_trained_seeds_then_auc():
    rows = _tuning({0.125: 0.64, 0.25: 0.65, 0.5: 0.70}, {1.0: 0.66, 2.0: 0.67}, failing=frozenset({("adagrad", 0.5)}))
    assert H.choose(rows) == H.Choice(naive=0.25, clippy=2.0)


def test_the_regimes_share_the_powered_world_and_differ_in_budget():
    """Both regimes read the same prepared data (the worker caches it per world seed)."""
    big, powered = (H.headroom_preset(regime=r.name) for r in H.REGIMES)
    assert big.world == powered.world == P.powered_preset().world and big.transform == powered.transform
    reference = P.powered_preset()
    assert (powered.batch_size, powered.warmup_steps, powered.window) == (
        reference.batch_size,
        reference.warmup_steps,
        reference.window,
    )
    assert big.batch_size == 4 * powered.batch_size and big.passes_per_day == powered.passes_per_day == 1
    # the same number of evaluations in both (the detector's chance rule reads the last 3 of them)
    for preset in (big, powered):
        per_day = (preset.world.impressions_per_day // preset.batch_size) // preset.window * preset.window
        steps = per_day * (preset.world.num_days - 1)
        assert steps // (preset.window * preset.eval_every_windows) == 8
    assert H.headroom_preset(H.EVAL_WORLDS[0]).world.seed == H.EVAL_WORLDS[0]


# -- the rule -------------------------------------------------------------------------------------------------------
def test_the_regime_is_shown_when_naive_rises_to_its_edge_and_clippy_s_rate_pays():
    choice = H.Choice(naive=0.25, clippy=2.0)
    rows = _evaluation(
        {
            ("adagrad", 0.125): 0.62,
            ("adagrad", 0.25): 0.64,
            ("adagrad", 0.5): 0.64,
            ("clippy", 0.25): 0.645,
            ("clippy", 2.0): 0.67,
        },
        failing={("adagrad", 0.5): 6},
    )
    v = H.verdict(rows, choice)
    assert v.divergence_limited and v.rises and v.pays and v.rate_pays
    assert v.next_fails == (6, 16)
    assert v.text.startswith("regime shown")


def test_a_flat_naive_curve_is_not_divergence_limited():
    choice = H.Choice(naive=0.0625, clippy=1.0)
    rows = _evaluation(
        {
            ("adagrad", 0.03125): 0.64,
            ("adagrad", 0.0625): 0.64,
            ("adagrad", 0.125): 0.64,
            ("clippy", 0.0625): 0.63,
            ("clippy", 1.0): 0.66,
        },
    )
    v = H.verdict(rows, choice)
    assert not v.rises and not v.divergence_limited and v.pays and v.rate_pays
    assert "does not rise" in v.text and "fails in under 25 %" in v.text and "higher rate is what pays" in v.text


def test_few_failures_at_the_next_rate_is_not_divergence_limited():
    choice = H.Choice(naive=0.25, clippy=2.0)
    configs = {
        ("adagrad", 0.125): 0.62,
        ("adagrad", 0.25): 0.64,
        ("adagrad", 0.5): 0.64,
        ("clippy", 0.25): 0.64,
        ("clippy", 2.0): 0.64,
    }
    v = H.verdict(_evaluation(configs, failing={("adagrad", 0.5): 3}), choice)  # 3/16 < 25 %
    assert v.rises and not v.divergence_limited and not v.pays
    v = H.verdict(_evaluation(configs, failing={("adagrad", 0.5): 4}), choice)  # 4/16 = 25 %
    assert v.divergence_limited and not v.pays
    assert v.text.startswith("naive Adagrad is limited by divergence, but")


def test_paired_differences_use_pairs_where_both_trained():
    rows = _evaluation({("clippy", 1.0): 0.66, ("adagrad", 0.25): 0.64}, failing={("adagrad", 0.25): 3})
    d = H.paired(rows, ("clippy", 1.0), ("adagrad", 0.25), "total", "auc_click")
    assert d.pairs == 13 and d.mean == pytest.approx(2.0, abs=0.3) and d.above_zero


def test_the_report_carries_the_tables_and_the_verdict():
    rows = _tuning({m: 0.64 for m in H.NAIVE_RATES}, {m: 0.66 for m in H.CLIPPY_RATES})
    choice = H.choose(rows)
    rows += _evaluation({(m, x): 0.65 for _, m, x in choice.eval_configs()})
    text = H.headroom_markdown(rows)
    assert "### Verdict" in text and "**No regime shows both parts of the rule:** batch512: regime not shown" in text
    assert "| Naive | 1/32x |" in text and "Clopper-Pearson" in text
    assert "Regime batch128" in text and text.count("No runs yet.") == 1


# -- seeds and resumption -------------------------------------------------------------------------------------------
def test_seeds_are_held_out_from_each_other_and_the_other_presets():
    tuning, evaluation, worlds = set(H.TUNING_SEEDS), set(H.EVAL_SEEDS), set(H.EVAL_WORLDS)
    assert not tuning & evaluation and H.TUNING_WORLD not in worlds
    others = set()
    for make in presets.PRESETS.values():
        preset = make()
        others |= {*preset.seeds, *preset.calibration_seeds, *preset.ablation_seeds, preset.world.seed}
    others |= {*controls.SEEDS, *gate_audit.AuditPlan().world_seeds}
    others |= {*P.TUNING_SEEDS, *P.EVAL_SEEDS, *P.EVAL_WORLDS}
    assert not (tuning | evaluation | worlds) & others


def test_seeds_follow_the_rule_and_no_other_file_uses_them():
    roots = [gate_audit.REPO / name for name in H.SEED_SOURCES]
    used = H.repository_integers_except_headroom(roots)
    assert not (set(H.TUNING_SEEDS) | set(H.EVAL_SEEDS) | set(H.EVAL_WORLDS)) & used
    firsts = H.SEED_RULE_FIRSTS
    assert gate_audit.held_out_seeds(len(H.TUNING_SEEDS), firsts["tuning"], used) == H.TUNING_SEEDS
    assert gate_audit.held_out_seeds(len(H.EVAL_SEEDS), firsts["eval"], used) == H.EVAL_SEEDS
    assert gate_audit.held_out_seeds(len(H.EVAL_WORLDS), firsts["worlds"], used) == H.EVAL_WORLDS


def test_a_resumed_sweep_trains_nothing(tmp_path, monkeypatch):
    """Every planned run already in headroom.csv: the sweep starts no worker and trains nothing."""
    sweep = H.HeadroomSweep(str(tmp_path), workers=1, log=lambda m: None)
    monkeypatch.setattr(H.HeadroomSweep, "_prepare", lambda self, world: None)
    total = 0
    for regime in H.REGIMES:
        tuning = H.tuning_runs(regime.name)
        for run in tuning:
            s = run.spec
            auc = 0.6 + 0.01 * (math.log2(s.lr_multiplier) % 5)
            row = _row(s.method, s.lr_multiplier, s.seed, auc, stage="tune", regime=regime.name)
            R.append_row(sweep.path, {**row, "run_id": run.run_id, "kind": "healthy"}, P.COLUMNS)
        assert sweep.pending(tuning) == []
        evaluation = H.eval_runs(regime.name, H.choose(H.of_regime(R.read_rows(sweep.path), regime.name)))
        assert len(sweep.pending(evaluation)) == len(evaluation)
        for run in evaluation:
            s = run.spec
            row = _row(s.method, s.lr_multiplier, s.seed, 0.65, world=run.world_seed, regime=regime.name)
            R.append_row(sweep.path, {**row, "run_id": run.run_id, "kind": "healthy"}, P.COLUMNS)
        total += len(tuning) + len(evaluation)
    rows = sweep.run()
    assert sweep.trained_here == 0 and sweep._pool is None
    assert len(rows) == total
    assert os.path.exists(tmp_path / H.INVOCATIONS_FILE)
    assert len(H.planned_rows(R.read_rows(sweep.path))) == len(rows)


def test_a_regime_whose_evaluation_is_incomplete_gets_no_verdict():
    rows = _tuning({m: 0.64 for m in H.NAIVE_RATES}, {m: 0.66 for m in H.CLIPPY_RATES})
    choice = H.choose(rows)
    evaluation = _evaluation({(m, x): 0.65 for _, m, x in choice.eval_configs()})
    assert H.evaluation_complete(evaluation, choice)
    partial = evaluation[:-1]
    assert not H.evaluation_complete(partial, choice)
    assert len(H.planned_rows(rows + partial)) == len(rows)  # the partial evaluation is left out
    text = H.headroom_markdown(H.planned_rows(rows + partial))
    assert "**Not evaluated**" in text and "Not evaluated (no verdict): batch512" in text
