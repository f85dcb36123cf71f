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

COUNTRIES: tuple[str, ...] = ("US", "IN", "BR", "JP", "DE", "GB", "FR", "MX", "ID", "KR", "NG", "EG")
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
