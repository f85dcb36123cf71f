"""The simple model: one linear model per task on the ranker's transformed inputs, with per-value weights."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from config.settings import TASKS, BaselineConfig
from models import features as F
from models.baseline import build_baseline, compile_baseline

SIZES = {key: 5 for key in F.CORE_FEATURES.vocab_features}


def batch(n: int = 4) -> dict[str, tf.Tensor]:
    out = {F.transformed_name(k): tf.zeros([n], tf.int64) for k in F.CORE_FEATURES.embedded}
    out.update({F.transformed_name(k): tf.ones([n], tf.float32) for k in F.CORE_FEATURES.dense})
    return out


def test_it_takes_the_rankers_inputs_and_gives_one_output_per_task():
    model = build_baseline(BaselineConfig(), SIZES)
    assert set(model.input) == set(F.CORE_FEATURES.input_keys())
    out = model(batch(), training=False)
    assert set(out) == set(TASKS)
    for task in TASKS:  # starts at logit 0 (rating 3 for the survey): every weight starts at zero
        assert out[task].shape == (4, 1)
        np.testing.assert_allclose(out[task].numpy(), 3.0 if task == "survey_rating" else 0.0)


def test_each_id_value_is_a_bias_term_per_task_and_tasks_share_no_weight():
    model = build_baseline(BaselineConfig(l2=0.0), SIZES)
    weights = model.get_layer("video_id_weights")
    table = np.zeros(weights.get_weights()[0].shape, np.float32)
    table[2, TASKS.index("click")] = 1.5  # video 2 raises the click logit only
    weights.set_weights([table])
    inputs = batch(2)
    inputs[F.transformed_name("video_id")] = tf.constant([2, 0], tf.int64)
    out = model(inputs, training=False)
    assert out["click"].numpy().ravel().tolist() == [1.5, 0.0]
    assert out["like"].numpy().ravel().tolist() == [0.0, 0.0]


def test_it_trains_with_the_rankers_losses():
    model = compile_baseline(build_baseline(BaselineConfig(), SIZES), BaselineConfig())
    labels = {t: tf.ones([4, 1]) for t in TASKS if t != "survey_rating"}
    labels["survey_rating"] = tf.constant([[4.0, 1.0]] * 4)
    before = model.evaluate(batch(), labels, verbose=0, return_dict=True)["loss"]
    model.fit(batch(), labels, epochs=20, verbose=0)
    assert model.evaluate(batch(), labels, verbose=0, return_dict=True)["loss"] < before
