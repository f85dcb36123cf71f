"""Adam through the same core, and Clippy on Adam (beyond the paper's experiments; paper Section 4.3.3).

The paper: "we also empirically observed that applying Clippy on Adam gives clear training-stability benefits
without hurting convergence" (Tang et al., KDD 2023, arXiv:2302.09178, §4.3.3), using the optimizer-dependent
update r_t in place of Adagrad's. No public library ships it. Here Adam's update is (tf-keras's formulation, so the
naive rule reproduces ``tf.keras.optimizers.Adam``):

    m_t = β₁ m_{t-1} + (1 − β₁) g_t,     v_t = β₂ v_{t-1} + (1 − β₂) g_t²
    r_t = c_t m_t / (√v_t + ε),  c_t = √(1 − β₂^t) / (1 − β₁^t)

and Clippy's bound is applied to it unchanged:

    σ_t = min{1, min_j (λ_rel |w_{t,j}| + λ_abs) / (η_t |r_{t,j}|)},    w_{t+1} = w_t − η_t σ_t r_t.

Adam has no Adagrad accumulator, so Clippy's λ_acc term is not available. Because |m̂/√v̂| is O(1), the bound binds
only when η_t ≳ λ_rel |w| + λ_abs, i.e. at large learning rates; at Adam's usual 1e-3 Clippy is mostly inactive.

Sparse gradients are applied lazily ("LazyAdam"): only the touched rows of m, v and w change, so the cost does not
grow with the table. tf-keras's Adam instead decays m and v of every row each step (O(table)); dense gradients give
identical results to it.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from models.optimizers.core import PACKAGE, LearningRate, Rows, ScaledUpdateOptimizer
from models.optimizers.rules import ClippyRule, ScalingRule, UpdateContext, check_number, rule_to_config


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class ScaledAdam(ScaledUpdateOptimizer):
    """Adam times a per-variable factor σ_t from ``rule`` (naive: plain Adam; clippy: :class:`ClippyAdam`).

    Args:
      learning_rate: η, a float or a ``LearningRateSchedule``.
      rule: a rule instance, name or config dict (rules needing an Adagrad accumulator are refused).
      beta_1, beta_2: moment decay rates in [0, 1).
      epsilon: ε ≥ 0 added to √v_t.
      export_clipping_factors: keep σ_t per variable in ``clipping_factors``.
      name, **kwargs: passed to ``tf.keras.optimizers.Optimizer``.
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        rule: ScalingRule | str | dict[str, Any] = "naive",
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        export_clipping_factors: bool = False,
        name: str = "ScaledAdam",
        **kwargs: Any,
    ) -> None:
        super().__init__(rule, learning_rate, export_clipping_factors, name=name, **kwargs)
        self.beta_1 = check_number("beta_1", beta_1)
        self.beta_2 = check_number("beta_2", beta_2)
        for key, beta in (("beta_1", self.beta_1), ("beta_2", self.beta_2)):
            if beta >= 1:
                raise ValueError(f"{key} must be < 1, got {beta!r}.")
        self.epsilon = check_number("epsilon", epsilon)
        if isinstance(self.rule, ClippyRule) and self.rule.accumulator_relative_threshold:
            raise ValueError("accumulator_relative_threshold is not available for Adam (no Adagrad accumulator).")

    def _build_slots(self, var_list: list[tf.Variable]) -> None:
        self._momentums = [self.add_variable_from_reference(var, "m") for var in var_list]
        self._velocities = [self.add_variable_from_reference(var, "v") for var in var_list]

    def _update(self, grad: tf.Tensor, rows: Rows, variable: tf.Variable, index: int) -> None:
        dtype = variable.dtype
        lr = tf.cast(self.learning_rate, dtype)
        local_step = tf.cast(self.iterations + 1, dtype)
        beta_1_power = tf.pow(tf.cast(self.beta_1, dtype), local_step)
        beta_2_power = tf.pow(tf.cast(self.beta_2, dtype), local_step)
        correction = tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        m, v = self._momentums[index], self._velocities[index]
        if rows.indices is None:
            m.assign_add((grad - m) * (1 - self.beta_1))
            v.assign_add((tf.square(grad) - v) * (1 - self.beta_2))
            m_t, v_t = tf.convert_to_tensor(m), tf.convert_to_tensor(v)
        else:
            m_rows, v_rows = rows.read(m), rows.read(v)
            m_t = m_rows + (grad - m_rows) * (1 - self.beta_1)
            v_t = v_rows + (tf.square(grad) - v_rows) * (1 - self.beta_2)
            rows.assign(m, m_t)
            rows.assign(v, v_t)
        ctx = UpdateContext(
            grad=grad,
            direction=(m_t * correction) / (tf.sqrt(v_t) + self.epsilon),
            learning_rate=lr,
            read_weights=lambda: rows.read(variable),
            variable_name=self._telemetry_names[index],
        )
        self._apply_scaled_update(ctx, self.rule.scale(ctx), rows, variable, index)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "rule": rule_to_config(self.rule),
            }
        )
        return config


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class ClippyAdam(ScaledAdam):
    """Adam's update direction with Clippy's bound (see the module docstring for the maths).

    Args:
      learning_rate, beta_1, beta_2, epsilon: as ``tf.keras.optimizers.Adam``.
      variable_relative_threshold: λ_rel (paper: 0.5).
      absolute_threshold: λ_abs (paper: 1e-2).
      export_clipping_factors: keep σ_t per variable in ``clipping_factors``.
    """

    rule: ClippyRule

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        variable_relative_threshold: float = 0.5,
        absolute_threshold: float = 1e-2,
        export_clipping_factors: bool = False,
        name: str = "ClippyAdam",
        **kwargs: Any,
    ) -> None:
        rule = ClippyRule(
            variable_relative_threshold=variable_relative_threshold, absolute_threshold=absolute_threshold
        )
        super().__init__(learning_rate, rule, beta_1, beta_2, epsilon, export_clipping_factors, name=name, **kwargs)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["rule"]
        config["variable_relative_threshold"] = self.rule.variable_relative_threshold
        config["absolute_threshold"] = self.rule.absolute_threshold
        return config
