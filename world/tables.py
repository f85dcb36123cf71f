"""The world's per-day state as column tables: the videos that exist on a day, and the day's derived state."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


def cumulative_views(
    videos: VideoTable, age: np.ndarray, evergreen: float, index: np.ndarray | None = None
) -> np.ndarray:
    """Λ(α) / 40 = P (τ e (1 - (1 + x) e^-x) + ε α), x = α / τ: the integral of the daily-views curve."""
    pop = videos.popularity if index is None else videos.popularity[index]
    tau = videos.peak_days if index is None else videos.peak_days[index]
    x = age / tau
    return pop * (tau * np.e * (1.0 - (1.0 + x) * np.exp(-x)) + evergreen * age)
