"""Each baseline of the paper's Section 4.3 (and Adam / Clippy-on-Adam, warm-up) against its formula, by hand."""

import numpy as np
import pytest
import tensorflow as tf

from models.optimizers import OPTIMIZER_NAMES, LinearWarmup, make_optimizer

LR, G0 = 0.5, 0.1
KERNEL = np.array([[0.5, -1.0], [0.0, 2.0]])
KERNEL_GRAD = np.array([[0.3, -0.2], [1.5, 0.1]])
BIAS = np.array([0.0, 0.0])
BIAS_GRAD = np.array([1.0, -1.0])


def adagrad_direction(grad, accumulated=None):
    """r = g / √(G0 + g²): the paper's standard-order Adagrad with ε = 0."""
    return grad / np.sqrt(G0 + grad**2 if accumulated is None else accumulated)


def one_step(name, **params):
    optimizer = make_optimizer(name, LR, epsilon=0.0, export_clipping_factors=True, **params)
    kernel, bias = tf.Variable(KERNEL), tf.Variable(BIAS)
    optimizer.apply_gradients([(tf.constant(KERNEL_GRAD), kernel), (tf.constant(BIAS_GRAD), bias)])
    factors = [float(factor.numpy()) for factor in optimizer.clipping_factors]
    return kernel.numpy(), bias.numpy(), factors


def expect(kernel_sigma, bias_sigma):
    return (
        KERNEL - LR * kernel_sigma * adagrad_direction(KERNEL_GRAD),
        BIAS - LR * bias_sigma * adagrad_direction(BIAS_GRAD),
    )


def check(name, kernel_sigma, bias_sigma, **params):
    kernel, bias, factors = one_step(name, **params)
    expected_kernel, expected_bias = expect(np.asarray(kernel_sigma), np.asarray(bias_sigma))
    np.testing.assert_allclose(kernel, expected_kernel, rtol=1e-7)
    np.testing.assert_allclose(bias, expected_bias, rtol=1e-7)
    np.testing.assert_allclose(factors, [np.min(kernel_sigma), np.min(bias_sigma)], rtol=1e-7)


def test_naive_adagrad_is_sigma_one():
    check("adagrad", 1.0, 1.0)


def test_naive_adagrad_matches_keras_adagrad():
    ours = make_optimizer("adagrad", LR)
    keras = tf.keras.optimizers.Adagrad(LR, initial_accumulator_value=G0)
    ours_variable, keras_variable = tf.Variable(KERNEL), tf.Variable(KERNEL)
    for scale in (1.0, -0.5, 2.0):
        ours.apply_gradients([(tf.constant(scale * KERNEL_GRAD), ours_variable)])
        keras.apply_gradients([(tf.constant(scale * KERNEL_GRAD), keras_variable)])
    np.testing.assert_allclose(ours_variable.numpy(), keras_variable.numpy(), rtol=1e-12)


def test_gradient_clipping_uses_the_layer_gradient_norm():
    # GC (Eq. 2): σ = min(1, λ / ‖g‖₂) per variable.
    clip_norm = 0.5
    check("gc", clip_norm / np.linalg.norm(KERNEL_GRAD), clip_norm / np.linalg.norm(BIAS_GRAD), clip_norm=clip_norm)


def test_gradient_clipping_can_accumulate_the_clipped_gradient():
    # "Clip the gradient, then Adagrad": G = G0 + (σ g)², step η σ g / √G.
    clip_norm = 0.5
    sigma = clip_norm / np.linalg.norm(KERNEL_GRAD)
    optimizer = make_optimizer("gc", LR, epsilon=0.0, clip_norm=clip_norm, clip_accumulator_update=True)
    kernel = tf.Variable(KERNEL)
    optimizer.apply_gradients([(tf.constant(KERNEL_GRAD), kernel)])
    clipped = sigma * KERNEL_GRAD
    np.testing.assert_allclose(optimizer._accumulators[0].numpy(), G0 + clipped**2, rtol=1e-12)
    np.testing.assert_allclose(kernel.numpy(), KERNEL - LR * clipped / np.sqrt(G0 + clipped**2), rtol=1e-7)


def test_adaptive_gradient_clipping_is_unit_wise_with_a_weight_norm_floor():
    # AGC (NFNets): per output unit (kernel column), max_norm = λ max(‖w_u‖, 1e-3); σ_u = max_norm / ‖g_u‖ if
    # ‖g_u‖ ≥ max_norm else 1. The zero bias is one unit whose norm is floored at 1e-3.
    clipping = 0.5
    max_norm = clipping * np.maximum(np.linalg.norm(KERNEL, axis=0), 1e-3)
    grad_norm = np.linalg.norm(KERNEL_GRAD, axis=0)
    kernel_sigma = np.where(grad_norm < max_norm, 1.0, max_norm / grad_norm)
    assert kernel_sigma[0] < 1.0 and kernel_sigma[1] == 1.0
    bias_sigma = clipping * 1e-3 / np.linalg.norm(BIAS_GRAD)
    check("agc", kernel_sigma[np.newaxis, :], bias_sigma, clipping=clipping)


def test_adaptive_gradient_clipping_layer_wise_is_equation_3():
    clipping = 0.5
    kernel_sigma = min(1.0, clipping * np.linalg.norm(KERNEL) / np.linalg.norm(KERNEL_GRAD))
    bias_sigma = clipping * 1e-3 / np.linalg.norm(BIAS_GRAD)
    check("agc", kernel_sigma, bias_sigma, clipping=clipping, unitwise=False)


def test_lamb_uses_the_trust_ratio_times_mu():
    # LAMB-Adagrad: σ = μ ‖w‖₂ / ‖r‖₂; a zero weight norm gives trust ratio 1.
    mu = 0.1
    kernel_sigma = mu * np.linalg.norm(KERNEL) / np.linalg.norm(adagrad_direction(KERNEL_GRAD))
    check("lamb", kernel_sigma, mu, mu=mu)


def test_clippy_uses_the_coordinate_wise_bound():
    bound = 0.5 * np.abs(KERNEL) + 1e-2
    kernel_sigma = min(1.0, np.min(bound / (LR * np.abs(adagrad_direction(KERNEL_GRAD)))))
    bias_sigma = min(1.0, np.min(1e-2 / (LR * np.abs(adagrad_direction(BIAS_GRAD)))))
    check("clippy", kernel_sigma, bias_sigma)


def adam_first_step(grad, epsilon=1e-7, beta_1=0.9, beta_2=0.999):
    m, v = (1 - beta_1) * grad, (1 - beta_2) * grad**2
    # As tf-keras's Adam, the bias correction sees β through tf.cast(python float), i.e. rounded to float32.
    correction = np.sqrt(1 - np.float32(beta_2).item()) / (1 - np.float32(beta_1).item())
    return correction * m / (np.sqrt(v) + epsilon)


def test_clippy_adam_bounds_adams_update():
    weights = np.array([0.1, -1.0, 0.0, 2.0])
    grads = np.array([0.3, -0.2, 1.5, 0.1])
    lr = 0.1
    direction = adam_first_step(grads)
    sigma = min(1.0, np.min((0.5 * np.abs(weights) + 1e-2) / (lr * np.abs(direction))))
    assert sigma < 0.11  # the zero weight binds: 0.01 / 0.1
    optimizer = make_optimizer("clippy_adam", lr, export_clipping_factors=True)
    variable = tf.Variable(weights)
    optimizer.apply_gradients([(tf.constant(grads), variable)])
    np.testing.assert_allclose(variable.numpy(), weights - np.float32(lr) * sigma * direction, rtol=1e-7)
    np.testing.assert_allclose(optimizer.clipping_factors[0].numpy(), sigma, rtol=1e-7)


def test_naive_adam_matches_keras_adam():
    rng = np.random.default_rng(0)
    ours, keras = make_optimizer("adam", 0.01), tf.keras.optimizers.Adam(0.01)
    ours_variable, keras_variable = tf.Variable(KERNEL), tf.Variable(KERNEL)
    for _ in range(5):
        grad = tf.constant(rng.normal(size=KERNEL.shape))
        ours.apply_gradients([(grad, ours_variable)])
        keras.apply_gradients([(grad, keras_variable)])
    np.testing.assert_allclose(ours_variable.numpy(), keras_variable.numpy(), rtol=1e-12)


def test_linear_warmup_values():
    schedule = LinearWarmup(0.1, warmup_steps=10)
    values = [float(schedule(step)) for step in (0, 4, 9, 50)]
    np.testing.assert_allclose(values, [0.01, 0.05, 0.1, 0.1], rtol=1e-6)
    np.testing.assert_allclose(float(LinearWarmup(0.1, 0)(0)), 0.1, rtol=1e-6)


def test_linear_warmup_wraps_another_schedule_and_round_trips():
    decay = tf.keras.optimizers.schedules.ExponentialDecay(1.0, decay_steps=10, decay_rate=0.5)
    schedule = LinearWarmup(decay, warmup_steps=4)
    np.testing.assert_allclose(float(schedule(1)), 0.5**0.1 * 0.5, rtol=1e-6)
    restored = tf.keras.optimizers.schedules.deserialize(tf.keras.optimizers.schedules.serialize(schedule))
    assert isinstance(restored, LinearWarmup)
    np.testing.assert_allclose([float(restored(s)) for s in range(8)], [float(schedule(s)) for s in range(8)])


@pytest.mark.parametrize("warmup_steps", [-1, 2.5, "10", True])
def test_linear_warmup_rejects_invalid_steps(warmup_steps):
    with pytest.raises(ValueError, match="warmup_steps"):
        LinearWarmup(0.1, warmup_steps)


def test_clippy_bound_uses_the_warmed_up_learning_rate():
    # Paper §4.2: η_t is in the denominator, so during warm-up the bound is looser. At step 0, η_0 = η / 10.
    eta_0 = 1.0 / 10
    bound = 0.5 * np.abs(KERNEL) + 1e-2
    direction = adagrad_direction(KERNEL_GRAD)
    sigma = min(1.0, np.min(bound / (eta_0 * np.abs(direction))))
    optimizer = make_optimizer("clippy", 1.0, warmup_steps=10, epsilon=0.0, export_clipping_factors=True)
    kernel = tf.Variable(KERNEL)
    optimizer.apply_gradients([(tf.constant(KERNEL_GRAD), kernel)])
    np.testing.assert_allclose(optimizer.clipping_factors[0].numpy(), sigma, rtol=1e-6)
    np.testing.assert_allclose(kernel.numpy(), KERNEL - eta_0 * sigma * direction, rtol=1e-6)


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_warmup_schedule_works_with_every_optimizer(name):
    optimizer = make_optimizer(name, LinearWarmup(0.1, warmup_steps=5))
    variable = tf.Variable(KERNEL)
    for step in range(3):
        optimizer.apply_gradients([(tf.constant(KERNEL_GRAD), variable)])
        np.testing.assert_allclose(float(optimizer.learning_rate), 0.1 * (step + 1) / 5, rtol=1e-6)
    assert not np.allclose(variable.numpy(), KERNEL)
