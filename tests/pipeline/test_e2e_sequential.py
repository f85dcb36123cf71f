"""Sequential training end to end on the tiny preset: two days through LocalDagRunner in one MLMD store.

Day 0 is the session's shared run (`tiny_pipeline`, run by `run_days`): it trains on span 0, is evaluated on span 1
and pushed. Day 1 runs on a copy of the store and serving root as day 0 left them, and is made to diverge (plain
Adagrad at an absurd learning rate): it trains on the window [0, 1], warm-starts from exactly the served day-0
weights, is evaluated on span 2, is refused by the stability gate and pushes nothing, so serving stays on day 0's
version. `ranker history` reads all of it back from MLMD.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os

import ml_metadata as mlmd
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from helpers.saved_weights import loaded_model_weights
from ml_metadata.proto import metadata_store_pb2

from config.settings import tiny_preset
from models import features as F
from models.warm_start import WARM_START_FILE, carried_fingerprint, embedding_variable_name, row_map
from pipeline.history import plot_history, read_history, render_table
from pipeline.sequential import STATUS_PUSHED, STATUS_REFUSED, run_days
from serving.export import list_versions

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _diverging(config):
    """Plain Adagrad at an absurd learning rate, without the simple model (day 0 trained and scored it)."""
    train = dataclasses.replace(config.train, optimizer="adagrad", learning_rate=1e6, optimizer_params={})
    return dataclasses.replace(config, train=train, baseline=dataclasses.replace(config.baseline, enabled=False))


def _outputs(store: mlmd.MetadataStore, node: str, key: str) -> list[metadata_store_pb2.Artifact]:
    """Output artifacts of `node` (newest execution last) under output key `key`."""
    [context] = [c for c in store.get_contexts_by_type("node") if c.name.endswith("." + node)]
    executions = sorted(store.get_executions_by_context(context.id), key=lambda e: e.id)
    out = []
    for execution in executions:
        events = store.get_events_by_execution_ids([execution.id])
        ids = [
            e.artifact_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT and e.path.steps[0].key == key
        ]
        out += store.get_artifacts_by_id(ids)
    return out


def test_two_days_warm_start_eval_on_next_day_and_a_refused_day(tiny_pipeline, tmp_path):
    config = tiny_preset()  # day 1 on the DirectRunner (day 0 went through the portable runner)
    assert tiny_pipeline.summary.pushed, tiny_pipeline.summary.render()
    paths = tiny_pipeline.continue_from(tmp_path)
    results = run_days(config, paths, [1], config_for_day=lambda d: _diverging(config))
    assert [r.status for r in results] == [STATUS_REFUSED], [r.line() for r in results]
    assert "non-finite" in results[0].line() or "blew up" in results[0].line(), results[0].line()
    # The stability gate refuses the diverged model and nothing new is pushed.
    day1 = results[0].summary
    assert day1.stability_blessed is False, day1.render()
    assert day1.stability_reason and ("non-finite" in day1.stability_reason or "blew up" in day1.stability_reason)
    assert not day1.pushed, day1.render()
    day0_version = tiny_pipeline.summary.pushed_version

    # Serving stays on day 0's version; models.config points at the model.
    model_dir = os.path.join(paths.serving_root, config.model_name)
    assert [str(v) for v in list_versions(model_dir)] == [day0_version]

    history = read_history(paths.metadata_path)
    assert [(r.day, r.status, r.train_spans, r.eval_span) for r in history] == [
        (0, STATUS_PUSHED, [0], 1),
        (1, STATUS_REFUSED, [0, 1], 2),  # the rolling window, evaluated on the next day
    ]
    assert history[1].warm_start_from == day0_version and history[1].stability == "NOT BLESSED"
    assert history[0].schema_check == history[0].drift_check == "ok"
    table = render_table(history)
    assert "0-1" in table and day0_version in table
    plot_history(history, str(tmp_path / "history.png"))

    config_ = metadata_store_pb2.ConnectionConfig()
    config_.sqlite.filename_uri = paths.metadata_path
    store = mlmd.MetadataStore(config_)
    # The Evaluator's data for day d are day d+1's logs: every example of its eval split has day == d + 1.
    for day, examples in zip((0, 1), _outputs(store, "NextDayLogIngest", "examples")):
        files = glob.glob(os.path.join(examples.uri, "Split-eval", "*"))
        days = {
            tf.train.Example.FromString(r.numpy()).features.feature["day"].int64_list.value[0]
            for r in tf.data.TFRecordDataset(files, compression_type="GZIP").take(200)
        }
        assert days == {day + 1}

    # Warm start: the weights before training day 1 are exactly the served day-0 weights (embedding rows moved to
    # the day-1 vocabulary). Recomputed from the pushed SavedModel with TensorFlow's own loader.
    day0_dir = os.path.join(model_dir, day0_version)
    base = loaded_model_weights(tf.saved_model.load(day0_dir).model)
    model_run = _outputs(store, "Trainer", "model_run")[-1]
    with open(os.path.join(model_run.uri, WARM_START_FILE)) as f:
        warm = json.load(f)
    assert warm["base_iterations"] == config.train.train_steps and not warm["fresh"]
    transform_output = tft.TFTransformOutput(_outputs(store, "Transform", "transform_graph")[-1].uri)
    features = F.feature_set_from_spec(transform_output.raw_feature_spec())
    tables = {embedding_variable_name(k): k for k in features.vocab_features}
    assert set(warm["fingerprints"]) == set(base)
    for name, digest in warm["fingerprints"].items():
        rows = None
        if name in tables:
            key = tables[name]
            with open(os.path.join(day0_dir, "assets", F.vocab_name(key)), "rb") as f:
                base_vocab = f.read().splitlines()
            oov = config.transform.id_oov_buckets if key in features.ids else config.transform.categorical_oov_buckets
            rows = row_map(base_vocab, transform_output.vocabulary_by_name(F.vocab_name(key)), oov)
        assert digest == carried_fingerprint(base[name], rows, "base"), name
    assert warm["remapped"]["video_id_embedding/embeddings:0"]["new"] > 0  # day 1 shows new uploads
