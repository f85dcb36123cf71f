"""The world's entities and how they change day by day: creators, users (interests, profiles, subscriptions), videos
(topics, uploads, popularity), the interest random walk and the day's state. The maths is in world/simulator.py's
docstring; `World` (world/simulator.py) adds the impressions and outcomes.
"""

from __future__ import annotations

import numpy as np

from config.settings import WorldConfig
from config.validation import validate_world
from logformat.schema import (
    AGE_BUCKETS,
    CORE_RECORD_ORDER,
    COUNTRIES,
    COUNTRY_LANGUAGE,
    DEVICES,
    LANGUAGES,
    SURFACES,
    LogFormat,
    log_format,
)
from world.features import GeneratedFeatures
from world.streams import cdf, sample, seeded_rng, sigmoid
from world.tables import DayState, VideoTable, cumulative_views

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
# Local-hour distribution of requests: quiet at night, peak in the evening.
_HOUR_WEIGHTS = np.array(
    [3, 2, 1.5, 1, 1, 1.5, 2.5, 4, 5, 5, 5, 5.5, 6, 6, 6, 6, 6.5, 7, 8, 9, 9.5, 9, 7, 5], dtype=np.float64
)
HOUR_PROBS = _HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()

# Key order of the core fields of a record (the table order of logformat/schema.py). A World's records have
# `World.format.fields`: these, then the world fields and the generated features.
RECORD_FIELDS: tuple[str, ...] = CORE_RECORD_ORDER


class Population:
    """The entities of one world, derived deterministically from `WorldConfig.seed`.

    Build once per worker (`World(cfg)`) and call `generate_shard` / `generate_lines` for many shards; the state of
    the last day asked for is cached.
    """

    def __init__(self, cfg: WorldConfig):
        validate_world(cfg)
        self.cfg = cfg
        self.format: LogFormat = log_format(cfg)
        rng = seeded_rng(cfg.seed, 0)
        num_topics, num_users = cfg.num_topics, cfg.num_users
        num_videos, num_creators = cfg.num_videos, cfg.num_creators

        # Creators: quality in (0, 1) and a heavy-tailed subscriber count that grows with quality.
        self.creator_quality = rng.beta(3.0, 2.5, num_creators)
        self.creator_subscribers = np.floor(
            rng.lognormal(6.0, 2.0, num_creators) * (0.5 + self.creator_quality)
        ).astype(np.int64)
        self.creator_weights = 1.0 / np.arange(1, num_creators + 1) ** 0.9
        self.creator_cdf = cdf(self.creator_weights)

        # Users: sparse topic interests, heavy-tailed activity, country, primary device, timezone.
        interest = rng.dirichlet(np.full(num_topics, 0.3), num_users)
        activity = rng.lognormal(0.0, 1.0, num_users)
        country_weights = 1.0 / np.arange(1, cfg.num_countries + 1) ** 0.8
        country = sample(cdf(country_weights), rng.random(num_users))
        device = sample(cdf(DEVICE_PROBS), rng.random(num_users))
        utc_offset = rng.integers(-8, 10, num_users)
        base_watch = rng.poisson(200.0 * activity).astype(np.int64)

        # Initial videos: every topic has at least one video; creators are Zipf-popular.
        topics = np.concatenate([np.arange(num_topics), rng.integers(0, num_topics, num_videos - num_topics)])
        video_topic = rng.permutation(topics)
        video_creator = sample(self.creator_cdf, rng.random(num_videos))
        quality = np.clip(0.6 * self.creator_quality[video_creator] + 0.4 * rng.beta(3.0, 3.0, num_videos), 0, 1)
        clickbait = rng.beta(1.3, 4.0, num_videos)
        duration_s = np.clip(rng.lognormal(np.log(240.0), 1.0, num_videos), 5.0, 4 * 3600.0)
        upload_time = cfg.start_day - 0.5 - rng.exponential(INITIAL_AGE_MEAN_DAYS, num_videos)
        popularity = rng.lognormal(0.0, 1.5, num_videos) * (0.5 + quality)

        # Profiles and mixtures (their own stream, so the draws above stay those of the first world version).
        prof = seeded_rng(cfg.seed, 0, 1)
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
        age = sample(cdf(AGE_PROBS), prof.random(num_users))

        # New-country launches: extra users (indices >= num_users), each group from its own stream.
        self.launches = [s for s in cfg.shocks if s.kind == "new_country"]
        groups = [np.zeros(num_users, dtype=np.int64)]  # 0 = base users, i + 1 = launch i
        for i, shock in enumerate(self.launches):
            size = max(1, round(num_users * shock.traffic_share))
            g = seeded_rng(cfg.seed, 6, i)
            new_country = np.full(size, cfg.num_countries + i)
            interest = np.vstack([interest, g.dirichlet(np.full(num_topics, 0.3), size)])
            activity = np.concatenate([activity, g.lognormal(0.0, 1.0, size)])
            country = np.concatenate([country, new_country])
            device = np.concatenate([device, sample(cdf(DEVICE_PROBS), g.random(size))])
            utc_offset = np.concatenate([utc_offset, g.integers(-8, 10, size)])
            base_watch = np.concatenate([base_watch, np.zeros(size, dtype=np.int64)])
            language = np.concatenate([language, self._languages(g, new_country)])
            age = np.concatenate([age, sample(cdf(AGE_PROBS), g.random(size))])
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
        self._subscriptions([prof, *(seeded_rng(cfg.seed, 6, i, 1) for i in range(len(self.launches)))])

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
        self._features = GeneratedFeatures(cfg, seeded_rng(cfg.seed, 0, 2))
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
        weights = cdf(self.creator_weights * (0.5 + self.creator_quality))
        mean_sqrt = np.sqrt(self.user_activity[self.user_group == 0]).mean()
        keys = []
        for group, rng in enumerate(rngs):
            members = np.flatnonzero(self.user_group == group)
            sizes = rng.poisson(self.cfg.subscriptions_per_user * np.sqrt(self.user_activity[members]) / mean_sqrt)
            users = np.repeat(members, sizes)
            keys.append(users * num_creators + sample(weights, rng.random(len(users))))
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
            rng = seeded_rng(self.cfg.seed, 4, day)
            creator = sample(self.creator_cdf, rng.random(n))
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
                step[members] = seeded_rng(self.cfg.seed, *key).standard_normal((len(members), walk.shape[1]))
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
                keys[segment] = topic + cdf(sorted_rate[segment])

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
            user_interest_cdf=cdf(interest),
            user_cdf=cdf(weights),
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
        rng = seeded_rng(self.cfg.seed, 5, day)
        quality_z = 4.0 * (videos.quality - 0.5)
        bait = videos.clickbait - 0.25
        seen = cumulative_views(videos, np.maximum(age, 0.0), self.cfg.evergreen_share)
        ctr = sigmoid(-2.6 + 0.35 * quality_z + 2.2 * bait)
        ctr = np.clip(ctr + rng.standard_normal(len(videos)) * np.sqrt(ctr * (1 - ctr) / (seen + 20.0)), 0.0, 1.0)
        fraction = sigmoid(0.2 + 0.8 * (0.8 * quality_z - 2.0 * bait))
        noise = rng.standard_normal(len(videos)) * 0.25 / np.sqrt(seen / 10.0 + 1.0)
        return np.round(ctr, 4), np.round(np.clip(fraction + noise, 0.0, 1.0), 4)

    # -- requests --------------------------------------------------------------------------------------------
