"""ClippyAdagrad: Adagrad with Clippy's adaptive update clipping (paper Algorithm 1), TFRS-compatible keywords.

Tang et al., "Improving Training Stability for Multitask Ranking Models in Recommender Systems", KDD 2023
(arXiv:2302.09178), Algorithm 1 "Adagrad with Clippy":

    G_t = G_{t-1} + g_t²
    r_t = g_t · G_t^{-1/2}
    σ_t = min{1, min_j (λ_rel |w_{t,j}| + λ_abs) / (η_t |r_{t,j}|)}
    w_{t+1} = w_t − η_t σ_t r_t

Differences from ``tfrs.experimental.optimizers.ClippyAdagrad`` (paper.md §8), all deliberate:

* defaults are the paper's: λ_rel = 0.5, λ_abs = 1e-2 and the standard accumulator order
  (``use_standard_accumulator_update=True``); TFRS defaults to 0.1, 1e-7 and the delayed order.
* ``get_config`` keeps ``use_standard_accumulator_update`` (TFRS drops it, so a reloaded TFRS optimizer silently
  switches order).
* fewer full-size passes per step: no ``where``/``divide_no_nan`` when λ_abs > 0, no λ_acc term when it is 0,
  thresholds factored so λ_rel |w| needs no multiplication, η applied to scalars, one fused final update; the
  numbers agree with TFRS to float rounding (tests: 1e-6 over 50 steps, both orders).
* no zero weight-decay pass: TFRS inherits tf-keras's ``weight_decay=0`` default, which runs w ← w − 0·η·w over
  every variable each step (O(table) for an embedding); here ``weight_decay=None``.
* telemetry (σ and the paper's three measurements) for :class:`~models.optimizers.telemetry.OptimizerTelemetry`.
* ε placement is TFRS's: (G + ε)^{-1/2}; ε = 0 gives the paper's formula exactly.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from models.optimizers.core import PACKAGE, LearningRate, ScaledAdagrad
from models.optimizers.rules import ClippyRule


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class ClippyAdagrad(ScaledAdagrad):
    """Adagrad with Clippy (paper Algorithm 1); drop-in for TFRS's ``ClippyAdagrad``.

    Each coordinate of each variable moves by at most λ_rel |w_j| + λ_acc (G_j + ε)^{-1/2} + λ_abs per step; the
    whole variable's step is scaled by one σ_t ∈ (0, 1] (direction preserved).

    Args:
      learning_rate: η, a float or a ``LearningRateSchedule`` (η_t enters the bound, paper §4.2).
      initial_accumulator_value: G_0 (paper: 0.1).
      variable_relative_threshold: λ_rel (paper: 0.5).
      accumulator_relative_threshold: λ_acc, TFRS's extra term (0 = the paper's form).
      absolute_threshold: λ_abs (paper: 1e-2); > 0 guarantees σ_t > 0.
      epsilon: ε inside the square root, as TFRS.
      use_standard_accumulator_update: True (default) = the paper's order, False = TFRS's delayed update.
      clip_accumulator_update: accumulate (σ_t g_t)² instead of g_t² (delayed order only, as in TFRS).
      export_clipping_factors: keep σ_t per variable in ``clipping_factors`` (as TFRS).
      name, **kwargs: passed to ``tf.keras.optimizers.Optimizer``.

    Raises:
      ValueError: for negative thresholds, a non-positive learning rate, or ``clip_accumulator_update`` together
        with the standard order.
    """

    rule: ClippyRule

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        initial_accumulator_value: float = 0.1,
        variable_relative_threshold: float = 0.5,
        accumulator_relative_threshold: float = 0.0,
        absolute_threshold: float = 1e-2,
        epsilon: float = 1e-7,
        use_standard_accumulator_update: bool = True,
        clip_accumulator_update: bool = False,
        export_clipping_factors: bool = False,
        name: str = "ClippyAdagrad",
        **kwargs: Any,
    ) -> None:
        rule = ClippyRule(
            variable_relative_threshold=variable_relative_threshold,
            accumulator_relative_threshold=accumulator_relative_threshold,
            absolute_threshold=absolute_threshold,
        )
        super().__init__(
            learning_rate=learning_rate,
            rule=rule,
            initial_accumulator_value=initial_accumulator_value,
            epsilon=epsilon,
            use_standard_accumulator_update=use_standard_accumulator_update,
            clip_accumulator_update=clip_accumulator_update,
            export_clipping_factors=export_clipping_factors,
            name=name,
            **kwargs,
        )

    @property
    def variable_relative_threshold(self) -> float:
        return self.rule.variable_relative_threshold

    @property
    def accumulator_relative_threshold(self) -> float:
        return self.rule.accumulator_relative_threshold

    @property
    def absolute_threshold(self) -> float:
        return self.rule.absolute_threshold

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["rule"]
        config.update(self.rule.get_config())
        return config
