"""The simulated world: determinism, sharding, schema of records and the documented outcome rates."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from config.settings import ConfigError, WorldConfig, default_preset, tiny_preset
from logformat.schema import COUNTRIES, DEVICES, FIELD_TYPES, SURFACES
from world.corruption import CORRUPTION_KINDS
from world.encoding import encode_record
from world.entities import RECORD_FIELDS
from world.simulator import World, generate_lines, generate_shard

TINY = tiny_preset().world


def _world(**changes) -> WorldConfig:
    return dataclasses.replace(TINY, **changes)


def _all_records(world: World, day: int = 0) -> list[dict]:
    return [r for shard in range(world.cfg.num_shards) for r in world.generate_shard(day, shard)]


@pytest.fixture(scope="module")
def default_records() -> list[dict]:
    return _all_records(World(default_preset().world))


def test_same_seed_gives_identical_lines():
    assert list(generate_lines(TINY, 1, 1)) == list(generate_lines(TINY, 1, 1))
    corrupted = _world(malformed_rate=0.1)
    assert list(generate_lines(corrupted, 0, 0)) == list(generate_lines(corrupted, 0, 0))


def test_different_seeds_days_and_shards_differ():
    base = list(generate_lines(TINY, 0, 0))
    assert base != list(generate_lines(_world(seed=TINY.seed + 1), 0, 0))
    assert base != list(generate_lines(TINY, 1, 0))
    other_shard = list(generate_lines(TINY, 0, 1))
    assert base != other_shard
    ids = {line.split('"', 4)[3] for line in base}
    assert ids.isdisjoint(line.split('"', 4)[3] for line in other_shard)


def test_shards_are_independent_of_each_other_and_of_the_world_instance():
    world = World(TINY)
    after_other_shards = [list(world.generate_shard(0, s)) for s in range(TINY.num_shards)][1]
    alone = list(World(TINY).generate_shard(0, 1))
    assert after_other_shards == alone == list(generate_shard(TINY, 0, 1))


def test_shards_cover_the_day_with_unique_impressions():
    world = World(_world(num_shards=3, impressions_per_day=1003, candidates_per_request=4))
    records = _all_records(world, day=2)
    assert len(records) == 4 * 251  # 1003 impressions rounded up to whole requests of 4
    assert len({r["impression_id"] for r in records}) == len(records)
    assert [r["position"] for r in records[:8]] == [0, 1, 2, 3, 0, 1, 2, 3]
    assert {r["day"] for r in records} == {2}
    day_start = 1_704_067_200 + 2 * 86_400
    assert all(day_start <= r["timestamp"] < day_start + 86_400 for r in records)


def test_records_match_the_log_schema():
    world = World(TINY)
    records = _all_records(world)
    for record in records:
        assert tuple(record) == world.format.fields
        assert tuple(record)[: len(RECORD_FIELDS)] == RECORD_FIELDS
        for field, types in FIELD_TYPES.items():
            value = record[field]
            assert isinstance(value, types) and not isinstance(value, bool), (field, value)
        assert record["country"] in COUNTRIES[: TINY.num_countries]
        assert record["device"] in DEVICES and record["surface"] in SURFACES
        assert 0 <= record["hour_of_day"] <= 23 and 0 <= record["position"] < TINY.candidates_per_request
        assert record["video_duration_s"] > 0 and record["video_age_days"] >= 0
        assert 0.0 <= record["user_topic_share"] <= 1.0
        assert 0.0 <= record["watch_time_s"] <= record["video_duration_s"]
        assert min(record["video_views"], record["creator_subscribers"], record["user_watch_count"]) >= 0
        if not record["click"]:
            assert record["watch_time_s"] == 0 and not record["like"] and not record["share"]
        else:
            assert not record["dismiss"]
        assert record["survey_rating"] is None or 1 <= record["survey_rating"] <= 5
    assert encode_record(records[0]).startswith('{"impression_id":')


@pytest.mark.parametrize("preset", ["tiny", "default"])
def test_outcome_rates_are_in_documented_ranges(preset, default_records):
    cfg = default_preset().world if preset == "default" else TINY
    records = default_records if preset == "default" else _all_records(World(TINY))
    col = lambda name: np.array([r[name] for r in records], dtype=float)  # noqa: E731
    click = col("click") == 1
    n = len(records)
    assert 0.05 <= click.mean() <= 0.30
    assert 0.03 <= col("like")[click].mean() <= 0.25
    assert 0.005 <= col("share")[click].mean() <= 0.10
    assert 0.01 <= col("dismiss").mean() <= 0.10
    ratings = [r["survey_rating"] for r in records if r["survey_rating"] is not None]
    stderr = (cfg.survey_rate * (1 - cfg.survey_rate) / n) ** 0.5
    assert abs(len(ratings) / n - cfg.survey_rate) <= 3 * stderr
    assert 2.5 <= np.mean(ratings) <= 4.0
    assert 0.3 <= (col("watch_time_s")[click] / col("video_duration_s")[click]).mean() <= 0.8


def test_outcomes_are_correlated_as_designed(default_records):
    records = default_records
    world = World(default_preset().world)
    video_index = {vid: i for i, vid in enumerate(world.video_ids)}
    clickbait = np.array([world.video_clickbait[video_index[r["video_id"]]] for r in records])
    click = np.array([r["click"] for r in records])
    position = np.array([r["position"] for r in records])
    share = np.array([r["user_topic_share"] for r in records])
    bait = clickbait > np.quantile(clickbait, 0.8)
    honest = clickbait < np.quantile(clickbait, 0.2)
    assert click[bait].mean() > click[honest].mean()  # clickbait draws clicks ...
    rating = np.array([r["survey_rating"] or 0 for r in records])
    surveyed = rating > 0
    assert rating[bait & surveyed].mean() < rating[honest & surveyed].mean()  # ... but satisfies less
    assert click[position == 0].mean() > click[position == position.max()].mean()  # position bias
    assert click[share > np.median(share)].mean() > click[share <= np.median(share)].mean()  # affinity


def test_corruption_replaces_lines_without_changing_the_others():
    clean = list(World(TINY).generate_lines_with_kinds(0, 0))
    dirty = list(World(_world(malformed_rate=0.2)).generate_lines_with_kinds(0, 0))
    assert len(clean) == len(dirty)
    kinds = [kind for _, kind in dirty]
    assert 0.15 <= sum(k is not None for k in kinds) / len(kinds) <= 0.25
    assert set(kinds) - {None} == set(CORRUPTION_KINDS)
    for (clean_line, _), (dirty_line, kind) in zip(clean, dirty):
        assert (clean_line == dirty_line) == (kind is None)


def test_the_world_refuses_an_invalid_config_naming_the_field():
    """Every rule has its case in tests/config/test_config_validation.py; here: World() itself checks its config."""
    with pytest.raises(ConfigError, match=r"world.num_users"):
        World(_world(num_users=0))


def test_invalid_day_or_shard_is_rejected():
    with pytest.raises(ValueError, match="shard"):
        list(generate_shard(TINY, 0, TINY.num_shards))
    with pytest.raises(ValueError, match="day"):
        list(generate_shard(TINY, -1, 0))


def test_video_ages_follow_the_utc_clock_not_the_local_hour():
    """A video's logged age is its age at the day's start plus the request's UTC time since then: the same offset
    for every impression of that video on that day, whatever the user's time zone (ages are logged to 0.01 day)."""
    records = _all_records(World(TINY), day=3)
    day_start = 1_704_067_200 + 3 * 86_400
    at_day_start: dict[str, list[float]] = {}
    for r in records:
        at_day_start.setdefault(r["video_id"], []).append(r["video_age_days"] - (r["timestamp"] - day_start) / 86_400)
    spreads = [max(ages) - min(ages) for ages in at_day_start.values() if len(ages) > 1]
    assert len(spreads) > 50
    assert max(spreads) <= 0.0101
