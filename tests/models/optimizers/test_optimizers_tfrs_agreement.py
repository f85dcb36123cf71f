"""Agreement with ``tfrs.experimental.optimizers.ClippyAdagrad`` configured identically.

Both put ε inside the square root, (G + ε)^{-1/2}, so no translation is needed. A small model (embedding with
sparse gradients + two dense layers) trains 50 steps with each optimizer from the same weights on the same data, in
both accumulator orders (and TFRS's clipped-accumulator option); weights, accumulators and per-step clipping factors
must agree to 1e-6 while clipping is active.
"""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_recommenders as tfrs

from models.optimizers import ClippyAdagrad

STEPS = 50
TOLERANCE = {"rtol": 1e-6, "atol": 1e-6}


def small_model():
    ids = tf.keras.Input((3,), dtype=tf.int32)
    embedded = tf.keras.layers.Embedding(40, 4, name="embedding")(ids)
    hidden = tf.keras.layers.Dense(8, activation="relu")(tf.keras.layers.Flatten()(embedded))
    return tf.keras.Model(ids, tf.keras.layers.Dense(1)(hidden))


def train_step(model, optimizer):
    @tf.function
    def step(ids, labels):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(ids) - labels))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))

    return step


@pytest.mark.parametrize(
    "standard, clip_accumulator_update",
    [(True, False), (False, False), (False, True)],
    ids=["standard", "delayed", "delayed-clip-acc"],
)
def test_matches_tfrs_over_50_steps(standard, clip_accumulator_update):
    config = {
        "learning_rate": 0.3,
        "initial_accumulator_value": 0.1,
        "variable_relative_threshold": 0.5,
        "accumulator_relative_threshold": 1e-3,
        "absolute_threshold": 1e-2,
        "epsilon": 1e-7,
        "use_standard_accumulator_update": standard,
        "clip_accumulator_update": clip_accumulator_update,
        "export_clipping_factors": True,
    }
    tf.keras.utils.set_random_seed(7)
    ours_model, theirs_model = small_model(), small_model()
    theirs_model.set_weights(ours_model.get_weights())
    ours, theirs = ClippyAdagrad(**config), tfrs.experimental.optimizers.ClippyAdagrad(**config)
    ours_step, theirs_step = train_step(ours_model, ours), train_step(theirs_model, theirs)

    rng = np.random.default_rng(3)
    ids = rng.integers(0, 40, size=(STEPS, 16, 3)).astype(np.int32)
    labels = rng.normal(size=(STEPS, 16, 1)).astype(np.float32)
    smallest_factor = 1.0
    for step in range(STEPS):
        ours_step(ids[step], labels[step])
        theirs_step(ids[step], labels[step])
        ours_factors = [factor.numpy() for factor in ours.clipping_factors]
        np.testing.assert_allclose(ours_factors, [f.numpy() for f in theirs.clipping_factors], **TOLERANCE)
        smallest_factor = min(smallest_factor, *ours_factors)

    assert smallest_factor < 0.5  # the comparison covers real clipping
    for mine, reference in zip(ours_model.get_weights(), theirs_model.get_weights()):
        np.testing.assert_allclose(mine, reference, **TOLERANCE)
    for mine, reference in zip(ours._accumulators, theirs._accumulators):
        np.testing.assert_allclose(mine.numpy(), reference.numpy(), **TOLERANCE)
