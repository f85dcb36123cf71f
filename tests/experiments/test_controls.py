"""The low-rate control's plan and its rule: when Clippy is more than a learning-rate limiter."""

from __future__ import annotations

from experiments import controls as C
from experiments.presets import SIZES


def _row(method: str, size: str, mult: float, seed: int, auc: float, diverged: bool = False, stage: str = "repeat"):
    return {
        "method": method,
        "size": size,
        "lr_multiplier": mult,
        "seed": seed,
        "auc_click": auc,
        "diverged": diverged,
        "stage": stage,
        "variant": "clean",
    }


def test_plan_is_naive_adagrad_at_both_low_rates_on_every_size_and_seed():
    specs = C.control_specs()
    naive = [s for s in specs if s.method == "adagrad"]
    assert len(naive) == len(C.CONTROL_MULTIPLIERS) * len(SIZES) * len(C.SEEDS)
    assert [s.method for s in specs if s.stage == "control_check"] == ["clippy"]
    gc = [s for s in specs if s.stage == "control_gc"]
    assert {s.lr_multiplier * s.params_dict()["clip_norm"] for s in gc} == {C.GC_LAMBDA_AT_1X}


def test_scaled_gc_breaks_at_the_first_multiplier_with_two_failures():
    rows = [
        _row("gc", "small", m, seed, 0.5 if (m == 64.0 and seed > 0) else 0.67, stage="control_gc")
        for m in C.SCALED_GC_MULTIPLIERS
        for seed in C.SEEDS
    ]
    assert "breaks at 64x" in C.scaled_gc_markdown(rows)
    healthy = [{**r, "auc_click": 0.67} for r in rows]
    assert "keeps Clippy's Small frontier" in C.scaled_gc_markdown(healthy)


def test_verdicts_follow_the_rule():
    committed = [_row("clippy", size, 2.0, seed, 0.68 + 0.001 * seed) for size in SIZES for seed in C.SEEDS]
    controls = []
    for seed in C.SEEDS:
        controls.append(_row("adagrad", "small", 0.1, seed, 0.62 + 0.002 * seed, stage="control"))  # clearly worse
        controls.append(_row("adagrad", "small", 0.25, seed, 0.5, stage="control"))  # at chance: failed
        controls.append(_row("adagrad", "large", 0.25, seed, 0.69 - 0.004 * seed, stage="control"))  # as good
        controls.append(_row("adagrad", "large", 0.1, seed, 0.60, stage="control"))
        diverged = seed == 1
        controls.append(_row("adagrad", "large_dcn", 0.1, seed, 0.66, diverged=diverged, stage="control"))
        controls.append(_row("adagrad", "large_dcn", 0.25, seed, 0.66, diverged=True, stage="control"))
    text = C.controls_markdown(controls, committed)
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert rows["Small"].endswith("more than a rate limiter |")
    assert rows["Large"].endswith("a rate limiter matches it |")
    assert rows["Large+DCN"].endswith("more than a rate limiter |")  # naive fails a seed where Clippy trains
