"""Shared by the distributed-training scripts (tests/distributed_equivalence.py, tests/multi_worker_run.py).

Importing this module creates no device and no strategy: the scripts configure devices or TF_CONFIG first.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from config.settings import BINARY_TASKS, ModelConfig, TrainConfig
from models import distribution
from models import features as F
from models.ranker import build_ranker, compile_ranker, split_labels
from models.trainer import build_optimizer

VOCAB = {"user_id": 50, "video_id": 40, "creator_id": 10, "country": 5, "device": 5, "surface": 4, "video_topic": 9}
MODEL = ModelConfig(embedding_dim=4, hidden_units=(16, 8), tower_units=(4,))
OPTIMIZER_PARAMS = {
    "clippy": {"variable_relative_threshold": 0.5, "absolute_threshold": 1e-2},
    "gc": {"clip_norm": 0.5},
    "agc": {"clipping": 0.05},
    "lamb": {"mu": 0.01},
}


def fake_transformed(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Transformed features and labels; ~30% of rows surveyed, so the replicas' survey counts differ."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for key, size in {**VOCAB, **F.BUCKETED_INT_FEATURES}.items():
        out[F.transformed_name(key)] = rng.integers(0, size, n).astype(np.int64)
    for key in F.DENSE_FEATURES:
        out[F.transformed_name(key)] = rng.normal(size=n).astype(np.float32)
    signal = out[F.transformed_name("user_topic_share")]
    for task in BINARY_TASKS:
        out[F.label_key(task)] = (signal + rng.normal(size=n) > 0.5).astype(np.float32)
    out[F.label_key("watch_time")] = np.maximum(0, 3 + signal + rng.normal(size=n)).astype(np.float32)
    out[F.label_key("survey_rating")] = np.clip(np.round(3 + signal), 1, 5).astype(np.float32)
    out[F.transformed_name(F.SURVEY_MASK)] = (rng.random(n) < 0.3).astype(np.float32)
    return out


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
