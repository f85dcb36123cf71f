"""The low-rate control's plan and its rule: when Clippy is more than a learning-rate limiter."""

from __future__ import annotations

from experiments import controls as C
from experiments.figures import effective_step
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


SIGMAS = {size: {"shared_dense_0/kernel": 0.05, "shared_dense_0/bias": 0.07, "click/kernel": 1.0} for size in SIZES}


def test_frozen_plan_is_clippys_2x_on_every_size_and_seed_then_small_under_a_growing_rate():
    assert [(s.method, s.lr_multiplier, s.stage) for s in C.clippy_specs()] == [("clippy", 2.0, "control_check")] * 9
    assert C.control_specs()[0] in C.clippy_specs()  # the earlier pairing-check run is one of them
    specs = C.frozen_specs(SIGMAS)
    at_2x = [s for s in specs if s.stage == "control_frozen"]
    assert {(s.size, s.seed) for s in at_2x} == {(size, seed) for size in SIZES for seed in C.SEEDS}
    assert all(s.method == "frozen_sigma" and s.lr_multiplier == C.FROZEN_MULTIPLIER for s in at_2x)
    assert at_2x[0].optimizer_params() == {"sigmas": SIGMAS["small"]}
    frontier = [s for s in specs if s.stage == C.FRONTIER_STAGE]
    assert {(s.method, s.lr_multiplier) for s in frontier} == {
        (method, m) for method in ("frozen_sigma", "clippy") for m in C.FROZEN_FRONTIER_MULTIPLIERS
    }
    assert all(s.sigmas == tuple(SIGMAS["small"].items()) for s in frontier if s.method == "frozen_sigma")
    assert len({s.run_id for s in specs}) == len(specs) and max(len(s.run_id) for s in specs) < 120
    other = C.frozen_specs({**SIGMAS, "small": {**SIGMAS["small"], "click/kernel": 0.5}})
    assert other[0].run_id != specs[0].run_id  # the σ's are part of the run id


def _curves(lr: float, sigmas: dict[str, list[float]], warmup: int = 0) -> dict:
    telemetry = [
        {"step": 10 * i, "variable": var, "sigma": sigma}
        for var, values in sigmas.items()
        for i, sigma in enumerate(values)
    ]
    return {"learning_rate": lr, "warmup_steps": warmup, "telemetry": telemetry}


def test_frozen_sigma_is_the_median_over_seeds_of_the_median_step_over_eta():
    curves = _curves(2.0, {"k": [0.1, 0.2, 0.9], "b": [1.0, 1.0, 1.0]})
    assert effective_step(curves, kernels_only=False) == {"k": 2.0 * 0.2, "b": 2.0}
    warm = _curves(2.0, {"k": [1.0, 1.0, 1.0]}, warmup=20)  # η_t = 2 (t + 1) / 20 for t < 20
    assert effective_step(warm, kernels_only=False) == {"k": 2.0 * 11 / 20}
    seeds = [_curves(2.0, {"k": [s, s, s], "b": [1.0] * 3}) for s in (0.1, 0.4, 0.3)]
    assert C.frozen_sigmas(seeds) == {"k": 0.3, "b": 1.0}


def test_frozen_verdicts_follow_the_rule_against_the_retrained_clippy_runs():
    committed = [_row("clippy", size, 2.0, seed, 0.60) for size in SIZES for seed in C.SEEDS]  # not the pairing
    controls = []
    for seed in C.SEEDS:
        for size in SIZES:
            controls.append(_row("clippy", size, 2.0, seed, 0.68 + 0.001 * seed, stage="control_check"))
        controls.append(_row("frozen_sigma", "small", 2.0, seed, 0.62 + 0.002 * seed, stage="control_frozen"))
        controls.append(_row("frozen_sigma", "large", 2.0, seed, 0.69 - 0.004 * seed, stage="control_frozen"))
        controls.append(_row("frozen_sigma", "large_dcn", 2.0, seed, 0.67, seed == 2, stage="control_frozen"))
        for m in C.FROZEN_FRONTIER_MULTIPLIERS:
            frozen_auc = 0.5 if m == 64.0 and seed > 0 else 0.66
            controls.append(_row("frozen_sigma", "small", m, seed, frozen_auc, stage=C.FRONTIER_STAGE))
            controls.append(_row("clippy", "small", m, seed, 0.67, stage=C.FRONTIER_STAGE))
    text = C.controls_markdown(controls, committed, SIGMAS)
    frozen = text[text.index("## Frozen σ") :]
    rows = {line.split("|")[1].strip(): line for line in frozen.splitlines() if line.startswith("| ")}
    assert rows["Small"].endswith("more than a frozen rate |")  # the interval lies above 0
    assert rows["Large"].endswith("a frozen rate matches it |")
    assert rows["Large+DCN"].endswith("more than a frozen rate |")  # frozen fails a seed where Clippy trains
    assert "| 68.10 |" in rows["Small"]  # the retrained Clippy runs, not the committed ones (60.00)
    assert "top shared kernel 0.05" in rows["Small"]
    assert "Verdict: frozen σ breaks at 64x, where Clippy does not." in frozen
    assert "9 committed Clippy 2x runs trained again: 0 reproduce their click AUC" in frozen


def test_frontier_verdict_compares_where_each_breaks():
    assert C.frontier_verdict({}) == "does not break up to 64x"
    assert C.frontier_verdict({"frozen_sigma": 8.0, "clippy": 64.0}) == "breaks at 8x, where Clippy does not"
    assert C.frontier_verdict({"frozen_sigma": 64.0, "clippy": 64.0}) == "breaks at 64x, as Clippy does"
