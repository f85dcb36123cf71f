"""``make_optimizer``: every optimizer of the paper's comparison (and two beyond it) by name, validated.

=============  ==========================================  =========================================================
name           optimizer                                   extra parameters (besides the common ones)
=============  ==========================================  =========================================================
adagrad        ScaledAdagrad, naive rule (σ = 1)           —
gc             ScaledAdagrad, GradientClipRule             clip_norm (λ, paper grid 1e-1 / 1e-2 / 1e-3)
agc            ScaledAdagrad, AdaptiveGradientClipRule     clipping (λ, grid 1e-2 / 1e-3 / 1e-4), eps, unitwise
lamb           ScaledAdagrad, LambRule                     mu (μ, grid 1e-1 / 1e-2 / 1e-3)
clippy         ClippyAdagrad                               variable_relative_threshold, accumulator_relative_threshold,
                                                           absolute_threshold
clippy_adam    ClippyAdam                                  beta_1, beta_2, variable_relative_threshold,
                                                           absolute_threshold
adam           ScaledAdam, naive rule                      beta_1, beta_2
frozen_sigma   ScaledAdagrad, FrozenSigmaRule              sigmas ({variable-name pattern: σ}), default_sigma
=============  ==========================================  =========================================================

``frozen_sigma`` is a lab control (Adagrad at a constant per-variable rate), built here like the others but not in
config/vocabulary.py's table of the Trainer's optimizers: its ``sigmas`` is a mapping, not a scalar the config checks.

Common parameters: Adagrad family ``initial_accumulator_value``, ``epsilon``, ``use_standard_accumulator_update``,
``clip_accumulator_update``; Adam family ``epsilon``; all ``export_clipping_factors`` and ``warmup_steps`` (wraps the
learning rate in :class:`~models.optimizers.schedules.LinearWarmup`). Unknown names, unknown parameters and invalid
values raise ``ValueError`` naming the problem.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from config.vocabulary import OPTIMIZER_NAMES, OPTIMIZER_PARAMETERS
from models.optimizers.clippy_adagrad import ClippyAdagrad
from models.optimizers.clippy_adam import ClippyAdam, ScaledAdam
from models.optimizers.composite import split_optimizer
from models.optimizers.core import LearningRate, ScaledAdagrad, check_learning_rate
from models.optimizers.rules import AdaptiveGradientClipRule, FrozenSigmaRule, GradientClipRule, LambRule
from models.optimizers.schedules import LinearWarmup


def _pop(params: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: params.pop(key) for key in keys if key in params}


def _adagrad_with(rule_class: type, rule_keys: tuple[str, ...], display: str) -> Callable[..., Any]:
    def build(learning_rate: LearningRate, params: dict[str, Any]) -> tf.keras.optimizers.Optimizer:
        rule = rule_class(**_pop(params, rule_keys))
        return ScaledAdagrad(learning_rate, rule=rule, name=display, **params)

    return build


_BUILDERS: dict[str, Callable[..., Any]] = {
    "adagrad": lambda lr, params: ScaledAdagrad(lr, rule="naive", name="Adagrad", **params),
    "gc": _adagrad_with(GradientClipRule, ("clip_norm",), "GCAdagrad"),
    "agc": _adagrad_with(AdaptiveGradientClipRule, ("clipping", "eps", "unitwise"), "AGCAdagrad"),
    "lamb": _adagrad_with(LambRule, ("mu",), "LambAdagrad"),
    "clippy": lambda lr, params: ClippyAdagrad(lr, **params),
    "clippy_adam": lambda lr, params: ClippyAdam(lr, **params),
    "adam": lambda lr, params: ScaledAdam(lr, rule="naive", name="Adam", **params),
}
assert tuple(_BUILDERS) == OPTIMIZER_NAMES  # one builder per optimizer of config/vocabulary.py's table


def _frozen_sigma(learning_rate: LearningRate, params: dict[str, Any]) -> tf.keras.optimizers.Optimizer:
    rule = FrozenSigmaRule(params.pop("sigmas", {}), params.pop("default_sigma", 1.0))
    return ScaledAdagrad(learning_rate, rule=rule, name="FrozenSigmaAdagrad", **params)


#: Lab controls: built by ``make_optimizer`` through the same core, not offered to the Trainer's config.
LAB_BUILDERS: dict[str, Callable[..., Any]] = {"frozen_sigma": _frozen_sigma}
_ALL_BUILDERS: dict[str, Callable[..., Any]] = {**_BUILDERS, **LAB_BUILDERS}
LAB_PARAMETERS: dict[str, tuple[str, ...]] = {
    "frozen_sigma": ("sigmas", "default_sigma", *OPTIMIZER_PARAMETERS["adagrad"]),
}


def optimizer_parameters(name: str) -> tuple[str, ...]:
    """The keyword parameters ``make_optimizer(name, ...)`` accepts besides ``learning_rate``."""
    if name in LAB_PARAMETERS:
        return LAB_PARAMETERS[name]
    if name not in _BUILDERS:
        raise ValueError(f"Unknown optimizer {name!r}; known optimizers: {[*OPTIMIZER_NAMES, *LAB_BUILDERS]}.")
    return tuple(OPTIMIZER_PARAMETERS[name])


def make_optimizer(name: str, learning_rate: LearningRate, **params: Any) -> tf.keras.optimizers.Optimizer:
    """Builds the optimizer ``name`` (one of :data:`OPTIMIZER_NAMES` or :data:`LAB_BUILDERS`) with ``learning_rate``
    and ``params``.

    ``learning_rate`` is a positive float or a Keras ``LearningRateSchedule``; ``warmup_steps=T`` wraps it in
    ``LinearWarmup(learning_rate, T)``.

    Raises:
      ValueError: unknown name, unknown parameter, or an invalid value (negative thresholds, non-positive learning
        rate or clip norm, betas outside [0, 1), incompatible accumulator options, ...).
    """
    allowed = optimizer_parameters(name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown parameter(s) {unknown} for optimizer {name!r}; allowed: {sorted(allowed)}.")
    params = dict(params)
    learning_rate = check_learning_rate(learning_rate)
    if "warmup_steps" in params:
        learning_rate = LinearWarmup(learning_rate, params.pop("warmup_steps"))
    try:
        return _ALL_BUILDERS[name](learning_rate, params)
    except TypeError as error:  # e.g. a string where a number belongs, caught inside Keras
        raise ValueError(f"Invalid parameters for optimizer {name!r}: {error}") from error


def make_paper_optimizer(
    name: str,
    learning_rate: LearningRate,
    embedding_learning_rate: float,
    **params: Any,
) -> tf.keras.optimizers.Optimizer:
    """The paper's split (§5.1): ``make_optimizer(name, learning_rate, **params)`` on the non-embedding variables,
    plain Adagrad at ``embedding_learning_rate`` on the embedding tables. Used by the Trainer and the lab alike."""
    dense = make_optimizer(name, learning_rate, **params)
    embedding = make_optimizer("adagrad", embedding_learning_rate)
    return split_optimizer(dense, embedding)
