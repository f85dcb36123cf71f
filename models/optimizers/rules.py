"""Per-variable scaling rules: every method of the paper is Adagrad times a factor σ_t.

Tang et al., "Improving Training Stability for Multitask Ranking Models in Recommender Systems" (KDD 2023,
arXiv:2302.09178), Section 4.3.1, Eq. 5: if the Adagrad accumulator is fed the *raw* gradient, every method the paper
compares is

    G_t = G_{t-1} + g_t²,   r_t = g_t ⊙ G_t^{-1/2},   w_{t+1} = w_t − η_t σ_t r_t,

and they differ only in how the per-layer factor σ_t is chosen. A rule here maps what the optimizer knows about one
variable at one step (an :class:`UpdateContext`) to σ_t:

=============  =====================================================================================================
rule           σ_t
=============  =====================================================================================================
naive          1 (plain Adagrad)
gc             min(1, λ / ‖g_t‖₂)                                         (Pascanu et al. 2013; paper Eq. 2)
agc            min(1, λ · max(‖w_t‖₂, ε) / ‖g_t‖₂), per output unit      (Brock et al. 2021; paper Eq. 3)
lamb           μ · ‖w_t‖₂ / ‖r_t‖₂, 1 when either norm is 0             (You et al. 2020 with φ(x) = x)
clippy         min(1, min_j (λ_rel|w_j| + λ_acc G_j^{-1/2} + λ_abs) / (η_t |r_j|))   (paper Algorithm 1, line 8)
frozen         σ_v, a constant per variable v for the whole run, 1 unless given        (a control, not the paper's)
=============  =====================================================================================================

The optimizer hands every rule the update direction r_t and η_t, so the rules work for any direction (Adagrad's
or Adam's, see :mod:`models.optimizers.clippy_adam`); the step actually taken is η_t σ_t r_t. "Per layer" is per
*variable* (a Dense layer's kernel and bias each get their own σ), as in TFRS's and keras-rs's ClippyAdagrad.

Sparse gradients (``tf.IndexedSlices``) are handled on the touched rows only: ``ctx.grad`` is the de-duplicated
gradient rows and ``ctx.weights`` the same rows of the variable (gathered, as TFRS's ClippyAdagrad does). For naive,
GC and Clippy this gives *exactly* the dense result, because untouched rows have g = 0 and hence r = 0: they add
nothing to ‖g‖₂ and impose no Clippy constraint. AGC and LAMB also look at ‖w‖₂, which for a sparse gradient is taken
over the touched rows only (the only choice whose cost does not grow with the table); the paper applies every
method to non-embedding (dense-gradient) variables only, so this is a documented convention, not the paper's.
"""

from __future__ import annotations

import abc
import dataclasses
import fnmatch
import functools
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeAlias

import tensorflow as tf

Number = float | int
TensorLike: TypeAlias = tf.Tensor | tf.Variable | Number


def check_number(name: str, value: Any, *, minimum: float = 0.0, strict: bool = False) -> float:
    """Returns ``value`` as a float, or raises ValueError naming ``name`` if it is not a finite number ≥ minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    if value < minimum or (strict and value == minimum):
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be {relation} {minimum}, got {value!r}.")
    return float(value)


def check_bool(name: str, value: Any) -> bool:
    """Returns ``value`` or raises ValueError naming ``name`` if it is not a bool."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}.")
    return value


class UpdateContext:
    """What a rule may look at for one variable at one step.

    Attributes:
      grad: g_t, or for a sparse gradient its (de-duplicated) rows.
      direction: r_t, the optimizer's update direction before scaling (Adagrad: g_t (G_t + ε)^{-1/2}); the step is
        η_t σ_t r_t. ``None`` while σ is computed before the accumulator update, which only rules with
        ``uses_update = False`` allow.
      learning_rate: η_t as a scalar tensor of the variable's dtype.
      precondition: (G + ε)^{-1/2} element-wise for Adagrad-family optimizers, ``None`` for others.
      weights: w_t (or the touched rows), read lazily on first use so rules that do not need it cost nothing.
      variable_name: the variable's name without the ``:0`` suffix (as the telemetry records it), ``None`` when the
        caller does not know it.
    """

    def __init__(
        self,
        grad: tf.Tensor,
        direction: tf.Tensor | None,
        learning_rate: tf.Tensor,
        read_weights: Callable[[], tf.Tensor],
        precondition: tf.Tensor | None = None,
        variable_name: str | None = None,
    ) -> None:
        self.grad = grad
        self.direction = direction
        self.learning_rate = learning_rate
        self.precondition = precondition
        self.variable_name = variable_name
        self._read_weights = read_weights

    @functools.cached_property
    def weights(self) -> tf.Tensor:
        return self._read_weights()


class ScalingRule(abc.ABC):
    """A rule choosing the per-variable factor σ_t of Eq. 5.

    ``scale`` returns σ_t as a scalar tensor, a tensor broadcastable to the variable (AGC's per-unit factors), or
    ``None`` meaning σ_t ≡ 1 (the optimizer then skips the multiplication).
    """

    name: ClassVar[str]
    #: Whether σ depends on the update direction r_t (and hence on the accumulator). Rules that do not (naive, GC,
    #: AGC) can be evaluated before the accumulator update, which allows accumulating the clipped gradient in the
    #: standard order.
    uses_update: ClassVar[bool] = True

    @abc.abstractmethod
    def scale(self, ctx: UpdateContext) -> tf.Tensor | None:
        """Returns σ_t for the variable described by ``ctx``."""

    def get_config(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]


@dataclasses.dataclass(frozen=True)
class NaiveRule(ScalingRule):
    """σ_t = 1: plain Adagrad (the paper's "Naive" baseline)."""

    name: ClassVar[str] = "naive"
    uses_update: ClassVar[bool] = False

    def scale(self, ctx: UpdateContext) -> None:
        return None


@dataclasses.dataclass(frozen=True)
class GradientClipRule(ScalingRule):
    """Layer-wise gradient clipping (GC; Pascanu et al. 2013; paper Eq. 2).

    g ← λ g / ‖g‖₂ if ‖g‖₂ ≥ λ, i.e. σ_t = min(1, λ / ‖g_t‖₂) = λ / max(‖g_t‖₂, λ). The paper's grid is
    λ ∈ {1e-1, 1e-2, 1e-3}.
    """

    clip_norm: float = 0.1
    name: ClassVar[str] = "gc"
    uses_update: ClassVar[bool] = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "clip_norm", check_number("clip_norm", self.clip_norm, strict=True))

    def scale(self, ctx: UpdateContext) -> tf.Tensor:
        grad_norm = tf.norm(ctx.grad)
        return self.clip_norm / tf.maximum(grad_norm, self.clip_norm)


def unit_axes(shape: tf.TensorShape) -> tuple[int, ...] | None:
    """Axes reduced by NFNets' ``unitwise_norm``: all but the last (the output unit), or all for vectors/scalars.

    A tensor whose squeezed rank is ≤ 1 (bias, scalar, [1, n] kernel) is one unit (``None`` = reduce everything).
    Unknown dimensions (the row count of a sparse gradient) count as non-trivial.
    """
    if shape.rank is None:
        raise ValueError("AGC needs tensors of known rank.")
    non_trivial = sum(1 for dim in shape if dim is None or dim > 1)
    if shape.rank <= 1 or non_trivial <= 1:
        return None
    return tuple(range(shape.rank - 1))


def _l2_norm(x: tf.Tensor, axes: tuple[int, ...] | None) -> tf.Tensor:
    """‖x‖₂ over ``axes`` (kept, for broadcasting), or over everything as a scalar when ``axes`` is None."""
    if axes is None:
        return tf.norm(x)
    return tf.sqrt(tf.reduce_sum(tf.square(x), axis=axes, keepdims=True))


@dataclasses.dataclass(frozen=True)
class AdaptiveGradientClipRule(ScalingRule):
    """Adaptive gradient clipping (AGC; Brock et al. 2021, NFNets; paper Eq. 3).

    Unit-wise, as the official NFNets/optax ``adaptive_grad_clip`` that the paper says it used: for each output unit
    u (a column of a Dense kernel; the whole tensor for biases and scalars)

        σ_u = 1                                           if ‖g_u‖₂ < λ · max(‖w_u‖₂, ε)
        σ_u = λ · max(‖w_u‖₂, ε) / max(‖g_u‖₂, 1e-6)      otherwise,

    with the weight-norm floor ε = 1e-3 (NFNets' default, which keeps zero-initialised units trainable). With
    ``unitwise=False`` the norms are taken over the whole variable, which is the paper's per-layer Eq. 3. The paper's
    grid is λ ∈ {1e-2, 1e-3, 1e-4}.
    """

    clipping: float = 1e-3
    eps: float = 1e-3
    unitwise: bool = True
    name: ClassVar[str] = "agc"
    uses_update: ClassVar[bool] = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "clipping", check_number("clipping", self.clipping, strict=True))
        object.__setattr__(self, "eps", check_number("eps", self.eps, strict=True))
        check_bool("unitwise", self.unitwise)

    def scale(self, ctx: UpdateContext) -> tf.Tensor:
        axes = unit_axes(ctx.grad.shape) if self.unitwise else None
        weight_norm = _l2_norm(ctx.weights, axes)
        grad_norm = _l2_norm(ctx.grad, axes)
        max_norm = tf.maximum(weight_norm, self.eps) * self.clipping
        clipped = max_norm / tf.maximum(grad_norm, 1e-6)
        return tf.where(grad_norm < max_norm, tf.ones_like(clipped), clipped)


@dataclasses.dataclass(frozen=True)
class LambRule(ScalingRule):
    """LAMB adapted to Adagrad (You et al. 2020; paper Section 4.3.1 and 5.1.3).

    σ_t = μ · φ(‖w_t‖₂) / ‖r_t‖₂ with φ(x) = x (as in the official implementation); the trust ratio is 1 when either
    norm is 0, as in the official implementation. μ scales the learning rate because LAMB uses ‖w‖₂ as the update
    magnitude; the paper's grid is μ ∈ {1e-1, 1e-2, 1e-3}. Note σ_t may exceed 1.
    """

    mu: float = 1e-2
    name: ClassVar[str] = "lamb"

    def __post_init__(self) -> None:
        object.__setattr__(self, "mu", check_number("mu", self.mu, strict=True))

    def scale(self, ctx: UpdateContext) -> tf.Tensor:
        if ctx.direction is None:
            raise ValueError("LambRule needs the update direction r_t.")
        weight_norm = tf.norm(ctx.weights)
        direction_norm = tf.norm(ctx.direction)
        trust = tf.where(
            (weight_norm > 0) & (direction_norm > 0),
            tf.math.divide_no_nan(weight_norm, direction_norm),
            tf.ones_like(weight_norm),
        )
        return self.mu * trust


def clipping_factor(
    abs_direction: tf.Tensor,
    bound: TensorLike,
    learning_rate: TensorLike,
    bound_is_positive: bool,
    bound_scale: float = 1.0,
) -> tf.Tensor:
    """σ = min(1, min_j c·b_j / (η |r_j|)) for the bound c·b; coordinates with r_j = 0 are ignored; σ = 0 if some
    c·b_j = 0 < |r_j|; η = 0 gives σ = 1.

    Computed as min(1, c · (min_j b_j / |r_j|) / η): the scalars c and η are applied after the reduction, which saves
    full-size multiplications. With a strictly positive bound (λ_abs > 0), ``b / |r|`` is +inf exactly where r_j = 0,
    which the minimum ignores; this saves TFRS's ``where``/``divide_no_nan`` passes. Otherwise TFRS's formulation is
    used.
    """
    dtype = abs_direction.dtype
    bound = tf.convert_to_tensor(bound, dtype)
    learning_rate = tf.convert_to_tensor(learning_rate, dtype)
    if bound_is_positive:
        per_coordinate = bound / abs_direction
    else:
        infinity = tf.constant(float("inf"), dtype)
        per_coordinate = tf.where(abs_direction == 0, infinity, tf.math.divide_no_nan(bound, abs_direction))
    ratio = tf.reduce_min(per_coordinate)
    if bound_scale != 1.0:
        ratio = ratio * bound_scale
    one = tf.ones([], dtype)
    return tf.where(learning_rate > 0, tf.minimum(one, ratio / learning_rate), one)


@dataclasses.dataclass(frozen=True)
class ClippyRule(ScalingRule):
    """Clippy (paper Algorithm 1, line 8), with TFRS's optional accumulator-relative term.

        σ_t = min{1, min_j (λ_rel |w_{t,j}| + λ_acc (G_{t,j} + ε)^{-1/2} + λ_abs) / (η_t |r_{t,j}|)}

    which guarantees |η_t σ_t r_{t,j}| ≤ λ_rel |w_{t,j}| + λ_acc G_{t,j}^{-1/2} + λ_abs for every coordinate j, keeps
    the update's direction (one scalar per variable) and, with λ_abs > 0, σ_t ∈ (0, 1]. λ_acc = 0 is the paper's form;
    the paper's experiments use λ_rel = 0.5, λ_abs = 1e-2 (TFRS defaults are 0.1 and 1e-7). Keyword names are TFRS's.

    The bound is evaluated as c · b with c the largest of (λ_rel, λ_acc, λ_abs), e.g. b = |w| + λ_abs/λ_rel with the
    paper's values, so that c multiplies a scalar instead of the whole tensor; this agrees with the direct sum to
    float rounding (the TFRS comparison test checks 1e-6 over 50 steps).
    """

    variable_relative_threshold: float = 0.5
    accumulator_relative_threshold: float = 0.0
    absolute_threshold: float = 1e-2
    name: ClassVar[str] = "clippy"

    def __post_init__(self) -> None:
        for field in ("variable_relative_threshold", "accumulator_relative_threshold", "absolute_threshold"):
            object.__setattr__(self, field, check_number(field, getattr(self, field)))

    def factored_bound(self, ctx: UpdateContext) -> tuple[TensorLike, float, bool]:
        """(b, c, b > 0) with c · b = λ_rel |w| + λ_acc (G + ε)^{-1/2} + λ_abs and c the largest threshold.

        Dividing by the largest threshold keeps every ratio in [0, 1] (no overflow for tiny thresholds) and, with the
        paper's λ_rel ≥ λ_abs, turns λ_rel |w| into |w|: one full-size multiplication fewer.
        """
        if self.accumulator_relative_threshold and ctx.precondition is None:
            raise ValueError("accumulator_relative_threshold > 0 needs an Adagrad accumulator.")
        thresholds = (
            self.variable_relative_threshold,
            self.accumulator_relative_threshold,
            self.absolute_threshold,
        )
        scale = max(thresholds) or 1.0
        relative, accumulator, absolute = (threshold / scale for threshold in thresholds)
        if ctx.direction is None:
            raise ValueError("ClippyRule needs the update direction r_t.")
        absolute = float(ctx.direction.dtype.as_numpy_dtype(absolute))  # as the tensors will see it
        terms: list[TensorLike] = []
        if relative:
            terms.append(tf.abs(ctx.weights) if relative == 1.0 else tf.abs(ctx.weights) * relative)
        if accumulator and ctx.precondition is not None:  # checked above: a threshold needs the accumulator
            terms.append(ctx.precondition if accumulator == 1.0 else ctx.precondition * accumulator)
        if absolute:
            terms.append(absolute)
        bound: TensorLike = terms[0] if terms else 0.0
        for term in terms[1:]:
            bound = bound + term
        return bound, scale, absolute > 0

    def scale(self, ctx: UpdateContext) -> tf.Tensor:
        if ctx.direction is None:
            raise ValueError("ClippyRule needs the update direction r_t.")
        bound, bound_scale, bound_is_positive = self.factored_bound(ctx)
        return clipping_factor(tf.abs(ctx.direction), bound, ctx.learning_rate, bound_is_positive, bound_scale)


@dataclasses.dataclass(frozen=True)
class FrozenSigmaRule(ScalingRule):
    """σ_v fixed for the whole run, per variable: "Adagrad with a frozen rate", a control for Clippy's σ_t.

    ``sigmas`` maps variable-name patterns (``fnmatch``, e.g. ``"shared_dense_1/kernel"`` or ``"click*"``) to σ; the
    first pattern matching the variable's name wins, in the mapping's order, and ``default`` holds elsewhere. Every σ
    must be finite and > 0. With σ ≡ 1 this is naive Adagrad bitwise (σ = 1 skips the multiplication).
    """

    sigmas: Mapping[str, float] = dataclasses.field(default_factory=dict)
    default: float = 1.0
    name: ClassVar[str] = "frozen"
    uses_update: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if not isinstance(self.sigmas, Mapping) or not all(isinstance(key, str) for key in self.sigmas):
            raise ValueError(f"sigmas must map variable-name patterns to numbers, got {self.sigmas!r}.")
        checked = {key: check_number(f"sigmas[{key!r}]", value, strict=True) for key, value in self.sigmas.items()}
        object.__setattr__(self, "sigmas", checked)
        object.__setattr__(self, "default", check_number("default", self.default, strict=True))

    def sigma_of(self, variable_name: str) -> float:
        """σ of the variable called ``variable_name``."""
        return next(
            (sigma for pattern, sigma in self.sigmas.items() if fnmatch.fnmatchcase(variable_name, pattern)),
            self.default,
        )

    def scale(self, ctx: UpdateContext) -> tf.Tensor | None:
        if ctx.variable_name is None:
            raise ValueError("FrozenSigmaRule needs the variable's name.")
        sigma = self.sigma_of(ctx.variable_name)
        return None if sigma == 1.0 else tf.constant(sigma, ctx.learning_rate.dtype)

    def get_config(self) -> dict[str, Any]:
        return {"sigmas": dict(self.sigmas), "default": self.default}


RULES: dict[str, type[ScalingRule]] = {
    rule.name: rule
    for rule in (NaiveRule, GradientClipRule, AdaptiveGradientClipRule, LambRule, ClippyRule, FrozenSigmaRule)
}


def rule_from_config(config: ScalingRule | str | dict[str, Any]) -> ScalingRule:
    """Builds a rule from an instance, a registered name, or ``{"name": ..., **params}``."""
    if isinstance(config, ScalingRule):
        return config
    if isinstance(config, str):
        config = {"name": config}
    if not isinstance(config, dict) or config.get("name") not in RULES:
        raise ValueError(f"Unknown scaling rule {config!r}; known rules: {sorted(RULES)}.")
    params = {key: value for key, value in config.items() if key != "name"}
    rule_class = RULES[config["name"]]
    allowed = {field.name for field in dataclasses.fields(rule_class)}  # type: ignore[arg-type]
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(f"Unknown parameter(s) {unknown} for rule {config['name']!r}; allowed: {sorted(allowed)}.")
    return rule_class(**params)


def rule_to_config(rule: ScalingRule) -> dict[str, Any]:
    return {"name": rule.name, **rule.get_config()}


def shrink_by_references(
    tensor: TensorLike,
    references: Sequence[TensorLike],
    relative_factors: Sequence[float],
    absolute_factor: float,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Scales ``tensor`` so that |tensor_i| · scale ≤ Σ_k |reference_k,i| · relative_factor_k + absolute_factor.

    Same contract as TFRS's ``shrink_by_references`` (its test vectors are in paper.md §8): ``scale`` is the largest
    value in [0, 1] satisfying every coordinate; coordinates where ``tensor`` is 0 impose nothing; a zero bound on a
    non-zero coordinate gives scale 0. Returns ``(tensor * scale, scale)``.
    """
    if any(factor < 0 for factor in relative_factors):
        raise ValueError("relative_factors must all be non-negative.")
    if absolute_factor < 0:
        raise ValueError("absolute_factor must be non-negative.")
    if len(references) != len(relative_factors):
        raise ValueError(
            f"references and relative_factors must have the same length, got {len(references)} and "
            f"{len(relative_factors)}."
        )
    tensor = tf.convert_to_tensor(tensor)
    bound: TensorLike = tf.constant(absolute_factor, tensor.dtype)
    for reference, factor in zip(references, relative_factors):
        bound = bound + tf.abs(tf.convert_to_tensor(reference, tensor.dtype)) * factor
    scale = clipping_factor(tf.abs(tensor), bound, learning_rate=1.0, bound_is_positive=False)
    return tensor * scale, scale
