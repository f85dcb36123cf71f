"""One optimizer core for the whole family: w ← w − η_t σ_t r_t, with direction r_t and σ_t from a rule.

:class:`ScaledUpdateOptimizer` owns what every member shares (tf-keras Keras-2 optimizer plumbing, learning-rate
schedules, dense/sparse reads and writes, the per-variable factor σ_t from a :mod:`~models.optimizers.rules` rule,
TFRS-style exported clipping factors and the telemetry of :mod:`~models.optimizers.telemetry`). Subclasses only say
how the direction r_t is computed: :class:`ScaledAdagrad` here, ``ScaledAdam`` in :mod:`models.optimizers.clippy_adam`.
The final write is one fused ``w ← w − (η_t σ_t) r_t`` (``ResourceApplyGradientDescent``) for dense gradients and a
``scatter_update`` of the touched rows, computed here, for sparse ones.

Adagrad, paper Eq. 1 and 5 (Tang et al., KDD 2023, arXiv:2302.09178, Section 4):

    G_t = G_{t-1} + g_t²,   r_t = g_t (G_t + ε)^{-1/2},   w_{t+1} = w_t − η_t σ_t r_t,   G_0 = 0.1.

ε sits *inside* the square root, as in TFRS's ClippyAdagrad (``rsqrt(accum + epsilon)``) and tf-keras's Adagrad
(``sqrt(accum + epsilon)``); ε = 0 is the paper's formula. Two accumulator orders are offered, with TFRS's keyword:

* ``use_standard_accumulator_update=True`` (default, the paper's Algorithm 1): G_t includes g_t² before r_t.
* ``False`` (TFRS's default): r_t uses G_{t-1} and the accumulator is updated after the step, optionally with the
  clipped gradient (σ_t g_t)² when ``clip_accumulator_update=True``. In the standard order the clipped gradient can
  only be accumulated for rules whose σ does not depend on the update (naive, GC, AGC: "clip the gradient, then run
  Adagrad"), which is how the paper's ambiguity about GC/AGC (paper.md §4, [NOT FOUND]) can be settled either way;
  the default accumulates the raw gradient, which is the paper's Eq. 5.

Sparse gradients (``tf.IndexedSlices``, de-duplicated by the Keras base class) read, compute on and write only the
touched rows (``tf.gather`` / ``scatter_update``), so a step costs O(touched rows), not O(table).
"""

from __future__ import annotations

import numbers
from typing import Any, TypeAlias

import tensorflow as tf

from models.optimizers.rules import (
    ScalingRule,
    UpdateContext,
    check_bool,
    check_number,
    rule_from_config,
    rule_to_config,
)
from models.optimizers.telemetry import STAT_FIELDS, telemetry_statistics

LearningRate: TypeAlias = float | tf.keras.optimizers.schedules.LearningRateSchedule
PACKAGE = "StableRanker"


def check_learning_rate(learning_rate: Any) -> LearningRate:
    """Accepts a positive number or a Keras ``LearningRateSchedule``; raises ValueError otherwise."""
    if isinstance(learning_rate, tf.keras.optimizers.schedules.LearningRateSchedule):
        return learning_rate
    if isinstance(learning_rate, numbers.Real) and not isinstance(learning_rate, bool):
        return check_number("learning_rate", float(learning_rate), strict=True)
    raise ValueError(
        f"learning_rate must be a positive number or a tf.keras LearningRateSchedule, got {learning_rate!r}."
    )


class Rows:
    """Reads and writes a whole variable (dense gradient) or only the rows a sparse gradient touches.

    Sparse writes are `scatter_update`s of rows computed here (gather, add, write back), never TensorFlow's
    `scatter_add` / `scatter_sub`: on CPU those two kernels cost more the more rows the table has (+24 % for the same
    8k rows of a 10⁶-row table as of a 10⁴-row one), `scatter_update` and `gather` do not. The result is the same
    float arithmetic (one addition per element; the indices are unique, de-duplicated by the Keras base class).
    """

    def __init__(self, indices: tf.Tensor | None = None) -> None:
        self.indices = indices

    def read(self, variable: tf.Variable) -> tf.Tensor:
        if self.indices is None:
            return tf.convert_to_tensor(variable)
        return tf.gather(variable, self.indices)

    def add(self, variable: tf.Variable, values: tf.Tensor) -> tf.Tensor:
        """variable += values on the rows; returns the rows' new values."""
        if self.indices is None:
            variable.assign_add(values)
            return tf.convert_to_tensor(variable)
        updated = tf.gather(variable, self.indices) + values
        variable.scatter_update(tf.IndexedSlices(updated, self.indices))
        return updated

    def descend(self, variable: tf.Variable, direction: tf.Tensor, alpha: tf.Tensor) -> None:
        """w ← w − α r, with α a scalar or a tensor broadcastable to r (AGC's per-unit factors)."""
        if self.indices is not None:
            updated = tf.gather(variable, self.indices) - direction * alpha
            variable.scatter_update(tf.IndexedSlices(updated, self.indices))
        elif alpha.shape.rank == 0 and hasattr(variable, "handle"):
            # One fused pass instead of a multiplication followed by assign_sub.
            tf.raw_ops.ResourceApplyGradientDescent(var=variable.handle, alpha=alpha, delta=direction)
        else:
            variable.assign_sub(direction * alpha)

    def assign(self, variable: tf.Variable, values: tf.Tensor) -> None:
        if self.indices is None:
            variable.assign(values)
        else:
            variable.scatter_update(tf.IndexedSlices(values, self.indices))


class ScaledUpdateOptimizer(tf.keras.optimizers.Optimizer):
    """Base of the family: applies w ← w − η_t σ_t r_t per variable, σ_t from ``rule``.

    Subclasses implement ``_build_slots(var_list)`` and ``_update(grad, rows, variable, index)``; the latter computes
    r_t into an :class:`UpdateContext` and calls :meth:`_apply_scaled_update`.

    Attributes:
      rule: the :class:`~models.optimizers.rules.ScalingRule` choosing σ_t.
      clipping_factors: with ``export_clipping_factors=True``, one scalar variable per model variable holding the
        last σ_t (the minimum over units for AGC), as TFRS's ``ClippyAdagrad.clipping_factors``; otherwise ``[]``.

    Telemetry: after :meth:`enable_telemetry` (done by :class:`~models.optimizers.telemetry.OptimizerTelemetry`), on
    steps t with t mod N = 0 the optimizer stores, per variable, σ_t, ‖g_t‖₂, ‖g_t‖₂/‖w_t‖₂ and ‖r_t/w_t‖_∞ into
    non-trainable variables that :meth:`telemetry_snapshot` reads. Other steps pay one scalar ``tf.cond``.
    """

    def __init__(
        self,
        rule: ScalingRule | str | dict[str, Any],
        learning_rate: LearningRate,
        export_clipping_factors: bool = False,
        name: str = "ScaledUpdateOptimizer",
        **kwargs: Any,
    ) -> None:
        # tf-keras's base class defaults weight_decay to 0, which still runs a dense w ← w − 0·η·w pass over every
        # variable each step (O(table) for embeddings). None skips it, as tf-keras's own Adagrad/Adam do.
        kwargs.setdefault("weight_decay", None)
        super().__init__(name=name, **kwargs)
        self._learning_rate = self._build_learning_rate(check_learning_rate(learning_rate))
        self.rule = rule_from_config(rule)
        self.export_clipping_factors = check_bool("export_clipping_factors", export_clipping_factors)
        self.clipping_factors: list[tf.Variable] = []
        with tf.init_scope():
            self._telemetry_period = tf.Variable(0, dtype=tf.int64, trainable=False, name="telemetry_period")

    # ------------------------------------------------------------------ building
    def build(self, var_list: list[tf.Variable]) -> None:
        super().build(var_list)
        if getattr(self, "_built", False):
            return
        self._built = True
        self._build_slots(var_list)
        if self.export_clipping_factors:
            self.clipping_factors = [
                self.add_variable_from_reference(var, "clipping_factor", shape=()) for var in var_list
            ]
        self._telemetry_names = self._no_dependency([var.name.split(":")[0] for var in var_list])
        self._telemetry_stats = tf.Variable(
            tf.zeros([len(var_list), len(STAT_FIELDS)], tf.float32), trainable=False, name="telemetry_stats"
        )
        self._telemetry_step = tf.Variable(-1, dtype=tf.int64, trainable=False, name="telemetry_step")

    def _build_slots(self, var_list: list[tf.Variable]) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ one step
    @tf.autograph.experimental.do_not_convert  # plain Python control flow only: skip AutoGraph's rewriting
    def update_step(self, gradient: tf.Tensor | tf.IndexedSlices, variable: tf.Variable) -> None:
        index = self._index_dict[self._var_key(variable)]
        if isinstance(gradient, tf.IndexedSlices):
            self._update(gradient.values, Rows(gradient.indices), variable, index)
        else:
            self._update(gradient, Rows(), variable, index)

    def _update(self, grad: tf.Tensor, rows: Rows, variable: tf.Variable, index: int) -> None:
        raise NotImplementedError

    def _apply_scaled_update(
        self, ctx: UpdateContext, sigma: tf.Tensor | None, rows: Rows, variable: tf.Variable, index: int
    ) -> None:
        """Exports σ and telemetry (which read w_t), then writes w_{t+1} = w_t − η_t σ_t r_t."""
        if self.export_clipping_factors:
            factor = tf.ones([], variable.dtype) if sigma is None else tf.reduce_min(sigma)
            self.clipping_factors[index].assign(tf.cast(factor, self.clipping_factors[index].dtype))
        self._maybe_record_telemetry(ctx, sigma, index)
        alpha = ctx.learning_rate if sigma is None else ctx.learning_rate * sigma
        rows.descend(variable, ctx.direction, alpha)

    # ------------------------------------------------------------------ telemetry
    def enable_telemetry(self, every_n_steps: int) -> None:
        """Records statistics on steps t ≡ 0 (mod every_n_steps); 0 turns telemetry off. No retracing needed."""
        if isinstance(every_n_steps, bool) or not isinstance(every_n_steps, int) or every_n_steps < 0:
            raise ValueError(f"every_n_steps must be a non-negative integer, got {every_n_steps!r}.")
        self._telemetry_period.assign(every_n_steps)

    def apply_gradients(self, grads_and_vars: Any, *args: Any, **kwargs: Any) -> tf.Variable:
        self._telemetry_due = self._no_dependency(None)  # computed once per call on first use: _telemetry_due_now
        return super().apply_gradients(grads_and_vars, *args, **kwargs)

    def _telemetry_due_now(self) -> tuple[tf.Tensor, tf.Tensor]:
        """(step, due) for this apply_gradients call: t and (N > 0 and t mod N = 0), shared by all variables.

        Cached per call and graph, so the scalar arithmetic runs once per step instead of once per variable (a
        per-variable XLA function, as tf-keras uses on GPUs, is its own graph and computes its own).
        """
        graph = tf.compat.v1.get_default_graph() if not tf.executing_eagerly() else None
        cached = getattr(self, "_telemetry_due", None)
        if cached is not None and cached[0] is graph and graph is not None:
            return cached[1], cached[2]
        period = self._telemetry_period
        step = tf.identity(self.iterations)
        due = tf.logical_and(period > 0, tf.equal(step % tf.maximum(period, 1), 0))
        self._telemetry_due = self._no_dependency((graph, step, due))
        return step, due

    def _maybe_record_telemetry(self, ctx: UpdateContext, sigma: tf.Tensor | None, index: int) -> None:
        step, due = self._telemetry_due_now()

        def record() -> None:
            stats = telemetry_statistics(ctx, sigma)
            # scatter_update (not scatter_nd_update): MirroredVariable implements only the former (tf.distribute).
            self._telemetry_stats.scatter_update(tf.IndexedSlices(stats[tf.newaxis], tf.constant([index])))
            self._telemetry_step.assign(step)

        tf.cond(due, record, lambda: None)

    def telemetry_step(self) -> int:
        """The step of the latest stored sample, -1 if none (one scalar read)."""
        return int(self._telemetry_step.numpy()) if getattr(self, "_built", False) else -1

    def telemetry_snapshot(self) -> tuple[int, list[dict[str, Any]]]:
        """Returns ``(step, records)`` of the latest recorded step (``(-1, [])`` if none), one record per variable."""
        step = self.telemetry_step()
        if step < 0:
            return step, []
        stats = self._telemetry_stats.numpy()
        records = [
            {"step": step, "variable": name, **{field: float(value) for field, value in zip(STAT_FIELDS, row)}}
            for name, row in zip(self._telemetry_names, stats)
        ]
        return step, records

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "learning_rate": self._serialize_hyperparameter(self._learning_rate),
                "export_clipping_factors": self.export_clipping_factors,
            }
        )
        return config


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class ScaledAdagrad(ScaledUpdateOptimizer):
    """Adagrad times a per-variable factor σ_t: naive, GC, AGC, LAMB or Clippy depending on ``rule``.

    One step for a variable w with gradient g (paper Eq. 5; Algorithm 1 when ``rule`` is Clippy):

        standard order:  G ← G + (c g)²;  P = (G + ε)^{-1/2};  r = g P;  σ = rule(g, w, r, η_t, P);  w ← w − η_t σ r
        delayed order:   P = (G + ε)^{-1/2};  r = g P;  σ = rule(...);  w ← w − η_t σ r;  G ← G + (c g)²

    with c = σ if ``clip_accumulator_update`` else 1.

    Args:
      learning_rate: η, a float or a ``tf.keras.optimizers.schedules.LearningRateSchedule`` (η_t).
      rule: a rule instance, a name from ``rules.RULES`` or a ``{"name": ..., **params}`` dict.
      initial_accumulator_value: G_0 ≥ 0 (the paper: "usually 0.1").
      epsilon: ε ≥ 0 inside the square root.
      use_standard_accumulator_update: True = the paper's order (default), False = TFRS's delayed order.
      clip_accumulator_update: accumulate (σ g)² instead of g². Needs the delayed order unless σ does not depend on
        the update (naive, GC, AGC).
      export_clipping_factors: keep σ_t per variable in ``clipping_factors`` (TFRS's option).
      name, **kwargs: passed to ``tf.keras.optimizers.Optimizer`` (e.g. ``jit_compile``, ``clipnorm``).
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        rule: ScalingRule | str | dict[str, Any] = "naive",
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        use_standard_accumulator_update: bool = True,
        clip_accumulator_update: bool = False,
        export_clipping_factors: bool = False,
        name: str = "ScaledAdagrad",
        **kwargs: Any,
    ) -> None:
        super().__init__(rule, learning_rate, export_clipping_factors, name=name, **kwargs)
        self.initial_accumulator_value = check_number("initial_accumulator_value", initial_accumulator_value)
        self.epsilon = check_number("epsilon", epsilon)
        self.use_standard_accumulator_update = check_bool(
            "use_standard_accumulator_update", use_standard_accumulator_update
        )
        self.clip_accumulator_update = check_bool("clip_accumulator_update", clip_accumulator_update)
        if clip_accumulator_update and use_standard_accumulator_update and self.rule.uses_update:
            raise ValueError(
                "clip_accumulator_update=True needs use_standard_accumulator_update=False for rule "
                f"{self.rule.name!r}: its σ depends on the update, which depends on the accumulator."
            )
        if self.initial_accumulator_value == 0 and self.epsilon == 0 and not use_standard_accumulator_update:
            raise ValueError("initial_accumulator_value=0 with epsilon=0 divides by zero in the delayed order.")

    def _build_slots(self, var_list: list[tf.Variable]) -> None:
        initializer = tf.keras.initializers.Constant(self.initial_accumulator_value)
        self._accumulators = [
            self.add_variable_from_reference(
                var, "accumulator", initial_value=initializer(shape=var.shape, dtype=var.dtype)
            )
            for var in var_list
        ]

    def _update(self, grad: tf.Tensor, rows: Rows, variable: tf.Variable, index: int) -> None:
        accumulator = self._accumulators[index]
        lr = tf.cast(self.learning_rate, variable.dtype)
        ctx = UpdateContext(
            grad=grad,
            direction=None,
            learning_rate=lr,
            read_weights=lambda: rows.read(variable),
            variable_name=self._telemetry_names[index],
        )
        sigma = None
        clip_first = self.clip_accumulator_update and self.use_standard_accumulator_update
        if clip_first:  # σ from g and w only (validated in __init__): "clip the gradient, then Adagrad".
            sigma = self.rule.scale(ctx)
        if self.use_standard_accumulator_update:
            accumulated = rows.add(accumulator, tf.square(grad if sigma is None else grad * sigma))
        else:
            accumulated = rows.read(accumulator)
        ctx.precondition = tf.math.rsqrt((accumulated + self.epsilon) if self.epsilon else accumulated)
        if self.initial_accumulator_value or self.epsilon:
            ctx.direction = grad * ctx.precondition
        else:  # G may be 0 where g is 0 (G_0 = ε = 0): no gradient means no move, not 0 · ∞ = NaN.
            ctx.direction = tf.math.multiply_no_nan(ctx.precondition, grad)
        if not clip_first:
            sigma = self.rule.scale(ctx)
        if not self.use_standard_accumulator_update:
            clipped = self.clip_accumulator_update and sigma is not None
            rows.add(accumulator, tf.square(grad * sigma if clipped else grad))
        self._apply_scaled_update(ctx, sigma, rows, variable, index)

    def _adagrad_config(self) -> dict[str, Any]:
        return {
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
            "use_standard_accumulator_update": self.use_standard_accumulator_update,
            "clip_accumulator_update": self.clip_accumulator_update,
        }

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(self._adagrad_config())
        config["rule"] = rule_to_config(self.rule)
        return config
