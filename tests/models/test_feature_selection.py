"""The screening test keeps generated features that carry signal and drops noise, at a stated family-wise level."""

from __future__ import annotations

import numpy as np

from models.feature_selection import categorical_p_value, dense_p_value, is_generated, screen


def _data(n: int = 20_000, seed: int = 0):
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal(n)
    click = (rng.random(n) < 1 / (1 + np.exp(-(latent - 2.0)))).astype(np.float32)
    group = rng.integers(0, 50, n)
    columns = {
        "f_dense_000": latent + rng.standard_normal(n) * 3.0,  # weakly informative
        "f_dense_001": rng.standard_normal(n),  # noise
        "f_cat_000": group,  # informative through the label below
        "f_cat_001": rng.integers(0, 50, n),  # noise
        "video_views": rng.standard_normal(n),  # core: never screened
    }
    click = np.maximum(click, (rng.random(n) < 0.15 * (group < 10)).astype(np.float32))
    return columns, {"click": click, "watch_time": latent + rng.standard_normal(n)}


def test_informative_features_are_kept_and_noise_dropped():
    columns, labels = _data()
    result = screen(
        columns, labels, ("f_dense_000", "f_dense_001", "video_views"), ("f_cat_000", "f_cat_001"), ("click",)
    )
    assert result.kept == ("f_dense_000", "f_cat_000")
    assert result.dropped == ("f_dense_001", "f_cat_001")
    assert result.tests == 4 * 2  # four generated features x two labels: the Bonferroni factor
    assert "video_views" not in result.p_values


def test_noise_is_dropped_at_the_stated_rate():
    """Over 200 pure-noise features at family-wise 5 %, more than 4 kept features would be a 1-in-a-million event."""
    rng = np.random.default_rng(1)
    n = 5_000
    columns = {f"f_dense_{i:03d}": rng.standard_normal(n) for i in range(200)}
    labels = {"click": (rng.random(n) < 0.1).astype(np.float32)}
    result = screen(columns, labels, tuple(columns), (), ("click",), alpha=0.05)
    assert len(result.kept) <= 4


def test_p_values_of_constant_columns_are_one_and_rare_values_are_pooled():
    y = np.array([0, 1] * 50, np.float32)
    assert dense_p_value(np.ones(100), y) == 1.0
    assert categorical_p_value(np.zeros(100, np.int64), y, binary=True) == 1.0
    # Every value seen once: all pooled into one cell, nothing to test.
    assert categorical_p_value(np.arange(100), y, binary=True) == 1.0


def test_generated_features_are_recognised_by_name():
    assert is_generated("f_dense_012") and is_generated("f_cat_003")
    assert not is_generated("video_ctr") and not is_generated("user_id")


def _write_transformed(path: str, columns: dict, labels: dict) -> dict:
    """Transformed records as Transform writes them (gzipped tf.Examples) and their feature spec."""
    import tensorflow as tf

    from config.settings import BINARY_TASKS
    from models import features as F

    n = len(labels["click"])
    values = {F.transformed_name(k): v for k, v in columns.items()}
    for task in (*BINARY_TASKS, "watch_time", "survey_rating"):
        values[F.label_key(task)] = labels.get(task, np.zeros(n))
    values[F.transformed_name(F.SURVEY_MASK)] = np.zeros(n)
    spec = {}
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for i in range(n):
            feature = {}
            for key, column in values.items():
                if np.issubdtype(np.asarray(column).dtype, np.integer):
                    feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(column[i])]))
                    spec[key] = tf.io.FixedLenFeature([], tf.int64)
                else:
                    feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(column[i])]))
                    spec[key] = tf.io.FixedLenFeature([], tf.float32)
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return spec


def test_the_training_span_is_screened_from_its_transformed_records(tmp_path):
    from models import features as F
    from models.feature_selection import kept_features, screen_span

    columns, labels = _data(n=6_000)
    del columns["video_views"]
    columns["f_cat_000"] = columns["f_cat_000"].astype(np.int64)
    columns["f_cat_001"] = columns["f_cat_001"].astype(np.int64)
    labels = {**labels, "like": labels["click"] * 0, "share": labels["click"] * 0, "dismiss": 1 - labels["click"]}
    spec = _write_transformed(str(tmp_path / "part-0.gz"), columns, labels)
    features = F.FeatureSet(
        categoricals=("surface", "f_cat_000", "f_cat_001"), signed_log_dense=("f_dense_000", "f_dense_001")
    )
    result = screen_span([str(tmp_path / "part-0.gz")], spec, features, alpha=0.01, max_examples=5_000)
    assert set(result.kept) == {"f_dense_000", "f_cat_000"}
    kept = kept_features(features, result)
    assert kept.signed_log_dense == ("f_dense_000",) and kept.categoricals == ("surface", "f_cat_000")
    assert kept.ids == features.ids  # core features stay


def test_the_outcome_travels_with_the_model_and_a_warm_start_keeps_its_base_models(tmp_path):
    import dataclasses

    from config.settings import default_preset
    from models.feature_selection import Screening, load_screening, save_screening
    from models.trainer import model_screening

    outcome = Screening(
        kept=("f_dense_000",),
        dropped=("f_dense_001",),
        p_values={"f_dense_000": 1e-9, "f_dense_001": 0.3},
        alpha=0.01,
        tests=4,
    )
    save_screening(outcome, str(tmp_path / "base"))
    assert load_screening(str(tmp_path / "base")) == outcome
    assert load_screening(str(tmp_path / "none")) is None

    config = default_preset()
    config = config.replace(model=dataclasses.replace(config.model, feature_screening_alpha=0.01))
    features = None  # not read when the outcome is inherited
    assert model_screening(config, features, [], {}, str(tmp_path / "base"), None) == outcome
    assert model_screening(config, features, [], {}, None, str(tmp_path / "base")) == outcome  # the simple model's
    # A base model built without a screening: the warm-started model keeps every feature.
    assert model_screening(config, features, [], {}, str(tmp_path / "none"), None) is None
    off = config.replace(model=dataclasses.replace(config.model, feature_screening_alpha=None))
    assert model_screening(off, features, [], {}, str(tmp_path / "base"), None) is None
