"""Feature and label names shared by Transform, the Trainer, serving and evaluation.

Raw features are the tf.Example features the ingest writes (see components/log_schema.py). Transform maps
them to model inputs with the suffix `_xf`:

* id features (user, video, creator) and categoricals: vocabulary index with OOV buckets (int64);
* small integer features (position, hour of day): clipped to a fixed range, used as categorical indices;
* counts and durations: z-score of log1p(x) (heavy-tailed); bounded floats: z-score of x;
* labels: binary labels as float; watch time as log1p(seconds); survey rating with its presence mask.
"""

from __future__ import annotations

import tensorflow as tf

from components import log_schema
from pipeline.config import BINARY_TASKS, REGRESSION_TASKS, TASKS

ID_FEATURES: tuple[str, ...] = log_schema.ID_FIELDS
CATEGORICAL_FEATURES: tuple[str, ...] = log_schema.CATEGORICAL_FIELDS
# Integer features used as categorical indices: name -> number of buckets (values are clipped into range).
BUCKETED_INT_FEATURES: dict[str, int] = {"position": 32, "hour_of_day": 24}
LOG_DENSE_FEATURES: tuple[str, ...] = (*log_schema.COUNT_FIELDS, "video_duration_s", "video_age_days")
LINEAR_DENSE_FEATURES: tuple[str, ...] = ("user_topic_share",)
DENSE_FEATURES: tuple[str, ...] = LOG_DENSE_FEATURES + LINEAR_DENSE_FEATURES

# Raw tf.Example keys of the labels (never needed at serving time).
RAW_LABEL_KEYS: tuple[str, ...] = (*BINARY_TASKS, "watch_time_s", "survey_rating", "has_survey")
# Raw keys a client must send to `serving_default`.
SERVING_FEATURES: tuple[str, ...] = (
    *ID_FEATURES,
    *CATEGORICAL_FEATURES,
    *BUCKETED_INT_FEATURES,
    *DENSE_FEATURES,
)
SURVEY_MASK = "has_survey"

__all__ = [
    "BINARY_TASKS",
    "REGRESSION_TASKS",
    "TASKS",
    "transformed_name",
    "label_key",
    "serving_raw_feature_spec",
    "raw_feature_spec",
]


def transformed_name(key: str) -> str:
    return f"{key}_xf"


def label_key(task: str) -> str:
    """Transformed feature holding the label of `task` (watch_time is in log1p seconds)."""
    return transformed_name(task)


def vocab_name(key: str) -> str:
    return f"vocab_{key}"


def raw_feature_spec(include_labels: bool = True) -> dict[str, tf.io.FixedLenFeature]:
    """tf.Example parsing spec of the model's raw inputs (and labels); shape [1] as in the curated schema."""
    spec: dict[str, tf.io.FixedLenFeature] = {}
    for key in (*ID_FEATURES, *CATEGORICAL_FEATURES):
        spec[key] = tf.io.FixedLenFeature([1], tf.string)
    for key in (*BUCKETED_INT_FEATURES, *log_schema.COUNT_FIELDS):
        spec[key] = tf.io.FixedLenFeature([1], tf.int64)
    for key in log_schema.FLOAT_FEATURE_FIELDS:
        spec[key] = tf.io.FixedLenFeature([1], tf.float32)
    if include_labels:
        for key in (*BINARY_TASKS, SURVEY_MASK):
            spec[key] = tf.io.FixedLenFeature([1], tf.int64)
        for key in ("watch_time_s", "survey_rating"):
            spec[key] = tf.io.FixedLenFeature([1], tf.float32)
    return spec


def serving_raw_feature_spec() -> dict[str, tf.io.FixedLenFeature]:
    return raw_feature_spec(include_labels=False)
