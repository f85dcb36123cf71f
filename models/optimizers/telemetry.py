"""Telemetry: per-variable clipping factors and the paper's three instability measurements.

Tang et al. (KDD 2023, arXiv:2302.09178), Section 4.1 / Figure 4, track for each layer

    GC:     ‖g_t‖₂          AGC:    ‖g_t‖₂ / ‖w_t‖₂          Clippy: ‖r_t / w_t‖_∞,

where r_t is the optimizer's update direction before any clipping (Adagrad: g_t G_t^{-1/2}), and
Figure 6 plots Clippy's factor σ_t per layer. The optimizers of this package store exactly these four numbers per
variable on sampled steps (see ``ScaledUpdateOptimizer``); :class:`OptimizerTelemetry` is the Keras callback that
turns them on, collects them into ``records`` (for the training report) and writes them to TensorBoard.

Conventions: coordinates with w_j = 0 are left out of ‖r/w‖_∞ (a zero-initialised bias would make it ∞ for ever;
the value is 0 if every weight is 0), and ‖g‖₂/‖w‖₂ is 0 when ‖w‖₂ = 0. For sparse gradients, norms are over the
touched rows. σ is the minimum over units for AGC and may exceed 1 for LAMB.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import tensorflow as tf

STAT_FIELDS = ("sigma", "grad_norm", "grad_to_weight", "update_to_weight_inf")


def telemetry_statistics(ctx: Any, sigma: tf.Tensor | None) -> tf.Tensor:
    """[σ, ‖g‖₂, ‖g‖₂/‖w‖₂, ‖r/w‖_∞] as a float32 vector, from an ``UpdateContext`` with r set."""
    weights = ctx.weights
    grad_norm = tf.norm(ctx.grad)
    grad_to_weight = tf.math.divide_no_nan(grad_norm, tf.norm(weights))
    update_to_weight = tf.reduce_max(tf.math.divide_no_nan(tf.abs(ctx.direction), tf.abs(weights)))
    factor = tf.ones([], grad_norm.dtype) if sigma is None else tf.reduce_min(sigma)
    return tf.cast(tf.stack([factor, grad_norm, grad_to_weight, update_to_weight]), tf.float32)


def iter_optimizers(optimizer: Any) -> Iterator[Any]:
    """Yields ``optimizer`` and every optimizer nested in it (split/composite optimizers, loss-scale wrappers)."""
    if optimizer is None:
        return
    yield optimizer
    for child in getattr(optimizer, "optimizers", None) or ():
        yield from iter_optimizers(child)
    inner = getattr(optimizer, "inner_optimizer", None)
    if inner is not None:
        yield from iter_optimizers(inner)


def telemetry_optimizers(optimizer: Any) -> list[Any]:
    """The telemetry-capable optimizers reachable from ``optimizer`` (e.g. a model's optimizer)."""
    found: list[Any] = []
    for candidate in iter_optimizers(optimizer):
        capable = all(hasattr(candidate, attr) for attr in ("enable_telemetry", "telemetry_step", "telemetry_snapshot"))
        if capable and all(candidate is not other for other in found):
            found.append(candidate)
    return found


def default_is_embedding(variable_name: str) -> bool:
    """The package-wide default: a variable is an embedding if its name contains "embedding"."""
    return "embedding" in variable_name


class OptimizerTelemetry(tf.keras.callbacks.Callback):
    """Keras callback collecting σ_t, ‖g‖₂, ‖g‖₂/‖w‖₂ and ‖r/w‖_∞ per non-embedding variable every N steps.

    It finds every telemetry-capable optimizer inside ``model.optimizer`` (also through ``split_optimizer``),
    switches its sampling on at train begin (off again at train end), and after each batch in which a new sample was
    stored appends one dict per variable to :attr:`records`:
    ``{"step", "variable", "sigma", "grad_norm", "grad_to_weight", "update_to_weight_inf"}``. With ``log_dir`` the
    same values go to TensorBoard as ``optimizer/<field>/<variable>`` scalars at that step.

    Cost: the optimizer computes the statistics only on sampled steps; every other step costs a scalar ``tf.cond``
    per variable in the graph, plus one scalar read per batch here. With ``steps_per_execution`` > 1 only the last
    sample of each execution is seen.

    Args:
      log_dir: TensorBoard directory, or None for in-memory records only.
      every_n_steps: sampling period N ≥ 1 (steps t with t mod N = 0 are recorded).
      is_embedding: predicate on variable names; matching variables are skipped. Default: name contains "embedding".
    """

    def __init__(
        self,
        log_dir: str | None = None,
        every_n_steps: int = 10,
        is_embedding: Callable[[str], bool] | str | None = None,
    ) -> None:
        super().__init__()
        if isinstance(every_n_steps, bool) or not isinstance(every_n_steps, int) or every_n_steps < 1:
            raise ValueError(f"every_n_steps must be a positive integer, got {every_n_steps!r}.")
        self.log_dir = log_dir
        self.every_n_steps = every_n_steps
        if isinstance(is_embedding, str):
            pattern = re.compile(is_embedding)
            self.is_embedding: Callable[[str], bool] = lambda name: bool(pattern.search(name))
        else:
            self.is_embedding = is_embedding or default_is_embedding
        self.records: list[dict[str, Any]] = []
        self._optimizers: list[Any] = []
        self._last_step: dict[int, int] = {}
        self._writer: Any = None
        self._supports_tf_logs = True  # we never look at logs: do not force them to numpy every batch

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._optimizers = telemetry_optimizers(getattr(self.model, "optimizer", None))
        if not self._optimizers:
            tf.get_logger().warning("OptimizerTelemetry: the model's optimizer records no telemetry.")
        for optimizer in self._optimizers:
            optimizer.enable_telemetry(self.every_n_steps)
            self._last_step.setdefault(id(optimizer), -1)
        if self.log_dir and self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.collect()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.collect()
        for optimizer in self._optimizers:
            optimizer.enable_telemetry(0)
        if self._writer is not None:
            self._writer.flush()

    def collect(self) -> list[dict[str, Any]]:
        """Reads any new sample from the optimizers; returns the records added."""
        added: list[dict[str, Any]] = []
        for optimizer in self._optimizers:
            if optimizer.telemetry_step() <= self._last_step.get(id(optimizer), -1):
                continue
            step, records = optimizer.telemetry_snapshot()
            self._last_step[id(optimizer)] = step
            added.extend(record for record in records if not self.is_embedding(record["variable"]))
        self.records.extend(added)
        if added and self._writer is not None:
            with self._writer.as_default():
                for record in added:
                    for field in STAT_FIELDS:
                        tf.summary.scalar(f"optimizer/{field}/{record['variable']}", record[field], record["step"])
        return added
