"""The raw impression-log format (one JSON object per line), shared by the generator and the ingest.

A log line is one impression: a video shown to a user on a surface at a position, with what the user
did next. Fields and their JSON types:

| field               | type          | meaning                                                        |
|---------------------|---------------|----------------------------------------------------------------|
| impression_id       | str           | unique id of the impression (also the split key)               |
| request_id          | str           | the request (candidate set) the impression belongs to          |
| timestamp           | int           | unix seconds                                                   |
| day                 | int           | day index (span)                                               |
| user_id             | str           | high-cardinality id                                            |
| video_id            | str           | high-cardinality id                                            |
| creator_id          | str           | high-cardinality id                                            |
| country             | str           | one of COUNTRIES                                               |
| device              | str           | one of DEVICES                                                 |
| surface             | str           | one of SURFACES                                                |
| video_topic         | str           | topic of the video, "t00".."tNN"                               |
| position            | int           | 0-based slot in the candidate list                             |
| hour_of_day         | int           | 0..23, user's local time                                       |
| video_duration_s    | float         | > 0                                                            |
| video_age_days      | float         | >= 0                                                           |
| video_views         | int           | >= 0, heavy-tailed popularity counter                          |
| creator_subscribers | int           | >= 0, heavy-tailed                                             |
| user_watch_count    | int           | >= 0, videos the user watched before (activity)                |
| user_topic_share    | float         | 0..1, share of the user's history in the video's topic          |
| click               | int           | 0/1                                                            |
| watch_time_s        | float         | 0..video_duration_s (0 when not clicked)                       |
| like, share, dismiss| int           | 0/1                                                            |
| survey_rating       | int or null   | 1..5 on surveyed impressions, null elsewhere                   |
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from config.vocabulary import COUNTRIES, MAX_EXTRA_FEATURES

__all__ = ["COUNTRIES", "MAX_EXTRA_FEATURES"]  # the log format's enumerations, declared in config/vocabulary.py

# Numeric limits of the example features: ints become int64, floats float32 (larger values would become inf).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
FLOAT32_MAX = 3.4028234663852886e38

DEVICES: tuple[str, ...] = ("mobile", "desktop", "tv", "tablet")
SURFACES: tuple[str, ...] = ("home", "watch_next", "search")

ID_FIELDS: tuple[str, ...] = ("user_id", "video_id", "creator_id")
CATEGORICAL_FIELDS: tuple[str, ...] = ("country", "device", "surface", "video_topic")
INT_FEATURE_FIELDS: tuple[str, ...] = ("position", "hour_of_day")
COUNT_FIELDS: tuple[str, ...] = ("video_views", "creator_subscribers", "user_watch_count")
FLOAT_FEATURE_FIELDS: tuple[str, ...] = ("video_duration_s", "video_age_days", "user_topic_share")
BINARY_LABEL_FIELDS: tuple[str, ...] = ("click", "like", "share", "dismiss")
META_FIELDS: tuple[str, ...] = ("impression_id", "request_id", "timestamp", "day")

# Required fields and the JSON types accepted for each (bool is rejected for numbers explicitly).
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "impression_id": (str,),
    "request_id": (str,),
    "timestamp": (int,),
    "day": (int,),
    **{f: (str,) for f in ID_FIELDS},
    **{f: (str,) for f in CATEGORICAL_FIELDS},
    **{f: (int,) for f in INT_FEATURE_FIELDS},
    **{f: (int,) for f in COUNT_FIELDS},
    **{f: (int, float) for f in FLOAT_FEATURE_FIELDS},
    **{f: (int,) for f in BINARY_LABEL_FIELDS},
    "watch_time_s": (int, float),
    "survey_rating": (int, type(None)),
}
REQUIRED_FIELDS: tuple[str, ...] = tuple(FIELD_TYPES)
# Key order of the core fields in a generated line: the order of the table above.
CORE_RECORD_ORDER: tuple[str, ...] = (
    *META_FIELDS[:4],
    *ID_FIELDS,
    *CATEGORICAL_FIELDS,
    *INT_FEATURE_FIELDS,
    "video_duration_s",
    "video_age_days",
    *COUNT_FIELDS,
    "user_topic_share",
    "click",
    "watch_time_s",
    "like",
    "share",
    "dismiss",
    "survey_rating",
)
assert set(CORE_RECORD_ORDER) == set(FIELD_TYPES) and len(CORE_RECORD_ORDER) == len(FIELD_TYPES)

ENUMS: dict[str, tuple[str, ...]] = {"device": DEVICES, "surface": SURFACES}

# tf.Example produced by the ingest for each valid record. `survey_rating` becomes a float (0.0 when absent)
# plus `has_survey` (0/1), so every feature is fixed-length and the regression loss can be masked.
EXAMPLE_INT_FEATURES: tuple[str, ...] = (
    "timestamp",
    "day",
    *INT_FEATURE_FIELDS,
    *COUNT_FIELDS,
    *BINARY_LABEL_FIELDS,
    "has_survey",
)
EXAMPLE_FLOAT_FEATURES: tuple[str, ...] = (*FLOAT_FEATURE_FIELDS, "watch_time_s", "survey_rating")
EXAMPLE_BYTES_FEATURES: tuple[str, ...] = ("impression_id", *ID_FIELDS, *CATEGORICAL_FIELDS)
# The label features of an example (never sent by serving clients): the binary labels, the watch time, the survey.
EXAMPLE_LABEL_FEATURES: tuple[str, ...] = (*BINARY_LABEL_FIELDS, "watch_time_s", "survey_rating", "has_survey")


# -- world fields: what the simulated world logs beyond the core (v1) fields above ---------------------------
#
# The core fields are required in every line. World fields are optional in a line: absent or null means a missing
# value (the tf.Example then has no value for it). Which world fields a dataset must contain, and how often they may
# be missing, is stated by the curated schema built from `log_format(world)` (logformat/tf_schema.py), checked by
# ExampleValidator on every span. Their names are fixed here or follow the generated patterns below, so the set of
# names a log line can introduce is bounded (at most MAX_EXTRA_FEATURES of each extra kind).
#
# | field                  | type          | meaning                                                           |
# |------------------------|---------------|-------------------------------------------------------------------|
# | user_language          | str or null   | one of LANGUAGES; null when the user did not declare it           |
# | user_age_bucket        | str or null   | one of AGE_BUCKETS; null when the user did not declare it         |
# | is_subscribed          | int           | 0/1: the user subscribes to the video's creator                   |
# | user_num_subscriptions | int           | >= 0, size of the user's subscription set                         |
# | video_ctr              | float         | 0..1, the video's observed click-through rate so far (noisy)      |
# | video_watch_fraction   | float         | 0..1, the video's observed mean watched fraction so far (noisy)   |
# | f_dense_000 ...        | float or null | generated dense features (WorldConfig.num_extra_dense_features)   |
# | f_cat_000 ...          | str or null   | generated categoricals (WorldConfig.num_extra_categorical_features)|

LANGUAGES: tuple[str, ...] = ("en", "hi", "pt", "ja", "de", "fr", "es", "id", "ko", "yo", "ar")
# The main language of each country in COUNTRIES (same order); users of a country mostly speak it.
COUNTRY_LANGUAGE: tuple[str, ...] = ("en", "hi", "pt", "ja", "de", "en", "fr", "es", "id", "ko", "yo", "ar")
AGE_BUCKETS: tuple[str, ...] = ("13-17", "18-24", "25-34", "35-44", "45-54", "55+")

EXTRA_DENSE_PREFIX = "f_dense_"
EXTRA_CATEGORICAL_PREFIX = "f_cat_"


@dataclass(frozen=True)
class FieldSpec:
    """A world field's JSON type, valid range or enum, and whether null (a missing value) is allowed."""

    type: type
    nullable: bool = False
    low: float | None = None
    high: float | None = None
    enum: tuple[str, ...] | None = None


WORLD_FIELDS: dict[str, FieldSpec] = {
    "user_language": FieldSpec(str, nullable=True, enum=LANGUAGES),
    "user_age_bucket": FieldSpec(str, nullable=True, enum=AGE_BUCKETS),
    "is_subscribed": FieldSpec(int, low=0, high=1),
    "user_num_subscriptions": FieldSpec(int, low=0),
    "video_ctr": FieldSpec(float, low=0.0, high=1.0),
    "video_watch_fraction": FieldSpec(float, low=0.0, high=1.0),
}
EXTRA_DENSE_SPEC = FieldSpec(float, nullable=True)
EXTRA_CATEGORICAL_SPEC = FieldSpec(str, nullable=True)
_EXTRA_NAME = re.compile(rf"({EXTRA_DENSE_PREFIX}|{EXTRA_CATEGORICAL_PREFIX})[0-9]{{3}}")


def extra_dense_name(i: int) -> str:
    return f"{EXTRA_DENSE_PREFIX}{i:03d}"


def extra_categorical_name(i: int) -> str:
    return f"{EXTRA_CATEGORICAL_PREFIX}{i:03d}"


def world_field_spec(name: str) -> FieldSpec | None:
    """The spec of a world field (fixed or generated name), or None for a name that is not one."""
    spec = WORLD_FIELDS.get(name)
    if spec is not None:
        return spec
    if _EXTRA_NAME.fullmatch(name):
        return EXTRA_DENSE_SPEC if name.startswith(EXTRA_DENSE_PREFIX) else EXTRA_CATEGORICAL_SPEC
    return None


def reason_field(name: str) -> str:
    """The field name used in quarantine reasons: generated names collapse to their pattern (bounded vocabulary)."""
    if _EXTRA_NAME.fullmatch(name):
        return name[:-3] + "*"
    return name


REASON_WORLD_FIELDS: tuple[str, ...] = (*WORLD_FIELDS, f"{EXTRA_DENSE_PREFIX}*", f"{EXTRA_CATEGORICAL_PREFIX}*")


@dataclass(frozen=True)
class LogFormat:
    """The fields a world writes: the core fields, the world fields and `extra_*` generated features.

    `CORE_FORMAT` (no world fields) is the v1 format; `log_format(world)` is what `World` writes. The curated schema
    (`logformat.tf_schema.build_schema`) and the model's feature set (`models.features.feature_set`) derive from it,
    so the number of input features is one knob of the world.
    """

    world_fields: tuple[str, ...] = ()
    extra_dense: tuple[str, ...] = ()
    extra_categorical: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        """Record key order: the core fields, then world fields, then the generated features."""
        return (*CORE_RECORD_ORDER, *self.world_fields, *self.extra_dense, *self.extra_categorical)

    @property
    def optional_fields(self) -> tuple[str, ...]:
        """Fields that may be null (a missing value)."""
        return tuple(f for f in self.fields[len(CORE_RECORD_ORDER) :] if world_field_spec(f).nullable)  # type: ignore[union-attr]

    def _world_of_type(self, kind: type) -> tuple[str, ...]:
        names = (*self.world_fields, *self.extra_dense, *self.extra_categorical)
        return tuple(n for n in names if world_field_spec(n).type is kind)  # type: ignore[union-attr]

    @property
    def example_int_features(self) -> tuple[str, ...]:
        return (*EXAMPLE_INT_FEATURES, *self._world_of_type(int))

    @property
    def example_float_features(self) -> tuple[str, ...]:
        return (*EXAMPLE_FLOAT_FEATURES, *self._world_of_type(float))

    @property
    def example_bytes_features(self) -> tuple[str, ...]:
        return (*EXAMPLE_BYTES_FEATURES, *self._world_of_type(str))


CORE_FORMAT = LogFormat()


def log_format(world: Any) -> LogFormat:
    """The format a `WorldConfig` writes: every world field plus its generated dense and categorical features."""
    return LogFormat(
        world_fields=tuple(WORLD_FIELDS),
        extra_dense=tuple(extra_dense_name(i) for i in range(world.num_extra_dense_features)),
        extra_categorical=tuple(extra_categorical_name(i) for i in range(world.num_extra_categorical_features)),
    )
