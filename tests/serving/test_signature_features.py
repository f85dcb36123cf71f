"""Which features serving_default parses, read from saved_model.pb, and which of them a batch of examples lacks
(the model would impute those as missing): what `ranker predict` checks before scoring."""

from __future__ import annotations

import tensorflow as tf
from helpers.tiny_model import TinyRanker, save_tiny_ranker

from serving import signature


class TwoSignatures(TinyRanker):
    """serving_default parses `position`; another signature parses a label too: only the former counts."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def with_label(self, examples):
        spec = {"click": tf.io.FixedLenFeature([], tf.int64, default_value=0), "extra": tf.io.VarLenFeature(tf.string)}
        parsed = tf.io.parse_example(examples, spec)
        return {"click": tf.cast(parsed["click"], tf.float32)}


def _example(**features: int) -> bytes:
    feature = {k: tf.train.Feature(int64_list=tf.train.Int64List(value=[v])) for k, v in features.items()}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_signature_features_are_those_serving_default_parses(tmp_path):
    module = TwoSignatures()
    path = str(tmp_path / "model")
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve, "labels": module.with_label})
    assert signature.signature_features(path) == {"position"}
    assert signature.signature_features(path, "labels") == {"click", "extra"}


def test_missing_signature_features_counts_the_examples_without_them(tmp_path):
    path = save_tiny_ranker(str(tmp_path / "model"))
    examples = [_example(position=1), _example(other=2), _example(other=3)]
    assert signature.missing_signature_features(path, examples) == {"position": 2}
    assert signature.missing_signature_features(path, examples[:1]) == {}
