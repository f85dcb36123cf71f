"""The multitask ranker: embeddings + dense features -> [DCN-v2 + LayerNorm] -> shared bottom or MMoE -> towers.

Shapes follow the paper's Table 1 family (scaled by `ModelConfig`):
  x0 = concat(embeddings of ids/categoricals, z-scored dense features)
  DCN-v2 (optional):  x1 = LayerNorm(x0 + x0 ⊙ (W x0 + b))                 (one cross layer, Wang et al. 2021)
  shared bottom:      h = relu(W_L ... relu(W_1 x1))
  MMoE (optional):    h_k = Σ_e softmax(G_k x1)_e · expert_e(x1)   for each task k
  tower k:            y_k = w_k · relu(V_k h_k) + b_k                        (a logit for binary tasks)

Binary tasks output logits (trained with sigmoid cross-entropy); `watch_time` predicts log1p(seconds) and
`survey_rating` the 1..5 rating (squared error, masked to surveyed impressions).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_recommenders as tfrs

from compat.install import install_patches
from config.settings import BINARY_TASKS, REGRESSION_TASKS, TASKS, ModelConfig
from models import features as F

install_patches()  # every Keras model of the project is built here (compat/autograph_keras2.py says why)

# The prefix of the wide part's layers (`linear_logits` inside the ranker; the simple model's have none).
WIDE_PREFIX = "wide_"


def embedding_layer_name(feature: str) -> str:
    """The Keras layer name of a feature's embedding table."""
    return f"{feature}_embedding"


def value_weights_layer_name(feature: str, prefix: str = "") -> str:
    """The Keras layer name of a linear model's per-value weights of a feature (`linear_logits`)."""
    return f"{prefix}{feature}_weights"


def input_keys(features: F.FeatureSet = F.CORE_FEATURES) -> list[str]:
    """Transformed feature names the model consumes."""
    return features.input_keys()


def categorical_sizes(vocab_sizes: dict[str, int], features: F.FeatureSet = F.CORE_FEATURES) -> dict[str, int]:
    """Embedding table sizes: vocabulary + OOV sizes for ids/categoricals, fixed bucket counts for ints."""
    sizes = dict(vocab_sizes)
    sizes.update(features.buckets)
    missing = [k for k in features.vocab_features if k not in sizes]
    if missing:
        raise ValueError(f"vocabulary sizes missing for {missing}")
    return sizes


def _mlp(x: tf.Tensor, units: tuple[int, ...], prefix: str, config: ModelConfig | None = None) -> tf.Tensor:
    l2 = config.kernel_l2 if config is not None else 0.0
    dropout = config.dropout if config is not None else 0.0
    for i, n in enumerate(units):
        x = tf.keras.layers.Dense(
            n,
            activation="relu",
            kernel_regularizer=tf.keras.regularizers.L2(l2) if l2 > 0 else None,
            name=f"{prefix}_dense_{i}",
        )(x)
        if dropout > 0:
            x = tf.keras.layers.Dropout(dropout, name=f"{prefix}_dropout_{i}")(x)
    return x


def model_inputs(features: F.FeatureSet) -> tuple[dict[str, tf.keras.Input], dict[str, tf.Tensor], tf.Tensor]:
    """The Keras inputs of `features` (every transformed feature by name), the int64 index input of each embedded
    feature by raw key, and the dense features stacked into one [B, n] tensor (layer `dense_features`)."""
    inputs: dict[str, tf.keras.Input] = {}
    indices: dict[str, tf.Tensor] = {}
    for key in features.embedded:
        name = F.transformed_name(key)
        inputs[name] = indices[key] = tf.keras.Input(shape=(), dtype=tf.int64, name=name)
    dense = []
    for key in features.dense:
        name = F.transformed_name(key)
        inputs[name] = tf.keras.Input(shape=(), dtype=tf.float32, name=name)
        dense.append(inputs[name])
    stacked = tf.keras.layers.Lambda(lambda xs: tf.stack(xs, axis=-1), name="dense_features")(dense)
    return inputs, indices, stacked


def linear_logits(
    features: F.FeatureSet,
    sizes: dict[str, int],
    indices: dict[str, tf.Tensor],
    dense: tf.Tensor,
    l2: float,
    prefix: str = "",
    bias: tf.keras.initializers.Initializer | str = "zeros",
    dense_l2: float = 0.0,
) -> tf.Tensor:
    """One linear logit per task ([B, len(TASKS)]): a weight per value of each embedded feature (a per-id bias, an
    embedding of width len(TASKS), L2-regularised by `l2`) plus a linear map of the dense features. Zero at the start.
    """
    regularizer = tf.keras.regularizers.l2(l2) if l2 > 0 else None
    terms: list[tf.Tensor] = []
    for key in features.embedded:
        weights = tf.keras.layers.Embedding(
            sizes[key],
            len(TASKS),
            embeddings_initializer="zeros",
            embeddings_regularizer=regularizer,
            name=value_weights_layer_name(key, prefix),
        )
        terms.append(weights(indices[key]))
    dense_weights = tf.keras.layers.Dense(
        len(TASKS),
        kernel_initializer="zeros",
        bias_initializer=bias,
        kernel_regularizer=tf.keras.regularizers.l2(dense_l2) if dense_l2 > 0 else None,
        name=f"{prefix}dense_weights",
    )
    terms.append(dense_weights(dense))
    return tf.keras.layers.Add(name=f"{prefix}linear")(terms)


def task_column(logits: tf.Tensor, task: str, name: str) -> tf.Tensor:
    """The [B, 1] column of `task` in a [B, len(TASKS)] tensor of per-task logits (layer `name`)."""
    i = TASKS.index(task)
    return tf.keras.layers.Lambda(lambda z: z[:, i : i + 1], name=name)(logits)


def build_ranker(
    config: ModelConfig,
    vocab_sizes: dict[str, int],
    features: F.FeatureSet = F.CORE_FEATURES,
    deep_features: F.FeatureSet | None = None,
) -> tf.keras.Model:
    """Builds the functional Keras model; inputs are the transformed `features`, outputs one tensor per task.

    `deep_features` (a subset of `features`; default all of them) are the inputs of the deep part; the wide part
    (with `config.wide`) takes every feature."""
    if config.architecture not in ("shared_bottom", "mmoe"):
        raise ValueError(f"model.architecture must be 'shared_bottom' or 'mmoe', got {config.architecture!r}")
    sizes = categorical_sizes(vocab_sizes, features)
    inputs, indices, all_dense = model_inputs(features)
    dense = all_dense
    deep = features if deep_features is None else deep_features
    unknown = sorted(set(deep.raw_inputs) - set(features.raw_inputs))
    if unknown:
        raise ValueError(f"deep features {unknown} are not among the model's features")
    if deep is not features:
        dense = tf.keras.layers.Lambda(lambda xs: tf.stack(xs, axis=-1), name="deep_dense_features")(
            [inputs[F.transformed_name(k)] for k in deep.dense]
        )
    parts: list[tf.Tensor] = []
    for key in deep.embedded:
        emb = tf.keras.layers.Embedding(
            sizes[key],
            config.embedding_dim,
            embeddings_regularizer=tf.keras.regularizers.L2(config.embedding_l2) if config.embedding_l2 > 0 else None,
            name=embedding_layer_name(key),
        )
        parts.append(emb(indices[key]))
    parts.append(dense)
    x = tf.keras.layers.Concatenate(name="input_concat")(parts)
    if config.use_dcn:
        x = tfrs.layers.dcn.Cross(projection_dim=config.dcn_projection_dim, name="dcn_cross")(x)
        x = tf.keras.layers.LayerNormalization(name="dcn_layer_norm")(x)

    if config.architecture == "shared_bottom":
        shared = _mlp(x, config.hidden_units, "shared", config)
        task_inputs = {task: shared for task in TASKS}
    else:
        experts = [_mlp(x, config.expert_units, f"expert_{e}", config) for e in range(config.num_experts)]
        stacked = tf.keras.layers.Lambda(lambda es: tf.stack(es, axis=1), name="experts")(experts)
        task_inputs = {}
        for task in TASKS:
            gate = tf.keras.layers.Dense(config.num_experts, activation="softmax", name=f"{task}_gate")(x)
            task_inputs[task] = tf.keras.layers.Lambda(
                lambda ge: tf.einsum("be,bed->bd", ge[0], ge[1]), name=f"{task}_mixture"
            )([gate, stacked])

    wide = (
        linear_logits(features, sizes, indices, all_dense, config.wide_l2, prefix=WIDE_PREFIX) if config.wide else None
    )
    heads = {}
    for task in TASKS:
        h = _mlp(task_inputs[task], config.tower_units, f"{task}_tower")
        bias = 3.0 if task == "survey_rating" else 0.0  # start regression heads near the label scale
        name = f"{task}_head" if config.conditional_tasks or wide is not None else task
        heads[task] = tf.keras.layers.Dense(1, name=name, bias_initializer=tf.keras.initializers.Constant(bias))(h)
        if wide is not None:
            out_name = f"{task}_wide_deep" if config.conditional_tasks else task
            heads[task] = tf.keras.layers.Add(name=out_name)([heads[task], task_column(wide, task, f"{task}_wide")])
    outputs = chain_on_click(heads) if config.conditional_tasks else heads
    return tf.keras.Model(inputs=inputs, outputs=outputs, name="multitask_ranker")


def _log1mexp(x: tf.Tensor) -> tf.Tensor:
    """log(1 - exp(x)) for x < 0, stable at both ends (Mächler 2012)."""
    x = tf.minimum(x, -1e-7)
    return tf.where(x > -0.6931472, tf.math.log(-tf.math.expm1(x)), tf.math.log1p(-tf.exp(x)))


def _logit_of_log_prob(log_p: tf.Tensor) -> tf.Tensor:
    return log_p - _log1mexp(log_p)


class ChainOnClick(tf.keras.layers.Layer):
    """The tasks that the logs make conditional on a click, as products with the click probability.

    In the logs a like, a share and any watch time follow a click, and a dismiss follows no click. So, with
    p_c = σ(a_click):
      like:       P = p_c · σ(a_like)             (σ(a_like) = P(like | click))
      share:      P = p_c · σ(a_share)
      dismiss:    P = (1 − p_c) · σ(a_dismiss)    (σ(a_dismiss) = P(dismiss | no click))
      watch_time: E[log1p seconds] = p_c · a_watch (a_watch = E[log1p seconds | click])
    The binary outputs stay logits (logit P, computed in log space from log σ terms), so the losses, metrics
    and the serving signature are those of independent heads. Each conditional head learns from every impression
    through the product (the entire-space multitask model of Ma et al., SIGIR 2018) and is left with the part of
    the task the click does not explain, which is smaller and better determined for rare tasks than the whole.
    """

    def call(self, heads: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        click = heads["click"]
        log_p_click = tf.math.log_sigmoid(click)
        log_p_no_click = tf.math.log_sigmoid(-click)
        out = dict(heads)
        for task in ("like", "share"):
            out[task] = _logit_of_log_prob(log_p_click + tf.math.log_sigmoid(heads[task]))
        out["dismiss"] = _logit_of_log_prob(log_p_no_click + tf.math.log_sigmoid(heads["dismiss"]))
        out["watch_time"] = tf.sigmoid(click) * heads["watch_time"]
        return out


def chain_on_click(heads: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """`ChainOnClick` applied to the heads, each output named after its task."""
    chained = ChainOnClick(name="chain_on_click")(heads)
    return {task: tf.keras.layers.Activation("linear", name=task)(chained[task]) for task in TASKS}


class MaskedMeanSquaredError(tf.keras.losses.Loss):
    """Squared error averaged over the examples whose mask is 1.

    y_true packs [target, mask] on the last axis:  L = Σ_i m_i (y_i − ŷ_i)² / max(Σ_i m_i, 1).
    Per-example values are scaled by B / max(Σ m, 1) so Keras' mean over the batch yields exactly L.

    Under tf.distribute with R replicas, each replica holds B_r examples and Keras divides its loss by R, then
    sums the replicas' gradients. Scaling by R·B_r / max(Σ_global m, 1) (the surveyed count all-reduced over
    replicas) makes that sum the gradient of the global-batch L, as on one device; a per-replica Σ m would
    weight the replicas' surveyed examples unequally.
    """

    def __init__(self, name: str = "masked_mse", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        target, mask = y_true[..., 0], y_true[..., 1]
        pred = tf.reshape(y_pred, tf.shape(target))
        per_example = mask * tf.square(target - pred)
        batch = tf.cast(tf.shape(mask)[0], per_example.dtype)
        surveyed = tf.stop_gradient(tf.reduce_sum(mask))
        replica = tf.distribute.get_replica_context()
        if replica is not None and replica.num_replicas_in_sync > 1:
            batch *= replica.num_replicas_in_sync
            surveyed = replica.all_reduce(tf.distribute.ReduceOp.SUM, surveyed)
        return per_example * batch / tf.maximum(surveyed, 1.0)


def losses() -> dict[str, tf.keras.losses.Loss]:
    out: dict[str, tf.keras.losses.Loss] = {
        t: tf.keras.losses.BinaryCrossentropy(from_logits=True, name=f"{t}_loss") for t in BINARY_TASKS
    }
    out["watch_time"] = tf.keras.losses.MeanSquaredError(name="watch_time_loss")
    out["survey_rating"] = MaskedMeanSquaredError(name="survey_rating_loss")
    return out


def metrics() -> dict[str, list[tf.keras.metrics.Metric]]:
    out: dict[str, list] = {t: [tf.keras.metrics.AUC(from_logits=True, name="auc")] for t in BINARY_TASKS}
    out["watch_time"] = [tf.keras.metrics.RootMeanSquaredError(name="rmse")]
    return out


def compile_ranker(
    model: tf.keras.Model, optimizer: tf.keras.optimizers.Optimizer, config: ModelConfig
) -> tf.keras.Model:
    weights = {t: float(config.task_weights.get(t, 1.0)) for t in TASKS}
    model.compile(optimizer=optimizer, loss=losses(), loss_weights=weights, metrics=metrics())
    return model


def build_state(model: tf.keras.Model, element_spec: Any) -> None:
    """Creates every variable training needs (optimizer slots, loss trackers, metric accumulators) eagerly, from a
    batch of zeros shaped like `element_spec` = (features, labels), without changing the weights.

    A `tf.function` that creates variables on its first call is traced twice (once to create them, once without);
    Keras builds the compiled metrics inside the first train step, so the train step (forward, backward and the
    optimizer's per-variable update graph, the costly part) would be traced twice. After this call it is traced
    once. The metric values it accumulates are discarded. Single-device only: under a distribution strategy the
    metrics' variables cannot be updated eagerly in cross-replica context.
    """

    def zeros(spec: tf.TensorSpec) -> tf.Tensor:
        return tf.zeros([1 if d is None else d for d in spec.shape], spec.dtype)

    features, labels = tf.nest.map_structure(zeros, element_spec)
    predictions = model(features, training=False)
    model.compute_loss(features, labels, predictions)
    model.compute_metrics(features, labels, predictions, None)
    model.optimizer.build(model.trainable_variables)
    model.reset_metrics()


def split_labels(transformed: dict[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
    """Splits a transformed batch into (model inputs, labels); labels are [B, 1] ([B, 2] for the survey).

    Model inputs are every transformed feature that is not a label or the survey mask, so the split holds for any
    feature set (the preprocessing_fn outputs only model inputs and labels).
    """
    not_inputs = {F.label_key(t) for t in TASKS} | {F.transformed_name(F.SURVEY_MASK)}
    feats = {k: v for k, v in transformed.items() if k not in not_inputs}
    labels = {t: tf.reshape(transformed[F.label_key(t)], [-1, 1]) for t in (*BINARY_TASKS, "watch_time")}
    labels["survey_rating"] = tf.stack(
        [transformed[F.label_key("survey_rating")], transformed[F.transformed_name(F.SURVEY_MASK)]], axis=-1
    )
    return feats, labels


__all__ = [
    "REGRESSION_TASKS",
    "build_ranker",
    "build_state",
    "compile_ranker",
    "input_keys",
    "losses",
    "metrics",
    "split_labels",
    "MaskedMeanSquaredError",
]
