"""Stability lab bookkeeping: results.csv columns, atomic rows, resume, best-config selection, the lab detector."""

from __future__ import annotations

import csv
import math
from concurrent.futures import Future

import pytest

from experiments import results as R
from experiments import sweep as S
from experiments.presets import LAB_STABILITY, get_lab_preset
from experiments.runner import RunSpec, eval_auc_series
from models.stability import detect_divergence

REQUIRED = ("method", "size", "lr_multiplier", "seed", "diverged", "micro_divergences", "auc_click", "rmse_watch_time")


def _row(spec: RunSpec, diverged: bool = False, auc: float = 0.7) -> dict:
    return {
        "run_id": spec.run_id,
        "stage": spec.stage,
        "variant": spec.variant,
        "method": spec.method,
        "size": spec.size,
        "lr_multiplier": spec.lr_multiplier,
        "seed": spec.seed,
        "params": "{}",
        "diverged": diverged,
        "micro_divergences": 0,
        "auc_click": auc,
        "rmse_watch_time": 1.5,
        "wall_s": 1.0,
    }


def test_results_csv_has_the_documented_columns(tmp_path):
    path = tmp_path / R.RESULTS_FILE
    R.append_row(str(path), _row(RunSpec("clippy", "small", 2.0, 0)))
    R.append_row(str(path), _row(RunSpec("adagrad", "small", 1.0, 0), diverged=True, auc=math.nan))
    with open(path) as f:
        header = next(csv.reader(f))
    assert header[: len(REQUIRED)] == list(REQUIRED)
    rows = R.read_rows(str(path))
    assert [r["method"] for r in rows] == ["clippy", "adagrad"]
    assert rows[0]["diverged"] is False and rows[1]["diverged"] is True
    assert rows[0]["lr_multiplier"] == 2.0 and math.isnan(rows[1]["auc_click"])


class _FakeExecutor:
    """Runs nothing: returns a finished future with a made-up row, recording what was submitted."""

    def __init__(self) -> None:
        self.submitted: list[RunSpec] = []

    def submit(self, fn, spec, base_lr, out_dir):
        self.submitted.append(spec)
        future: Future = Future()
        future.set_result(_row(spec))
        return future


def test_resume_runs_only_the_missing_runs(tmp_path):
    sweep = S.Sweep(get_lab_preset("quick"), str(tmp_path), log=lambda m: None, workers=1)
    specs = [RunSpec("gc", "small", m, 0, (("clip_norm", 0.1),)) for m in (1.0, 2.0, 4.0)]
    R.append_row(sweep.results_path, _row(specs[0]))  # completed before the interruption
    fake = _FakeExecutor()
    sweep._executor = lambda: fake  # type: ignore[method-assign]
    rows = sweep._run(specs, 0.5, sweep.results_path)
    assert [s.run_id for s in fake.submitted] == [specs[1].run_id, specs[2].run_id]
    assert sorted(r["run_id"] for r in rows) == sorted(s.run_id for s in specs)
    assert sweep.progress.done == 3

    again = _FakeExecutor()
    sweep._executor = lambda: again  # type: ignore[method-assign]
    sweep._run(specs, 0.5, sweep.results_path)
    assert again.submitted == []  # everything is done: nothing re-runs
    assert len(R.read_rows(sweep.results_path)) == 3


def test_best_config_prefers_healthy_then_auc():
    rows = [
        _row(RunSpec("gc", "small", 2.0, 0), diverged=True, auc=0.9) | {"params": '{"clip_norm": 0.1}'},
        _row(RunSpec("gc", "small", 1.0, 0), auc=0.70) | {"params": '{"clip_norm": 0.1}'},
        _row(RunSpec("gc", "small", 2.0, 0), auc=0.72) | {"params": '{"clip_norm": 0.01}'},
        _row(RunSpec("adagrad", "small", 1.0, 0), diverged=True, auc=0.5),
        _row(RunSpec("adagrad", "small", 2.0, 0), diverged=True, auc=0.5),
    ]
    best = R.best_configs(rows)
    assert best[("gc", "small")]["params"] == '{"clip_norm": 0.01}'
    assert best[("adagrad", "small")]["lr_multiplier"] == 1.0  # all diverged: the lowest multiplier


def test_planned_total_counts_every_stage():
    preset = get_lab_preset("full")
    sweep = S.Sweep(preset, "/nonexistent", log=lambda m: None)
    grid = len(sweep.grid_specs())
    assert grid == 13 * 3 * 2  # 1 + 3 + 3 + 3 + 1 + 1 + 1 configurations x 3 sizes x {1x, 2x}
    assert sweep.planned_total() >= grid + len(sweep.ablation_specs()) + 1


STEPS = list(range(10, 310, 10))


@pytest.mark.parametrize(
    "loss, auc, diverged, micro",
    [
        ([5.0 - 0.03 * i for i in range(30)], [0.6 + 0.003 * i for i in range(30)], False, 0),  # clean
        ([4.0] * 12 + [12.0] + [4.0] * 17, [0.65] * 30, False, 1),  # spike that recovers
        ([4.0] * 12 + [40.0 * (i + 1) for i in range(18)], [0.65] * 12 + [0.5] * 18, True, 0),  # blow-up
        ([4.0] * 12 + [math.nan], [0.65] * 12 + [math.nan], True, 0),  # NaN
        ([4.0] * 12 + [2000.0] + [4.3] * 17, [0.65] * 12 + [0.53] * 18, True, 1),  # dead after a spike
    ],
    ids=["clean", "micro", "blow_up", "nan", "auc_collapse"],
)
def test_lab_detector_on_constructed_curves(loss, auc, diverged, micro):
    steps = STEPS[: len(loss)]
    evaluations = [{"step": s, "auc_click": a} for s, a in zip(steps, auc) if s % 20 == 0]
    report = detect_divergence(steps, loss, eval_auc_series(steps, evaluations), LAB_STABILITY)
    assert report.fully_diverged is diverged, report.reason
    assert len(report.micro_divergences) == micro, report.reason
