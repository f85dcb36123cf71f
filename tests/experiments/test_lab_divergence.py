"""A deterministic quick-scale case: on the same data and seed, naive Adagrad fully diverges and Clippy does not.

The data are the `quick` lab preset's world (4 days, 6000 impressions a day), generated, transformed with
tf.Transform's Beam implementation and cached as `ranker sweep --preset quick` does, on tf.Transform's TF1 graph path
(the pipeline's; the preset's TF2 path gives the same z-scores to ~5e-7 and costs ~6 s more here).
Configuration: the Large shared-bottom ranker, dense learning rate 1.6 (the `full` sweep's calibrated 1x) after the
lab's 80-step warm-up, seed 0. Naive Adagrad learns (eval click AUC ~0.6), blows up when the warm-up ends and its click
AUC collapses to 0.5 for good; Clippy (lambda_rel 0.5, lambda_abs 1e-2) at the same rate trains to ~0.7. Both
verdicts come from the shared detector (`models.stability.detect_divergence` with `experiments.presets.LAB_STABILITY`).
"""

from __future__ import annotations

import dataclasses

import pytest

from experiments.data import prepare_data
from experiments.presets import PAPER_GRIDS, quick_preset
from experiments.runner import RunSpec, train_run

pytestmark = pytest.mark.slow

LEARNING_RATE = 1.6
SIZE = "large"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    preset = quick_preset()
    transform = dataclasses.replace(preset.transform, tf_compat_v1=True)  # the pipeline's graph path: cheaper
    return preset, prepare_data(str(tmp_path_factory.mktemp("lab")), preset.world, transform, log=lambda m: None)


def _run(lab, method: str):
    preset, data = lab
    params = tuple(sorted(PAPER_GRIDS[method][0].items()))
    return train_run(RunSpec(method, SIZE, 1.0, 0, params), data, preset, LEARNING_RATE)


def test_naive_adagrad_fully_diverges_where_clippy_trains(lab):
    naive = _run(lab, "adagrad")
    clippy = _run(lab, "clippy")
    assert naive.row["diverged"], naive.curves["divergence"]["reason"]
    assert naive.row["auc_click"] < 0.56
    assert not clippy.row["diverged"], clippy.curves["divergence"]["reason"]
    assert clippy.row["auc_click"] > 0.65
