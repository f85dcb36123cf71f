"""The checked-in curated schema is exactly what logformat/tf_schema.py generates from the log format."""

from __future__ import annotations

from logformat import schema as L
from logformat.tf_schema import SCHEMA_PATH, build_schema, schema_text


def test_checked_in_schema_is_up_to_date() -> None:
    with open(SCHEMA_PATH) as f:
        assert f.read() == schema_text(), "run: .venv/bin/python -m logformat.tf_schema --write"


def test_schema_covers_every_example_feature_with_domains() -> None:
    schema = build_schema()
    names = [f.name for f in schema.feature]
    expected = (*L.EXAMPLE_INT_FEATURES, *L.EXAMPLE_FLOAT_FEATURES, *L.EXAMPLE_BYTES_FEATURES)
    assert sorted(names) == sorted(expected)
    by_name = {f.name: f for f in schema.feature}
    assert by_name["click"].int_domain.max == 1
    assert by_name["survey_rating"].float_domain.max == 5.0
    assert by_name["device"].domain == "device"
    assert "SERVING" in by_name["watch_time_s"].not_in_environment
    assert "SERVING" not in by_name["video_id"].not_in_environment
