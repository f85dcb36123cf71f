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
relevant on average). The world's clock is UTC: a request's `timestamp` is its user's local hour shifted by the user's
time zone into day `day` (UTC), and a video's logged age (`video_age_days`) and view count are taken at that
instant. Users are drawn by activity `a_u ~ LogNormal(0, 1)` (heavy-tailed: a few users make many
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
(Coefficients and draws: world/outcomes.py. world/oracle.py integrates the per-impression noise out of it: each
impression's expected outcomes given everything before it, the ceiling of any model of the logs.)

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

Documented outcome rates (checked by tests/world/test_world.py on the presets)
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

(Day 0. The outcomes depend on the day's state, not on the request's time of day or a video's logged age. Watch
fraction: mean of watch_time_s / video_duration_s over clicked impressions.) Position bias: the click
rate falls from ~24 % at position 0 to ~4 % at position 7 on the default preset.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from config.settings import WorldConfig
from logformat.schema import (
    DEVICES,
)
from world.corruption import CORRUPTION_KINDS, CORRUPTIONS
from world.encoding import encode_line, json_lines, record_rows
from world.entities import (
    EPOCH_S,
    HOUR_PROBS,
    PERSONALISED_SHARE,
    PRIMARY_DEVICE_PROB,
    REQUESTS_PER_BATCH,
    SURFACE_CLICK_BIAS,
    SURFACE_PROBS,
    VIEWS_SCALE,
    Population,
)
from world.features import LATENT_DIM
from world.outcomes import Latents, Outcomes, draw_outcomes
from world.streams import cdf, sample, seeded_rng
from world.tables import DayState, cumulative_views


@dataclass(frozen=True)
class ImpressionBatch:
    """One batch of requests of a (day, shard): who saw what, where, when, and the outcomes drawn."""

    impression_ids: list[str]  # request-major: request r's candidates at positions 0..k-1
    request_ids: list[str]
    user: np.ndarray  # [R]
    surface: np.ndarray  # [R]
    hour: np.ndarray  # [R] local hour
    device: np.ndarray  # [R]
    timestamp: np.ndarray  # [R] seconds (UTC)
    video: np.ndarray  # [R, k]
    topic: np.ndarray  # [R, k]
    creator: np.ndarray  # [R, k]
    log_rate: np.ndarray  # [R, k] log λ_v
    topic_share: np.ndarray  # [R, k] the logged, noisy user_topic_share
    latents: Latents
    outcomes: Outcomes


class World(Population):
    """One world, derived deterministically from `WorldConfig.seed`: its entities (world/entities.py) and the
    impressions and outcomes of any (day, shard).

    Build once per worker (`World(cfg)`) and call `generate_shard` / `generate_lines` for many shards; the state of
    the last day asked for is cached.
    """

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
            yield from record_rows(self.format.fields, columns)

    def generate_columns(self, day: int, shard: int) -> Iterator[dict[str, list]]:
        """The records of (day, shard), one dict of equal-length column lists per batch of requests."""
        self._check_day_shard(day, shard)
        feature_rng = seeded_rng(self.cfg.seed, 7, day, shard)
        noise_rng = seeded_rng(self.cfg.seed, 8, day, shard)
        for batch in self.impression_batches(day, shard):
            yield self._batch_columns(feature_rng, noise_rng, self.day_state(int(day)), batch)

    def impression_batches(self, day: int, shard: int) -> Iterator[ImpressionBatch]:
        """The impressions of (day, shard) batch by batch, with their latent quantities and drawn outcomes (before
        label noise): what `generate_columns` logs, and what the oracle (world/oracle.py) integrates over."""
        self._check_day_shard(day, shard)
        day, shard = int(day), int(shard)
        rng = seeded_rng(self.cfg.seed, 1, day, shard)
        state = self.day_state(day)
        requests = self.shard_requests(shard)
        for start in range(requests.start, requests.stop, REQUESTS_PER_BATCH):
            yield self._draw_batch(rng, state, shard, start, min(start + REQUESTS_PER_BATCH, requests.stop))

    def _draw_batch(
        self, rng: np.random.Generator, state: DayState, shard: int, start: int, stop: int
    ) -> ImpressionBatch:
        cfg, videos, day = self.cfg, state.videos, state.day
        num_req, k, num_topics = stop - start, cfg.candidates_per_request, cfg.num_topics

        # Request context.
        user = sample(state.user_cdf, rng.random(num_req))
        surface = sample(cdf(SURFACE_PROBS), rng.random(num_req))
        hour = sample(cdf(HOUR_PROBS), rng.random(num_req))
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
        creator = videos.creator[video]
        latents = Latents(
            affinity=aff,
            quality_z=4.0 * (videos.quality[video] - 0.5),
            clickbait=videos.clickbait[video] - 0.25,
            subscribed=self.is_subscribed(np.repeat(user, k).reshape(num_req, k), creator),
            position=np.broadcast_to(np.arange(k), (num_req, k)),
            surface_bias=SURFACE_CLICK_BIAS[surface][:, None],
            duration_ds=videos.duration_ds[video],
        )
        outcomes = draw_outcomes(rng, latents, cfg.survey_rate)
        topic_share = np.clip(interest * np.exp(rng.normal(0.0, 0.3, (num_req, k))), 0.0, 1.0)
        request_ids = [f"d{day}s{shard}r{r}" for r in range(start, stop)]
        return ImpressionBatch(
            impression_ids=[rid + f"p{p}" for rid in request_ids for p in range(k)],
            request_ids=request_ids,
            user=user,
            surface=surface,
            hour=hour,
            device=device,
            timestamp=timestamp,
            video=video,
            topic=topic,
            creator=creator,
            log_rate=log_rate,
            topic_share=topic_share,
            latents=latents,
            outcomes=outcomes,
        )

    def _batch_columns(
        self, feature_rng: np.random.Generator, noise_rng: np.random.Generator, state: DayState, batch: ImpressionBatch
    ) -> dict[str, list]:
        cfg, videos, day = self.cfg, state.videos, state.day
        num_req, k = len(batch.request_ids), cfg.candidates_per_request
        user, video, creator, hour, timestamp = batch.user, batch.video, batch.creator, batch.hour, batch.timestamp
        latents, outcomes = batch.latents, batch.outcomes
        aff, quality_z, clickbait = latents.affinity, latents.quality_z, latents.clickbait
        subscribed = latents.subscribed
        click, like, share, dismiss = outcomes.click, outcomes.like, outcomes.share, outcomes.dismiss
        if cfg.label_noise_rate > 0:
            click, like, share, dismiss = (
                _noisy(noise_rng, label, cfg.label_noise_rate) for label in (click, like, share, dismiss)
            )
        duration_ds = latents.duration_ds
        watch_ds = np.where(click, np.floor(outcomes.fraction * duration_ds), 0).astype(np.int64)

        # Observable counters at request time.
        # The world's clock is UTC: a video's age at the impression is its age at the day's start (00:00 UTC) plus
        # the time of the request since then, whatever the user's local hour.
        since_day_start_d = (timestamp - (EPOCH_S + day * 86_400)) / 86_400.0
        age = state.video_upload_age[video] + since_day_start_d[:, None]
        views = np.floor(VIEWS_SCALE * cumulative_views(videos, age, cfg.evergreen_share, video)).astype(np.int64)
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
        request_ids = batch.request_ids
        names = self._names
        columns: dict[str, Any] = {
            "impression_id": batch.impression_ids,
            "request_id": [rid for rid in request_ids for _ in range(k)],
            "timestamp": rep(timestamp).tolist(),
            "day": [day] * n,
            "user_id": names["user"][flat_user].tolist(),
            "video_id": state.video_id_names[flat_video].tolist(),
            "creator_id": names["creator"][creator.ravel()].tolist(),
            "country": names["country"][rep(self.user_country[user])].tolist(),
            "device": names["device"][rep(batch.device)].tolist(),
            "surface": names["surface"][rep(batch.surface)].tolist(),
            "video_topic": names["topic"][batch.topic.ravel()].tolist(),
            "position": latents.position.ravel().tolist(),
            "hour_of_day": rep(hour).tolist(),
            "video_duration_s": (duration_ds.ravel() / 10.0).tolist(),
            "video_age_days": np.round(age.ravel(), 2).tolist(),
            "user_topic_share": np.round(batch.topic_share.ravel(), 4).tolist(),
            "click": click.ravel().astype(np.int64).tolist(),
            "watch_time_s": (watch_ds.ravel() / 10.0).tolist(),
            "like": like.ravel().astype(np.int64).tolist(),
            "share": share.ravel().astype(np.int64).tolist(),
            "dismiss": dismiss.ravel().astype(np.int64).tolist(),
            "survey_rating": np.where(
                outcomes.surveyed.ravel(), outcomes.rating.ravel().astype(np.int64).astype(object), None
            ).tolist(),
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
                batch.log_rate,
                subscribed,
                latents.position / k,
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
                for line in json_lines(fields, columns):
                    yield line, None
            return
        rng = seeded_rng(self.cfg.seed, 2, day, shard)
        num_lines = len(self.shard_requests(shard)) * self.cfg.candidates_per_request
        corrupt = rng.random(num_lines) < rate
        kinds = rng.integers(0, len(CORRUPTIONS), num_lines)
        index = 0
        for columns in self.generate_columns(day, shard):
            for line, row in zip(json_lines(fields, columns), zip(*(columns[f] for f in fields))):
                if corrupt[index]:
                    kind = CORRUPTION_KINDS[int(kinds[index])]
                    yield encode_line(CORRUPTIONS[kind](dict(zip(fields, row)), rng)), kind
                else:
                    yield line, None
                index += 1


def _noisy(rng: np.random.Generator, label: np.ndarray, rate: float) -> np.ndarray:
    """`label` with each entry replaced by a fair coin with probability `rate`."""
    replace = rng.random(label.shape) < rate
    return np.where(replace, rng.random(label.shape) < 0.5, label)


def generate_shard(world: WorldConfig, day: int, shard: int) -> Iterator[dict[str, Any]]:
    """Yields the impression records of one (day, shard); see the module docstring."""
    return World(world).generate_shard(day, shard)


def generate_lines(world: WorldConfig, day: int, shard: int) -> Iterator[str]:
    """Yields the JSON lines of one (day, shard), `world.malformed_rate` of them corrupted."""
    return World(world).generate_lines(day, shard)
