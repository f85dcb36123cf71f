"""The published log format: docs/log_format.schema.json is generated from logformat.schema / logformat.parser and
kept in sync, carries a format_version, accepts what the generator writes and rejects what the parser rejects."""

from __future__ import annotations

import json

import jsonschema
import pytest

from config.settings import IngestConfig, get_preset
from logformat import json_schema
from logformat.parser import check_line
from world.simulator import World

SCHEMA = json_schema.build_json_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
RECORDS = list(World(get_preset("default").world).generate_shard(0, 0))[:200]


def test_the_checked_in_schema_is_generated_from_the_log_format():
    with open(json_schema.SCHEMA_PATH) as f:
        assert f.read() == json_schema.render(), "run: .venv/bin/python -m logformat.json_schema --write"
    assert json_schema.main(["--check"]) == 0


def test_the_schema_is_valid_and_versioned():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["format_version"] == json_schema.LOG_FORMAT_VERSION
    assert json_schema.LOG_FORMAT_VERSION in SCHEMA["$id"]
    with open("docs/log_format.md") as f:
        assert f"format_version` {json_schema.LOG_FORMAT_VERSION}" in f.read()


def test_generated_records_satisfy_the_schema():
    assert all(check_line(json.dumps(r), IngestConfig())[1] is None for r in RECORDS)
    for record in RECORDS:
        VALIDATOR.validate(record)


@pytest.mark.parametrize(
    "changes",
    [
        {"device": "fridge"},
        {"hour_of_day": 24},
        {"click": 2},
        {"video_duration_s": 0.0},
        {"video_views": -1},
        {"video_views": 2**63},
        {"user_topic_share": "0.5"},
        {"survey_rating": 6},
        {"impression_id": ""},
        {"video_ctr": 1.5},
        {"user_language": "xx"},
        {"f_dense_000": "text"},
    ],
)
def test_what_the_schema_rejects_the_parser_quarantines(changes):
    record = {**RECORDS[0], **changes}
    assert not VALIDATOR.is_valid(record)
    assert check_line(json.dumps(record), IngestConfig())[1] is not None


@pytest.mark.parametrize("field", ["impression_id", "click", "survey_rating"])
def test_a_missing_required_field_fails_both(field):
    record = {k: v for k, v in RECORDS[0].items() if k != field}
    assert not VALIDATOR.is_valid(record)
    assert check_line(json.dumps(record), IngestConfig())[1] == f"missing_field:{field}"
