"""Warm start really continues: after it, the new model's weights and optimizer state are the base model's, with
embedding rows (and their Adagrad accumulators) moved to where each token sits in the new vocabulary."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
import tensorflow as tf
from helpers.saved_weights import loaded_model_weights

from compat.keras_traces import skip_keras_traces
from config.settings import ModelConfig, TrainConfig
from models import features as F
from models.ranker import build_ranker, compile_ranker
from models.trainer import build_optimizer
from models.warm_start import (
    WarmStartError,
    carried_fingerprint,
    embedding_variable_name,
    is_optimizer_state,
    optimizer_key,
    row_map,
    trackable_variables,
    warm_start,
    wide_variable_name,
)

# The base fixture trains, saves and reloads a ranker (40 s on a quiet machine): the slow tier.
pytestmark = pytest.mark.slow

MODEL = ModelConfig(embedding_dim=4, hidden_units=(16, 8), tower_units=(4,))
TRAIN = TrainConfig(batch_size=32, train_steps=3)
OOV = 2


def _vocabularies(tokens_per_feature: dict[str, list[str]]) -> dict[str, list[bytes]]:
    return {k: [t.encode() for t in v] for k, v in tokens_per_feature.items()}


BASE_VOCAB = _vocabularies({key: [f"{key}-{i}" for i in range(6)] for key in F.CORE_FEATURES.vocab_features})
# Day d+1: some tokens dropped, two new ones, the order changed.
NEW_VOCAB = _vocabularies(
    {
        key: [f"{key}-new-a", f"{key}-3", f"{key}-0", f"{key}-5", f"{key}-new-b", f"{key}-1"]
        for key in F.CORE_FEATURES.vocab_features
    }
)
OOV_BUCKETS = dict.fromkeys(F.CORE_FEATURES.vocab_features, OOV)


def _model(
    vocab: dict[str, list[bytes]], seed: int, train: TrainConfig = TRAIN, config: ModelConfig = MODEL
) -> tf.keras.Model:
    tf.keras.utils.set_random_seed(seed)
    model = build_ranker(config, {k: len(v) + OOV for k, v in vocab.items()})
    return compile_ranker(model, build_optimizer(train), config)


def _batch(size: int, seed: int) -> dict[str, np.ndarray]:
    """A transformed batch of the core features: indices within every table, some signal in the labels."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for key in F.CORE_FEATURES.embedded:
        out[F.transformed_name(key)] = rng.integers(0, 8, size).astype(np.int64)
    for key in F.CORE_FEATURES.dense:
        out[F.transformed_name(key)] = rng.normal(size=size).astype(np.float32)
    signal = out[F.transformed_name("user_topic_share")]
    for task in ("click", "like", "share", "dismiss"):
        out[F.label_key(task)] = (signal + rng.normal(size=size) > 0.5).astype(np.float32)
    out[F.label_key("watch_time")] = np.maximum(0, 3 + signal).astype(np.float32)
    out[F.label_key("survey_rating")] = np.clip(np.round(3 + signal), 1, 5).astype(np.float32)
    out[F.transformed_name(F.SURVEY_MASK)] = (rng.random(size) < 0.3).astype(np.float32)
    return out


def _fit(model: tf.keras.Model, steps: int, seed: int) -> None:
    from models.ranker import split_labels

    features, labels = split_labels({k: tf.constant(v) for k, v in _batch(32, seed).items()})
    dataset = tf.data.Dataset.from_tensors((features, labels)).repeat(steps)
    model.fit(dataset, epochs=1, verbose=0)


def _save(model: tf.keras.Model, path: str) -> str:
    """`model` saved as the serving export does (the Keras model under `.model`), with BASE_VOCAB as its assets."""
    module = tf.Module()
    module.model = model
    with skip_keras_traces():
        tf.saved_model.save(module, path)
    os.makedirs(os.path.join(path, "assets"), exist_ok=True)
    for key, tokens in BASE_VOCAB.items():
        with open(os.path.join(path, "assets", F.vocab_name(key)), "wb") as f:
            f.write(b"".join(t + b"\n" for t in tokens))
    return path


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> tuple[str, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A trained 'day d' model saved as the serving export does (the Keras model under `.model`), with vocabularies."""
    model = _model(BASE_VOCAB, seed=1)
    _fit(model, steps=3, seed=1)
    path = _save(model, str(tmp_path_factory.mktemp("base")))
    # The expected values, read back through TensorFlow's own loader (independent of warm_start's reader).
    loaded = tf.saved_model.load(path)
    weights = loaded_model_weights(loaded.model)
    slots = {optimizer_key(p, v.name): v.numpy() for p, v in trackable_variables(loaded.model.optimizer).items()}
    return path, weights, slots


def test_row_map_matches_tokens_and_oov_buckets():
    rows = row_map([b"a", b"b", b"c"], [b"c", b"x", b"a"], oov_buckets=2)
    assert rows.tokens == (b"a", b"c")
    assert list(rows.new_rows) == [2, 0, 3, 4] and list(rows.base_rows) == [0, 2, 3, 4]
    assert rows.new_size == 5 and rows.base_size == 5


def test_weights_before_training_equal_the_base_weights(base):
    base_dir, base_vars, _ = base
    model = _model(NEW_VOCAB, seed=2)
    fresh = {v.name: v.numpy() for v in model.variables}
    report = warm_start(model, base_dir, NEW_VOCAB, OOV_BUCKETS)

    assert not report.fresh and report.base_iterations == 3
    for variable in model.variables:
        name, value = variable.name, variable.numpy()
        feature = next((k for k in NEW_VOCAB if embedding_variable_name(k) == name), None)
        if feature is None:
            np.testing.assert_array_equal(value, base_vars[name], err_msg=name)  # exactly the base weights
            continue
        rows = row_map(BASE_VOCAB[feature], NEW_VOCAB[feature], OOV)
        np.testing.assert_array_equal(value[rows.new_rows], base_vars[name][rows.base_rows], err_msg=name)
        new_token_rows = [0, 4]  # tokens first seen on the new day keep their fresh initial rows
        np.testing.assert_array_equal(value[new_token_rows], fresh[name][new_token_rows], err_msg=name)
        assert report.remapped[name] == {"kept": 4, "new": 2, "dropped": 2}
        # What the trainer records can be recomputed from the base SavedModel alone.
        assert report.fingerprints[name] == carried_fingerprint(base_vars[name], rows, "base")
    assert all(report.fingerprints[n] == carried_fingerprint(base_vars[n], None, "base") for n in report.copied)


def test_optimizer_state_continues(base):
    base_dir, _, base_opt = base
    model = _model(NEW_VOCAB, seed=2)
    report = warm_start(model, base_dir, NEW_VOCAB, OOV_BUCKETS)
    assert report.optimizer_copied > 10 and report.optimizer_remapped == len(NEW_VOCAB)
    new_opt = {optimizer_key(p, v.name): v for p, v in trackable_variables(model.optimizer).items()}
    # Every carried value, not one sample: each accumulator (and the other slots and counters) of a dense variable
    # equals the base's exactly; each embedding table's accumulator holds the base rows where the tokens moved.
    tables = {"accumulator/" + embedding_variable_name(f).removesuffix(":0"): f for f in NEW_VOCAB}
    compared = {"copied": 0, "remapped": 0}
    for key, variable in new_opt.items():
        if key not in base_opt or not is_optimizer_state(variable.name):
            continue
        feature = next((f for suffix, f in tables.items() if key.endswith(suffix)), None)
        if feature is None:
            np.testing.assert_array_equal(variable.numpy(), base_opt[key], err_msg=key)
            compared["copied"] += 1
        else:
            rows = row_map(BASE_VOCAB[feature], NEW_VOCAB[feature], OOV)
            np.testing.assert_array_equal(variable.numpy()[rows.new_rows], base_opt[key][rows.base_rows], err_msg=key)
            compared["remapped"] += 1
    assert compared == {"copied": report.optimizer_copied, "remapped": report.optimizer_remapped}, compared
    accumulators = [k for k in base_opt if "accumulator/" in k and not any(k.endswith(t) for t in tables)]
    assert len(accumulators) > 10 and all(not np.allclose(base_opt[k], 0.1) for k in accumulators[:3])
    key = next(k for k in new_opt if k.endswith("accumulator/shared_dense_0/kernel"))
    # Training continues from there: the counter goes on and the accumulators keep growing from the base's.
    iterations = int(model.optimizer.iterations.numpy())
    _fit(model, steps=2, seed=3)
    assert int(model.optimizer.iterations.numpy()) == iterations + 2 == report.base_iterations + 2
    assert np.all(new_opt[key].numpy() >= base_opt[key])


def test_switching_the_rule_keeps_the_shared_adagrad_state_and_the_new_learning_rate(base):
    base_dir = base[0]
    train = TrainConfig(optimizer="adagrad", learning_rate=0.7, optimizer_params={})
    model = _model(NEW_VOCAB, seed=2, train=train)
    report = warm_start(model, base_dir, NEW_VOCAB, OOV_BUCKETS)
    assert report.optimizer_copied > 10 and not report.fresh
    # Hyperparameters are the new configuration's, not the base model's (0.05).
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.7)


def test_an_architecture_change_cannot_be_continued(base):
    base_dir = base[0]
    tf.keras.utils.set_random_seed(0)
    wider = build_ranker(
        ModelConfig(embedding_dim=4, hidden_units=(32, 8), tower_units=(4,)), {k: 8 for k in NEW_VOCAB}
    )
    compile_ranker(wider, build_optimizer(TRAIN), MODEL)
    with pytest.raises(WarmStartError, match="shared_dense_0/kernel"):
        warm_start(wider, base_dir, NEW_VOCAB, OOV_BUCKETS)


def test_the_wide_parts_per_value_weights_move_with_their_tokens(tmp_path):
    # A wide ranker's per-value weight tables have a row per vocabulary entry, like the embeddings: a new day's
    # vocabulary (here one token longer and reordered) moves their rows by token instead of refusing the shape.
    wide = dataclasses.replace(MODEL, wide=True)
    model = _model(BASE_VOCAB, seed=1, config=wide)
    _fit(model, steps=3, seed=1)
    base_dir = _save(model, str(tmp_path / "base"))
    base_vars = loaded_model_weights(tf.saved_model.load(base_dir).model)
    grown = {k: [*v, f"{k}-new-c".encode()] for k, v in NEW_VOCAB.items()}
    new = _model(grown, seed=2, config=wide)
    report = warm_start(new, base_dir, grown, OOV_BUCKETS)
    values = {v.name: v.numpy() for v in new.variables}
    for feature in grown:
        name = wide_variable_name(feature)
        rows = row_map(BASE_VOCAB[feature], grown[feature], OOV)
        assert values[name].shape[0] == base_vars[name].shape[0] + 1
        np.testing.assert_array_equal(values[name][rows.new_rows], base_vars[name][rows.base_rows], err_msg=name)
        assert report.remapped[name] == {"kept": 4, "new": 3, "dropped": 2}
        assert np.any(base_vars[name][rows.base_rows] != 0), name  # trained rows, not the zero start
    assert report.optimizer_remapped == 2 * len(grown)  # the embedding's and the wide table's accumulators
