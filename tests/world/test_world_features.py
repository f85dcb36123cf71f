"""The number-of-features knob flows log format -> parser -> curated schema -> features -> Transform -> model."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

from compat.install import install_patches
from config.settings import IngestConfig, ModelConfig, TransformConfig, tiny_preset
from logformat import schema as L
from logformat.parser import REASONS, check_line, encode_examples, parse_line, record_to_example
from logformat.tf_schema import build_schema, world_schema
from models import features as F
from models.preprocessing import build_preprocessing_fn
from models.ranker import build_ranker, split_labels
from world.simulator import World

INGEST = IngestConfig()
WORLD = dataclasses.replace(
    tiny_preset().world, num_extra_dense_features=5, num_extra_categorical_features=3, missing_rate=0.2
)


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return list(World(WORLD).generate_lines(0, 0))[:400]


def test_world_lines_parse_into_examples_with_every_world_field(lines):
    fmt = L.log_format(WORLD)
    example = parse_line(lines[0], INGEST).example
    assert set(example.features.feature) == {
        *fmt.example_int_features,
        *fmt.example_float_features,
        *fmt.example_bytes_features,
    }
    missing = 0
    for line in lines:
        result = parse_line(line, INGEST)
        assert result.ok, result.reason
        record = json.loads(line)
        for name in fmt.optional_fields:
            feature = result.example.features.feature[name]
            if record[name] is None:  # a missing value: an empty feature, read as missing downstream
                assert feature.WhichOneof("kind") is None
                missing += 1
    assert missing > 0


def test_batch_encoder_matches_the_per_record_examples_with_nulls_and_mixed_fields(lines):
    records = [check_line(line, INGEST)[0] for line in lines[:200]]
    records[5] = {k: v for k, v in records[5].items() if k != "f_dense_001"}  # a logger without this field
    for batch in (records[:5], records):
        assert [tf.train.Example.FromString(b) for b in encode_examples(batch)] == [record_to_example(r) for r in batch]


@pytest.mark.parametrize(
    "field, value, reason",
    [
        ("f_dense_003", "1.5", "wrong_type:f_dense_*"),
        ("f_dense_003", float("nan"), "non_finite:f_dense_*"),
        ("f_cat_002", 7, "wrong_type:f_cat_*"),
        ("f_cat_002", "", "empty_field:f_cat_*"),
        ("user_language", "klingon", "unknown_enum:user_language"),
        ("is_subscribed", 2, "out_of_range:is_subscribed"),
        ("is_subscribed", None, "null_field:is_subscribed"),
        ("video_ctr", 1.5, "out_of_range:video_ctr"),
        ("user_num_subscriptions", True, "wrong_type:user_num_subscriptions"),
    ],
)
def test_bad_world_values_are_quarantined_with_a_bounded_reason(lines, field, value, reason):
    record = json.loads(lines[0])
    record[field] = value
    assert parse_line(json.dumps(record), INGEST).reason == reason
    assert reason in REASONS


def test_schema_is_the_checked_in_core_plus_the_worlds_fields():
    # (That the checked-in core schema is up to date is tests/logformat/test_schema.py's check.)
    core = {f.name for f in build_schema().feature}
    schema = world_schema(WORLD)
    by_name = {f.name: f for f in schema.feature}
    fmt = L.log_format(WORLD)
    assert set(by_name) == core | set(fmt.fields[len(L.CORE_RECORD_ORDER) :])
    assert by_name["f_dense_004"].type == schema_pb2.FLOAT and not by_name["f_dense_004"].HasField("shape")
    assert by_name["f_dense_004"].value_count.max == 1  # optional: variable-length, at most one value
    assert by_name["is_subscribed"].shape.dim[0].size == 1 and by_name["is_subscribed"].int_domain.max == 1
    assert by_name["user_language"].domain == "user_language"


def test_generated_span_statistics_conform_to_the_world_schema(lines, tmp_path):
    """TFDV statistics of the parsed examples (what StatisticsGen computes) validate against the world's schema."""
    path = str(tmp_path / "examples.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for line in lines:
            writer.write(parse_line(line, INGEST).example.SerializeToString())
    statistics = tfdv.generate_statistics_from_tfrecord(path)
    anomalies = tfdv.validate_statistics(statistics, world_schema(WORLD))
    assert not anomalies.anomaly_info, {k: v.short_description for k, v in anomalies.anomaly_info.items()}
    # ... and a span whose optional feature disappears is caught by the presence rule.
    stripped = str(tmp_path / "stripped.tfrecord")
    with tf.io.TFRecordWriter(stripped) as writer:
        for line in lines:
            example = parse_line(line, INGEST).example
            del example.features.feature["f_cat_001"]
            writer.write(example.SerializeToString())
    anomalies = tfdv.validate_statistics(tfdv.generate_statistics_from_tfrecord(stripped), world_schema(WORLD))
    assert "f_cat_001" in anomalies.anomaly_info


def test_feature_set_scales_with_the_knob():
    for dense, categorical in ((0, 0), (5, 3), (40, 12)):
        world = dataclasses.replace(WORLD, num_extra_dense_features=dense, num_extra_categorical_features=categorical)
        features = F.feature_set(world)
        assert len(features.signed_log_dense) == dense
        assert len([c for c in features.categoricals if c.startswith("f_cat_")]) == categorical
        core = len(F.CORE_FEATURES.raw_inputs)
        assert len(features.raw_inputs) == core + len(L.WORLD_FIELDS) + dense + categorical
    spec = schema_utils.schema_as_feature_spec(world_schema(WORLD)).feature_spec
    features = F.feature_set(WORLD)
    assert features.raw_feature_spec() == {k: spec[k] for k in features.raw_feature_spec()}


@pytest.mark.slow  # a Beam tf.Transform analysis (~10 s quiet, twice that beside another test worker)
def test_transform_and_model_take_the_generated_features(lines, tmp_path):
    """tf.Transform for real on parsed world examples, then one forward pass of the ranker on its output."""
    schema = world_schema(WORLD)
    spec = schema_utils.schema_as_feature_spec(schema).feature_spec
    lines = lines[:100]
    parsed = tf.io.parse_example([parse_line(line, INGEST).example.SerializeToString() for line in lines], spec)
    instances = []
    for i in range(len(lines)):
        instance = {}
        for key, value in parsed.items():
            if isinstance(value, tf.SparseTensor):
                rows = value.indices.numpy()[:, 0] == i
                instance[key] = list(value.values.numpy()[rows])
            else:
                instance[key] = list(value.numpy()[i])
        instances.append(instance)
    install_patches()  # as our pipelines do (compat/)
    with tft_beam.Context(temp_dir=str(tmp_path / "tmp"), force_tf_compat_v1=True):  # the pipeline's graph path
        (out, _), transform_fn = (
            instances,
            dataset_metadata.DatasetMetadata(schema),
        ) | tft_beam.AnalyzeAndTransformDataset(build_preprocessing_fn(TransformConfig(id_vocab_size=100)))
        _ = transform_fn | tft_beam.WriteTransformFn(str(tmp_path / "tft"))
    metadata_io.write_metadata(
        dataset_metadata.DatasetMetadata(schema), str(tmp_path / "tft" / tft.TFTransformOutput.RAW_METADATA_DIR)
    )
    tft_output = tft.TFTransformOutput(str(tmp_path / "tft"))
    features = F.feature_set_from_spec(tft_output.raw_feature_spec())
    assert features == F.feature_set(WORLD)
    dense = np.array([r["f_dense_000_xf"] for r in out])
    assert abs(dense.mean()) < 1e-4 and np.isfinite(dense).all()  # z-scored; missing values at the mean (0)
    assert set(out[0]) >= set(features.input_keys())

    sizes = {k: tft_output.vocabulary_size_by_name(F.vocab_name(k)) + 10 for k in features.vocab_features}
    model = build_ranker(ModelConfig(embedding_dim=4, hidden_units=(8,), tower_units=()), sizes, features)
    batch = {k: tf.constant([r[k] for r in out[:16]]) for k in out[0]}
    inputs, labels = split_labels(batch)
    assert set(inputs) == set(features.input_keys())
    outputs = model(inputs)
    assert set(outputs) == set(labels) and all(v.shape == (16, 1) for v in outputs.values())
