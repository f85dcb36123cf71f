"""The gate audit's plan (held-out seeds, the pipeline's tiny run), its ground truth, decision and report."""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments import audit_analysis as A
from experiments import gate_audit as G
from experiments.stats import clopper_pearson, rate_text


def test_held_out_seeds_skip_every_excluded_integer():
    assert G.held_out_seeds(3, 10, {10, 11, 13}) == (12, 14, 15)


def test_repository_integers_reads_literals_not_strings_or_bools(tmp_path):
    (tmp_path / "a.py").write_text("SEED = 1234\nflag = True\nname = '999'\nx = f(7, y=2.5)\n")
    assert G.repository_integers([tmp_path]) == {1234, 7}


def test_the_audit_worlds_stay_held_out():
    # Never write the audit's seeds as literals in tests/ or config/: they would no longer be held out.
    plan = G.AuditPlan()
    assert len(plan.world_seeds) == 5 and G.reused_seeds(plan) == set()


def test_the_audit_trains_the_tiny_pipeline_run():
    from config.settings import tiny_preset

    pipeline = tiny_preset()
    seed = G.AuditPlan().world_seeds[0]
    preset = G.audit_lab_preset(G.AuditPlan(), seed)
    assert preset.world.seed == seed and preset.world.num_days == 2 and preset.warmup_steps == 0
    assert preset.batch_size == pipeline.train.batch_size and preset.window == pipeline.train.log_every_steps
    steps_per_pass = (preset.world.impressions_per_day // preset.batch_size) // preset.window * preset.window
    assert steps_per_pass * preset.passes_per_day == pipeline.train.train_steps
    specs = G.audit_specs(G.AuditPlan(), seed)
    assert len(specs) == G.AuditPlan().runs_per_world == 16 and {s.seed for s in specs} == {seed}


@pytest.mark.parametrize(
    "nonfinite, auc, truth",
    [(True, 0.7, "non_finite"), (False, 0.5, "at_chance"), (False, 0.549, "at_chance"), (False, 0.55, "healthy")],
)
def test_ground_truth(nonfinite, auc, truth):
    assert A.ground_truth({"nonfinite": nonfinite, "auc_click": auc}, 0.55) == truth


def _curves(loss, click) -> dict:
    steps = list(range(10, 10 * len(loss) + 1, 10))
    return {"steps": steps, "loss": list(loss), "train_auc": {"click": list(click)}, "stop_reason": None}


def test_gate_decision_refuses_a_dead_run_and_blesses_a_learning_one():
    n = 15
    dead = A.gate_decision(_curves([2e13] + [14.0] * (n - 1), [0.5] * n), "tiny")
    assert dead[0] == "refused: blew_up" and dead[1] == "blew_up"
    never = A.gate_decision(_curves(3.5 + np.exp(-np.arange(n)), [0.5] * n), "tiny")
    assert never[0] == "refused: never_learned"
    good = A.gate_decision(_curves(3.5 + np.exp(-np.arange(n)), np.linspace(0.5, 0.7, n)), "tiny")
    assert good[0] == "blessed"


def _judged(truth: str, decision: str, i: int = 0) -> A.Judged:
    return A.Judged(f"w1.r{i}", 1, "adagrad", 0.05, 0.6, truth, decision, "healthy", "", "why")


def test_report_counts_false_blessings_and_refusals():
    judged = [_judged("healthy", "blessed", i) for i in range(9)] + [
        _judged("healthy", "refused: never_learned", 9),
        _judged("at_chance", "refused: blew_up", 10),
        _judged("non_finite", "refused: blew_up", 11),
    ]
    text = A.audit_markdown(judged, [1], "cmd")
    assert "PASS" in text and "1/10 = 10.0 %" in text and "`w1.r9`" in text
    failing = A.audit_markdown([*judged, _judged("at_chance", "blessed", 12)], [1], "cmd")
    assert "FAIL" in failing and "1/3 = 33.3 %" in failing


def test_clopper_pearson_known_values():
    low, high = clopper_pearson(0, 30)
    assert low == 0.0 and high == pytest.approx(1 - 0.025 ** (1 / 30))
    low, high = clopper_pearson(5, 10)
    assert low == pytest.approx(0.187, abs=1e-3) and high == pytest.approx(0.813, abs=1e-3)
    assert all(math.isnan(x) for x in clopper_pearson(0, 0))
    assert rate_text(1, 4).startswith("1/4 = 25.0 %")
