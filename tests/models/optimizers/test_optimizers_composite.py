"""split_optimizer: Clippy (or any optimizer) on dense variables, another on embeddings, through model.fit."""

import numpy as np
import pytest
import tensorflow as tf

from models.optimizers import ClippyAdagrad, ScaledAdagrad, SplitOptimizer, make_optimizer, split_optimizer

VOCABULARY = 50
USED_IDS = 10  # the data only uses ids < 10: rows 10..49 must never move


class RecordingAdagrad(ScaledAdagrad):
    """Adagrad that records, at trace time, which variables it updates and with which gradient type."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = self._no_dependency([])

    def update_step(self, gradient, variable):
        self.seen.append((variable.name, type(gradient).__name__))
        return super().update_step(gradient, variable)


def tiny_model():
    tf.keras.utils.set_random_seed(0)
    ids = tf.keras.Input((2,), dtype=tf.int32)
    embedded = tf.keras.layers.Embedding(VOCABULARY, 4, name="item_embedding")(ids)
    hidden = tf.keras.layers.Dense(8, activation="relu", name="hidden")(tf.keras.layers.Flatten()(embedded))
    return tf.keras.Model(ids, tf.keras.layers.Dense(1, name="head")(hidden))


def data():
    rng = np.random.default_rng(0)
    return rng.integers(0, USED_IDS, size=(64, 2)).astype(np.int32), rng.normal(size=(64, 1)).astype(np.float32)


def test_fit_routes_embeddings_sparse_to_one_optimizer_and_the_rest_to_the_other():
    model = tiny_model()
    initial_table = model.get_layer("item_embedding").embeddings.numpy()
    dense, embedding = ClippyAdagrad(0.5, export_clipping_factors=True), RecordingAdagrad(0.1, name="EmbAdagrad")
    model.compile(optimizer=split_optimizer(dense, embedding), loss="mse")
    ids, labels = data()
    history = model.fit(ids, labels, batch_size=16, epochs=2, verbose=0)

    assert embedding.seen and {kind for _, kind in embedding.seen} == {"IndexedSlices"}
    assert {name for name, _ in embedding.seen} == {"item_embedding/embeddings:0"}
    assert len(dense.clipping_factors) == 4  # hidden and head kernels and biases, nothing else
    assert int(model.optimizer.iterations.numpy()) == int(dense.iterations.numpy()) == 8
    assert int(embedding.iterations.numpy()) == 8
    table = model.get_layer("item_embedding").embeddings.numpy()
    np.testing.assert_array_equal(table[USED_IDS:], initial_table[USED_IDS:])
    assert not np.allclose(table[:USED_IDS], initial_table[:USED_IDS])
    np.testing.assert_array_equal(embedding._accumulators[0].numpy()[USED_IDS:], 0.1)
    assert np.all(np.isfinite(history.history["loss"]))


def test_custom_predicate_and_pattern():
    model = tiny_model()
    by_pattern = split_optimizer(make_optimizer("gc", 0.1), make_optimizer("adagrad", 0.1), is_embedding="^head/")
    by_predicate = split_optimizer(
        make_optimizer("gc", 0.1), make_optimizer("adagrad", 0.1), is_embedding=lambda v: "head" in v.name
    )
    for optimizer in (by_pattern, by_predicate):
        names = [v.name for v in model.trainable_variables if optimizer.is_embedding(v)]
        assert names == ["head/kernel:0", "head/bias:0"]
    with pytest.raises(NotImplementedError, match="embedding_pattern"):
        by_predicate.get_config()


def test_keras_format_round_trip_restores_both_optimizers(tmp_path):
    model = tiny_model()
    model.compile(optimizer=split_optimizer(ClippyAdagrad(0.5), make_optimizer("adagrad", 0.1)), loss="mse")
    ids, labels = data()
    model.fit(ids, labels, batch_size=16, epochs=1, verbose=0)
    path = str(tmp_path / "split.keras")
    model.save(path)
    restored = tf.keras.models.load_model(path)
    assert type(restored.optimizer) is SplitOptimizer
    assert type(restored.optimizer.dense_optimizer) is ClippyAdagrad
    assert restored.optimizer.get_config() == model.optimizer.get_config()
    assert int(restored.optimizer.iterations.numpy()) == 4
    for original, loaded in zip(model.optimizer.optimizers, restored.optimizer.optimizers):
        for mine, theirs in zip(original._accumulators, loaded._accumulators):
            np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    restored.fit(ids, labels, batch_size=16, epochs=1, verbose=0)


def test_learning_rate_is_the_dense_optimizers():
    dense = ClippyAdagrad(0.5)
    optimizer = split_optimizer(dense, make_optimizer("adagrad", 0.1))
    np.testing.assert_allclose(float(optimizer.learning_rate), 0.5)
    optimizer.learning_rate = 0.25
    np.testing.assert_allclose(float(dense.learning_rate), 0.25)


@pytest.mark.parametrize(
    "dense, embedding, kwargs",
    [("same", "same", {}), ("not an optimizer", None, {}), (None, None, {"embedding_pattern": "("})],
)
def test_invalid_arguments_are_value_errors(dense, embedding, kwargs):
    shared = make_optimizer("adagrad", 0.1)
    dense = shared if dense in ("same", None) else dense
    embedding = shared if embedding == "same" else make_optimizer("adagrad", 0.1)
    with pytest.raises(ValueError):  # noqa: PT011 - each case words its own refusal
        SplitOptimizer(dense, embedding, **kwargs)
