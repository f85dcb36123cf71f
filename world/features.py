"""The generated features f_dense_* / f_cat_* (`world.num_extra_*`): which are informative, their weights and kinds
(random stream (0, 2)), and their columns for a batch of impressions."""

from __future__ import annotations

import math

import numpy as np

from config.settings import WorldConfig
from logformat.schema import log_format
from world.streams import sigmoid
from world.tables import VideoTable

CATEGORICAL_CARDINALITIES = (5, 20, 100, 1000)
LATENT_DIM = 7
HASH_PRIME = 2_147_483_647


class GeneratedFeatures:
    """The generated features' parameters: which are informative, their weights and kinds (stream (0, 2))."""

    def __init__(self, cfg: WorldConfig, rng: np.random.Generator):
        self.dense_names = log_format(cfg).extra_dense
        self.cat_names = log_format(cfg).extra_categorical
        nd, nc = len(self.dense_names), len(self.cat_names)
        self.dense_informative = rng.random(nd) < cfg.extra_informative_share
        self.dense_weights = rng.normal(0.0, 1.0 / math.sqrt(LATENT_DIM), (LATENT_DIM, nd)) * self.dense_informative
        self.dense_offset = rng.uniform(0.0, 5.0, nd)
        self.cat_informative = rng.random(nc) < cfg.extra_informative_share
        self.cat_cardinality = np.array([CATEGORICAL_CARDINALITIES[j % 4] for j in range(nc)], dtype=np.int64)
        self.cat_user_side = np.arange(nc) % 2 == 0
        self.cat_projection = rng.normal(0.0, 1.0, (max(cfg.num_topics, 2), nc))
        self.cat_hash = rng.integers(1, HASH_PRIME, (2, nc))

    def _hash_bucket(self, index: np.ndarray, j: int) -> np.ndarray:
        a, b = self.cat_hash[:, j]
        return ((index.astype(np.int64) * a + b) % HASH_PRIME) % self.cat_cardinality[j]

    def user_clusters(self, interest: np.ndarray, base: np.ndarray) -> np.ndarray:
        """[U, n_cat] bucket of each user for the user-side categoricals (unused columns stay 0).

        Projections are standardised with the base users' mean and spread (`base` marks them), so launched users
        are bucketed on the same scale and leave the base users' buckets unchanged.
        """
        out = np.zeros((len(interest), len(self.cat_names)), dtype=np.int64)
        index = np.arange(len(interest))
        for j in np.flatnonzero(self.cat_user_side):
            if self.cat_informative[j]:
                projection = interest @ self.cat_projection[: interest.shape[1], j]
                spread = projection[base].std() or 1.0
                z = (projection - projection[base].mean()) / spread
                out[:, j] = np.minimum(
                    (sigmoid(1.702 * z) * self.cat_cardinality[j]).astype(np.int64), self.cat_cardinality[j] - 1
                )
            else:
                out[:, j] = self._hash_bucket(index, j)
        return out

    def _video_bucket(self, videos: VideoTable, video: np.ndarray, j: int) -> np.ndarray:
        if not self.cat_informative[j]:
            # Hash of the id's position; ids are stable, and so are positions (the table only grows at the end).
            return self._hash_bucket(video, j)
        a, b = self.cat_projection[:2, j]
        z = (a * (videos.quality[video] - 0.55) / 0.15 + b * (videos.clickbait[video] - 0.25) / 0.17) / math.hypot(a, b)
        return np.minimum((sigmoid(1.702 * z) * self.cat_cardinality[j]).astype(np.int64), self.cat_cardinality[j] - 1)

    def columns(
        self,
        rng: np.random.Generator,
        latent: np.ndarray,
        user: np.ndarray,
        user_clusters: np.ndarray,
        videos: VideoTable,
        video: np.ndarray,
    ) -> dict[str, list]:
        """The generated features' columns of one batch (`latent`: [n, LATENT_DIM], one row per impression)."""
        out: dict[str, list] = {}
        if self.dense_names:
            x = latent @ self.dense_weights + rng.standard_normal((len(latent), len(self.dense_names)))
            for j, name in enumerate(self.dense_names):
                kind = j % 3
                if kind == 0:
                    values = np.round(np.exp(np.minimum(self.dense_offset[j] + x[:, j], 30.0)), 2)
                elif kind == 1:
                    values = np.round(x[:, j], 4)
                else:
                    values = np.round(sigmoid(x[:, j]), 4)
                out[name] = values.tolist()
        for j, name in enumerate(self.cat_names):
            bucket = user_clusters[user, j] if self.cat_user_side[j] else self._video_bucket(videos, video, j)
            out[name] = [f"b{b}" for b in bucket.tolist()]
        return out
