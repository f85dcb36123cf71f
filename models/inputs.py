"""tf.data input pipeline over the transformed TFRecords written by Transform.

Files are read in parallel (interleave), parsed in vectorised batches (`parse_example` after `batch`), split
into (features, labels) and prefetched, so the input pipeline stays off the training critical path.
"""

from __future__ import annotations

import tensorflow as tf

from models.ranker import split_labels


def list_files(patterns: list[str] | str) -> list[str]:
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    files: list[str] = []
    for pattern in patterns:
        matched = tf.io.gfile.glob(pattern)
        if not matched and tf.io.gfile.isdir(pattern):
            matched = tf.io.gfile.glob(pattern.rstrip("/") + "/*")
        files.extend(sorted(matched))
    if not files:
        raise FileNotFoundError(f"no input files match {patterns}")
    return files


def make_dataset(
    file_patterns: list[str] | str,
    feature_spec: dict,
    batch_size: int,
    *,
    shuffle: bool,
    repeat: bool,
    seed: int | None = None,
    shuffle_buffer: int = 10_000,
) -> tf.data.Dataset:
    """Batches of (features, labels) from gzipped TFRecords of transformed tf.Examples."""
    files = list_files(file_patterns)
    ds = tf.data.Dataset.from_tensor_slices(files)
    if shuffle:
        ds = ds.shuffle(len(files), seed=seed)
    ds = ds.interleave(
        lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
        cycle_length=min(4, len(files)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=seed is not None,
    )
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=repeat)
    ds = ds.map(lambda x: split_labels(tf.io.parse_example(x, feature_spec)), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
