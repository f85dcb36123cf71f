"""The simulated YouTube-like world: users, creators, videos and the impressions they produce.

Pure, deterministic Python/numpy (no Beam, no TensorFlow). The log generator component runs
`generate_lines` once per (day, shard) inside Beam; everything here is also usable on its own.

Determinism
-----------
* The entities (users, creators, videos) are derived from `WorldConfig.seed` alone, through
  `SeedSequence(seed, spawn_key=(0,))`, so every shard of every day sees the same world.
* The impressions of one (day, shard) come from `SeedSequence(seed, spawn_key=(1, day, shard))`;
  they do not depend on any other shard, and on nothing else (not on the batch size used by a caller).
* Corrupted lines (`malformed_rate`) are chosen by a third stream, `spawn_key=(2, day, shard)`: turning
  corruption on or off never changes the underlying records, only which lines are replaced.

Requests and sharding
---------------------
A day has `ceil(impressions_per_day / candidates_per_request)` requests (so the number of impressions is
rounded up to whole requests); shard `s` of `n` owns requests `[s*R//n, (s+1)*R//n)`. A request is one
user on one surface at one local hour, shown `candidates_per_request` videos at positions 0..k-1; the
candidates are ranked by a noisy relevance score, so lower positions are more relevant on average.

Outcome model (per impression; `aff = log(T * interest[user, topic] + 0.1)`, `qz = 4 * (quality - 0.5)`,
`cb` = clickbait in (0, 1))
----------------------------------------------------------------------------------------------------
* true satisfaction `s = 0.6 aff + 0.8 qz - 2 (cb - 0.25) + N(0, 0.5^2)` (never logged);
* click ~ Bernoulli(sigmoid(-2.3 + 0.55 aff + 0.35 qz + 2.2 (cb - 0.25) - 0.18 position + surface
  bias + N(0, 0.3^2))): clickbait raises clicks but lowers satisfaction, so the tasks conflict;
* watch fraction given a click `f = sigmoid(0.2 + 0.8 s + N(0, 1))`, `watch_time_s = floor(f * duration)`
  at 0.1 s resolution (0 when not clicked, never above the duration; heavy-tailed through the
  log-normal durations);
* like ~ sigmoid(-4.7 + 3 f + 0.5 s), share ~ sigmoid(-6.0 + 3 f + 0.5 s), both only after a click;
* dismiss ~ sigmoid(-2.8 - 0.7 aff - 0.2 qz), only when not clicked;
* survey on a `survey_rate` random fraction of impressions, rating `clip(rint(3 + 0.8 s + N(0, 0.5^2)), 1, 5)`;
* `user_topic_share = clip(interest * exp(N(0, 0.3^2)), 0, 1)`: a noisy observable proxy of affinity.

Documented outcome rates (checked by tests/test_world.py on the presets)
------------------------------------------------------------------------
=======================  ===============================  ==================
outcome                  documented range                 default preset
=======================  ===============================  ==================
click rate               5 % – 30 %                       11.8 %
like rate | click        3 % – 25 %                       11.8 %
share rate | click       0.5 % – 10 %                     4.0 %
dismiss rate             1 % – 10 %                       5.7 %
survey fraction          survey_rate ± 3 standard errors  4.9 % (rate 5 %)
mean rating              2.5 – 4.0                        3.31
watch fraction | click   0.3 – 0.8                        0.65
=======================  ===============================  ==================

(watch fraction: mean of watch_time_s / video_duration_s over clicked impressions.) Position bias: the
click rate falls from ~24 % at position 0 to ~3 % at position 7 on the default preset.

Extension points: per-day state (video ages, view counters, user activity counters) lives in
`World.day_state`, which is where drift and shock events plug in.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from components.log_schema import (
    COUNTRIES,
    DEVICES,
    ENUMS,
    FIELD_TYPES,
    FLOAT_FEATURE_FIELDS,
    SURFACES,
)
from pipeline.config import ConfigError, WorldConfig

EPOCH_S = 1_704_067_200  # 2024-01-01T00:00:00Z: day 0 starts here
REQUESTS_PER_BATCH = 2_048  # fixed: batch boundaries are part of the random stream
PERSONALISED_SHARE = 0.7  # candidates retrieved from the user's interests (the rest: random topics)
SURFACE_PROBS = np.array([0.55, 0.30, 0.15])  # home, watch_next, search
SURFACE_CLICK_BIAS = np.array([0.0, 0.2, 0.5])
DEVICE_PROBS = np.array([0.62, 0.25, 0.08, 0.05])  # mobile, desktop, tv, tablet
PRIMARY_DEVICE_PROB = 0.85
# Local-hour distribution of requests: quiet at night, peak in the evening.
_HOUR_WEIGHTS = np.array(
    [3, 2, 1.5, 1, 1, 1.5, 2.5, 4, 5, 5, 5, 5.5, 6, 6, 6, 6, 6.5, 7, 8, 9, 9.5, 9, 7, 5], dtype=np.float64
)
HOUR_PROBS = _HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()

# Key order of a record: the table order of components/log_schema.py.
RECORD_FIELDS: tuple[str, ...] = (
    "impression_id",
    "request_id",
    "timestamp",
    "day",
    "user_id",
    "video_id",
    "creator_id",
    "country",
    "device",
    "surface",
    "video_topic",
    "position",
    "hour_of_day",
    "video_duration_s",
    "video_age_days",
    "video_views",
    "creator_subscribers",
    "user_watch_count",
    "user_topic_share",
    "click",
    "watch_time_s",
    "like",
    "share",
    "dismiss",
    "survey_rating",
)
assert set(RECORD_FIELDS) == set(FIELD_TYPES), "RECORD_FIELDS must list exactly the log schema's fields"


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


def validate_world(cfg: WorldConfig) -> None:
    """Raises ConfigError naming the first invalid field of `cfg`."""
    positive = ("num_users", "num_videos", "num_creators", "num_topics", "num_countries")
    positive += ("impressions_per_day", "candidates_per_request", "num_shards", "num_days")
    for name in positive:
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"world.{name} must be a positive integer, got {value!r}")
    for name in ("seed", "start_day"):
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"world.{name} must be a non-negative integer, got {value!r}")
    if cfg.num_countries > len(COUNTRIES):
        raise ConfigError(f"world.num_countries must be <= {len(COUNTRIES)}, got {cfg.num_countries}")
    if cfg.num_videos < cfg.num_topics:
        raise ConfigError(f"world.num_videos ({cfg.num_videos}) must be >= world.num_topics ({cfg.num_topics})")
    if cfg.num_topics > 100:
        raise ConfigError(f"world.num_topics must be <= 100 (topics are 't00'..'t99'), got {cfg.num_topics}")
    for name in ("survey_rate", "malformed_rate"):
        value = getattr(cfg, name)
        if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ConfigError(f"world.{name} must be in [0, 1], got {value!r}")


@dataclass(frozen=True)
class DayState:
    """Entity attributes that change from day to day (the hook for drift and shock events)."""

    day: int
    video_upload_age: np.ndarray  # [V] days since upload at the start of `day` (> 0)
    video_views_per_day: np.ndarray  # [V] expected views per day of age (popularity)
    user_watch_count: np.ndarray  # [U] videos watched before `day`


class World:
    """The entities of one world, derived deterministically from `WorldConfig.seed`.

    Build once per worker (`World(cfg)`) and call `generate_shard` / `generate_lines` for many shards.
    """

    def __init__(self, cfg: WorldConfig):
        validate_world(cfg)
        self.cfg = cfg
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(cfg.seed, spawn_key=(0,))))
        num_topics, num_users = cfg.num_topics, cfg.num_users
        num_videos, num_creators = cfg.num_videos, cfg.num_creators

        # Creators: quality in (0, 1) and a heavy-tailed subscriber count that grows with quality.
        self.creator_quality = rng.beta(3.0, 2.5, num_creators)
        self.creator_subscribers = np.floor(
            rng.lognormal(6.0, 2.0, num_creators) * (0.5 + self.creator_quality)
        ).astype(np.int64)

        # Users: sparse topic interests, heavy-tailed activity, country, primary device, timezone.
        self.user_interest = rng.dirichlet(np.full(num_topics, 0.3), num_users)
        self.user_interest_cdf = _cdf(self.user_interest)
        self.user_activity = rng.lognormal(0.0, 1.0, num_users)
        self.user_activity_cdf = _cdf(self.user_activity)
        country_weights = 1.0 / np.arange(1, cfg.num_countries + 1) ** 0.8
        self.user_country = _sample(_cdf(country_weights), rng.random(num_users))
        self.user_device = _sample(_cdf(DEVICE_PROBS), rng.random(num_users))
        self.user_utc_offset_h = rng.integers(-8, 10, num_users)
        self.user_base_watch_count = rng.poisson(200.0 * self.user_activity).astype(np.int64)

        # Videos: every topic has at least one video; creators are Zipf-popular.
        topics = np.concatenate([np.arange(num_topics), rng.integers(0, num_topics, num_videos - num_topics)])
        self.video_topic = rng.permutation(topics)
        creator_weights = 1.0 / np.arange(1, num_creators + 1) ** 0.9
        self.video_creator = _sample(_cdf(creator_weights), rng.random(num_videos))
        self.video_quality = np.clip(
            0.6 * self.creator_quality[self.video_creator] + 0.4 * rng.beta(3.0, 3.0, num_videos), 0.0, 1.0
        )
        self.video_clickbait = rng.beta(1.3, 4.0, num_videos)
        duration_s = np.clip(rng.lognormal(np.log(240.0), 1.0, num_videos), 5.0, 4 * 3600.0)
        self.video_duration_ds = np.rint(duration_s * 10).astype(np.int64)  # deciseconds
        self.video_upload_day = cfg.start_day - 0.5 - rng.exponential(60.0, num_videos)
        self.video_popularity = rng.lognormal(0.0, 1.5, num_videos) * (0.5 + self.video_quality)

        # Popularity-weighted sampling of a video within a topic: keys are topic + within-topic CDF.
        self.video_by_topic = np.argsort(self.video_topic, kind="stable")
        sorted_topics = self.video_topic[self.video_by_topic]
        sorted_pop = self.video_popularity[self.video_by_topic]
        keys = np.empty(num_videos)
        for topic in range(num_topics):
            segment = sorted_topics == topic
            keys[segment] = topic + _cdf(sorted_pop[segment])
        self.topic_keys = keys

        self.user_ids = [f"u{i:07d}" for i in range(num_users)]
        self.video_ids = [f"v{i:07d}" for i in range(num_videos)]
        self.creator_ids = [f"c{i:05d}" for i in range(num_creators)]
        self.topic_names = [f"t{i:02d}" for i in range(num_topics)]

    # -- per-day state -------------------------------------------------------------------------------

    def day_state(self, day: int) -> DayState:
        """Attributes on `day`. First version of the world: no drift, only ageing and accumulating counters."""
        return DayState(
            day=day,
            video_upload_age=day - self.video_upload_day,
            video_views_per_day=40.0 * self.video_popularity,
            user_watch_count=self.user_base_watch_count
            + np.floor(3.0 * self.user_activity * max(day - self.cfg.start_day, 0)).astype(np.int64),
        )

    # -- requests -------------------------------------------------------------------------------------

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
        """Yields the impression records of (day, shard) as dicts in the log schema's field order."""
        self._check_day_shard(day, shard)
        rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(self.cfg.seed, spawn_key=(1, int(day), int(shard))))
        )
        state = self.day_state(int(day))
        requests = self.shard_requests(shard)
        for start in range(requests.start, requests.stop, REQUESTS_PER_BATCH):
            stop = min(start + REQUESTS_PER_BATCH, requests.stop)
            yield from self._batch_records(rng, state, int(day), int(shard), start, stop)

    def _batch_records(
        self, rng: np.random.Generator, state: DayState, day: int, shard: int, start: int, stop: int
    ) -> Iterator[dict[str, Any]]:
        cfg = self.cfg
        num_req, k, num_topics = stop - start, cfg.candidates_per_request, cfg.num_topics

        # Request context.
        user = _sample(self.user_activity_cdf, rng.random(num_req))
        surface = _sample(_cdf(SURFACE_PROBS), rng.random(num_req))
        hour = _sample(_cdf(HOUR_PROBS), rng.random(num_req))
        device = np.where(
            rng.random(num_req) < PRIMARY_DEVICE_PROB,
            self.user_device[user],
            rng.integers(0, len(DEVICES), num_req),
        )
        utc_hour = (hour - self.user_utc_offset_h[user]) % 24
        timestamp = EPOCH_S + day * 86_400 + utc_hour * 3_600 + rng.integers(0, 3_600, num_req)

        # Candidates: personalised topics from the user's interests, the rest random; then a
        # popularity-weighted video of that topic.
        u_topic = rng.random((num_req, k))
        personal_topic = (self.user_interest_cdf[user][:, None, :] <= u_topic[..., None]).sum(-1)
        personal_topic = np.minimum(personal_topic, num_topics - 1)
        random_topic = rng.integers(0, num_topics, (num_req, k))
        topic = np.where(rng.random((num_req, k)) < PERSONALISED_SHARE, personal_topic, random_topic)
        slot = np.searchsorted(self.topic_keys, topic + rng.random((num_req, k)), side="right")
        video = self.video_by_topic[np.minimum(slot, cfg.num_videos - 1)]
        topic = self.video_topic[video]

        interest = self.user_interest[user[:, None], topic]
        aff = np.log(num_topics * interest + 0.1)
        # Rank by a noisy relevance score: position 0 is the most relevant on average.
        relevance = 0.6 * aff + 0.3 * np.log(self.video_popularity[video]) + rng.normal(0.0, 1.0, (num_req, k))
        order = np.argsort(-relevance, axis=1, kind="stable")
        video = np.take_along_axis(video, order, axis=1)
        topic = np.take_along_axis(topic, order, axis=1)
        interest = np.take_along_axis(interest, order, axis=1)
        aff = np.take_along_axis(aff, order, axis=1)
        position = np.broadcast_to(np.arange(k), (num_req, k))

        # Outcomes.
        quality_z = 4.0 * (self.video_quality[video] - 0.5)
        clickbait = self.video_clickbait[video] - 0.25
        satisfaction = 0.6 * aff + 0.8 * quality_z - 2.0 * clickbait + rng.normal(0.0, 0.5, (num_req, k))
        click_logit = (
            -2.3
            + 0.55 * aff
            + 0.35 * quality_z
            + 2.2 * clickbait
            - 0.18 * position
            + SURFACE_CLICK_BIAS[surface][:, None]
            + rng.normal(0.0, 0.3, (num_req, k))
        )
        click = rng.random((num_req, k)) < _sigmoid(click_logit)
        fraction = _sigmoid(0.2 + 0.8 * satisfaction + rng.normal(0.0, 1.0, (num_req, k)))
        duration_ds = self.video_duration_ds[video]
        watch_ds = np.where(click, np.floor(fraction * duration_ds), 0).astype(np.int64)
        like = click & (rng.random((num_req, k)) < _sigmoid(-4.7 + 3.0 * fraction + 0.5 * satisfaction))
        share = click & (rng.random((num_req, k)) < _sigmoid(-6.0 + 3.0 * fraction + 0.5 * satisfaction))
        dismiss = ~click & (rng.random((num_req, k)) < _sigmoid(-2.8 - 0.7 * aff - 0.2 * quality_z))
        surveyed = rng.random((num_req, k)) < cfg.survey_rate
        rating = np.clip(np.rint(3.0 + 0.8 * satisfaction + rng.normal(0.0, 0.5, (num_req, k))), 1, 5)
        topic_share = np.clip(interest * np.exp(rng.normal(0.0, 0.3, (num_req, k))), 0.0, 1.0)

        # Observable counters.
        age = state.video_upload_age[video] + (hour / 24.0)[:, None]
        views = np.floor(state.video_views_per_day[video] * age**0.8).astype(np.int64)

        yield from self._records(
            day=day,
            shard=shard,
            first_request=start,
            user=user,
            video=video,
            columns={
                "timestamp": np.repeat(timestamp, k),
                "country": np.repeat(self.user_country[user], k),
                "device": np.repeat(device, k),
                "surface": np.repeat(surface, k),
                "hour_of_day": np.repeat(hour, k),
                "topic": topic.ravel(),
                "video_duration_s": duration_ds.ravel() / 10.0,
                "video_age_days": np.round(age.ravel(), 2),
                "video_views": views.ravel(),
                "creator_subscribers": self.creator_subscribers[self.video_creator[video]].ravel(),
                "user_watch_count": np.repeat(state.user_watch_count[user], k),
                "user_topic_share": np.round(topic_share.ravel(), 4),
                "click": click.ravel().astype(np.int64),
                "watch_time_s": watch_ds.ravel() / 10.0,
                "like": like.ravel().astype(np.int64),
                "share": share.ravel().astype(np.int64),
                "dismiss": dismiss.ravel().astype(np.int64),
                "survey_rating": np.where(surveyed, rating, 0).ravel().astype(np.int64),
            },
        )

    def _records(
        self,
        *,
        day: int,
        shard: int,
        first_request: int,
        user: np.ndarray,
        video: np.ndarray,
        columns: dict[str, np.ndarray],
    ) -> Iterator[dict[str, Any]]:
        """Turns the column arrays of one batch into record dicts (native Python types only)."""
        k = self.cfg.candidates_per_request
        cols = {name: array.tolist() for name, array in columns.items()}
        user_ids, video_ids, creator_ids = self.user_ids, self.video_ids, self.creator_ids
        topics = self.topic_names
        users = user.tolist()
        videos = video.ravel().tolist()
        creators = self.video_creator[video].ravel().tolist()
        prefix = f"d{day}s{shard}r"
        for i, (
            ts,
            country,
            device,
            surface,
            hour,
            topic,
            duration,
            age,
            views,
            subscribers,
            watch_count,
            topic_share,
            click,
            watch,
            like,
            share,
            dismiss,
            rating,
        ) in enumerate(zip(*cols.values())):
            request, position = divmod(i, k)
            request_id = f"{prefix}{first_request + request}"
            yield {
                "impression_id": f"{request_id}p{position}",
                "request_id": request_id,
                "timestamp": ts,
                "day": day,
                "user_id": user_ids[users[request]],
                "video_id": video_ids[videos[i]],
                "creator_id": creator_ids[creators[i]],
                "country": COUNTRIES[country],
                "device": DEVICES[device],
                "surface": SURFACES[surface],
                "video_topic": topics[topic],
                "position": position,
                "hour_of_day": hour,
                "video_duration_s": duration,
                "video_age_days": age,
                "video_views": views,
                "creator_subscribers": subscribers,
                "user_watch_count": watch_count,
                "user_topic_share": topic_share,
                "click": click,
                "watch_time_s": watch,
                "like": like,
                "share": share,
                "dismiss": dismiss,
                "survey_rating": rating if rating else None,
            }

    # -- log lines ------------------------------------------------------------------------------------

    def generate_lines(self, day: int, shard: int) -> Iterator[str]:
        """Yields the JSON text lines (no newline) of (day, shard), with `malformed_rate` of them corrupted."""
        for line, _kind in self.generate_lines_with_kinds(day, shard):
            yield line

    def generate_lines_with_kinds(self, day: int, shard: int) -> Iterator[tuple[str, str | None]]:
        """Like `generate_lines`, paired with the corruption kind of each line (None for a clean line)."""
        records = self.generate_shard(day, shard)
        rate = self.cfg.malformed_rate
        if rate <= 0.0:
            for record in records:
                yield encode_record(record), None
            return
        rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(self.cfg.seed, spawn_key=(2, int(day), int(shard))))
        )
        num_lines = len(self.shard_requests(shard)) * self.cfg.candidates_per_request
        corrupt = rng.random(num_lines) < rate
        kinds = rng.integers(0, len(CORRUPTIONS), num_lines)
        for record, bad, kind_index in zip(records, corrupt.tolist(), kinds.tolist()):
            if bad:
                kind = CORRUPTION_KINDS[kind_index]
                yield CORRUPTIONS[kind](record, rng), kind
            else:
                yield encode_record(record), None


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
