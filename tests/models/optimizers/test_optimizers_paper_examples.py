"""The worked examples of paper.md §8 (TFRS/keras-rs test vectors) and Algorithm 1 by hand."""

import numpy as np
import pytest
import tensorflow as tf

from models.optimizers import ClippyAdagrad, shrink_by_references


def apply_once(optimizer, value, grad, dtype=tf.float32):
    """One step on a dense variable and on row 1 of a 2-row table given the same gradient as a sparse row."""
    dense = tf.Variable(value, dtype=dtype)
    table = tf.Variable([[3.0, 4.0], value], dtype=dtype)
    sparse_grad = tf.IndexedSlices(tf.constant([grad], dtype), tf.constant([1]), tf.constant([2, 2]))
    optimizer.apply_gradients([(tf.constant(grad, dtype), dense), (sparse_grad, table)])
    return dense.numpy(), table.numpy()


def test_no_clip_step():
    # paper.md §8: lr 0.1, G0 = 0.01, x = [1, 2], g = [0.1, 0.15] -> x = [0.9, 1.85], accum = G0 + g², σ = 1.
    optimizer = ClippyAdagrad(
        learning_rate=0.1,
        initial_accumulator_value=0.01,
        variable_relative_threshold=0.1,
        absolute_threshold=1e-7,
        epsilon=0.0,
        use_standard_accumulator_update=False,
        export_clipping_factors=True,
    )
    dense, table = apply_once(optimizer, [1.0, 2.0], [0.1, 0.15])
    np.testing.assert_allclose(dense, [0.9, 1.85], rtol=1e-6)
    np.testing.assert_allclose(table, [[3.0, 4.0], [0.9, 1.85]], rtol=1e-6)
    np.testing.assert_allclose(optimizer._accumulators[0].numpy(), [0.02, 0.0325], rtol=1e-6)
    np.testing.assert_allclose(optimizer._accumulators[1].numpy(), [[0.01, 0.01], [0.02, 0.0325]], rtol=1e-6)
    np.testing.assert_allclose([f.numpy() for f in optimizer.clipping_factors], [1.0, 1.0])


@pytest.mark.parametrize("clip_accumulator_update, accumulator", [(False, 100.01), (True, 0.1)])
def test_clip_step(clip_accumulator_update, accumulator):
    # paper.md §8: lr 0.2, G0 0.01, λ_var 0.4, λ_acc 0.01, λ_abs 0.1, ε 0, x = [1, 2], g = [10, 10]:
    # Δ = 20 each, bound = [0.6, 1.0] -> σ = 0.03, x = [0.4, 1.4]; accum = 100.01 raw, 0.01 + (0.03·10)² clipped.
    optimizer = ClippyAdagrad(
        learning_rate=0.2,
        initial_accumulator_value=0.01,
        variable_relative_threshold=0.4,
        accumulator_relative_threshold=0.01,
        absolute_threshold=0.1,
        epsilon=0.0,
        use_standard_accumulator_update=False,
        clip_accumulator_update=clip_accumulator_update,
        export_clipping_factors=True,
    )
    dense, table = apply_once(optimizer, [1.0, 2.0], [10.0, 10.0], dtype=tf.float64)
    np.testing.assert_allclose(dense, [0.4, 1.4], rtol=1e-12)
    np.testing.assert_allclose(table, [[3.0, 4.0], [0.4, 1.4]], rtol=1e-12)
    # σ = 0.6 / (η · 10 / 0.1) with η stored as float32 by Keras: σ and (σ g)² are exact up to η's rounding.
    np.testing.assert_allclose([f.numpy() for f in optimizer.clipping_factors], [0.03, 0.03], rtol=1e-7)
    np.testing.assert_allclose(optimizer._accumulators[0].numpy(), [accumulator] * 2, rtol=1e-7)
    np.testing.assert_allclose(
        optimizer._accumulators[1].numpy(), [[0.01, 0.01], [accumulator, accumulator]], rtol=1e-7
    )


def test_standard_order_with_zero_initial_accumulator():
    # paper.md §8: G0 = 0 and the standard order: accum = g², update = lr·sign(g) -> x = [1 - lr, 2 - lr].
    optimizer = ClippyAdagrad(
        learning_rate=0.1, initial_accumulator_value=0.0, epsilon=0.0, export_clipping_factors=True
    )
    assert optimizer.use_standard_accumulator_update  # the paper's order is the default
    dense, table = apply_once(optimizer, [1.0, 2.0], [0.1, 0.15])
    np.testing.assert_allclose(dense, [0.9, 1.9], rtol=1e-6)
    np.testing.assert_allclose(table, [[3.0, 4.0], [0.9, 1.9]], rtol=1e-6)
    np.testing.assert_allclose(optimizer._accumulators[0].numpy(), [0.01, 0.0225], rtol=1e-6)
    np.testing.assert_allclose(optimizer._accumulators[1].numpy(), [[0.0, 0.0], [0.01, 0.0225]], rtol=1e-6)


def test_algorithm_1_with_paper_defaults_by_hand():
    # Algorithm 1 with λ_rel = 0.5, λ_abs = 1e-2, G0 = 0.1, standard order, no ε.
    w = np.array([0.1, -2.0, 0.0])
    g = np.array([1.0, 0.5, -0.2])
    lr = 1.0
    accumulator = 0.1 + g**2
    r = g / np.sqrt(accumulator)
    sigma = min(1.0, np.min((0.5 * np.abs(w) + 1e-2) / (lr * np.abs(r))))
    expected = w - lr * sigma * r
    assert sigma < 0.1  # the first coordinate binds

    optimizer = ClippyAdagrad(learning_rate=lr, epsilon=0.0, export_clipping_factors=True)
    variable = tf.Variable(w)
    optimizer.apply_gradients([(tf.constant(g), variable)])
    np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(optimizer.clipping_factors[0].numpy(), sigma, rtol=1e-12)
    np.testing.assert_allclose(optimizer._accumulators[0].numpy(), accumulator, rtol=1e-12)


@pytest.mark.parametrize(
    "tensor, references, relative, absolute, expected, scale",
    [
        (2.0, [4.0], [0.1], 0.02, 0.42, 0.21),
        (2.0, [-4.0], [0.1], 0.02, 0.42, 0.21),
        (-2.0, [4.0], [0.1], 0.02, -0.42, 0.21),
        (-2.0, [4.0], [0.1], 0.0, -0.4, 0.2),
        (-2.0, [0.0], [0.1], 0.0, 0.0, 0.0),
        (2.0, [20.0], [0.1], 0.1, 2.0, 1.0),
        (-2.0, [20.0], [0.1], 0.1, -2.0, 1.0),
        (0.0, [1.0], [0.1], 0.1, 0.0, 1.0),
        (0.0, [0.0], [0.0], 0.0, 0.0, 1.0),
        (2.0, [4.0, -5.0], [0.1, 0.2], 0.02, 1.42, 0.71),
        (2.0, [], [], 0.02, 0.02, 0.01),
        (0.0, [], [], 0.0, 0.0, 1.0),
        ([1.0, 1.0], [[1.0, 0.1]], [0.1], 0.01, [0.02, 0.02], 0.02),
        ([1.0, 1.0, 0.0, 0.0], [[1.0, 0.1, 1.0, 0.0]], [0.1], 0.0, [0.01, 0.01, 0.0, 0.0], 0.01),
        ([1.0, 1.0, 0.0, 0.0], [[1.0, 0.0, 1.0, 0.0]], [0.1], 0.0, [0.0, 0.0, 0.0, 0.0], 0.0),
        ([[1.0, 2.0], [1.0, 2.0]], [1.0], [0.1], 0.1, [[0.1, 0.2], [0.1, 0.2]], 0.1),
    ],
)
def test_shrink_by_references_vectors(tensor, references, relative, absolute, expected, scale):
    clipped, factor = shrink_by_references(tf.constant(tensor), references, relative, absolute)
    np.testing.assert_allclose(clipped.numpy(), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(factor.numpy(), scale, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "kwargs", [{"relative_factors": [-0.1]}, {"absolute_factor": -1.0}, {"relative_factors": [0.1, 0.2]}]
)
def test_shrink_by_references_rejects_bad_factors(kwargs):
    arguments = {"tensor": 1.0, "references": [1.0], "relative_factors": [0.1], "absolute_factor": 0.0, **kwargs}
    with pytest.raises(ValueError):  # noqa: PT011 - each case words its own refusal
        shrink_by_references(**arguments)
