"""End to end: the `tiny` preset through LocalDagRunner pushes a blessed model that serves.

The diverging run that must not be pushed is the refused day 1 of test_e2e_sequential.py, on a copy of this run's
store and serving root."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from config.settings import BINARY_TASKS, TASKS
from models.features import RAW_LABEL_KEYS

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def eval_examples(pipeline_root: str, limit: int = 20) -> list[bytes]:
    files = sorted(glob.glob(os.path.join(pipeline_root, "LogIngest", "examples", "*", "Split-eval", "*")))
    assert files, "no eval split written by LogIngest"
    records = []
    for raw in tf.data.TFRecordDataset(files, compression_type="GZIP").take(limit):
        example = tf.train.Example.FromString(raw.numpy())
        for key in RAW_LABEL_KEYS:  # clients do not send labels
            del example.features.feature[key]
        records.append(example.SerializeToString())
    return records


def versions(serving_root: str, model_name: str) -> list[str]:
    model_dir = os.path.join(serving_root, model_name)
    return sorted(d for d in os.listdir(model_dir) if d.isdigit()) if os.path.isdir(model_dir) else []


def test_tiny_pipeline_pushes_a_blessed_model_that_serves(tiny_pipeline) -> None:
    config, paths, summary = tiny_pipeline.config, tiny_pipeline.paths, tiny_pipeline.summary
    print(summary.render())
    assert summary.stability_blessed is True, summary.render()
    assert summary.evaluator_blessed is True, summary.render()
    assert summary.pushed, summary.render()
    pushed = versions(paths.serving_root, config.model_name)
    assert len(pushed) == 1
    version_dir = os.path.join(paths.serving_root, config.model_name, pushed[0])
    assert os.path.abspath(summary.pushed_destination) == os.path.abspath(version_dir)
    assert set(summary.metrics) >= set(TASKS), summary.metrics
    # The simple model is trained and scored on the same examples (measured; the tiny preset does not gate on it).
    assert set(summary.baseline_metrics) >= set(TASKS), summary.baseline_metrics
    assert summary.baseline_blessed is None and config.gates.min_lift_over_baseline is None
    [simple] = glob.glob(os.path.join(paths.pipeline_root, "BaselineTrainer", "model", "*", "Format-Serving"))
    assert set(tf.saved_model.load(simple).signatures) == {"serving_default", "transform_features"}
    assert os.path.exists(os.path.join(paths.serving_root, "models.config"))

    serve = tf.saved_model.load(version_dir).signatures["serving_default"]
    batch = eval_examples(paths.pipeline_root)
    out = {k: v.numpy() for k, v in serve(examples=tf.constant(batch)).items()}
    assert set(out) == {*TASKS, "score"}
    for key, value in out.items():
        assert value.shape == (len(batch),), key
        assert np.all(np.isfinite(value)), key
    for task in BINARY_TASKS:
        assert np.all((out[task] >= 0) & (out[task] <= 1)), task
    assert np.all(out["watch_time"] > -1.0)  # log1p(seconds) of a sane model stays near the label range
