"""The ranker's wide part started from the simple model's trained weights.

The wide part of the ranker (`model.wide`, models/ranker.py: `linear_logits` with prefix `wide_`) has exactly the
simple model's layers (models/baseline.py: `linear_logits` without a prefix) on the same Transform output: a weight
per value of each embedded feature and task, and a linear map of the dense features. With `model.wide_from_simple`
the Trainer copies the BaselineTrainer's trained weights into it before training, so the deep part starts by
learning what the linear model leaves over instead of both parts learning the same signal from zero (on one day of
logs training them jointly from zero costs the linear part click AUC: docs/quality/README.md).

The binary tasks' columns are copied, with chained heads (`model.conditional_tasks`) those of click and dismiss:
like and share are logits given a click there, not the simple model's unconditional ones, and keep their zero
start, as do the regression tasks (`COPIED_TASKS`, `CHAINED_COPIED_TASKS`). The copy happens where the model is
built; a resumed attempt then restores its own backup over it, and a warm-started day continues from
the served ranker instead (the wide part is already trained).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from config.settings import BINARY_TASKS, TASKS
from models.ranker import WIDE_PREFIX
from models.stability import write_text

WIDE_START_FILE = "wide_start.json"
# The key of the Trainer's custom_config that carries the simple model's SavedModel directory to the run_fn
# (components/ranker_trainer.py sets it from the `simple_model` input).
SIMPLE_MODEL_KEY = "_simple_model_dir"
# The task columns copied: the binary tasks, and with chained heads only click and dismiss (dismiss's chained
# probability (1 - p_click) σ(a_dismiss) is close to σ(a_dismiss) at click rates near 0.1, so the simple model's
# dismiss logit is a close start; like and share are logits given a click there, far from the simple model's). The
# regression columns keep their zero start: the simple model's survey weights are fitted on the few surveyed
# impressions, and started from them the ranker's survey RMSE ends worse than from zero (docs/quality/README.md).
COPIED_TASKS: tuple[str, ...] = BINARY_TASKS
CHAINED_COPIED_TASKS: tuple[str, ...] = ("click", "dismiss")

# {layer name: {variable short name ("embeddings", "kernel", "bias"): value}}
LinearWeights = Mapping[str, Mapping[str, np.ndarray]]


class WideStartError(ValueError):
    """The simple model's linear layers do not match the ranker's wide part (names or shapes)."""


def column_mask(chained: bool, copied: tuple[str, ...] | None = None) -> np.ndarray:
    """[len(TASKS)] 1.0 for the task columns that are copied (`copied`, by default `COPIED_TASKS` or with chained
    heads `CHAINED_COPIED_TASKS`), 0.0 for those that keep their zero start."""
    if copied is None:
        copied = CHAINED_COPIED_TASKS if chained else COPIED_TASKS
    return np.array([task in copied for task in TASKS], dtype=np.float32)


def _short_name(variable_name: str) -> str:
    """'video_id_weights/embeddings:0' -> 'embeddings'."""
    return variable_name.split("/")[-1].split(":")[0]


def linear_weights_of_model(model: tf.keras.Model) -> dict[str, dict[str, np.ndarray]]:
    """The linear layers (`*_weights`) of a built Keras simple model."""
    return {
        layer.name: {_short_name(v.name): v.numpy() for v in layer.weights}
        for layer in model.layers
        if layer.name.endswith("_weights") and layer.weights
    }


def linear_weights_of_saved_model(saved_model_dir: str) -> dict[str, dict[str, np.ndarray]]:
    """The linear layers of an exported simple model (its SavedModel's variables; no function is loaded)."""
    from models.warm_start import read_saved_variables

    out: dict[str, dict[str, np.ndarray]] = {}
    for variable in read_saved_variables(saved_model_dir).values():
        layer, _, short = variable.name.rpartition("/")
        if layer.endswith("_weights") and "/" not in layer:
            out.setdefault(layer, {})[_short_name(short)] = variable.value
    return out


def start_wide_part(
    ranker: tf.keras.Model,
    weights: LinearWeights,
    chained: bool,
    copied: tuple[str, ...] | None = None,
) -> list[str]:
    """Copies `weights` into the ranker's `wide_*` layers (masked by `column_mask`); returns the layers copied.

    Every wide layer must find its simple-model layer with the same variables and shapes, and every simple-model
    layer must have a wide counterpart: the two models are built from the same feature set and Transform output.
    """
    mask = column_mask(chained, copied)
    wide = {layer.name[len(WIDE_PREFIX) :]: layer for layer in ranker.layers if layer.name.startswith(WIDE_PREFIX)}
    wide = {name: layer for name, layer in wide.items() if layer.weights}
    if not wide:
        raise WideStartError("the ranker has no wide part (model.wide is false)")
    if set(wide) != set(weights):
        raise WideStartError(
            f"linear layers differ: only in the ranker {sorted(set(wide) - set(weights))}, "
            f"only in the simple model {sorted(set(weights) - set(wide))}"
        )
    for name in sorted(wide):
        layer, values = wide[name], weights[name]
        new = []
        for variable in layer.weights:
            short = _short_name(variable.name)
            value = values.get(short)
            if value is None or tuple(value.shape) != tuple(variable.shape):
                got = None if value is None else tuple(value.shape)
                want = tuple(variable.shape)
                raise WideStartError(f"{name}/{short}: shape {want} in the ranker, {got} in the simple model")
            new.append(value * mask)  # the task axis is the last of every linear variable
        layer.set_weights(new)
    _offset_head_intercepts(ranker, wide["dense_weights"], mask)
    return sorted(wide)


def _offset_head_intercepts(ranker: tf.keras.Model, dense: tf.keras.layers.Layer, mask: np.ndarray) -> None:
    """The deep heads start at their own intercept (3 for the survey rating: models/ranker.py); the copied wide
    intercept already holds the simple model's, so it gives up the head's: a copied task then starts at the simple
    model's output (plus the deep part's small random start) instead of at the sum of two intercepts."""
    kernel, bias = dense.get_weights()
    for i, task in enumerate(TASKS):
        if mask[i]:
            bias[i] -= float(ranker.get_layer(f"{task}_head").bias.numpy()[0])
    dense.set_weights([kernel, bias])


def save_wide_start(model_run_dir: str, simple_model: str, layers: list[str], chained: bool) -> None:
    """`wide_start.json` beside the training report: where the wide part started from and what was copied."""
    record = {
        "simple_model": simple_model,
        "layers": layers,
        "tasks": [task for task, keep in zip(TASKS, column_mask(chained)) if keep],
    }
    write_text(os.path.join(model_run_dir, WIDE_START_FILE), json.dumps(record, indent=1, sort_keys=True))
