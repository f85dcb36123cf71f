"""The oracle: each impression's expected outcome per task, given everything that exists before the impression.

For a generated (seed, day, shard) it replays the simulator's draws (`World.impression_batches`: the same requests,
candidates and impression ids as the logs) and integrates each impression's own noise out of the outcome model
(world/outcomes.py), so what remains is the best prediction any model of the logs could make:

* click: E[σ(click logit mean + N(0, 0.3²))], by Gauss–Hermite quadrature;
* like, share: P(click) · E[σ(like logit(f, s))] over the satisfaction noise s and the watch-fraction noise f;
* dismiss: (1 - P(click)) · σ(dismiss logit) (no noise of its own);
* watch_time: E[log1p(watch_time_s)] (the ranker's scale: log1p seconds, 0 without a click), with the simulator's
  rounding to 0.1 s;
* survey_rating: E[clip(rint(3 + 0.8 s + N(0, 0.5²)), 1, 5)] in closed form (given a survey: the rating's RMSE is
  taken over surveyed impressions);
* label noise (`label_noise_rate` ε): an observed binary label is y with probability 1 - ε and a fair coin otherwise,
  so its expectation is (1 - ε) E[y] + ε / 2 (and a click that flips carries its watch time).

The expectations never enter the logs or the features: the quality report (pipeline/quality/) joins them to examples
by `impression_id`. The AUC of the binary expectations on a span is the ceiling no model of its logs can pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from config.settings import WorldConfig
from world.outcomes import (
    CLICK_NOISE_SD,
    FRACTION_NOISE_SD,
    LIKE_COEFFICIENTS,
    RATING_NOISE_SD,
    SATISFACTION_NOISE_SD,
    SHARE_COEFFICIENTS,
    Latents,
    after_click_logit,
    fraction_logit_mean,
    rating_mean,
)
from world.simulator import World
from world.streams import sigmoid

ORACLE_TASKS: tuple[str, ...] = ("click", "like", "share", "dismiss", "watch_time", "survey_rating")
# Gauss–Hermite nodes per noise dimension: within 1e-6 of 64 nodes, watch time within 1e-3 (its 0.1 s rounding is a
# step function); tests/world/test_oracle.py.
QUADRATURE_NODES = 16


def normal_quadrature(n: int = QUADRATURE_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z and weights w with Σ w g(z) ≈ E[g(Z)], Z ~ N(0, 1) (probabilists' Gauss–Hermite)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n)
    return nodes, weights / weights.sum()


def expected_outcomes(
    latents: Latents, label_noise_rate: float = 0.0, nodes: int = QUADRATURE_NODES
) -> dict[str, np.ndarray]:
    """The expectation of each task's logged label given `latents`, per impression (arrays shaped like them)."""
    z, w = normal_quadrature(nodes)
    click_mean = latents.click_logit_mean()[..., None]
    p_click = (sigmoid(click_mean + CLICK_NOISE_SD * z) * w).sum(-1)
    satisfaction_mean = latents.satisfaction_mean()
    like_given_click = np.zeros_like(p_click)
    share_given_click = np.zeros_like(p_click)
    log_watch_given_click = np.zeros_like(p_click)
    duration_ds = latents.duration_ds[..., None].astype(np.float64)
    for z_s, w_s in zip(z, w):  # satisfaction noise, then the watch-fraction noise on the last axis
        satisfaction = (satisfaction_mean + SATISFACTION_NOISE_SD * z_s)[..., None]
        fraction = sigmoid(fraction_logit_mean(satisfaction) + FRACTION_NOISE_SD * z)
        like_given_click += w_s * (sigmoid(after_click_logit(LIKE_COEFFICIENTS, fraction, satisfaction)) * w).sum(-1)
        share_given_click += w_s * (sigmoid(after_click_logit(SHARE_COEFFICIENTS, fraction, satisfaction)) * w).sum(-1)
        watch_s = np.floor(fraction * duration_ds) / 10.0
        log_watch_given_click += w_s * (np.log1p(watch_s) * w).sum(-1)
    p_dismiss = (1.0 - p_click) * sigmoid(latents.dismiss_logit())
    # rating = clip(rint(X), 1, 5), X ~ N(3 + 0.8 E[s], 0.8² sd_s² + sd_r²): E = 5 - Σ_{k=1..4} P(X < k + 1/2).
    rating_sd = np.hypot(0.8 * SATISFACTION_NOISE_SD, RATING_NOISE_SD)
    center = rating_mean(satisfaction_mean)
    rating = 5.0 - sum(ndtr((k + 0.5 - center) / rating_sd) for k in range(1, 5))

    def observed(p: np.ndarray) -> np.ndarray:
        return (1.0 - label_noise_rate) * p + label_noise_rate / 2.0

    click = observed(p_click)
    return {
        "click": click,
        "like": observed(p_click * like_given_click),
        "share": observed(p_click * share_given_click),
        "dismiss": observed(p_dismiss),
        "watch_time": click * log_watch_given_click,
        "survey_rating": rating,
    }


@dataclass(frozen=True)
class OracleSpan:
    """The oracle's expectations of some impressions: `values[task][i]` belongs to `impression_ids[i]`."""

    impression_ids: list[str]
    values: dict[str, np.ndarray]

    def lookup(self, impression_ids: list[str] | np.ndarray) -> dict[str, np.ndarray]:
        """The expectations of `impression_ids` in their order (NaN for an id the oracle does not know)."""
        index = {impression_id: i for i, impression_id in enumerate(self.impression_ids)}
        rows = np.array([index.get(str(i), -1) for i in impression_ids], dtype=np.int64)
        known = rows >= 0
        out = {}
        for task, values in self.values.items():
            column = np.full(len(rows), np.nan)
            column[known] = values[rows[known]]
            out[task] = column
        return out

    @staticmethod
    def concat(parts: list[OracleSpan]) -> OracleSpan:
        return OracleSpan(
            impression_ids=[i for part in parts for i in part.impression_ids],
            values={task: np.concatenate([part.values[task] for part in parts]) for task in ORACLE_TASKS},
        )


class Oracle:
    """The expectations of any generated (day, shard) of one world, recomputed deterministically from its config."""

    def __init__(self, world: WorldConfig | World):
        self.world = world if isinstance(world, World) else World(world)

    def shard(self, day: int, shard: int) -> OracleSpan:
        parts = []
        for batch in self.world.impression_batches(day, shard):
            expected = expected_outcomes(batch.latents, self.world.cfg.label_noise_rate)
            parts.append(OracleSpan(batch.impression_ids, {task: v.ravel() for task, v in expected.items()}))
        return OracleSpan.concat(parts) if parts else OracleSpan([], {t: np.zeros(0) for t in ORACLE_TASKS})

    def day(self, day: int) -> OracleSpan:
        """Every impression of `day` (all shards, in the logs' order)."""
        return OracleSpan.concat([self.shard(day, shard) for shard in range(self.world.cfg.num_shards)])
