"""The lab's data preparation is bitwise reproducible: two preparations of the same world give
the same transformed arrays, bit for bit, and the same vocabularies (experiments/data.py, one-batch analysis)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from config.settings import TransformConfig
from experiments.data import DATA_DIR, prepare_data
from experiments.presets import lab_world

pytestmark = pytest.mark.slow  # two tf.Transform analyses (Beam)


def test_two_preparations_agree_bitwise(tmp_path):
    world = lab_world(impressions_per_day=1_200, num_days=3, num_extra_dense=4, shock_day=2)
    transform = TransformConfig(id_vocab_size=1_000)
    first = prepare_data(str(tmp_path / "a"), world, transform, log=lambda _: None)
    second = prepare_data(str(tmp_path / "b"), world, transform, log=lambda _: None)
    assert first.vocab_sizes == second.vocab_sizes
    days_a = [*first.train_days, first.eval_day]
    days_b = [*second.train_days, second.eval_day]
    assert len(days_a) == 3
    for day_a, day_b in zip(days_a, days_b, strict=True):
        assert sorted(day_a) == sorted(day_b)
        for key in day_a:
            a, b = day_a[key], day_b[key]
            assert a.dtype == b.dtype and a.shape == b.shape, key
            assert a.tobytes() == b.tobytes(), f"{key}: max |diff| {np.max(np.abs(a.astype(float) - b)):.3g}"
    # The z-scored features really are z-scores over the training days (the statistics were computed, not skipped);
    # the std is a little under 1 where a feature is optional (missing values are imputed with the mean, 0).
    dense = [k for k in first.train_days[0] if k.startswith("f_dense")]
    assert dense
    stacked = np.concatenate([d[dense[0]] for d in first.train_days])
    assert abs(float(np.mean(stacked))) < 1e-3 and abs(float(np.std(stacked)) - 1.0) < 0.05
    vocab_dir = os.path.join(str(tmp_path / "a"), DATA_DIR, "transform_fn", "transform_fn", "assets")
    for name in os.listdir(vocab_dir):
        with (
            open(os.path.join(vocab_dir, name), "rb") as fa,
            open(vocab_dir.replace("/a/", "/b/") + "/" + name, "rb") as fb,
        ):
            assert fa.read() == fb.read(), name
