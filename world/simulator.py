"""The simulated YouTube-like world: users, creators, videos, the impressions they produce, and how it all drifts.

Pure, deterministic Python/numpy (no Beam, no TensorFlow). The log generator component runs `generate_lines` once
per (day, shard) inside Beam; everything here is also usable on its own. Every knob lives in `WorldConfig`
(config/settings.py) and is explained below.

Determinism
-----------
Every random quantity comes from its own stream `SeedSequence(seed, spawn_key=...)`:

=====================  =======================================================================================
spawn key              what it draws
=====================  =======================================================================================
(0,)                   the initial entities: creators, users, videos uploaded before `start_day`
(0, 1)                 user profiles (language, age bucket, subscriptions) and video topic mixtures, peak ages
(0, 2)                 the generated features' parameters (which are informative, weights, kinds)
(1, day, shard)        the requests and outcomes of one (day, shard)
(2, day, shard)        which lines are corrupted (`malformed_rate`)
(3, day)               the day's step of the users' interest random walk
(4, day)               the videos uploaded on `day`
(5, day)               the day's noise of the observed video statistics (`video_ctr`, `video_watch_fraction`)
(6, i)                 the users of the i-th `new_country` launch
(7, day, shard)        generated feature noise and missing values
(8, day, shard)        label noise
=====================  =======================================================================================

So a (day, shard) depends on nothing but the seed, the config and the day (not on other shards, nor on a caller's
batch size), and the feature knobs (`num_extra_*`, `missing_rate`, `label_noise_rate`) never change the underlying
impressions and outcomes, only what is logged about them.

Requests and sharding
---------------------
A day has `ceil(impressions_per_day / candidates_per_request)` requests; shard `s` of `n` owns requests
`[s*R//n, (s+1)*R//n)`. A request is one user on one surface (home / watch_next / search) at one local hour, shown
`candidates_per_request` videos at positions 0..k-1, ranked by a noisy relevance score (lower positions are more
relevant on average). Users are drawn by activity `a_u ~ LogNormal(0, 1)` (heavy-tailed: a few users make many
requests).

Entities
--------
* Creators: quality `q_c ~ Beta(3, 2.5)`, subscribers `floor(LogNormal(6, 2) (0.5 + q_c))`, growing by
  `creator_growth_per_day` a day.
* Users: interests `θ_u ~ Dirichlet(0.3)` over topics, activity `a_u`, country (Zipf 0.8 over `num_countries`),
  primary device, time zone, language (the country's with probability 0.85), age bucket, and a subscription set of
  `Poisson(subscriptions_per_user * sqrt(a_u) / E[sqrt(a)])` creators drawn by creator popularity.
* Videos: primary topic `p_v` and secondary topic `s_v` with mixture weight `w_v ~ U(0, 0.4)` (topic mixture
  `(1 - w_v) e_p + w_v e_s`), creator (Zipf 0.9), quality `0.6 q_c + 0.4 Beta(3, 3)`, thumbnail clickbait
  `cb_v ~ Beta(1.3, 4)` (independent of quality), duration `LogNormal(log 240 s, 1)` clipped to [5 s, 4 h],
  popularity scale `P_v ~ LogNormal(0, 1.5) (0.5 + quality)`, peak age `τ_v ~ LogNormal(log popularity_peak_days,
  0.5)`. `num_videos` exist before `start_day` (upload ages ~ Exp(60 days)); `uploads_per_day` new ones are uploaded
  during each day `t >= start_day` and are shown from day `t + 1` on.

Daily drift (the paper's sequential-training conditions, §3.2)
--------------------------------------------------------------
* Popularity rises and decays: a video of age `α` days gets daily views `λ_v(α) = P_v (g(α / τ_v) + ε)` with
  `g(x) = x e^(1 - x)` (peak 1 at `x = 1`) and `ε = evergreen_share`. Candidates of a topic are drawn in
  proportion to `λ_v`, so new uploads take over from old videos. The logged counter is the integral,
  `video_views = floor(40 P_v (τ_v e (1 - (1 + x) e^(-x)) + ε α))`.
* Interests drift: `θ_u(d) ∝ θ_u(0) ⊙ exp(interest_drift · W_u(d))`, `W_u` a Gaussian random walk over days.
* Counters accumulate: `user_watch_count = base_u + floor(3 a_u (d - start_day))`; creator subscribers grow.
* Observed video statistics: `video_ctr = clip(c_v + N(0, c_v (1 - c_v) / (n_v + 20)), 0, 1)` with
  `c_v = σ(-2.6 + 0.35 qz + 2.2 (cb - 0.25))` and `n_v` the views so far; `video_watch_fraction` likewise around
  `σ(0.2 + 0.8 (0.8 qz - 2 (cb - 0.25)))`: informative but noisy, most for new videos.

Shocks (`WorldConfig.shocks`, see `ShockConfig`): `viral_topic` multiplies the topic's `λ_v` and every `θ_u[topic]`
by `boost`; `counter_rescale` multiplies a logged counter by `factor` (a logging change: the outcomes do not move);
`new_country` adds users of an unused country (unseen ids) that make `traffic_share` of the requests.

Outcome model (per impression; `aff = log(T (θ_u·m_v) + 0.1)`, `qz = 4 (quality - 0.5)`, `sub` = subscribed 0/1)
------------------------------------------------------------------------------------------------------------------
* true satisfaction `s = 0.6 aff + 0.8 qz - 2 (cb - 0.25) + 0.3 sub + N(0, 0.5^2)` (never logged);
* click ~ Bernoulli(σ(-2.3 + 0.55 aff + 0.35 qz + 2.2 (cb - 0.25) + 0.5 sub - 0.18 position + surface bias
  + N(0, 0.3^2))): clickbait raises clicks but lowers satisfaction, so engagement and satisfaction conflict;
* watch fraction given a click `f = σ(0.2 + 0.8 s + N(0, 1))`, `watch_time_s = floor(f * duration)` at 0.1 s
  (0 when not clicked, censored at the duration, heavy-tailed through the log-normal durations);
* like ~ σ(-4.7 + 3 f + 0.5 s), share ~ σ(-6.0 + 3 f + 0.5 s), both only after a click (long watches);
* dismiss ~ σ(-2.8 - 0.7 aff - 0.2 qz), only when not clicked (low affinity);
* survey on a `survey_rate` random fraction of impressions, rating `clip(rint(3 + 0.8 s + N(0, 0.5^2)), 1, 5)`;
* `user_topic_share = clip(θ_u(d)[p_v] exp(N(0, 0.3^2)), 0, 1)`: a noisy observable proxy of affinity;
* label noise: each binary label is replaced by a fair coin with probability `label_noise_rate` (a click that
  flips to 0 loses its watch time).

Generated features (`num_extra_dense_features`, `num_extra_categorical_features`)
-------------------------------------------------------------------------------
A latent vector per impression `L = (aff, qz, cb, log a_u, log λ_v, sub, position / k)` (cb centred at 0.25). Dense
feature `j`: `x_j = w_j · L + N(0, 1)` when informative (a share `extra_informative_share` of them, `w_j ~ N(0, I/7)`),
else pure noise, logged as one of three kinds by `j mod 3`: heavy-tailed `exp(μ_j + x_j)` (μ_j ~ U(0, 5)),
Gaussian `x_j`, or bounded `σ(x_j)`. Categorical feature `j` clusters users (even `j`) or videos (odd `j`) into
`(5, 20, 100, 1000)[j mod 4]` buckets: by a random projection of the interests (users) or of quality and clickbait
(videos) when informative, else by a hash of the id. Every optional field (language, age bucket, generated features)
is null with probability `missing_rate`.

Documented outcome rates (checked by tests/test_world.py on the presets)
------------------------------------------------------------------------
=======================  ===============================  ==================  ==================
outcome                  documented range                 default preset      tiny preset
=======================  ===============================  ==================  ==================
click rate               5 % – 30 %                       12.4 %              10.8 %
like rate | click        3 % – 25 %                       11.4 %              12.5 %
share rate | click       0.5 % – 10 %                     3.5 %               3.5 %
dismiss rate             1 % – 10 %                       5.3 %               5.7 %
survey fraction          survey_rate ± 3 standard errors  4.9 % (rate 5 %)    5.1 % (rate 5 %)
mean rating              2.5 – 4.0                        3.31                3.36
watch fraction | click   0.3 – 0.8                        0.64                0.65
subscribed impressions   (not checked)                    18.5 %              30.7 %
=======================  ===============================  ==================  ==================

(Day 0. Watch fraction: mean of watch_time_s / video_duration_s over clicked impressions.) Position bias: the click
rate falls from ~24 % at position 0 to ~4 % at position 7 on the default preset.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from config.settings import WorldConfig
from config.validation import validate_world
from logformat.schema import (
    AGE_BUCKETS,
    CORE_RECORD_ORDER,
    COUNTRIES,
    COUNTRY_LANGUAGE,
    DEVICES,
    ENUMS,
    FIELD_TYPES,
    FLOAT_FEATURE_FIELDS,
    LANGUAGES,
    SURFACES,
    LogFormat,
    log_format,
)

EPOCH_S = 1_704_067_200  # 2024-01-01T00:00:00Z: day 0 starts here
REQUESTS_PER_BATCH = 2_048  # fixed: batch boundaries are part of the random stream
PERSONALISED_SHARE = 0.7  # candidates retrieved from the user's interests (the rest: random topics)
SURFACE_PROBS = np.array([0.55, 0.30, 0.15])  # home, watch_next, search
SURFACE_CLICK_BIAS = np.array([0.0, 0.2, 0.5])
DEVICE_PROBS = np.array([0.62, 0.25, 0.08, 0.05])  # mobile, desktop, tv, tablet
PRIMARY_DEVICE_PROB = 0.85
AGE_PROBS = np.array([0.08, 0.22, 0.27, 0.20, 0.13, 0.10])
NATIVE_LANGUAGE_PROB = 0.85
VIEWS_SCALE = 40.0  # expected daily views of a video at its peak, per unit of popularity
INITIAL_AGE_MEAN_DAYS = 60.0
MAX_SECONDARY_TOPIC_WEIGHT = 0.4
CATEGORICAL_CARDINALITIES = (5, 20, 100, 1000)
LATENT_DIM = 7
# Local-hour distribution of requests: quiet at night, peak in the evening.
_HOUR_WEIGHTS = np.array(
    [3, 2, 1.5, 1, 1, 1.5, 2.5, 4, 5, 5, 5, 5.5, 6, 6, 6, 6, 6.5, 7, 8, 9, 9.5, 9, 7, 5], dtype=np.float64
)
HOUR_PROBS = _HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()
_HASH_PRIME = 2_147_483_647

# Key order of the core fields of a record (the table order of logformat/schema.py). A World's records have
# `World.format.fields`: these, then the world fields and the generated features.
RECORD_FIELDS: tuple[str, ...] = CORE_RECORD_ORDER


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _cdf(weights: np.ndarray) -> np.ndarray:
    """Cumulative distribution along the last axis, with the last entry exactly 1."""
    cdf = np.cumsum(weights, axis=-1)
    cdf /= cdf[..., -1:]
    cdf[..., -1] = 1.0
    return cdf


def _sample(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF sampling from one distribution: indices for uniforms `u`."""
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=tuple(int(k) for k in key))))


@dataclass(frozen=True)
class VideoTable:
    """Attributes of the videos that exist on a day: the initial ones, then each day's uploads, in that order."""

    topic: np.ndarray  # [V] primary topic p_v
    topic2: np.ndarray  # [V] secondary topic s_v
    topic2_weight: np.ndarray  # [V] mixture weight w_v of the secondary topic
    creator: np.ndarray  # [V]
    quality: np.ndarray  # [V] in (0, 1)
    clickbait: np.ndarray  # [V] in (0, 1)
    duration_ds: np.ndarray  # [V] deciseconds
    upload_time: np.ndarray  # [V] fractional day of upload
    popularity: np.ndarray  # [V] P_v
    peak_days: np.ndarray  # [V] τ_v
    ids: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.topic)

    @staticmethod
    def concat(tables: list[VideoTable]) -> VideoTable:
        arrays = {
            name: np.concatenate([getattr(t, name) for t in tables])
            for name in VideoTable.__dataclass_fields__
            if name != "ids"
        }
        return VideoTable(**arrays, ids=tuple(i for t in tables for i in t.ids))


@dataclass(frozen=True)
class DayState:
    """Everything that changes from day to day (drift and shocks), computed once per day.

    The arrays cover the videos of `videos` (those uploaded before `day`) and every user (base users, then the
    users of each `new_country` launch).
    """

    day: int
    videos: VideoTable
    video_upload_age: np.ndarray  # [V] days since upload at the start of `day` (> 0)
    video_daily_views: np.ndarray  # [V] λ_v at the start of `day`, viral boost included (sampling weight)
    video_ctr: np.ndarray  # [V] observed click-through rate
    video_watch_fraction: np.ndarray  # [V] observed mean watched fraction
    topic_keys: np.ndarray  # [V] topic + within-topic CDF of λ_v, ordered by `video_by_topic`
    video_by_topic: np.ndarray  # [V] video indices sorted by topic
    user_interest: np.ndarray  # [U, T] θ_u(day)
    user_interest_cdf: np.ndarray  # [U, T]
    user_cdf: np.ndarray  # [U] request share of each user (activity, launches)
    user_watch_count: np.ndarray  # [U] videos watched before `day`
    creator_subscribers: np.ndarray  # [C]
    counter_factors: dict[str, float]  # counter_rescale shocks in force: field -> factor
    video_id_names: np.ndarray  # [V] object array of the video ids (for fast lookups)


class World:
    """The entities of one world, derived deterministically from `WorldConfig.seed`.

    Build once per worker (`World(cfg)`) and call `generate_shard` / `generate_lines` for many shards; the state of
    the last day asked for is cached.
    """

    def __init__(self, cfg: WorldConfig):
        validate_world(cfg)
        self.cfg = cfg
        self.format: LogFormat = log_format(cfg)
        rng = _rng(cfg.seed, 0)
        num_topics, num_users = cfg.num_topics, cfg.num_users
        num_videos, num_creators = cfg.num_videos, cfg.num_creators

        # Creators: quality in (0, 1) and a heavy-tailed subscriber count that grows with quality.
        self.creator_quality = rng.beta(3.0, 2.5, num_creators)
        self.creator_subscribers = np.floor(
            rng.lognormal(6.0, 2.0, num_creators) * (0.5 + self.creator_quality)
        ).astype(np.int64)
        self.creator_weights = 1.0 / np.arange(1, num_creators + 1) ** 0.9
        self.creator_cdf = _cdf(self.creator_weights)

        # Users: sparse topic interests, heavy-tailed activity, country, primary device, timezone.
        interest = rng.dirichlet(np.full(num_topics, 0.3), num_users)
        activity = rng.lognormal(0.0, 1.0, num_users)
        country_weights = 1.0 / np.arange(1, cfg.num_countries + 1) ** 0.8
        country = _sample(_cdf(country_weights), rng.random(num_users))
        device = _sample(_cdf(DEVICE_PROBS), rng.random(num_users))
        utc_offset = rng.integers(-8, 10, num_users)
        base_watch = rng.poisson(200.0 * activity).astype(np.int64)

        # Initial videos: every topic has at least one video; creators are Zipf-popular.
        topics = np.concatenate([np.arange(num_topics), rng.integers(0, num_topics, num_videos - num_topics)])
        video_topic = rng.permutation(topics)
        video_creator = _sample(self.creator_cdf, rng.random(num_videos))
        quality = np.clip(0.6 * self.creator_quality[video_creator] + 0.4 * rng.beta(3.0, 3.0, num_videos), 0, 1)
        clickbait = rng.beta(1.3, 4.0, num_videos)
        duration_s = np.clip(rng.lognormal(np.log(240.0), 1.0, num_videos), 5.0, 4 * 3600.0)
        upload_time = cfg.start_day - 0.5 - rng.exponential(INITIAL_AGE_MEAN_DAYS, num_videos)
        popularity = rng.lognormal(0.0, 1.5, num_videos) * (0.5 + quality)

        # Profiles and mixtures (their own stream, so the draws above stay those of the first world version).
        prof = _rng(cfg.seed, 0, 1)
        topic2, topic2_weight, peak = self._mixture_and_peak(prof, num_videos)
        self.initial_videos = VideoTable(
            topic=video_topic,
            topic2=topic2,
            topic2_weight=topic2_weight,
            creator=video_creator,
            quality=quality,
            clickbait=clickbait,
            duration_ds=np.rint(duration_s * 10).astype(np.int64),
            upload_time=upload_time,
            popularity=popularity,
            peak_days=peak,
            ids=tuple(f"v{i:07d}" for i in range(num_videos)),
        )
        language = self._languages(prof, country)
        age = _sample(_cdf(AGE_PROBS), prof.random(num_users))

        # New-country launches: extra users (indices >= num_users), each group from its own stream.
        self.launches = [s for s in cfg.shocks if s.kind == "new_country"]
        groups = [np.zeros(num_users, dtype=np.int64)]  # 0 = base users, i + 1 = launch i
        for i, shock in enumerate(self.launches):
            size = max(1, round(num_users * shock.traffic_share))
            g = _rng(cfg.seed, 6, i)
            new_country = np.full(size, cfg.num_countries + i)
            interest = np.vstack([interest, g.dirichlet(np.full(num_topics, 0.3), size)])
            activity = np.concatenate([activity, g.lognormal(0.0, 1.0, size)])
            country = np.concatenate([country, new_country])
            device = np.concatenate([device, _sample(_cdf(DEVICE_PROBS), g.random(size))])
            utc_offset = np.concatenate([utc_offset, g.integers(-8, 10, size)])
            base_watch = np.concatenate([base_watch, np.zeros(size, dtype=np.int64)])
            language = np.concatenate([language, self._languages(g, new_country)])
            age = np.concatenate([age, _sample(_cdf(AGE_PROBS), g.random(size))])
            groups.append(np.full(size, i + 1))
        self.user_group = np.concatenate(groups)
        self.user_interest0 = interest
        self.user_activity = activity
        self.user_country = country
        self.user_device = device
        self.user_utc_offset_h = utc_offset
        self.user_base_watch_count = base_watch
        self.user_language = language
        self.user_age = age
        self.user_ids = [f"u{i:07d}" for i in range(len(activity))]
        self._subscriptions([prof, *(_rng(cfg.seed, 6, i, 1) for i in range(len(self.launches)))])

        self.creator_ids = [f"c{i:05d}" for i in range(num_creators)]
        self.topic_names = [f"t{i:02d}" for i in range(num_topics)]
        # Object arrays of the logged strings: fancy indexing turns index arrays into string lists in C.
        self._names = {
            name: np.array(values, dtype=object)
            for name, values in (
                ("user", self.user_ids),
                ("creator", self.creator_ids),
                ("topic", self.topic_names),
                ("country", COUNTRIES),
                ("device", DEVICES),
                ("surface", SURFACES),
                ("language", LANGUAGES),
                ("age", AGE_BUCKETS),
            )
        }
        self._features = _FeatureParams(cfg, _rng(cfg.seed, 0, 2))
        self._user_clusters = self._features.user_clusters(self.user_interest0, self.user_group == 0)
        self._walk: tuple[int, np.ndarray] | None = None
        self._uploads: dict[int, VideoTable] = {}
        self._state: DayState | None = None

    # -- entities --------------------------------------------------------------------------------------------

    @property
    def video_ids(self) -> tuple[str, ...]:
        """Ids of the videos that exist before start_day (uploads: `videos_on(day).ids`)."""
        return self.initial_videos.ids

    @property
    def video_clickbait(self) -> np.ndarray:
        """Clickbait of the videos that exist before start_day, in `video_ids` order."""
        return self.initial_videos.clickbait

    def _mixture_and_peak(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
        topic2 = rng.integers(0, self.cfg.num_topics, n)
        weight = rng.uniform(0.0, MAX_SECONDARY_TOPIC_WEIGHT, n)
        peak = rng.lognormal(np.log(self.cfg.popularity_peak_days), 0.5, n)
        return topic2, weight, peak

    @staticmethod
    def _languages(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
        native = np.array([LANGUAGES.index(COUNTRY_LANGUAGE[c]) for c in country], dtype=np.int64)
        other = rng.integers(0, len(LANGUAGES), len(country))
        return np.where(rng.random(len(country)) < NATIVE_LANGUAGE_PROB, native, other)

    def _subscriptions(self, rngs: list[np.random.Generator]) -> None:
        """Subscription sets: sorted keys `user * C + creator` (unique) and the size of each user's set.

        Each user group (base users, then each launch) draws from its own stream, so a launch leaves the base
        users' subscriptions as they were.
        """
        num_creators = self.cfg.num_creators
        weights = _cdf(self.creator_weights * (0.5 + self.creator_quality))
        mean_sqrt = np.sqrt(self.user_activity[self.user_group == 0]).mean()
        keys = []
        for group, rng in enumerate(rngs):
            members = np.flatnonzero(self.user_group == group)
            sizes = rng.poisson(self.cfg.subscriptions_per_user * np.sqrt(self.user_activity[members]) / mean_sqrt)
            users = np.repeat(members, sizes)
            keys.append(users * num_creators + _sample(weights, rng.random(len(users))))
        self.subscription_keys = np.unique(np.concatenate(keys))
        self.user_num_subscriptions = np.bincount(
            self.subscription_keys // num_creators, minlength=len(self.user_activity)
        ).astype(np.int64)

    def is_subscribed(self, user: np.ndarray, creator: np.ndarray) -> np.ndarray:
        """1 where `user` subscribes to `creator` (elementwise), else 0."""
        keys = user.astype(np.int64) * self.cfg.num_creators + creator
        pos = np.minimum(np.searchsorted(self.subscription_keys, keys), len(self.subscription_keys) - 1)
        if not len(self.subscription_keys):
            return np.zeros(keys.shape, dtype=np.int64)
        return (self.subscription_keys[pos] == keys).astype(np.int64)

    def uploads(self, day: int) -> VideoTable:
        """The `uploads_per_day` videos uploaded during `day` (from stream (4, day))."""
        if day not in self._uploads:
            n = self.cfg.uploads_per_day
            rng = _rng(self.cfg.seed, 4, day)
            creator = _sample(self.creator_cdf, rng.random(n))
            quality = np.clip(0.6 * self.creator_quality[creator] + 0.4 * rng.beta(3.0, 3.0, n), 0, 1)
            topic2, weight, peak = self._mixture_and_peak(rng, n)
            duration_s = np.clip(rng.lognormal(np.log(240.0), 1.0, n), 5.0, 4 * 3600.0)
            self._uploads[day] = VideoTable(
                topic=rng.integers(0, self.cfg.num_topics, n),
                topic2=topic2,
                topic2_weight=weight,
                creator=creator,
                quality=quality,
                clickbait=rng.beta(1.3, 4.0, n),
                duration_ds=np.rint(duration_s * 10).astype(np.int64),
                upload_time=day + rng.random(n),
                popularity=rng.lognormal(0.0, 1.5, n) * (0.5 + quality),
                peak_days=peak,
                ids=tuple(f"v{day:04d}u{i:05d}" for i in range(n)),
            )
        return self._uploads[day]

    def videos_on(self, day: int) -> VideoTable:
        """The videos that can be shown on `day`: the initial ones and the uploads of days start_day .. day - 1."""
        return VideoTable.concat([self.initial_videos, *(self.uploads(t) for t in range(self.cfg.start_day, day))])

    # -- per-day state ---------------------------------------------------------------------------------------

    def interest_walk(self, day: int) -> np.ndarray:
        """W_u(day): the sum of the daily N(0, 1) steps of days start_day + 1 .. day ([U, T]; zero before)."""
        start = self.cfg.start_day
        if self._walk is None or self._walk[0] > day:
            self._walk = (start, np.zeros_like(self.user_interest0))
        current, walk = self._walk
        groups = [np.flatnonzero(self.user_group == g) for g in range(len(self.launches) + 1)]
        for t in range(current + 1, day + 1):
            step = np.empty_like(walk)
            for g, members in enumerate(groups):  # base users (3, t), launch i (3, t, i + 1)
                key = (3, t) if g == 0 else (3, t, g)
                step[members] = _rng(self.cfg.seed, *key).standard_normal((len(members), walk.shape[1]))
            walk = walk + step
        self._walk = (max(current, day), walk)
        return walk

    def day_state(self, day: int) -> DayState:
        """Attributes on `day`: ages, popularity, interests, counters, and the shocks in force (cached)."""
        if self._state is not None and self._state.day == day:
            return self._state
        cfg = self.cfg
        active = [s for s in cfg.shocks if s.active(day)]
        videos = self.videos_on(day)
        age = day - videos.upload_time
        x = age / videos.peak_days
        views_rate = videos.popularity * (x * np.exp(1.0 - x) + cfg.evergreen_share)
        interest = self.user_interest0 * np.exp(cfg.interest_drift * self.interest_walk(day))
        for shock in active:
            if shock.kind == "viral_topic":
                views_rate = np.where(videos.topic == shock.topic, views_rate * shock.boost, views_rate)
                interest[:, shock.topic] *= shock.boost
        interest /= interest.sum(axis=1, keepdims=True)

        # Popularity-weighted sampling of a video within a topic: keys are topic + within-topic CDF.
        by_topic = np.argsort(videos.topic, kind="stable")
        sorted_topics = videos.topic[by_topic]
        sorted_rate = views_rate[by_topic]
        keys = np.empty(len(videos))
        for topic in range(cfg.num_topics):
            segment = sorted_topics == topic
            if segment.any():
                keys[segment] = topic + _cdf(sorted_rate[segment])

        # Who makes requests: base users by activity, launched users by activity within their traffic share.
        weights = np.zeros(len(self.user_activity))
        base = self.user_group == 0
        launched = [(i, s) for i, s in enumerate(self.launches) if s.active(day)]
        base_share = 1.0 - sum(s.traffic_share for _, s in launched)
        weights[base] = base_share * self.user_activity[base] / self.user_activity[base].sum()
        for i, shock in launched:
            group = self.user_group == i + 1
            weights[group] = shock.traffic_share * self.user_activity[group] / self.user_activity[group].sum()

        days = max(day - cfg.start_day, 0)
        ctr, watch_fraction = self._observed_video_stats(videos, age, day)
        factors: dict[str, float] = {}
        for shock in active:
            if shock.kind == "counter_rescale":
                factors[shock.field] = factors.get(shock.field, 1.0) * shock.factor
        self._state = DayState(
            day=day,
            videos=videos,
            video_upload_age=age,
            video_daily_views=views_rate,
            video_ctr=ctr,
            video_watch_fraction=watch_fraction,
            topic_keys=keys,
            video_by_topic=by_topic,
            user_interest=interest,
            user_interest_cdf=_cdf(interest),
            user_cdf=_cdf(weights),
            user_watch_count=self.user_base_watch_count + np.floor(3.0 * self.user_activity * days).astype(np.int64),
            creator_subscribers=np.floor(self.creator_subscribers * (1.0 + cfg.creator_growth_per_day) ** days).astype(
                np.int64
            ),
            counter_factors=factors,
            video_id_names=np.array(videos.ids, dtype=object),
        )
        return self._state

    def _observed_video_stats(self, videos: VideoTable, age: np.ndarray, day: int) -> tuple[np.ndarray, np.ndarray]:
        """Noisy observed CTR and watch fraction of each video (noise shrinks with the views so far)."""
        rng = _rng(self.cfg.seed, 5, day)
        quality_z = 4.0 * (videos.quality - 0.5)
        bait = videos.clickbait - 0.25
        seen = _cumulative_views(videos, np.maximum(age, 0.0), self.cfg.evergreen_share)
        ctr = _sigmoid(-2.6 + 0.35 * quality_z + 2.2 * bait)
        ctr = np.clip(ctr + rng.standard_normal(len(videos)) * np.sqrt(ctr * (1 - ctr) / (seen + 20.0)), 0.0, 1.0)
        fraction = _sigmoid(0.2 + 0.8 * (0.8 * quality_z - 2.0 * bait))
        noise = rng.standard_normal(len(videos)) * 0.25 / np.sqrt(seen / 10.0 + 1.0)
        return np.round(ctr, 4), np.round(np.clip(fraction + noise, 0.0, 1.0), 4)

    # -- requests --------------------------------------------------------------------------------------------

    def num_requests(self) -> int:
        """Requests per day: impressions_per_day rounded up to whole requests."""
        return -(-self.cfg.impressions_per_day // self.cfg.candidates_per_request)

    def shard_requests(self, shard: int) -> range:
        """The request indices of `shard` (contiguous, disjoint across shards, covering the day)."""
        total, num_shards = self.num_requests(), self.cfg.num_shards
        return range(shard * total // num_shards, (shard + 1) * total // num_shards)

    def _check_day_shard(self, day: int, shard: int) -> None:
        if not isinstance(day, (int, np.integer)) or day < 0:
            raise ValueError(f"day must be a non-negative integer, got {day!r}")
        if not isinstance(shard, (int, np.integer)) or not 0 <= shard < self.cfg.num_shards:
            raise ValueError(f"shard must be in [0, {self.cfg.num_shards}), got {shard!r}")

    def generate_shard(self, day: int, shard: int) -> Iterator[dict[str, Any]]:
        """Yields the impression records of (day, shard) as dicts in `self.format.fields` order."""
        for columns in self.generate_columns(day, shard):
            yield from _rows(self.format.fields, columns)

    def generate_columns(self, day: int, shard: int) -> Iterator[dict[str, list]]:
        """The records of (day, shard), one dict of equal-length column lists per batch of requests."""
        self._check_day_shard(day, shard)
        day, shard = int(day), int(shard)
        rng = _rng(self.cfg.seed, 1, day, shard)
        feature_rng = _rng(self.cfg.seed, 7, day, shard)
        noise_rng = _rng(self.cfg.seed, 8, day, shard)
        state = self.day_state(day)
        requests = self.shard_requests(shard)
        for start in range(requests.start, requests.stop, REQUESTS_PER_BATCH):
            stop = min(start + REQUESTS_PER_BATCH, requests.stop)
            yield self._batch_columns(rng, feature_rng, noise_rng, state, shard, start, stop)

    def _batch_columns(
        self,
        rng: np.random.Generator,
        feature_rng: np.random.Generator,
        noise_rng: np.random.Generator,
        state: DayState,
        shard: int,
        start: int,
        stop: int,
    ) -> dict[str, list]:
        cfg, videos, day = self.cfg, state.videos, state.day
        num_req, k, num_topics = stop - start, cfg.candidates_per_request, cfg.num_topics

        # Request context.
        user = _sample(state.user_cdf, rng.random(num_req))
        surface = _sample(_cdf(SURFACE_PROBS), rng.random(num_req))
        hour = _sample(_cdf(HOUR_PROBS), rng.random(num_req))
        device = np.where(
            rng.random(num_req) < PRIMARY_DEVICE_PROB,
            self.user_device[user],
            rng.integers(0, len(DEVICES), num_req),
        )
        utc_hour = (hour - self.user_utc_offset_h[user]) % 24
        timestamp = EPOCH_S + day * 86_400 + utc_hour * 3_600 + rng.integers(0, 3_600, num_req)

        # Candidates: personalised topics from the user's interests, the rest random; then a video of that
        # topic drawn by its current daily views.
        u_topic = rng.random((num_req, k))
        personal_topic = (state.user_interest_cdf[user][:, None, :] <= u_topic[..., None]).sum(-1)
        personal_topic = np.minimum(personal_topic, num_topics - 1)
        random_topic = rng.integers(0, num_topics, (num_req, k))
        topic = np.where(rng.random((num_req, k)) < PERSONALISED_SHARE, personal_topic, random_topic)
        slot = np.searchsorted(state.topic_keys, topic + rng.random((num_req, k)), side="right")
        video = state.video_by_topic[np.minimum(slot, len(videos) - 1)]

        theta = state.user_interest[user]  # [R, T]
        w2 = videos.topic2_weight[video]
        mixed = (1.0 - w2) * np.take_along_axis(theta, videos.topic[video], 1) + w2 * np.take_along_axis(
            theta, videos.topic2[video], 1
        )
        aff = np.log(num_topics * mixed + 0.1)
        # Rank by a noisy relevance score: position 0 is the most relevant on average.
        log_rate = np.log(state.video_daily_views[video])
        relevance = 0.6 * aff + 0.3 * log_rate + rng.normal(0.0, 1.0, (num_req, k))
        order = np.argsort(-relevance, axis=1, kind="stable")
        video = np.take_along_axis(video, order, axis=1)
        aff = np.take_along_axis(aff, order, axis=1)
        log_rate = np.take_along_axis(log_rate, order, axis=1)
        topic = videos.topic[video]
        interest = np.take_along_axis(theta, topic, 1)
        position = np.broadcast_to(np.arange(k), (num_req, k))
        creator = videos.creator[video]
        subscribed = self.is_subscribed(np.repeat(user, k).reshape(num_req, k), creator)

        # Outcomes.
        quality_z = 4.0 * (videos.quality[video] - 0.5)
        clickbait = videos.clickbait[video] - 0.25
        satisfaction = (
            0.6 * aff + 0.8 * quality_z - 2.0 * clickbait + 0.3 * subscribed + rng.normal(0.0, 0.5, (num_req, k))
        )
        click_logit = (
            -2.3
            + 0.55 * aff
            + 0.35 * quality_z
            + 2.2 * clickbait
            + 0.5 * subscribed
            - 0.18 * position
            + SURFACE_CLICK_BIAS[surface][:, None]
            + rng.normal(0.0, 0.3, (num_req, k))
        )
        click = rng.random((num_req, k)) < _sigmoid(click_logit)
        fraction = _sigmoid(0.2 + 0.8 * satisfaction + rng.normal(0.0, 1.0, (num_req, k)))
        duration_ds = videos.duration_ds[video]
        like = click & (rng.random((num_req, k)) < _sigmoid(-4.7 + 3.0 * fraction + 0.5 * satisfaction))
        share = click & (rng.random((num_req, k)) < _sigmoid(-6.0 + 3.0 * fraction + 0.5 * satisfaction))
        dismiss = ~click & (rng.random((num_req, k)) < _sigmoid(-2.8 - 0.7 * aff - 0.2 * quality_z))
        surveyed = rng.random((num_req, k)) < cfg.survey_rate
        rating = np.clip(np.rint(3.0 + 0.8 * satisfaction + rng.normal(0.0, 0.5, (num_req, k))), 1, 5)
        topic_share = np.clip(interest * np.exp(rng.normal(0.0, 0.3, (num_req, k))), 0.0, 1.0)
        if cfg.label_noise_rate > 0:
            click, like, share, dismiss = (
                _noisy(noise_rng, label, cfg.label_noise_rate) for label in (click, like, share, dismiss)
            )
        watch_ds = np.where(click, np.floor(fraction * duration_ds), 0).astype(np.int64)

        # Observable counters at request time.
        age = state.video_upload_age[video] + (hour / 24.0)[:, None]
        views = np.floor(VIEWS_SCALE * _cumulative_views(videos, age, cfg.evergreen_share, video)).astype(np.int64)
        n = num_req * k
        rep = lambda a: np.repeat(a, k)  # noqa: E731 - per request -> per impression
        counters = {
            "video_views": views.ravel(),
            "creator_subscribers": state.creator_subscribers[creator].ravel(),
            "user_watch_count": rep(state.user_watch_count[user]),
            "user_num_subscriptions": rep(self.user_num_subscriptions[user]),
        }
        for name, factor in state.counter_factors.items():
            counters[name] = np.rint(counters[name] * factor).astype(np.int64)

        flat_user = rep(user)
        flat_video = video.ravel()
        request_ids = [f"d{day}s{shard}r{r}" for r in range(start, stop)]
        suffixes = [f"p{p}" for p in range(k)]
        names = self._names
        columns: dict[str, Any] = {
            "impression_id": [rid + suffix for rid in request_ids for suffix in suffixes],
            "request_id": [rid for rid in request_ids for _ in range(k)],
            "timestamp": rep(timestamp).tolist(),
            "day": [day] * n,
            "user_id": names["user"][flat_user].tolist(),
            "video_id": state.video_id_names[flat_video].tolist(),
            "creator_id": names["creator"][creator.ravel()].tolist(),
            "country": names["country"][rep(self.user_country[user])].tolist(),
            "device": names["device"][rep(device)].tolist(),
            "surface": names["surface"][rep(surface)].tolist(),
            "video_topic": names["topic"][topic.ravel()].tolist(),
            "position": position.ravel().tolist(),
            "hour_of_day": rep(hour).tolist(),
            "video_duration_s": (duration_ds.ravel() / 10.0).tolist(),
            "video_age_days": np.round(age.ravel(), 2).tolist(),
            "user_topic_share": np.round(topic_share.ravel(), 4).tolist(),
            "click": click.ravel().astype(np.int64).tolist(),
            "watch_time_s": (watch_ds.ravel() / 10.0).tolist(),
            "like": like.ravel().astype(np.int64).tolist(),
            "share": share.ravel().astype(np.int64).tolist(),
            "dismiss": dismiss.ravel().astype(np.int64).tolist(),
            "survey_rating": np.where(surveyed.ravel(), rating.ravel().astype(np.int64).astype(object), None).tolist(),
            "user_language": names["language"][rep(self.user_language[user])].tolist(),
            "user_age_bucket": names["age"][rep(self.user_age[user])].tolist(),
            "is_subscribed": subscribed.ravel().tolist(),
            "video_ctr": state.video_ctr[flat_video].tolist(),
            "video_watch_fraction": state.video_watch_fraction[flat_video].tolist(),
            **{name: values.tolist() for name, values in counters.items()},
        }
        latent = np.stack(
            [
                aff,
                quality_z,
                clickbait,
                np.broadcast_to(np.log(self.user_activity[user])[:, None], aff.shape),
                log_rate,
                subscribed,
                position / k,
            ],
            axis=-1,
        ).reshape(n, LATENT_DIM)
        columns.update(self._features.columns(feature_rng, latent, flat_user, self._user_clusters, videos, flat_video))
        for name in self.format.optional_fields:
            column = columns[name]
            for i in np.flatnonzero(feature_rng.random(n) < cfg.missing_rate).tolist():
                column[i] = None
        return columns

    # -- log lines -------------------------------------------------------------------------------------------

    def generate_lines(self, day: int, shard: int) -> Iterator[str]:
        """Yields the JSON text lines (no newline) of (day, shard), with `malformed_rate` of them corrupted."""
        for line, _kind in self.generate_lines_with_kinds(day, shard):
            yield line

    def generate_lines_with_kinds(self, day: int, shard: int) -> Iterator[tuple[str, str | None]]:
        """Like `generate_lines`, paired with the corruption kind of each line (None for a clean line)."""
        for data, kind in self.generate_encoded_lines(day, shard):
            yield data.decode("utf-8", "surrogateescape"), kind

    def generate_encoded_lines(self, day: int, shard: int) -> Iterator[tuple[bytes, str | None]]:
        """The lines of (day, shard) as bytes (what LogGen writes), each with its corruption kind or None.

        Clean lines are formatted column by column (`_json_lines`): byte for byte `encode_record(record)`, at a
        fraction of the cost of a dict per record.
        """
        fields = self.format.fields
        rate = self.cfg.malformed_rate
        if rate <= 0.0:
            for columns in self.generate_columns(day, shard):
                for line in _json_lines(fields, columns):
                    yield line, None
            return
        rng = _rng(self.cfg.seed, 2, day, shard)
        num_lines = len(self.shard_requests(shard)) * self.cfg.candidates_per_request
        corrupt = rng.random(num_lines) < rate
        kinds = rng.integers(0, len(CORRUPTIONS), num_lines)
        index = 0
        for columns in self.generate_columns(day, shard):
            for line, row in zip(_json_lines(fields, columns), zip(*(columns[f] for f in fields))):
                if corrupt[index]:
                    kind = CORRUPTION_KINDS[int(kinds[index])]
                    yield encode_line(CORRUPTIONS[kind](dict(zip(fields, row)), rng)), kind
                else:
                    yield line, None
                index += 1


def _json_lines(fields: tuple[str, ...], columns: dict[str, list]) -> list[bytes]:
    """Compact JSON objects (keys in `fields` order) of one batch, as `orjson.dumps` writes each record.

    Each column is serialised once by orjson (a JSON array) and split into its value tokens; a line is then the
    key/value template filled row by row. Splitting on "," is exact because no value a world writes contains a
    comma (numbers, null, and ids, enums and bucket names made of letters, digits, "_", "-" and "+").
    """
    template = b"{" + b",".join(b'"' + name.encode() + b'":%s' for name in fields) + b"}"
    tokens = [orjson.dumps(columns[name])[1:-1].split(b",") for name in fields]
    return [template % row for row in zip(*tokens)]


def _rows(fields: tuple[str, ...], columns: dict[str, list]) -> Iterator[dict[str, Any]]:
    """Record dicts (keys in `fields` order) from one batch of column lists."""
    for row in zip(*(columns[name] for name in fields)):
        yield dict(zip(fields, row))


def _noisy(rng: np.random.Generator, label: np.ndarray, rate: float) -> np.ndarray:
    """`label` with each entry replaced by a fair coin with probability `rate`."""
    replace = rng.random(label.shape) < rate
    return np.where(replace, rng.random(label.shape) < 0.5, label)


def _cumulative_views(
    videos: VideoTable, age: np.ndarray, evergreen: float, index: np.ndarray | None = None
) -> np.ndarray:
    """Λ(α) / 40 = P (τ e (1 - (1 + x) e^-x) + ε α), x = α / τ: the integral of the daily-views curve."""
    pop = videos.popularity if index is None else videos.popularity[index]
    tau = videos.peak_days if index is None else videos.peak_days[index]
    x = age / tau
    return pop * (tau * np.e * (1.0 - (1.0 + x) * np.exp(-x)) + evergreen * age)


class _FeatureParams:
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
        self.cat_hash = rng.integers(1, _HASH_PRIME, (2, nc))

    def _hash_bucket(self, index: np.ndarray, j: int) -> np.ndarray:
        a, b = self.cat_hash[:, j]
        return ((index.astype(np.int64) * a + b) % _HASH_PRIME) % self.cat_cardinality[j]

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
                    (_sigmoid(1.702 * z) * self.cat_cardinality[j]).astype(np.int64), self.cat_cardinality[j] - 1
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
        return np.minimum((_sigmoid(1.702 * z) * self.cat_cardinality[j]).astype(np.int64), self.cat_cardinality[j] - 1)

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
                    values = np.round(_sigmoid(x[:, j]), 4)
                out[name] = values.tolist()
        for j, name in enumerate(self.cat_names):
            bucket = user_clusters[user, j] if self.cat_user_side[j] else self._video_bucket(videos, video, j)
            out[name] = [f"b{b}" for b in bucket.tolist()]
        return out


def encode_record(record: dict[str, Any]) -> str:
    """The canonical JSON text of a record (compact, key order preserved)."""
    return orjson.dumps(record).decode("utf-8")


def encode_line(line: str) -> bytes:
    """Bytes of a generated line. Lone surrogates (the `invalid_utf8` corruption) become raw bytes."""
    return line.encode("utf-8", "surrogateescape")


def generate_shard(world: WorldConfig, day: int, shard: int) -> Iterator[dict[str, Any]]:
    """Yields the impression records of one (day, shard); see the module docstring."""
    return World(world).generate_shard(day, shard)


def generate_lines(world: WorldConfig, day: int, shard: int) -> Iterator[str]:
    """Yields the JSON lines of one (day, shard), `world.malformed_rate` of them corrupted."""
    return World(world).generate_lines(day, shard)


# -- corruption: deliberately malformed lines (exercise the ingest's quarantine) ----------------------
#
# Each kind maps a clean record to a bad line. `EXPECTED_REASON_PREFIX[kind]` is the start of the
# quarantine reason the parser must give it (field-specific reasons end with ":<field>").

OVERSIZED_LINE_CHARS = 1 << 17  # larger than the default IngestConfig.max_line_bytes
_NUMERIC_FIELDS = tuple(f for f, types in FIELD_TYPES.items() if int in types and f != "survey_rating")
_STRING_FIELDS = tuple(f for f, types in FIELD_TYPES.items() if types == (str,))
_NON_NULLABLE = tuple(f for f, types in FIELD_TYPES.items() if type(None) not in types)


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(0, len(options)))]


def _truncated(record: dict[str, Any], rng: np.random.Generator) -> str:
    line = encode_record(record)
    return line[: int(rng.integers(1, len(line) - 1))]


def _invalid_utf8(record: dict[str, Any], rng: np.random.Generator) -> str:
    field = _pick(rng, _STRING_FIELDS)
    value = record[field]
    cut = int(rng.integers(0, len(value) + 1))
    marker = "@@invalid-utf8@@"
    line = encode_record({**record, field: value[:cut] + marker + value[cut:]})
    # U+DCFF U+DCFE are surrogate escapes: `encode_line` writes them as the raw bytes 0xff 0xfe.
    return line.replace(marker, "\udcff\udcfe")


def _not_an_object(record: dict[str, Any], rng: np.random.Generator) -> str:
    return encode_record(list(record.values()))  # type: ignore[arg-type]


def _empty_line(record: dict[str, Any], rng: np.random.Generator) -> str:
    return ""


def _missing_field(record: dict[str, Any], rng: np.random.Generator) -> str:
    field = _pick(rng, tuple(FIELD_TYPES))
    return encode_record({k: v for k, v in record.items() if k != field})


def _null_field(record: dict[str, Any], rng: np.random.Generator) -> str:
    return encode_record({**record, _pick(rng, _NON_NULLABLE): None})


def _wrong_type(record: dict[str, Any], rng: np.random.Generator) -> str:
    field = _pick(rng, tuple(FIELD_TYPES))
    value = record[field]
    if field == "survey_rating" or isinstance(value, (int, float)):
        bad: Any = str(value if value is not None else 3)  # a number as a string
    else:
        bad = int(rng.integers(0, 1000))  # a string field as a number
    return encode_record({**record, field: bad})


def _non_finite(record: dict[str, Any], rng: np.random.Generator) -> str:
    field = _pick(rng, (*FLOAT_FEATURE_FIELDS, "watch_time_s"))
    value = (math.nan, math.inf, -math.inf)[int(rng.integers(0, 3))]
    # orjson writes NaN as null; the stdlib writes the NaN/Infinity tokens that some loggers emit.
    return json.dumps({**record, field: value}, separators=(",", ":"))


def _negative_watch_time(record: dict[str, Any], rng: np.random.Generator) -> str:
    return encode_record({**record, "click": 1, "watch_time_s": -round(float(rng.uniform(0.1, 100.0)), 1)})


def _watch_exceeds_duration(record: dict[str, Any], rng: np.random.Generator) -> str:
    too_long = round(record["video_duration_s"] * float(rng.uniform(1.1, 3.0)) + 1.0, 1)
    return encode_record({**record, "click": 1, "watch_time_s": too_long})


def _rating_out_of_range(record: dict[str, Any], rng: np.random.Generator) -> str:
    return encode_record({**record, "survey_rating": int(rng.choice([-1, 0, 6, 10, 99]))})


def _bad_label(record: dict[str, Any], rng: np.random.Generator) -> str:
    return encode_record({**record, _pick(rng, ("click", "like", "share", "dismiss")): 2})


def _unknown_enum(record: dict[str, Any], rng: np.random.Generator) -> str:
    field = _pick(rng, tuple(ENUMS))
    return encode_record({**record, field: f"unknown_{field}_{int(rng.integers(0, 100))}"})


def _oversized_line(record: dict[str, Any], rng: np.random.Generator) -> str:
    return encode_record({**record, "debug_blob": "x" * OVERSIZED_LINE_CHARS})


CORRUPTIONS: dict[str, Callable[[dict[str, Any], np.random.Generator], str]] = {
    "truncated": _truncated,
    "invalid_utf8": _invalid_utf8,
    "not_an_object": _not_an_object,
    "empty_line": _empty_line,
    "missing_field": _missing_field,
    "null_field": _null_field,
    "wrong_type": _wrong_type,
    "non_finite": _non_finite,
    "negative_watch_time": _negative_watch_time,
    "watch_exceeds_duration": _watch_exceeds_duration,
    "rating_out_of_range": _rating_out_of_range,
    "bad_label": _bad_label,
    "unknown_enum": _unknown_enum,
    "oversized_line": _oversized_line,
}
CORRUPTION_KINDS: tuple[str, ...] = tuple(CORRUPTIONS)

EXPECTED_REASON_PREFIX: dict[str, str] = {
    "truncated": "invalid_json",
    "invalid_utf8": "invalid_utf8",
    "not_an_object": "not_an_object",
    "empty_line": "empty_line",
    "missing_field": "missing_field:",
    "null_field": "null_field:",
    "wrong_type": "wrong_type:",
    "non_finite": "non_finite:",
    "negative_watch_time": "negative:watch_time_s",
    "watch_exceeds_duration": "watch_time_exceeds_duration",
    "rating_out_of_range": "out_of_range:survey_rating",
    "bad_label": "out_of_range:",
    "unknown_enum": "unknown_enum:",
    "oversized_line": "oversized_line",
}
