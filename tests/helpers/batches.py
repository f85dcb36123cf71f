"""Fake transformed features and labels for the ranker, as Transform would hand them to the Trainer.

Importing this module creates no device and no strategy (the distribution scripts configure devices first).
"""

from __future__ import annotations

import numpy as np

from config.settings import BINARY_TASKS
from models import features as F

# Embedding input sizes (vocabulary + OOV buckets) of the core vocabulary features.
VOCAB = {"user_id": 50, "video_id": 40, "creator_id": 10, "country": 5, "device": 5, "surface": 4, "video_topic": 9}


def fake_transformed(n: int, seed: int = 0, vocab: dict[str, int] = VOCAB) -> dict[str, np.ndarray]:
    """`n` rows of transformed features and labels; ~30% of rows surveyed, labels driven by `user_topic_share`."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for key, size in {**vocab, **F.BUCKETED_INT_FEATURES}.items():
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
