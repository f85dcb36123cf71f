"""Linear learning-rate warm-up, usable with every optimizer of the family.

Warm-up is one of the ad-hoc fixes the paper's production team tried (Tang et al., KDD 2023, §3.2: a slower
learning rate to get past the steep initial curvature). Clippy divides by η_t (Algorithm 1, line 8), so under
warm-up its bound is loose early on (§4.2, design point 2), which this schedule makes easy to reproduce:

    η_t = η_base(t) · min(1, (t + 1) / T_warmup),

with t the 0-based optimizer step and η_base a constant or any other schedule (warm-up then decay). The first step
uses η/T (not 0) and step T − 1 reaches the full rate; T_warmup = 0 disables warm-up.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from models.optimizers.core import PACKAGE, LearningRate, check_learning_rate

Schedule = tf.keras.optimizers.schedules.LearningRateSchedule


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class LinearWarmup(tf.keras.optimizers.schedules.LearningRateSchedule):
    """η_t = η_base(t) · min(1, (t + 1) / warmup_steps).

    Args:
      learning_rate: the base rate, a positive float or a ``LearningRateSchedule`` followed after warm-up.
      warmup_steps: T_warmup ≥ 0.
      name: optional name scope.
    """

    def __init__(self, learning_rate: LearningRate, warmup_steps: int, name: str | None = None) -> None:
        super().__init__()
        if isinstance(learning_rate, dict):  # from_config of a nested schedule
            learning_rate = tf.keras.optimizers.schedules.deserialize(learning_rate)
        self.learning_rate = check_learning_rate(learning_rate)
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(f"warmup_steps must be a non-negative integer, got {warmup_steps!r}.")
        self.warmup_steps = warmup_steps
        self.name = name

    def __call__(self, step: tf.Tensor | int) -> tf.Tensor:
        with tf.name_scope(self.name or "LinearWarmup"):
            step = tf.cast(step, tf.float32)
            if isinstance(self.learning_rate, Schedule):
                base = tf.cast(self.learning_rate(step), tf.float32)
            else:
                base = tf.constant(self.learning_rate, tf.float32)
            if self.warmup_steps == 0:
                return base
            return base * tf.minimum(1.0, (step + 1.0) / float(self.warmup_steps))

    def get_config(self) -> dict[str, Any]:
        learning_rate: Any = self.learning_rate
        if isinstance(learning_rate, Schedule):
            learning_rate = tf.keras.optimizers.schedules.serialize(learning_rate)
        return {"learning_rate": learning_rate, "warmup_steps": self.warmup_steps, "name": self.name}
