"""The Trainer's input pipeline: the in-memory path is bounded by the parsed columns' size, and both paths agree."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from config.settings import TASKS
from models import features as F
from models import inputs

ROWS = 300


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> tuple[str, dict]:
    """ROWS gzipped examples: `x` = the row number, every label and the survey mask."""
    keys = [F.label_key(t) for t in TASKS] + [F.transformed_name(F.SURVEY_MASK), "x"]
    spec = {key: tf.io.FixedLenFeature([], tf.float32) for key in keys}
    path = str(tmp_path_factory.mktemp("inputs") / "part-00000.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for row in range(ROWS):
            feature = {k: tf.train.Feature(float_list=tf.train.FloatList(value=[float(row)])) for k in keys}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return path, spec


def test_read_columns_stops_when_the_parsed_rows_pass_the_bound(records) -> None:
    path, spec = records
    row_bytes = 4 * len(spec)
    columns = inputs.read_columns([path], spec, chunk=64, max_parsed_bytes=ROWS * row_bytes)
    assert columns is not None and np.array_equal(columns["x"].numpy(), np.arange(ROWS, dtype=np.float32))
    assert inputs.read_columns([path], spec, chunk=64, max_parsed_bytes=ROWS * row_bytes - 1) is None
    assert inputs.in_memory_columns([path], spec, max_bytes=2**20, max_parsed_bytes=100 * row_bytes) is None
    assert inputs.in_memory_columns([path], spec, max_bytes=10, max_parsed_bytes=2**20) is None  # the files' size


def test_both_paths_give_the_same_rows(records) -> None:
    path, spec = records

    def rows(**bounds: int) -> list[float]:
        dataset = inputs.make_dataset(path, spec, 64, shuffle=False, repeat=False, **bounds)
        return [float(v) for features, _ in dataset for v in features["x"].numpy()]

    in_memory = rows()
    streamed = rows(in_memory_max_parsed_bytes=1024)  # over the bound: streamed
    assert in_memory == streamed == [float(r) for r in range(ROWS)]
