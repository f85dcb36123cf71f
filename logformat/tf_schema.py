"""The curated schema of the ingested tf.Examples, checked in as `logformat/schema.pbtxt`.

Why curated (imported with ImportSchemaGen) rather than inferred by SchemaGen: a schema inferred from the
same span it validates can never flag that span. The curated one states what the log format promises
(logformat/schema.py): every feature present exactly once, labels in {0, 1}, ratings in [0, 5],
non-negative counts and durations, the closed enums for device and surface. ExampleValidator checks each
span against it, and the validation gate stops the run on any anomaly before Transform and training.
Labels are excluded from the SERVING environment.

The checked-in file is the schema of the core (v1) log format. A world adds its fields (log_schema.WORLD_FIELDS and
`num_extra_*` generated features): `build_schema(log_format(world))` appends them with the same rules, and the
pipeline's CuratedSchemaGen component builds exactly that for the configured world at run time. World fields that
may be missing (language, age bucket, f_*) are variable-length with at most one value and must be present in at
least `MIN_OPTIONAL_PRESENCE` of the examples; the others are like core features.

Regenerate after changing the log format:  .venv/bin/python -m logformat.tf_schema --write
Print the schema of a preset's world:       .venv/bin/python -m logformat.tf_schema --preset default
"""

from __future__ import annotations

import argparse
import os

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from config.settings import get_preset
from logformat import schema as L
from logformat.schema import CORE_FORMAT, LogFormat, world_field_spec

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema.pbtxt")

_INT_RANGES: dict[str, tuple[int, int | None]] = {
    "timestamp": (0, None),
    "day": (0, None),
    "position": (0, None),
    "hour_of_day": (0, 23),
    **{k: (0, None) for k in L.COUNT_FIELDS},
    **{k: (0, 1) for k in (*L.BINARY_LABEL_FIELDS, "has_survey")},
}
_FLOAT_RANGES: dict[str, tuple[float, float | None]] = {
    "video_duration_s": (0.0, None),
    "video_age_days": (0.0, None),
    "user_topic_share": (0.0, 1.0),
    "watch_time_s": (0.0, None),
    "survey_rating": (0.0, 5.0),
}


MIN_OPTIONAL_PRESENCE = 0.5  # a nullable world field missing from more examples than this is an anomaly


def build_schema(fmt: LogFormat = CORE_FORMAT) -> schema_pb2.Schema:
    """The curated schema of the examples of a log format (default: the core format, the checked-in file)."""
    schema = schema_pb2.Schema()
    schema.default_environment.extend(["TRAINING", "SERVING"])
    enums = dict(L.ENUMS)
    for name in fmt.world_fields:
        spec = world_field_spec(name)
        if spec is not None and spec.enum is not None:
            enums[name] = spec.enum
    for name, values in enums.items():
        domain = schema.string_domain.add(name=name)
        domain.value.extend(values)

    def add(name: str, ftype: int) -> schema_pb2.Feature:
        feature = schema.feature.add(name=name, type=ftype)
        feature.presence.min_fraction = 1.0
        feature.presence.min_count = 1
        feature.shape.dim.add(size=1)
        if name in L.EXAMPLE_LABEL_FEATURES:
            feature.not_in_environment.append("SERVING")
        return feature

    for name in L.EXAMPLE_INT_FEATURES:
        feature = add(name, schema_pb2.INT)
        lo, hi = _INT_RANGES[name]
        feature.int_domain.min = lo
        if hi is not None:
            feature.int_domain.max = hi
    for name in L.EXAMPLE_FLOAT_FEATURES:
        feature = add(name, schema_pb2.FLOAT)
        low, high = _FLOAT_RANGES[name]
        feature.float_domain.min = low
        if high is not None:
            feature.float_domain.max = high
        feature.float_domain.disallow_nan = True
        feature.float_domain.disallow_inf = True
    for name in L.EXAMPLE_BYTES_FEATURES:
        feature = add(name, schema_pb2.BYTES)
        if name in L.ENUMS:
            feature.domain = name
    for name in fmt.fields[len(L.CORE_RECORD_ORDER) :]:
        _add_world_feature(schema, name, enums)
    return schema


def _add_world_feature(schema: schema_pb2.Schema, name: str, enums: dict[str, tuple[str, ...]]) -> None:
    spec = world_field_spec(name)
    assert spec is not None, name
    kind = {int: schema_pb2.INT, float: schema_pb2.FLOAT, str: schema_pb2.BYTES}[spec.type]
    feature = schema.feature.add(name=name, type=kind)
    if spec.nullable:
        feature.presence.min_fraction = MIN_OPTIONAL_PRESENCE
        feature.value_count.min = 1
        feature.value_count.max = 1
    else:
        feature.presence.min_fraction = 1.0
        feature.shape.dim.add(size=1)
    feature.presence.min_count = 1
    if spec.type is int:
        if spec.low is not None:
            feature.int_domain.min = int(spec.low)
        if spec.high is not None:
            feature.int_domain.max = int(spec.high)
    elif spec.type is float:
        if spec.low is not None:
            feature.float_domain.min = spec.low
        if spec.high is not None:
            feature.float_domain.max = spec.high
        feature.float_domain.disallow_nan = True
        feature.float_domain.disallow_inf = True
    elif name in enums:
        feature.domain = name


def schema_text(fmt: LogFormat = CORE_FORMAT) -> str:
    return (
        "# Generated by `python -m logformat.tf_schema --write` from logformat/schema.py; see logformat/tf_schema.py.\n"
        + text_format.MessageToString(build_schema(fmt))
    )


def world_schema(world) -> schema_pb2.Schema:
    """The curated schema of what `world` (a WorldConfig) writes."""
    return build_schema(L.log_format(world))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {SCHEMA_PATH}")
    parser.add_argument("--preset", help="print the schema of this preset's world instead of the core schema")
    args = parser.parse_args()
    if args.preset:
        print(schema_text(L.log_format(get_preset(args.preset).world)))
    elif args.write:
        os.makedirs(os.path.dirname(SCHEMA_PATH), exist_ok=True)
        with open(SCHEMA_PATH, "w") as f:
            f.write(schema_text())
        print(f"wrote {SCHEMA_PATH}")
    else:
        print(schema_text())


if __name__ == "__main__":
    main()
