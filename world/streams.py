"""Deterministic random streams and sampling helpers of the world (see world/simulator.py's determinism table)."""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def cdf(weights: np.ndarray) -> np.ndarray:
    """Cumulative distribution along the last axis, with the last entry exactly 1."""
    cdf = np.cumsum(weights, axis=-1)
    cdf /= cdf[..., -1:]
    cdf[..., -1] = 1.0
    return cdf


def sample(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF sampling from one distribution: indices for uniforms `u`."""
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)


def seeded_rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=tuple(int(k) for k in key))))
