"""Examples as columns: every split of an Examples artifact (or serialized tf.Examples) read into numpy arrays.

Keeps the serialized examples (to score through a SavedModel's `serving_default`), the impression ids (to join the
oracle) and every numeric feature and label as float64 (NaN where a record left an optional field out).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

import numpy as np

from logformat.schema import BINARY_LABEL_FIELDS, EXAMPLE_LABEL_FEATURES, META_FIELDS

READ_BATCH = 8_192
KIND_SAMPLE = 500
_ABSENT_INT = -(2**63)  # an int64 field the record left out (read as NaN)
# Not inputs of the simple baselines: labels, the record's identity and time, and ids (left out, as the issue asks).
NOT_BASELINE_INPUTS = frozenset((*EXAMPLE_LABEL_FEATURES, *META_FIELDS))


@dataclass(frozen=True)
class ExampleTable:
    serialized: list[bytes]
    impression_ids: np.ndarray  # [n] str
    columns: dict[str, np.ndarray]  # numeric feature or label -> [n] float64, NaN when absent

    def __len__(self) -> int:
        return len(self.serialized)

    def numeric_features(self) -> list[str]:
        """The logged numeric columns a simple baseline may use (ids, labels and time left out)."""
        return sorted(name for name in self.columns if name not in NOT_BASELINE_INPUTS)

    def label(self, task: str) -> tuple[np.ndarray, np.ndarray]:
        """(label, weight) of `task` on the ranker's scale: binary 0/1; watch time in log1p seconds; the survey
        rating weighted by `has_survey` (scored over surveyed impressions only, as the Evaluator does)."""
        n = len(self)
        if task in BINARY_LABEL_FIELDS:
            return self.columns[task], np.ones(n)
        if task == "watch_time":
            return np.log1p(np.maximum(self.columns["watch_time_s"], 0.0)), np.ones(n)
        if task == "survey_rating":
            return self.columns["survey_rating"], np.nan_to_num(self.columns["has_survey"])
        raise ValueError(f"unknown task {task!r}")

    @staticmethod
    def concat(tables: list[ExampleTable]) -> ExampleTable:
        names = sorted(set().union(*(t.columns for t in tables)))
        return ExampleTable(
            serialized=[s for t in tables for s in t.serialized],
            impression_ids=np.concatenate([t.impression_ids for t in tables]),
            columns={
                name: np.concatenate([t.columns.get(name, np.full(len(t), np.nan)) for t in tables]) for name in names
            },
        )


def example_files(examples_uri: str, split: str = "*") -> list[str]:
    """The TFRecord files of an Examples artifact's `split` (default: every split), in a stable order."""
    return sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*")))


def read_examples(examples_uri: str, split: str = "*") -> ExampleTable:
    """The examples of `split` (default: all splits) of the Examples artifact at `examples_uri` (GZIP TFRecords)."""
    import tensorflow as tf

    files = example_files(examples_uri, split)
    if not files:
        raise FileNotFoundError(f"no examples under {examples_uri}/Split-{split}")
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(READ_BATCH)
    return table_of([record for batch in dataset.as_numpy_iterator() for record in batch.tolist()])


def table_of(serialized: list[bytes]) -> ExampleTable:
    """Parses serialized tf.Examples into an ExampleTable (numeric features: those of the first KIND_SAMPLE)."""
    import tensorflow as tf

    if not serialized:
        return ExampleTable([], np.array([], dtype=str), {})
    spec = {}
    for example in serialized[:KIND_SAMPLE]:  # an optional field may be absent from any one record
        for name, feature in tf.train.Example.FromString(example).features.feature.items():
            kind = feature.WhichOneof("kind")
            if kind == "int64_list":
                spec[name] = tf.io.FixedLenFeature([], tf.int64, default_value=_ABSENT_INT)
            elif kind == "float_list":
                spec[name] = tf.io.FixedLenFeature([], tf.float32, default_value=float("nan"))
    spec["impression_id"] = tf.io.FixedLenFeature([], tf.string)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in spec}
    for start in range(0, len(serialized), READ_BATCH):
        parsed = tf.io.parse_example(serialized[start : start + READ_BATCH], spec)
        for name, values in parsed.items():
            parts[name].append(values.numpy())
    ids = np.concatenate(parts.pop("impression_id")).astype(str)
    columns = {}
    for name, chunks in parts.items():
        values = np.concatenate(chunks)
        columns[name] = np.where(values == _ABSENT_INT, np.nan, values) if values.dtype == np.int64 else values
    return ExampleTable(list(serialized), ids, {name: v.astype(np.float64) for name, v in columns.items()})
