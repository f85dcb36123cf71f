"""One optimizer for the dense layers, another for the embeddings (paper §5.1.3: stabilisers on non-embeddings only).

Tang et al. (KDD 2023, arXiv:2302.09178) apply GC/AGC/LAMB/Clippy to the non-embedding parameters only; embeddings
keep plain Adagrad. :func:`split_optimizer` builds that pair as a single tf-keras optimizer usable in
``model.compile(optimizer=...)``, ``model.fit`` and model saving (Keras ``.keras`` and SavedModel formats).

TFRS's ``CompositeOptimizer`` is not used: it subclasses the *legacy* ``OptimizerV2`` while wrapping new-style
optimizers, cannot be serialised (``get_config`` raises), and shares one iteration counter that every inner
optimizer increments. Here each inner optimizer keeps its own counter (so each one's learning-rate schedule sees one
step per training step) and the split optimizer keeps a third one, returned by ``iterations``.

Gradients are routed untouched: ``tf.IndexedSlices`` from embedding lookups reach the embedding optimizer sparse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import tensorflow as tf

from models.optimizers.core import PACKAGE

DEFAULT_EMBEDDING_PATTERN = "embedding"
OptimizerLike: TypeAlias = tf.keras.optimizers.Optimizer | str | dict[str, Any]
EmbeddingPredicate = Callable[[tf.Variable], bool]


class _CallableList(list):
    """A list that can also be called, like tf-keras's ``optimizer.variables`` (property or method)."""

    def __call__(self) -> _CallableList:
        return self


def _as_optimizer(optimizer: OptimizerLike, role: str) -> tf.keras.optimizers.Optimizer:
    if isinstance(optimizer, str | dict):
        optimizer = tf.keras.optimizers.get(optimizer)
    if not isinstance(optimizer, tf.keras.optimizers.Optimizer):
        raise ValueError(
            f"{role} must be a tf.keras.optimizers.Optimizer (Keras 2, TF_USE_LEGACY_KERAS=1), got {optimizer!r}."
        )
    return optimizer


@tf.keras.utils.register_keras_serializable(package=PACKAGE)
class SplitOptimizer(tf.keras.optimizers.Optimizer):
    """Applies ``embedding_optimizer`` to embedding variables and ``dense_optimizer`` to all the others.

    Args:
      dense_optimizer: optimizer (or its name/config) for non-embedding variables, e.g. ``ClippyAdagrad``.
      embedding_optimizer: optimizer (or its name/config) for embedding variables, e.g. Adagrad.
      embedding_pattern: regular expression searched in ``variable.name`` to recognise embeddings.
      is_embedding: optional predicate on variables overriding ``embedding_pattern`` (such an optimizer cannot be
        serialised; prefer a pattern).
      name, **kwargs: passed to ``tf.keras.optimizers.Optimizer``.

    ``learning_rate`` reads and sets the dense optimizer's rate (what Keras callbacks such as
    ``ReduceLROnPlateau`` see). ``optimizers`` lists ``[dense_optimizer, embedding_optimizer]``.
    """

    def __init__(
        self,
        dense_optimizer: OptimizerLike,
        embedding_optimizer: OptimizerLike,
        embedding_pattern: str = DEFAULT_EMBEDDING_PATTERN,
        is_embedding: EmbeddingPredicate | None = None,
        name: str = "SplitOptimizer",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("weight_decay", None)  # never applied here: the inner optimizers own every update
        super().__init__(name=name, **kwargs)
        self.dense_optimizer = _as_optimizer(dense_optimizer, "dense_optimizer")
        self.embedding_optimizer = _as_optimizer(embedding_optimizer, "embedding_optimizer")
        if self.dense_optimizer is self.embedding_optimizer:
            raise ValueError("dense_optimizer and embedding_optimizer must be two different optimizer instances.")
        if not isinstance(embedding_pattern, str):
            raise ValueError(f"embedding_pattern must be a regular expression string, got {embedding_pattern!r}.")
        try:
            compiled = re.compile(embedding_pattern)
        except re.error as error:
            raise ValueError(f"embedding_pattern {embedding_pattern!r} is not a regular expression: {error}") from None
        if is_embedding is not None and not callable(is_embedding):
            raise ValueError(f"is_embedding must be callable, got {is_embedding!r}.")
        self.embedding_pattern = embedding_pattern
        self._custom_predicate = is_embedding
        self._pattern = self._no_dependency(compiled)

    def is_embedding(self, variable: tf.Variable) -> bool:
        if self._custom_predicate is not None:
            return bool(self._custom_predicate(variable))
        return self._pattern.search(variable.name) is not None

    @property
    def optimizers(self) -> list[tf.keras.optimizers.Optimizer]:
        return [self.dense_optimizer, self.embedding_optimizer]

    def _split(self, items: Sequence[Any], variable_of: Callable[[Any], tf.Variable]) -> tuple[list[Any], list[Any]]:
        dense: list[Any] = []
        embedding: list[Any] = []
        for item in items:
            (embedding if self.is_embedding(variable_of(item)) else dense).append(item)
        return dense, embedding

    def build(self, var_list: Sequence[tf.Variable]) -> None:
        super().build(var_list)
        if getattr(self, "_built", False):
            return
        self._built = True
        dense, embedding = self._split(list(var_list), lambda variable: variable)
        if dense:
            self.dense_optimizer.build(dense)
        if embedding:
            self.embedding_optimizer.build(embedding)

    def apply_gradients(
        self,
        grads_and_vars: Sequence[tuple[Any, tf.Variable]],
        name: str | None = None,
        skip_gradients_aggregation: bool = False,
        **kwargs: Any,
    ) -> tf.Variable:
        grads_and_vars = list(grads_and_vars)
        if not grads_and_vars:
            return self.iterations
        with tf.init_scope():
            self.build([variable for _, variable in grads_and_vars])
        present = [(grad, variable) for grad, variable in grads_and_vars if grad is not None]
        if not present:
            raise ValueError(f"No gradients provided for any variable: {[v.name for _, v in grads_and_vars]}.")
        dense, embedding = self._split(present, lambda pair: pair[1])
        for optimizer, pairs in ((self.dense_optimizer, dense), (self.embedding_optimizer, embedding)):
            if pairs:
                optimizer.apply_gradients(
                    pairs, name=name, skip_gradients_aggregation=skip_gradients_aggregation, **kwargs
                )
        return self.iterations.assign_add(1)

    def update_step(self, gradient: Any, variable: tf.Variable) -> None:
        raise NotImplementedError("SplitOptimizer delegates every update to its inner optimizers.")

    @property
    def learning_rate(self) -> Any:
        return self.dense_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate: Any) -> None:
        self.dense_optimizer.learning_rate = learning_rate

    @property
    def variables(self) -> _CallableList:
        """Own iteration counter, then the dense and the embedding optimizer's variables."""
        return _CallableList([*self._variables, *self.dense_optimizer.variables, *self.embedding_optimizer.variables])

    def save_own_variables(self, store: Any) -> None:
        # The inner optimizers are attributes: Keras's saver visits and saves them itself.
        for i, variable in enumerate(self._variables):
            store[str(i)] = variable.numpy()

    def load_own_variables(self, store: Any) -> None:
        for i, variable in enumerate(self._variables):
            variable.assign(store[str(i)])

    def get_config(self) -> dict[str, Any]:
        if self._custom_predicate is not None:
            raise NotImplementedError(
                "A SplitOptimizer with a custom is_embedding callable cannot be serialised; "
                "pass embedding_pattern (a regular expression on variable names) instead."
            )
        return {
            "name": self.name,
            "dense_optimizer": tf.keras.optimizers.serialize(self.dense_optimizer),
            "embedding_optimizer": tf.keras.optimizers.serialize(self.embedding_optimizer),
            "embedding_pattern": self.embedding_pattern,
            "is_legacy_optimizer": False,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> SplitOptimizer:
        config = dict(config)
        for key in ("dense_optimizer", "embedding_optimizer"):
            if isinstance(config[key], dict):
                config[key] = tf.keras.optimizers.deserialize(config[key], custom_objects=custom_objects)
        return cls(**config)


def split_optimizer(
    dense_optimizer: OptimizerLike,
    embedding_optimizer: OptimizerLike,
    is_embedding: EmbeddingPredicate | str | None = None,
) -> SplitOptimizer:
    """The paper's set-up: ``dense_optimizer`` on non-embedding variables, ``embedding_optimizer`` on embeddings.

    ``is_embedding`` is None (variable name contains "embedding"), a regular expression on variable names, or a
    predicate on variables.
    """
    if is_embedding is None or isinstance(is_embedding, str):
        return SplitOptimizer(dense_optimizer, embedding_optimizer, embedding_pattern=is_embedding or "embedding")
    return SplitOptimizer(dense_optimizer, embedding_optimizer, is_embedding=is_embedding)
