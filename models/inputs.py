"""tf.data input pipeline over the transformed TFRecords written by Transform.

Two paths with the same output (batches of (features, labels), shuffled with `seed`, repeated or one pass):

* in memory, when the files hold at most `in_memory_max_bytes` (64 MiB of gzipped records by default; one day of
  the default preset is ~10 MB), every feature is fixed-length and the parsed columns fit in
  `in_memory_max_parsed_bytes` (256 MiB by default; one day of the default preset is ~12 MB, 256 bytes a row):
  the records are read and parsed once, at construction, into one tensor per feature; each epoch is a fresh
  permutation of the rows (a full shuffle, not a buffer): every column is gathered once in that order and cut into
  ready batches, so a batch costs a slice instead of decompressing, shuffling and parsing `batch_size` records
  again every epoch, which on two cores is the bottleneck of training (benchmarks/training_bench.py; numbers in
  docs/benchmarks.md). The path holds the columns and one epoch's permuted copy: at most about twice
  `in_memory_max_parsed_bytes`. The reading stops as soon as the parsed rows pass that bound (gzip's ratio varies
  with the data, so the files' size alone does not bound the columns) and the records are streamed instead.
  With `repeat`, each epoch's last (rows mod batch_size) rows of its permutation are left out (a different few
  each epoch).
* streaming, otherwise: files are read in parallel (interleave), shuffled through a `shuffle_buffer` of records,
  parsed in vectorised batches (`parse_example` after `batch`), split into (features, labels) and prefetched; it
  holds the shuffle buffer and a few prefetched batches, whatever the size of the files.
"""

from __future__ import annotations

import random

import tensorflow as tf

from models.ranker import split_labels

#: Gzipped transformed records up to this size are parsed once and served from memory (0: always stream) ...
IN_MEMORY_MAX_BYTES = 64 * 2**20
#: ... when their parsed columns fit in this many bytes; above it the reading stops and the records are streamed.
IN_MEMORY_MAX_PARSED_BYTES = 256 * 2**20


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
    in_memory_max_bytes: int = IN_MEMORY_MAX_BYTES,
    in_memory_max_parsed_bytes: int = IN_MEMORY_MAX_PARSED_BYTES,
) -> tf.data.Dataset:
    """Batches of (features, labels) from gzipped TFRecords of transformed tf.Examples (module docstring).

    `shuffle_buffer` applies to the streaming path only (in memory, every epoch is a full permutation).
    """
    files = list_files(file_patterns)
    columns = in_memory_columns(files, feature_spec, in_memory_max_bytes, in_memory_max_parsed_bytes)
    if columns is not None:
        return _in_memory_dataset(columns, batch_size, shuffle=shuffle, repeat=repeat, seed=seed)
    return _streaming_dataset(files, feature_spec, batch_size, shuffle, repeat, seed, shuffle_buffer)


def in_memory_columns(
    files: list[str], feature_spec: dict, max_bytes: int, max_parsed_bytes: int
) -> dict[str, tf.Tensor] | None:
    """The records of `files` as columns when the in-memory path takes them (module docstring), else None."""
    if not _fits_in_memory(files, feature_spec, max_bytes):
        return None
    return read_columns(files, feature_spec, max_parsed_bytes=max_parsed_bytes)


def _fits_in_memory(files: list[str], feature_spec: dict, max_bytes: int) -> bool:
    if max_bytes <= 0 or not tf.executing_eagerly():
        return False
    if not all(isinstance(spec, tf.io.FixedLenFeature) for spec in feature_spec.values()):
        return False
    return sum(tf.io.gfile.stat(f).length for f in files) <= max_bytes


def read_columns(
    files: list[str], feature_spec: dict, chunk: int = 16_384, max_parsed_bytes: int | None = None
) -> dict[str, tf.Tensor] | None:
    """Every record of `files`, in file order, parsed into one tensor per feature (rows first); None as soon as the
    parsed rows pass `max_parsed_bytes` (None: no bound)."""
    parts: list[dict[str, tf.Tensor]] = []
    parsed_bytes = 0
    for records in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(chunk):
        part = tf.io.parse_example(records, feature_spec)
        parsed_bytes += sum(int(tf.size(value)) * value.dtype.size for value in part.values())
        if max_parsed_bytes is not None and parsed_bytes > max_parsed_bytes:
            return None
        parts.append(part)
    if not parts:
        raise ValueError(f"no records in {files}")
    return {key: tf.concat([part[key] for part in parts], axis=0) for key in feature_spec}


def _in_memory_dataset(
    columns_by_key: dict[str, tf.Tensor], batch_size: int, *, shuffle: bool, repeat: bool, seed: int | None
) -> tf.data.Dataset:
    """Batch i of epoch e holds rows order_e[i*B:(i+1)*B], order_e a permutation seeded by (seed, e). Each epoch
    gathers every column once in that order and hands out ready batches (slices), so a training step waits for no
    per-batch work; labels are split off once, at load time."""
    columns = split_labels(columns_by_key)
    rows = int(tf.nest.flatten(columns)[0].shape[0])
    base_seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
    full = rows // batch_size

    def epoch_batches(epoch: tf.Tensor) -> tf.data.Dataset:
        order = tf.range(rows, dtype=tf.int64)
        if shuffle:
            order = tf.random.experimental.stateless_shuffle(
                order, seed=tf.stack([tf.constant(base_seed, tf.int64), epoch])
            )

        def batched(column: tf.Tensor) -> tf.Tensor:
            taken = tf.gather(column, order[: full * batch_size])
            return tf.reshape(taken, [full, batch_size, *column.shape[1:]])

        batches = tf.data.Dataset.from_tensor_slices(tf.nest.map_structure(batched, columns))
        if not repeat and rows % batch_size:
            rest = tf.nest.map_structure(lambda column: tf.gather(column, order[full * batch_size :]), columns)
            batches = batches.concatenate(tf.data.Dataset.from_tensors(rest))
        return batches

    if repeat and full == 0:
        raise ValueError(f"{rows} rows cannot fill one batch of {batch_size}")
    epochs = tf.data.Dataset.counter() if repeat else tf.data.Dataset.range(1)
    return epochs.flat_map(epoch_batches).prefetch(tf.data.AUTOTUNE)


def _streaming_dataset(
    files: list[str],
    feature_spec: dict,
    batch_size: int,
    shuffle: bool,
    repeat: bool,
    seed: int | None,
    shuffle_buffer: int,
) -> tf.data.Dataset:
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
