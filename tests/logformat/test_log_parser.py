"""parse_line: exact conversion of good records, a stable reason for every kind of bad line, never raising."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from config.settings import IngestConfig, tiny_preset
from logformat.parser import REASONS, encode_examples, parse_line, record_to_example
from logformat.schema import (
    EXAMPLE_BYTES_FEATURES,
    EXAMPLE_FLOAT_FEATURES,
    EXAMPLE_INT_FEATURES,
)
from world.corruption import EXPECTED_REASON_PREFIX
from world.encoding import encode_line, encode_record
from world.simulator import World

INGEST = IngestConfig()
GOOD = {
    "impression_id": "d0s0r7p2",
    "request_id": "d0s0r7",
    "timestamp": 1_704_100_000,
    "day": 0,
    "user_id": "u0000042",
    "video_id": "v0000123",
    "creator_id": "c00007",
    "country": "BR",
    "device": "tv",
    "surface": "search",
    "video_topic": "t05",
    "position": 2,
    "hour_of_day": 21,
    "video_duration_s": 612.3,
    "video_age_days": 12.34,
    "video_views": 98_765,
    "creator_subscribers": 4_321,
    "user_watch_count": 77,
    "user_topic_share": 0.4321,
    "click": 1,
    "watch_time_s": 300.1,
    "like": 1,
    "share": 0,
    "dismiss": 0,
    "survey_rating": 4,
}


def _line(**changes) -> str:
    return json.dumps({**GOOD, **changes})


def _reason(line) -> str | None:
    return parse_line(line, INGEST).reason


def _values(example, name):
    feature = example.features.feature[name]
    return list(getattr(feature, feature.WhichOneof("kind")).value)


def test_good_record_converts_exactly():
    result = parse_line(_line().encode(), INGEST)
    assert result.ok and result.reason is None and result.impression_id == GOOD["impression_id"]
    example = result.example
    expected_names = {*EXAMPLE_INT_FEATURES, *EXAMPLE_FLOAT_FEATURES, *EXAMPLE_BYTES_FEATURES}
    assert set(example.features.feature) == expected_names
    for name in EXAMPLE_INT_FEATURES:
        expected = 1 if name == "has_survey" else GOOD[name]
        assert example.features.feature[name].WhichOneof("kind") == "int64_list"
        assert _values(example, name) == [expected], name
    for name in EXAMPLE_FLOAT_FEATURES:
        assert example.features.feature[name].WhichOneof("kind") == "float_list"
        assert _values(example, name) == [np.float32(GOOD[name])], name
    for name in EXAMPLE_BYTES_FEATURES:
        assert _values(example, name) == [GOOD[name].encode()], name


def test_missing_survey_becomes_zero_with_has_survey_flag():
    example = parse_line(_line(survey_rating=None), INGEST).example
    assert _values(example, "survey_rating") == [0.0]
    assert _values(example, "has_survey") == [0]


@pytest.mark.parametrize(
    "line",
    [
        _line(),
        _line() + "\n",
        (_line() + "\r\n").encode(),
        bytearray(_line().encode()),
        _line(extra_field_from_a_newer_logger=[1, 2]),
        _line(video_duration_s=600, watch_time_s=600),  # ints are valid floats; watch == duration is fine
        _line(click=0, watch_time_s=0.0, like=0),
        _line(country="ZZ"),  # countries are open (new launches); device and surface are closed enums
        _line(video_duration_s=86_400.0, watch_time_s=86_400.0),  # a whole day is the longest valid video
    ],
)
def test_valid_variants_parse(line):
    assert parse_line(line, INGEST).ok


def _without(field: str) -> str:
    return json.dumps({k: v for k, v in GOOD.items() if k != field})


BAD_LINES = [
    (b"", "empty_line"),
    ("   \t", "empty_line"),
    (_line()[:-5], "invalid_json"),
    ("not json at all", "invalid_json"),
    ("[" * 100_000 + "]" * 100_000, "oversized_line"),
    ("[" * 30_000 + "]" * 30_000, "invalid_json"),  # recursion depth
    ('{"impression_id": 1' + "0" * 5000 + "}", "invalid_json"),  # int too long for the decoder
    (b'{"user_id": "u\xff"}', "invalid_utf8"),
    ("\udcff", "invalid_utf8"),
    ("\ufeff" + _line(), "invalid_json"),  # a byte-order mark is not JSON
    (_line().replace('"day": 0', '"day": 0, "day": 1'), "duplicate_key"),
    ("[1, 2, 3]", "not_an_object"),
    ('"a string"', "not_an_object"),
    ("null", "not_an_object"),
    (_without("video_id"), "missing_field:video_id"),
    (_without("survey_rating"), "missing_field:survey_rating"),
    (_line(user_id=None), "null_field:user_id"),
    (_line(position="3"), "wrong_type:position"),
    (_line(position=3.0), "wrong_type:position"),
    (_line(click=True), "wrong_type:click"),
    (_line(user_id=42), "wrong_type:user_id"),
    (_line(watch_time_s="12.5"), "wrong_type:watch_time_s"),
    (_line(survey_rating=4.5), "wrong_type:survey_rating"),
    (_line(video_id=""), "empty_field:video_id"),
    (_line(user_id="u" * 300), "oversized_field:user_id"),
    (_line(video_id="v\ud800"), "invalid_utf8:video_id"),
    (_line(device="smart_fridge"), "unknown_enum:device"),
    (_line(surface="HOME"), "unknown_enum:surface"),
    (_line(watch_time_s=float("nan")), "non_finite:watch_time_s"),
    (_line(video_age_days=float("inf")), "non_finite:video_age_days"),
    (_line().replace('"watch_time_s": 300.1', '"watch_time_s": 1e999'), "non_finite:watch_time_s"),
    (_line(video_views=2**63), "out_of_range:video_views"),
    (_line(video_duration_s=1e300, watch_time_s=0.0, click=0, like=0), "non_finite:video_duration_s"),  # inf as float32
    (_line(video_duration_s=0.0, watch_time_s=0.0), "out_of_range:video_duration_s"),
    (_line(video_duration_s=90_000.0, watch_time_s=88_000.0), "out_of_range:video_duration_s"),  # absurd: > 24 h
    (_line(hour_of_day=24), "out_of_range:hour_of_day"),
    (_line(user_topic_share=1.5), "out_of_range:user_topic_share"),
    (_line(click=2), "out_of_range:click"),
    (_line(survey_rating=0), "out_of_range:survey_rating"),
    (_line(survey_rating=6), "out_of_range:survey_rating"),
    (_line(video_views=-1), "negative:video_views"),
    (_line(timestamp=-5), "negative:timestamp"),
    (_line(watch_time_s=-0.5), "negative:watch_time_s"),
    (_line(watch_time_s=612.4), "watch_time_exceeds_duration"),
    (_line(click=0, like=0, watch_time_s=3.0), "watch_without_click"),
]


@pytest.mark.parametrize("line, reason", BAD_LINES)
def test_each_kind_of_bad_line_gets_its_reason(line, reason):
    result = parse_line(line, INGEST)
    assert not result.ok and result.example is None
    assert result.reason == reason
    assert reason in REASONS


def test_bounds_follow_the_ingest_config():
    small = dataclasses.replace(INGEST, max_line_bytes=100, max_field_chars=4)
    assert parse_line(_line(), small).reason == "oversized_line"
    assert parse_line("{}", small).reason == "missing_field:impression_id"
    roomy = dataclasses.replace(small, max_line_bytes=10_000)
    assert parse_line(_line(), roomy).reason == "oversized_field:impression_id"


@pytest.mark.parametrize(
    "weird",
    [None, 42, 3.5, ["a"], {"a": 1}, b"\x00" * 10, b"\xc0\x80", "NaN", "-Infinity", "1e999", "{" * 50, '{"a":'],
)
def test_never_raises_and_reasons_stay_in_the_vocabulary(weird):
    result = parse_line(weird, INGEST)  # type: ignore[arg-type]
    assert not result.ok and result.reason in REASONS
    assert result.reason != "internal_error"  # a bounded reason, not the catch-all that hides a parser bug


def test_every_generated_line_parses():
    world = World(tiny_preset().world)
    for shard in range(world.cfg.num_shards):
        for record in world.generate_shard(0, shard):
            result = parse_line(encode_line(encode_record(record)), INGEST)
            assert result.ok, (result.reason, record)
            assert result.impression_id == record["impression_id"]


def test_batch_encoder_gives_the_same_examples_as_record_to_example():
    records = [json.loads(_line()), json.loads(_line(survey_rating=None, impression_id="x"))]
    records += list(World(tiny_preset().world).generate_shard(0, 0))[:50]
    encoded = encode_examples(records)
    assert len(encoded) == len(records)
    for record, serialized in zip(records, encoded):
        assert tf.train.Example.FromString(serialized) == record_to_example(record)


def test_every_generated_corruption_is_quarantined_with_its_reason():
    world = World(dataclasses.replace(tiny_preset().world, malformed_rate=1.0))
    seen = set()
    for line, kind in world.generate_lines_with_kinds(0, 0):
        result = parse_line(encode_line(line), INGEST)
        assert kind is not None and not result.ok
        assert result.reason.startswith(EXPECTED_REASON_PREFIX[kind]), (kind, result.reason, line[:200])
        seen.add(kind)
    assert seen == set(EXPECTED_REASON_PREFIX)
