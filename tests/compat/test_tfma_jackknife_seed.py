"""TFMA's jackknife, seeded: the same predictions give the same confidence intervals in every analysis.

Real TFMA (`tfma.run_model_analysis`, model-agnostic: the predictions are a feature of the examples) computes two
models' AUC and its paired difference with jackknife intervals, twice over the same examples.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.evaluators import jackknife

from compat import tfma_jackknife_seed as seeded
from compat.install import install_patches

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def patched():
    install_patches()
    assert seeded.installed()


def _examples(path: str, n: int = 600) -> None:
    rng = np.random.default_rng(3)
    signal = rng.normal(size=n)
    label = (signal + rng.normal(size=n) > 0.8).astype(np.int64)
    predictions = {
        "candidate": 1 / (1 + np.exp(-(signal + 0.3 * rng.normal(size=n)))),
        "baseline": 1 / (1 + np.exp(-(signal + 0.5 * rng.normal(size=n)))),
    }
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(n):
            feature = {"label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label[i]]))}
            for name, values in predictions.items():
                feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[values[i]]))
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


def _lift_interval(examples: str, out: str) -> tuple[float, float, float]:
    config = tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(name=name, prediction_key=name, label_key="label", is_baseline=name == "baseline")
            for name in ("candidate", "baseline")
        ],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name="AUC", config=json.dumps({"num_thresholds": 100}))])
        ],
        options=tfma.Options(
            compute_confidence_intervals={"value": True},
            confidence_intervals=tfma.ConfidenceIntervalOptions(method=tfma.ConfidenceIntervalOptions.JACKKNIFE),
        ),
    )
    tfma.run_model_analysis(eval_config=config, data_location=examples, output_path=out, file_format="tfrecords")
    [(_, metrics)] = tfma.load_eval_result(out, model_name="candidate").slicing_metrics
    diff = metrics[""][""]["auc_diff"]["boundedValue"]
    return diff["value"], diff["lowerBound"], diff["upperBound"]


def test_two_analyses_of_the_same_predictions_give_the_same_interval(tmp_path):
    examples = str(tmp_path / "examples.tfrecord")
    _examples(examples)
    first = _lift_interval(examples, str(tmp_path / "first"))
    second = _lift_interval(examples, str(tmp_path / "second"))
    assert first == second
    assert first[1] < first[0] < first[2]  # a real interval around the point


def test_a_callers_own_seed_is_kept(monkeypatch):
    seen = []
    monkeypatch.setattr(seeded, "ORIGINAL", lambda *args, **kwargs: seen.append(kwargs["random_seed_for_testing"]))
    jackknife.ComputeWithConfidenceIntervals(num_jackknife_samples=20)
    jackknife.ComputeWithConfidenceIntervals(num_jackknife_samples=20, random_seed_for_testing=5)
    assert seen == [seeded.JACKKNIFE_SEED, 5]
