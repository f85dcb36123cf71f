"""Shared by the distributed-training scripts (distributed_equivalence.py, multi_worker_run.py
beside this file).

Importing this module creates no device and no strategy: the scripts configure devices or TF_CONFIG first.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from helpers.batches import VOCAB, fake_transformed  # noqa: F401 - VOCAB re-exported for the scripts

from config.settings import ModelConfig, TrainConfig
from models import distribution
from models.ranker import build_ranker, compile_ranker, split_labels
from models.trainer import build_optimizer

MODEL = ModelConfig(embedding_dim=4, hidden_units=(16, 8), tower_units=(4,))
OPTIMIZER_PARAMS = {
    "clippy": {"variable_relative_threshold": 0.5, "absolute_threshold": 1e-2},
    "gc": {"clip_norm": 0.5},
    "agc": {"clipping": 0.05},
    "lamb": {"mu": 0.01},
}


def train(
    strategy_name: str,
    optimizer: str,
    steps: int,
    batch: int,
    initial: list[np.ndarray] | None,
    export_dir: str | None = None,
):
    """The trainer's code path: strategy from the config name, model + split optimizer built under its scope.

    Returns (replicas, initial weights, final weights, per-step losses); saves the model to `export_dir` if given.
    """
    config = TrainConfig(optimizer=optimizer, learning_rate=0.05, optimizer_params=OPTIMIZER_PARAMS.get(optimizer, {}))
    strategy = distribution.make_strategy(strategy_name)
    tf.keras.utils.set_random_seed(0)
    data = tf.data.Dataset.from_tensor_slices(fake_transformed(steps * batch)).batch(batch, drop_remainder=True)
    data = data.map(split_labels).with_options(distribution.dataset_options(strategy))
    with strategy.scope():
        model = build_ranker(MODEL, VOCAB)
        compile_ranker(model, build_optimizer(config), MODEL)
    if initial is not None:
        model.set_weights(initial)
    start = model.get_weights()
    history = model.fit(data, epochs=steps, steps_per_epoch=1, verbose=0, shuffle=False)
    if export_dir:
        tf.saved_model.save(model, export_dir)  # outside the scope, as the trainer exports
    return strategy.num_replicas_in_sync, start, model.get_weights(), history.history["loss"]
