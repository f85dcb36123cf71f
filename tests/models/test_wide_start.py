"""The ranker's wide part started from the simple model: every linear layer copied, the chained tasks' columns left
at zero, from a Keras model or an exported SavedModel alike, and a mismatch refused."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from config.settings import TASKS, BaselineConfig, ModelConfig
from models import features as F
from models.baseline import build_baseline
from models.ranker import build_ranker
from models.wide_start import (
    WIDE_START_FILE,
    WideStartError,
    column_mask,
    linear_weights_of_model,
    linear_weights_of_saved_model,
    save_wide_start,
    start_wide_part,
)

SIZES = {key: 5 for key in F.CORE_FEATURES.vocab_features}
SMALL = dict(embedding_dim=4, hidden_units=(8,), tower_units=(4,))


def trained_looking_simple(sizes: dict[str, int] = SIZES) -> tf.keras.Model:
    """A simple model whose every linear weight is a distinct nonzero value (as if trained)."""
    model = build_baseline(BaselineConfig(), sizes)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in layer.get_weights()])
    return model


@pytest.mark.parametrize("chained", [False, True])
def test_every_linear_layer_is_copied_in_the_copied_task_columns_only(chained: bool) -> None:
    simple = trained_looking_simple()
    ranker = build_ranker(ModelConfig(wide=True, conditional_tasks=chained, **SMALL), SIZES)
    weights = linear_weights_of_model(simple)
    copied = start_wide_part(ranker, weights, chained)
    assert copied == sorted(weights) and "dense_weights" in copied and "video_id_weights" in copied
    keep = column_mask(chained).astype(bool)
    copied_tasks = [t for t, k in zip(TASKS, keep) if k]
    assert copied_tasks == (["click", "dismiss"] if chained else ["click", "like", "share", "dismiss"])
    for name in copied:
        for got, want in zip(ranker.get_layer(f"wide_{name}").get_weights(), simple.get_layer(name).get_weights()):
            np.testing.assert_array_equal(got[..., keep], want[..., keep])
            assert not got[..., ~keep].any()


@pytest.mark.parametrize("chained", [False, True])
def test_a_started_ranker_without_its_deep_part_predicts_what_the_simple_model_predicts(chained: bool) -> None:
    """The copied intercepts give up the deep heads' own (3 for the survey rating): no task starts at their sum."""
    simple = trained_looking_simple()
    ranker = build_ranker(ModelConfig(wide=True, conditional_tasks=chained, **SMALL), SIZES)
    copied = ("click", "survey_rating") if chained else TASKS  # every column, the survey's intercept included
    start_wide_part(ranker, linear_weights_of_model(simple), chained, copied)
    for task in TASKS:  # silence the deep part: each head then outputs its intercept
        head = ranker.get_layer(f"{task}_head")
        head.set_weights([np.zeros_like(head.kernel.numpy()), head.bias.numpy()])
    inputs = {k: tf.constant([0, 3], tf.int64) for k in (F.transformed_name(k) for k in F.CORE_FEATURES.embedded)}
    inputs.update({F.transformed_name(k): tf.constant([0.5, -1.0]) for k in F.CORE_FEATURES.dense})
    got, want = ranker(inputs, training=False), simple(inputs, training=False)
    for task in ("click", "survey_rating") if chained else TASKS:
        np.testing.assert_allclose(got[task].numpy(), want[task].numpy(), rtol=1e-5, atol=1e-5, err_msg=task)


def test_the_exported_simple_model_gives_the_same_weights_as_the_keras_model(tmp_path) -> None:
    simple = trained_looking_simple()
    tf.saved_model.save(simple, str(tmp_path / "simple"))
    from_saved = linear_weights_of_saved_model(str(tmp_path / "simple"))
    from_keras = linear_weights_of_model(simple)
    assert sorted(from_saved) == sorted(from_keras)
    for layer, values in from_keras.items():
        assert sorted(from_saved[layer]) == sorted(values)
        for short, value in values.items():
            np.testing.assert_array_equal(from_saved[layer][short], value)


def test_a_ranker_on_other_vocabularies_or_without_a_wide_part_is_refused() -> None:
    weights = linear_weights_of_model(trained_looking_simple())
    other = {**SIZES, "video_id": 9}
    with pytest.raises(WideStartError, match="video_id_weights/embeddings"):
        start_wide_part(build_ranker(ModelConfig(wide=True, **SMALL), other), weights, chained=False)
    with pytest.raises(WideStartError, match="no wide part"):
        start_wide_part(build_ranker(ModelConfig(wide=False, **SMALL), SIZES), weights, chained=False)
    partial = {k: v for k, v in weights.items() if k != "country_weights"}
    with pytest.raises(WideStartError, match="only in the ranker \\['country_weights'\\]"):
        start_wide_part(build_ranker(ModelConfig(wide=True, **SMALL), SIZES), partial, chained=False)


def test_the_record_names_the_source_the_layers_and_the_tasks(tmp_path) -> None:
    save_wide_start(str(tmp_path), "/root/BaselineTrainer/model/7/Format-Serving", ["dense_weights"], chained=True)
    record = json.loads((tmp_path / WIDE_START_FILE).read_text())
    assert record == {
        "simple_model": "/root/BaselineTrainer/model/7/Format-Serving",
        "layers": ["dense_weights"],
        "tasks": ["click", "dismiss"],
    }
    assert os.path.exists(tmp_path / WIDE_START_FILE)


class WideWeightsAtStart(tf.keras.callbacks.Callback):
    """Records the wide part's weights when training begins (after the start, before the first step)."""

    def __init__(self) -> None:
        super().__init__()
        self.weights: dict[str, list[np.ndarray]] = {}

    def on_train_begin(self, logs=None) -> None:
        for layer in self.model.layers:
            if layer.name.startswith("wide_") and layer.weights:
                self.weights[layer.name[len("wide_") :]] = layer.get_weights()


def test_the_trainer_starts_the_wide_part_from_the_exported_simple_model(tiny_pipeline, trained_ranker, tmp_path):
    """The shared tiny run's BaselineTrainer model starts a wide ranker trained on the same Transform output."""
    import glob

    from models.trainer import train_and_export

    [simple] = glob.glob(
        os.path.join(tiny_pipeline.paths.pipeline_root, "BaselineTrainer", "model", "*", "Format-Serving")
    )
    config = trained_ranker.config
    config = config.replace(
        model=dataclasses.replace(config.model, wide=True, wide_from_simple=True, conditional_tasks=True),
        train=dataclasses.replace(config.train, train_steps=10, log_every_steps=10),
    )
    started = WideWeightsAtStart()
    run_dir = str(tmp_path / "model_run")
    train_and_export(
        config,
        trained_ranker.transform_graph,
        trained_ranker.train_files,
        str(tmp_path / "serving"),
        run_dir,
        callbacks=[started],
        simple_model=simple,
    )
    expected = linear_weights_of_saved_model(simple)
    assert sorted(started.weights) == sorted(expected)
    mask = column_mask(chained=True)
    for name, values in started.weights.items():
        shorts = ["embeddings"] if len(values) == 1 else ["kernel", "bias"]  # the order Keras builds them in
        for short, value in zip(shorts, values):
            np.testing.assert_array_equal(value, expected[name][short] * mask, err_msg=f"{name}/{short}")
    with open(os.path.join(run_dir, WIDE_START_FILE)) as f:
        record = json.load(f)
    assert record["simple_model"] == simple and record["layers"] == sorted(expected)
