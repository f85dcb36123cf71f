"""Property tests (hypothesis) of Clippy's guarantees (paper Algorithm 1 and §4.2) and of GC's.

For random shapes, weights, gradients, accumulators, learning rates and thresholds, one ClippyAdagrad step must
satisfy, coordinate-wise, |Δw_j| ≤ λ_rel |w_j| + λ_acc G_j^{-1/2} + λ_abs (G the accumulator r was computed with),
have σ ∈ (0, 1], equal plain Adagrad (σ = 1) when far inside the bound, keep the direction of r, and move zero
weights by at most λ_abs. Everything runs in float64 so the float tolerance can be tight.
"""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from models.optimizers import ClippyAdagrad, make_optimizer, shrink_by_references

EPSILON = 1e-7
RELATIVE_TOLERANCE = 1e-9
PROPERTY_SETTINGS = settings(max_examples=30, deadline=None)

shapes = hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=5)
finite = {"allow_nan": False, "allow_infinity": False}


@st.composite
def clippy_cases(draw, zero_weights=False):
    shape = draw(shapes)
    elements = st.floats(-3.0, 3.0, **finite) | st.just(0.0)
    weights = np.zeros(shape) if zero_weights else draw(hnp.arrays(np.float64, shape, elements=elements))
    grads = draw(hnp.arrays(np.float64, shape, elements=st.floats(-10.0, 10.0, **finite)))
    accumulator = draw(hnp.arrays(np.float64, shape, elements=st.floats(1e-3, 10.0, **finite)))
    return {
        "weights": weights,
        "grads": grads,
        "accumulator": accumulator,
        "learning_rate": draw(st.floats(1e-3, 10.0)),
        "variable_relative_threshold": draw(st.floats(0.0, 1.0)),
        "accumulator_relative_threshold": 0.0 if zero_weights else draw(st.sampled_from([0.0, 1e-3, 0.05])),
        "absolute_threshold": draw(st.floats(1e-4, 0.1)),
        "standard": draw(st.booleans()),
    }


def clippy_step(case):
    """One ClippyAdagrad step from the given accumulator; returns (Δw, σ, G used for r)."""
    optimizer = ClippyAdagrad(
        learning_rate=case["learning_rate"],
        variable_relative_threshold=case["variable_relative_threshold"],
        accumulator_relative_threshold=case["accumulator_relative_threshold"],
        absolute_threshold=case["absolute_threshold"],
        epsilon=EPSILON,
        use_standard_accumulator_update=case["standard"],
        export_clipping_factors=True,
    )
    variable = tf.Variable(case["weights"])
    optimizer.build([variable])
    optimizer._accumulators[0].assign(case["accumulator"])
    optimizer.apply_gradients([(tf.constant(case["grads"]), variable)])
    used = case["accumulator"] + case["grads"] ** 2 if case["standard"] else case["accumulator"]
    sigma = float(optimizer.clipping_factors[0].numpy())
    return variable.numpy() - case["weights"], sigma, used


def bound(case, accumulator):
    return (
        case["variable_relative_threshold"] * np.abs(case["weights"])
        + case["accumulator_relative_threshold"] / np.sqrt(accumulator + EPSILON)
        + case["absolute_threshold"]
    )


def learning_rate(case):
    return float(np.float32(case["learning_rate"]))  # Keras keeps η as a float32 variable


@PROPERTY_SETTINGS
@given(clippy_cases())
def test_every_coordinate_obeys_the_bound_and_sigma_is_in_unit_interval(case):
    delta, sigma, accumulator = clippy_step(case)
    assert 0.0 < sigma <= 1.0
    assert np.all(np.abs(delta) <= bound(case, accumulator) * (1 + RELATIVE_TOLERANCE) + 1e-12)


@PROPERTY_SETTINGS
@given(clippy_cases())
def test_update_direction_is_preserved(case):
    delta, sigma, accumulator = clippy_step(case)
    direction = case["grads"] / np.sqrt(accumulator + EPSILON)
    # One scalar σ for the whole variable: Δw = −η σ r exactly, so signs and ratios between coordinates are kept.
    np.testing.assert_allclose(delta, -learning_rate(case) * sigma * direction, rtol=1e-9, atol=1e-12)


@PROPERTY_SETTINGS
@given(clippy_cases(), st.floats(0.0, 0.5))
def test_sigma_is_one_far_inside_the_bound(case, fraction):
    # Scale the gradient so that η |r_j| ≤ fraction · bound_j (delayed order: r = g / √(G + ε) is known upfront).
    case = {**case, "standard": False}
    unit = np.tanh(case["grads"])
    margin = bound(case, case["accumulator"]) * np.sqrt(case["accumulator"] + EPSILON) / learning_rate(case)
    case["grads"] = fraction * unit * margin
    delta, sigma, _ = clippy_step(case)
    assert sigma == 1.0
    adagrad = -learning_rate(case) * case["grads"] / np.sqrt(case["accumulator"] + EPSILON)
    np.testing.assert_allclose(delta, adagrad, rtol=1e-9, atol=1e-15)


@PROPERTY_SETTINGS
@given(clippy_cases(zero_weights=True))
def test_zero_weights_move_at_most_the_absolute_threshold(case):
    delta, sigma, _ = clippy_step(case)
    assert 0.0 < sigma <= 1.0
    assert np.all(np.abs(delta) <= case["absolute_threshold"] * (1 + RELATIVE_TOLERANCE))


@PROPERTY_SETTINGS
@given(clippy_cases())
def test_sigma_matches_the_reference_shrink_by_references(case):
    _, sigma, accumulator = clippy_step(case)
    precondition = 1.0 / np.sqrt(accumulator + EPSILON)
    _, reference = shrink_by_references(
        tf.constant(learning_rate(case) * case["grads"] * precondition),
        [case["weights"], precondition],
        [case["variable_relative_threshold"], case["accumulator_relative_threshold"]],
        case["absolute_threshold"],
    )
    np.testing.assert_allclose(sigma, reference.numpy(), rtol=1e-9)


@PROPERTY_SETTINGS
@given(
    hnp.arrays(np.float64, shapes, elements=st.floats(-10.0, 10.0, **finite)),
    st.floats(1e-3, 1.0),
)
def test_gradient_clipping_caps_the_gradient_norm(grads, clip_norm):
    # GC with the clipped gradient accumulated ("clip, then Adagrad"): the accumulator grows by ‖σ g‖² ≤ λ².
    optimizer = make_optimizer(
        "gc", 0.1, clip_norm=clip_norm, clip_accumulator_update=True, export_clipping_factors=True
    )
    variable = tf.Variable(np.ones_like(grads))
    optimizer.apply_gradients([(tf.constant(grads), variable)])
    sigma = float(optimizer.clipping_factors[0].numpy())
    growth = optimizer._accumulators[0].numpy() - 0.1
    assert 0.0 < sigma <= 1.0
    assert np.sqrt(growth.sum()) <= clip_norm * (1 + 1e-6) + 1e-12
    if np.linalg.norm(grads) <= clip_norm:
        assert sigma == 1.0


@pytest.mark.parametrize("grads", [[1.0, -2.0], [0.0, 0.0]])
@pytest.mark.parametrize("relative", [2.2e-311, 1e-300, 0.0])
def test_extreme_threshold_ratios_stay_finite(grads, relative):
    # Found by hypothesis: a denormal λ_rel next to a normal λ_abs must not overflow the factored bound.
    case = {
        "weights": np.array([0.0, 1.0]),
        "grads": np.array(grads),
        "accumulator": np.array([1.0, 1.0]),
        "learning_rate": 1.0,
        "variable_relative_threshold": relative,
        "accumulator_relative_threshold": 0.0,
        "absolute_threshold": 0.0625,
        "standard": False,
    }
    delta, sigma, accumulator = clippy_step(case)
    expected = 1.0 if not any(grads) else 0.0625 / (2.0 / np.sqrt(1.0 + EPSILON))
    np.testing.assert_allclose(sigma, expected, rtol=1e-9)
    assert np.all(np.abs(delta) <= bound(case, accumulator) * (1 + RELATIVE_TOLERANCE))
