"""Transform's preprocessing_fn, run for real with tf.Transform's Beam implementation on a few records."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata

from config.settings import TransformConfig
from logformat import schema as L
from logformat.tf_schema import build_schema
from models import features as F
from models.preprocessing import build_preprocessing_fn

SLOW = pytest.mark.slow  # the `transformed` fixture runs tf.Transform on Beam (~12 s on 2 cores)


def raw_record(i: int) -> dict:
    rec = {
        "impression_id": f"imp{i}",
        "user_id": ["u0", "u1", "u1", "u2"][i % 4],
        "video_id": f"v{i % 3}",
        "creator_id": "c0",
        "country": "US",
        "device": "mobile",
        "surface": "home",
        "video_topic": "t01",
        "timestamp": 1_700_000_000 + i,
        "day": 0,
        "position": i,
        "hour_of_day": 40 if i == 0 else 5,  # 40 is out of range and must be clipped to 23
        "video_views": 10**i,
        "creator_subscribers": 100,
        "user_watch_count": i,
        "click": i % 2,
        "like": 0,
        "share": 0,
        "dismiss": 1 - i % 2,
        "has_survey": int(i == 1),
        "video_duration_s": 60.0 * (i + 1),
        "video_age_days": float(i),
        "user_topic_share": 0.1 * i,
        "watch_time_s": float(math.e - 1) if i == 1 else 0.0,
        "survey_rating": 4.0 if i == 1 else 0.0,
    }
    assert set(rec) == set((*L.EXAMPLE_INT_FEATURES, *L.EXAMPLE_FLOAT_FEATURES, *L.EXAMPLE_BYTES_FEATURES))
    return {k: [v] for k, v in rec.items()}


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    records = [raw_record(i) for i in range(8)]
    metadata = dataset_metadata.DatasetMetadata(build_schema())
    config = TransformConfig(id_vocab_size=2, id_oov_buckets=3)
    temp = str(tmp_path_factory.mktemp("tft"))
    with tft_beam.Context(temp_dir=temp, force_tf_compat_v1=True):  # the pipeline's graph path
        (out, _), transform_fn = (records, metadata) | tft_beam.AnalyzeAndTransformDataset(
            build_preprocessing_fn(config)
        )
        out_dir = str(tmp_path_factory.mktemp("tft_out"))
        _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
    return out, tft.TFTransformOutput(out_dir)


@SLOW
def test_id_vocabulary_top_k_with_oov_buckets(transformed) -> None:
    out, tft_output = transformed
    assert tft_output.vocabulary_size_by_name(F.vocab_name("user_id")) == 2  # top_k=2 of 3 users
    users = [r[F.transformed_name("user_id")] for r in out]
    # u1 is the most frequent -> index 0; the 3rd user falls beyond top_k into an OOV bucket in [2, 5).
    assert users[1] == 0 and users[2] == 0
    assert all(0 <= u < 5 for u in users)
    assert any(u >= 2 for u in users)


@SLOW
def test_dense_features_are_log_z_scored_and_ints_clipped(transformed) -> None:
    out, _ = transformed
    views = np.array([r[F.transformed_name("video_views")] for r in out])
    assert abs(views.mean()) < 1e-5 and abs(views.std() - 1) < 1e-4
    expected = np.log1p(10.0 ** np.arange(8))
    expected = (expected - expected.mean()) / expected.std()
    np.testing.assert_allclose(views, expected, rtol=1e-4, atol=1e-5)
    assert out[0][F.transformed_name("hour_of_day")] == 23


@SLOW
def test_labels(transformed) -> None:
    out, _ = transformed
    assert out[1][F.label_key("watch_time")] == pytest.approx(1.0)  # log1p(e - 1)
    assert out[1][F.label_key("survey_rating")] == 4.0
    assert out[1][F.transformed_name("has_survey")] == 1.0
    assert [r[F.label_key("click")] for r in out[:2]] == [0.0, 1.0]
