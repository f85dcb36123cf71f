"""Feature and label names shared by Transform, the Trainer, serving and evaluation.

Raw features are the tf.Example features the ingest writes (see logformat/schema.py). Transform maps
them to model inputs with the suffix `_xf`:

* id features (user, video, creator) and categoricals: vocabulary index with OOV buckets (int64);
* small integer features (position, hour of day): clipped to a fixed range, used as categorical indices;
* counts and durations: z-score of log1p(x) (heavy-tailed);
* rates and shares in [0, 1] (`user_topic_share`, `video_ctr`, `video_watch_fraction`): z-score of their log-odds
  logit(clip(x, ε, 1 - ε)), ε = `RATE_EPSILON`. An outcome's log-odds is additive in the log-odds of the rates
  that predict it (a video's past click rate, a user's share of interest in its topic), so this is the scale on
  which a model combines them; on the raw scale the small rates where most impressions sit are squeezed together;
* labels: binary labels as float; watch time as log1p(seconds); survey rating with its presence mask.

The module constants are the core (v1) features. A world adds its fields and `num_extra_*` generated features:
`FeatureSet` lists every model input by kind, and `feature_set_from_spec` derives it from a raw feature spec (the
curated schema's, which Transform passes to the preprocessing_fn and `TFTransformOutput.raw_feature_spec()` returns),
so the number of input features flows from the world config through the schema with no hand-edited list:

* world categoricals (`user_language`, `user_age_bucket`) and `f_cat_*`: vocabulary index, like the core ones;
* `is_subscribed`: a bucketed int (2 buckets); `user_num_subscriptions`: log-dense;
* `video_ctr`, `video_watch_fraction`: rates (log-odds, as above);
* `f_dense_*`: z(sign(x) log1p(|x|)), which tames the heavy-tailed ones and keeps the Gaussian ones monotone.

Features that may be missing (variable-length in the schema) are imputed in Transform: dense ones with the mean (0
after z-scoring), categorical ones with the empty string, which gets its own vocabulary entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from config.settings import BINARY_TASKS, REGRESSION_TASKS, TASKS
from logformat import schema as log_schema
from logformat.tf_schema import world_schema

ID_FEATURES: tuple[str, ...] = log_schema.ID_FIELDS
CATEGORICAL_FEATURES: tuple[str, ...] = log_schema.CATEGORICAL_FIELDS
# Integer features used as categorical indices: name -> number of buckets (values are clipped into range).
BUCKETED_INT_FEATURES: dict[str, int] = {"position": 32, "hour_of_day": 24}
LOG_DENSE_FEATURES: tuple[str, ...] = (*log_schema.COUNT_FIELDS, "video_duration_s", "video_age_days")
LINEAR_DENSE_FEATURES: tuple[str, ...] = ()
RATE_FEATURES: tuple[str, ...] = ("user_topic_share",)
DENSE_FEATURES: tuple[str, ...] = LOG_DENSE_FEATURES + LINEAR_DENSE_FEATURES + RATE_FEATURES
#: Rates are clipped into [RATE_EPSILON, 1 - RATE_EPSILON] before their log-odds are taken.
RATE_EPSILON = 0.005

# Raw tf.Example keys of the labels (never needed at serving time).
RAW_LABEL_KEYS: tuple[str, ...] = log_schema.EXAMPLE_LABEL_FEATURES
# Raw keys a client must send to `serving_default`.
SERVING_FEATURES: tuple[str, ...] = (
    *ID_FEATURES,
    *CATEGORICAL_FEATURES,
    *BUCKETED_INT_FEATURES,
    *DENSE_FEATURES,
)
SURVEY_MASK = "has_survey"

# How Transform and the model treat each world field (log_schema.WORLD_FIELDS); generated features by prefix.
WORLD_FEATURE_KINDS: dict[str, str] = {
    "user_language": "categorical",
    "user_age_bucket": "categorical",
    "is_subscribed": "bucketed",
    "user_num_subscriptions": "log_dense",
    "video_ctr": "rate",
    "video_watch_fraction": "rate",
}
WORLD_BUCKETS: dict[str, int] = {"is_subscribed": 2}
assert set(WORLD_FEATURE_KINDS) == set(log_schema.WORLD_FIELDS), "every world field needs a feature kind"


@dataclass(frozen=True)
class FeatureSet:
    """The model's raw inputs by kind; `CORE_FEATURES` is the core (v1) set of the module constants."""

    ids: tuple[str, ...] = ID_FEATURES
    categoricals: tuple[str, ...] = CATEGORICAL_FEATURES
    bucketed_ints: tuple[tuple[str, int], ...] = tuple(BUCKETED_INT_FEATURES.items())
    log_dense: tuple[str, ...] = LOG_DENSE_FEATURES
    linear_dense: tuple[str, ...] = LINEAR_DENSE_FEATURES
    rates: tuple[str, ...] = RATE_FEATURES
    signed_log_dense: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()  # may be missing (variable-length in the schema): imputed by Transform

    @property
    def vocab_features(self) -> tuple[str, ...]:
        """Features indexed through a Transform vocabulary."""
        return (*self.ids, *self.categoricals)

    @property
    def buckets(self) -> dict[str, int]:
        return dict(self.bucketed_ints)

    @property
    def embedded(self) -> tuple[str, ...]:
        """Features the model embeds: vocabulary features, then bucketed ints."""
        return (*self.vocab_features, *self.buckets)

    @property
    def dense(self) -> tuple[str, ...]:
        return (*self.log_dense, *self.linear_dense, *self.rates, *self.signed_log_dense)

    @property
    def raw_inputs(self) -> tuple[str, ...]:
        return (*self.embedded, *self.dense)

    def input_keys(self) -> list[str]:
        """Transformed feature names the model consumes, in model input order."""
        return [transformed_name(k) for k in self.raw_inputs]

    def raw_feature_spec(self, include_labels: bool = True) -> dict[str, Any]:
        """tf.Example parsing spec of the raw inputs (and labels), as the curated schema states them."""
        spec = raw_feature_spec(include_labels=include_labels)
        for key in self.raw_inputs:
            if key in spec:  # a core feature
                continue
            dtype = {int: tf.int64, float: tf.float32, str: tf.string}[log_schema.world_field_spec(key).type]
            spec[key] = tf.io.VarLenFeature(dtype) if key in self.optional else tf.io.FixedLenFeature([1], dtype)
        return spec


CORE_FEATURES = FeatureSet()


def feature_set_from_spec(raw_spec: Mapping[str, Any]) -> FeatureSet:
    """The FeatureSet of the features named in `raw_spec` (a feature spec, or a dict of input tensors).

    Core features are taken as the module constants say; world fields by `WORLD_FEATURE_KINDS`; `f_dense_*` and
    `f_cat_*` by prefix, in sorted order. Entries that are `tf.io.VarLenFeature` or `tf.SparseTensor` are optional.
    """
    names = set(raw_spec)
    world = sorted(n for n in names if log_schema.world_field_spec(n) is not None)
    kinds: dict[str, list[str]] = {"categorical": [], "bucketed": [], "log_dense": [], "linear_dense": [], "rate": []}
    signed: list[str] = []
    for name in world:
        if name.startswith(log_schema.EXTRA_DENSE_PREFIX):
            signed.append(name)
        elif name.startswith(log_schema.EXTRA_CATEGORICAL_PREFIX):
            kinds["categorical"].append(name)
        else:
            kinds[WORLD_FEATURE_KINDS[name]].append(name)
    order = {name: i for i, name in enumerate(log_schema.WORLD_FIELDS)}
    for values in kinds.values():  # fixed world fields in table order, generated ones after, by name
        values.sort(key=lambda n: (order.get(n, len(order)), n))
    optional = sorted(
        n for n, v in raw_spec.items() if isinstance(v, (tf.io.VarLenFeature, tf.SparseTensor, tf.SparseTensorSpec))
    )
    return FeatureSet(
        categoricals=(*CATEGORICAL_FEATURES, *kinds["categorical"]),
        bucketed_ints=(*BUCKETED_INT_FEATURES.items(), *((n, WORLD_BUCKETS[n]) for n in kinds["bucketed"])),
        log_dense=(*LOG_DENSE_FEATURES, *kinds["log_dense"]),
        linear_dense=(*LINEAR_DENSE_FEATURES, *kinds["linear_dense"]),
        rates=(*RATE_FEATURES, *kinds["rate"]),
        signed_log_dense=tuple(signed),
        optional=tuple(optional),
    )


def feature_set(world: Any) -> FeatureSet:
    """The FeatureSet of what a WorldConfig writes (through its curated schema, as the pipeline derives it)."""
    from tensorflow_transform.tf_metadata import schema_utils

    return feature_set_from_spec(schema_utils.schema_as_feature_spec(world_schema(world)).feature_spec)


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
