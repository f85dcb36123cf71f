"""The world over time: daily drift, shocks on their days only, label noise, missing values, generated features."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from config.settings import ShockConfig, WorldConfig, default_preset, tiny_preset
from logformat.schema import COUNTRIES, LANGUAGES, log_format
from world.encoding import encode_record
from world.simulator import World

TINY = tiny_preset().world


def _world(**changes) -> WorldConfig:
    return dataclasses.replace(TINY, **changes)


def _records(world: World, day: int) -> list[dict]:
    return [r for shard in range(world.cfg.num_shards) for r in world.generate_shard(day, shard)]


def _col(records: list[dict], name: str) -> np.ndarray:
    return np.array([np.nan if r[name] is None else r[name] for r in records], dtype=float)


def test_records_carry_the_world_fields_and_the_configured_number_of_generated_features():
    world = World(_world(num_extra_dense_features=7, num_extra_categorical_features=3))
    record = next(world.generate_shard(0, 0))
    fmt = log_format(world.cfg)
    assert tuple(record) == fmt.fields
    assert fmt.extra_dense == tuple(f"f_dense_{i:03d}" for i in range(7))
    assert fmt.extra_categorical == ("f_cat_000", "f_cat_001", "f_cat_002")
    assert set(fmt.optional_fields) == {"user_language", "user_age_bucket", *fmt.extra_dense, *fmt.extra_categorical}


def test_column_formatted_lines_are_exactly_the_json_of_the_records():
    for cfg in (_world(missing_rate=0.3), dataclasses.replace(default_preset().world, impressions_per_day=3_000)):
        world = World(cfg)
        for day in (0, 4):
            records = list(world.generate_shard(day, 1))
            assert list(world.generate_lines(day, 1)) == [encode_record(r) for r in records]


def test_feature_knobs_do_not_change_the_impressions_or_outcomes():
    base = _records(World(_world(num_extra_dense_features=0, num_extra_categorical_features=0, missing_rate=0)), 2)
    wide = _records(World(_world(num_extra_dense_features=30, num_extra_categorical_features=9, missing_rate=0.5)), 2)
    keep = ("impression_id", "user_id", "video_id", "position", "click", "watch_time_s", "like", "survey_rating")
    assert [[r[k] for k in keep] for r in base] == [[r[k] for k in keep] for r in wide]


def test_new_uploads_appear_every_day_and_popularity_rises_then_decays():
    world = World(TINY)
    day3, day4 = world.day_state(3).videos, world.day_state(4).videos
    assert len(day4) == len(day3) + TINY.uploads_per_day
    uploaded_on_3 = set(world.uploads(3).ids)
    assert uploaded_on_3 <= set(day4.ids) and not uploaded_on_3 & set(day3.ids)
    assert uploaded_on_3 & {r["video_id"] for r in _records(world, 4)}  # new videos are shown
    # The daily-views curve g(x) = x e^(1-x) + eps of one video over its age: rises to its peak, then decays.
    video = len(world.initial_videos) + 0  # the first upload of start_day
    rates = [world.day_state(d).video_daily_views[video] for d in range(1, 30)]
    peak = int(np.argmax(rates))
    assert 0 < peak < len(rates) - 1 and rates[-1] < rates[peak] / 2
    # The logged counter (`video_views` in the records) is the integral: it never decreases as the video ages, not
    # within a day (ordered by the logged age) and not from one day to the next.
    logged: dict[str, list[tuple[int, float, int]]] = {}
    for day in range(1, 8):
        for r in _records(world, day):
            logged.setdefault(r["video_id"], []).append((r["day"], r["video_age_days"], r["video_views"]))
    assert len(logged) > 100
    for video_id, seen in logged.items():
        views = [v for _, _, v in sorted(seen)]
        assert views == sorted(views), video_id
        days = sorted({d for d, _, _ in seen})
        for before, after in itertools.pairwise(days):
            assert max(v for d, _, v in seen if d == before) <= min(v for d, _, v in seen if d == after), video_id
    # A new upload's counter grows from day to day (its daily views are never zero).
    new_upload = next(v for v in world.uploads(3).ids if len({d for d, _, _ in logged.get(v, [])}) >= 3)
    daily_max = [
        max(v for d, _, v in logged[new_upload] if d == day) for day in sorted({d for d, _, _ in logged[new_upload]})
    ]
    assert all(a < b for a, b in itertools.pairwise(daily_max)), daily_max


def test_interests_drift_slowly_and_counters_grow():
    world = World(TINY)
    theta0, theta5 = world.day_state(0).user_interest, world.day_state(5).user_interest
    change = np.abs(theta5 - theta0).sum(axis=1).mean()
    assert 0.01 < change < 0.6
    np.testing.assert_allclose(world.day_state(0).user_interest, theta0)  # the walk is a function of the day
    assert np.all(world.day_state(5).user_watch_count >= world.day_state(0).user_watch_count)
    still = World(_world(interest_drift=0.0))
    np.testing.assert_allclose(still.day_state(5).user_interest, still.day_state(0).user_interest)


def test_counter_rescale_happens_on_its_day_and_nowhere_else():
    shock = ShockConfig(kind="counter_rescale", day=3, num_days=1, field="video_views", factor=1000.0)
    plain, shocked = World(TINY), World(_world(shocks=(shock,)))
    for day in (2, 3, 4):
        before, after = _records(plain, day), _records(shocked, day)
        factor = 1000 if day == 3 else 1
        assert [r["video_views"] * factor for r in before] == [r["video_views"] for r in after]
        strip = lambda rs: [{k: v for k, v in r.items() if k != "video_views"} for r in rs]  # noqa: E731
        assert strip(before) == strip(after)  # a logging change: nothing else moves


def test_viral_topic_takes_over_on_its_days_only():
    shock = ShockConfig(kind="viral_topic", day=2, num_days=2, topic=3, boost=8.0)
    world = World(_world(shocks=(shock,)))
    share = {d: np.mean([r["video_topic"] == "t03" for r in _records(world, d)]) for d in (1, 2, 3, 4)}
    assert share[2] > 2 * share[1] and share[3] > 2 * share[1]
    assert share[4] < share[2] / 2


def test_new_country_launch_brings_unseen_users_from_its_day_on():
    shock = ShockConfig(kind="new_country", day=2, traffic_share=0.25)
    world = World(_world(shocks=(shock,)))
    launched = COUNTRIES[TINY.num_countries]
    before, on, later = (_records(world, d) for d in (1, 2, 3))
    assert not any(r["country"] == launched for r in before)
    for records in (on, later):
        new = [r for r in records if r["country"] == launched]
        assert 0.15 < len(new) / len(records) < 0.35
        assert all(int(r["user_id"][1:]) >= TINY.num_users for r in new)  # ids never seen before
    languages = {r["user_language"] for r in on if r["country"] == launched} - {None}
    assert max(languages, key=lambda lang: sum(r["user_language"] == lang for r in on if r["country"] == launched))
    assert languages <= set(LANGUAGES)
    assert _records(World(TINY), 1) == before  # a launch changes nothing before its day


def test_label_noise_and_missing_values_follow_their_rates():
    clean = _records(World(TINY), 1)
    noisy = _records(World(_world(label_noise_rate=0.2, missing_rate=0.1)), 1)
    flipped = np.mean([a["like"] != b["like"] for a, b in zip(clean, noisy)])
    assert 0.06 < flipped < 0.14  # a fair coin replaces 20 % of labels: about half of those flip
    for name in ("user_language", "f_dense_000", "f_cat_001"):
        assert 0.07 < np.mean([r[name] is None for r in noisy]) < 0.13
    assert all(r["watch_time_s"] == 0 for r in noisy if not r["click"])


def test_generated_features_carry_signal_and_heavy_tails():
    records = _records(World(dataclasses.replace(default_preset().world, impressions_per_day=20_000)), 0)
    click = _col(records, "click")
    names = log_format(default_preset().world).extra_dense
    corr = []
    for name in names:
        x = _col(records, name)
        ok = ~np.isnan(x)
        corr.append(abs(np.corrcoef(np.sign(x[ok]) * np.log1p(np.abs(x[ok])), click[ok])[0, 1]))
    assert max(corr) > 0.05 and min(corr) < 0.02  # some informative, some noise
    heavy = _col(records, names[0])
    heavy = heavy[~np.isnan(heavy)]
    assert np.quantile(heavy, 0.999) > 20 * np.median(heavy)


def test_observed_video_stats_separate_clickbait_from_quality():
    records = _records(World(dataclasses.replace(default_preset().world, impressions_per_day=20_000)), 0)
    world = World(default_preset().world)
    bait = dict(zip(world.initial_videos.ids, world.initial_videos.clickbait))
    cb = np.array([bait.get(r["video_id"], np.nan) for r in records])
    ok = ~np.isnan(cb)
    ctr, watch = _col(records, "video_ctr")[ok], _col(records, "video_watch_fraction")[ok]
    assert np.corrcoef(cb[ok], ctr)[0, 1] > 0.3  # clickbait draws clicks ...
    assert np.corrcoef(cb[ok], watch)[0, 1] < -0.2  # ... but is watched less


def test_shocks_round_trip_through_json():
    from config.settings import PipelineConfig

    shock = ShockConfig(kind="counter_rescale", day=4, factor=1000.0)
    config = tiny_preset().replace(world=_world(shocks=(shock,)))
    again = PipelineConfig.from_json(config.to_json())
    assert again.world.shocks == (shock,) and again == config
