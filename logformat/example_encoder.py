"""Serialized tf.Examples of Arrow columns, a batch at a time with numpy, in the canonical bytes.

The bytes are those of `SerializeToString(deterministic=True)` (map entries sorted by key; the tests check byte
equality with `logformat.parser.record_to_example`), so the same record always gives the same example, whatever the
batch, runner or process. A tf.Example with one value per feature is:

    Example:   0a <len> Features
    Features:  per feature, in key order: 0a <len> Entry
    Entry:     0a <len(key)> key  12 <len> Feature      (a missing world value: an empty Feature, "12 00")
    Feature:   int64_list 1a <len> (0a <len> varint), float_list 12 06 (0a 04 float32),
               or bytes_list 0a <len> (0a <len> b)

Each record's bytes are a sequence of segments (constant prefixes, varints, float32s, strings), built a column of
segments at a time with numpy straight from the Arrow buffers and packed into records with one boolean mask
(_Segments).

Why not tfx-bsl's `RecordBatchToExamplesEncoder`: it serializes each example's feature map in the C++ map's
iteration order, which differs from example to example, so its bytes are not canonical; putting its entries in key
order afterwards made it 3x slower than this encoder (see docs/benchmarks.md).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

_SHIFTS = np.arange(0, 64, 7, dtype=np.uint64)  # the 7-bit groups of a 64-bit varint (10 of them)
MAX_KEY_BYTES = 100  # keeps every length inside an entry prefix below 128, i.e. a one-byte varint


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _varints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Base-128 varints of int64 or uint64 `values` (negative: ten bytes, two's complement, as protobuf writes
    int64): (an n x width uint8 matrix, the length of each row's varint)."""
    v = values.astype(np.int64).view(np.uint64) if values.dtype.kind == "i" else values.astype(np.uint64)
    if v.size == 0 or int(v.max()) < 0x80:
        return v.astype(np.uint8).reshape(-1, 1), np.ones(v.size, dtype=np.int64)
    groups = v[:, None] >> _SHIFTS
    lengths = np.maximum(1, np.count_nonzero(groups, axis=1))
    more = np.arange(_SHIFTS.size) < (lengths - 1)[:, None]
    return ((groups & np.uint64(0x7F)) | (more.astype(np.uint64) << np.uint64(7))).astype(np.uint8), lengths


def _partial(matrix: np.ndarray, lengths: np.ndarray | None) -> np.ndarray | None:
    """`lengths`, or None when every row uses all of `matrix`'s width (no mask to build for that column)."""
    if lengths is None or int(lengths.min(initial=matrix.shape[1])) == matrix.shape[1]:
        return None
    return lengths


class _Segments:
    """The serializations of n records as columns of segments (each column: one segment per record, possibly empty).

    Columns are laid side by side in an n x width matrix, each padded to its widest segment; a boolean mask of the
    bytes in use then packs the matrix row by row into the records' concatenation (numpy's row-major order). The mask
    is built per column only where segment lengths differ, and per run of columns that share a presence mask (the
    segments of one feature with missing values) with one assignment to the absent rows.
    """

    def __init__(self, n: int):
        self.n = n
        # (n x w or 1 x w uint8, lengths or None: all of it, presence or None: every record)
        self._columns: list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]] = []

    def rows(self, matrix: np.ndarray, lengths: np.ndarray | None, present: np.ndarray | None = None) -> None:
        """Row i of `matrix`, its first lengths[i] bytes (all of it: None; nothing where not present[i])."""
        self._columns.append((matrix, _partial(matrix, lengths), present))

    def const(self, data: bytes, present: np.ndarray | None = None) -> None:
        """The same bytes in every record (none where not present[i])."""
        self.rows(np.frombuffer(data, dtype=np.uint8).reshape(1, -1), None, present)

    def blob(self, data: np.ndarray, lengths: np.ndarray, present: np.ndarray | None = None) -> None:
        """Consecutive pieces of `data` (uint8): lengths[i] bytes for record i (0 where not present[i])."""
        used = np.arange(int(lengths.max(initial=0))) < lengths[:, None]
        matrix = np.zeros(used.shape, dtype=np.uint8)
        matrix[used] = data
        self.rows(matrix, lengths, present)

    def varints(self, values: np.ndarray, present: np.ndarray | None = None) -> None:
        matrix, lengths = _varints(values)
        self.rows(matrix, lengths, present)

    def _runs(self) -> list[tuple[int, int, np.ndarray | None]]:
        """(first column, end column, presence) of each run of consecutive columns that share one presence mask."""
        runs: list[tuple[int, int, np.ndarray | None]] = []
        for j, (_, _, present) in enumerate(self._columns):
            if runs and runs[-1][2] is present:
                runs[-1] = (runs[-1][0], j + 1, present)
            else:
                runs.append((j, j + 1, present))
        return runs

    def _body_lengths(self, runs: list[tuple[int, int, np.ndarray | None]]) -> np.ndarray:
        """Each record's length: the segments of its columns, where present."""
        body = np.zeros(self.n, np.int64)
        for first, end, present in runs:
            columns = self._columns[first:end]
            sizes = np.full(self.n, sum(c.shape[1] for c, lengths, _ in columns if lengths is None), np.int64)
            for _, lengths, _ in columns:
                if lengths is not None:
                    sizes += lengths
            body += sizes if present is None else np.where(present, sizes, 0)
        return body

    def serialize(self) -> list[bytes]:
        """Each record: 0a <varint length> followed by its segments in column order."""
        runs = self._runs()
        body = self._body_lengths(runs)
        header, header_lengths = _varints(body)
        head = [(np.full((1, 1), 0x0A, dtype=np.uint8), None), (header, _partial(header, header_lengths))]
        columns = [*head, *((matrix, lengths) for matrix, lengths, _ in self._columns)]
        starts = np.cumsum([0, *(matrix.shape[1] for matrix, _ in columns)])
        packed = np.empty((self.n, int(starts[-1])), dtype=np.uint8)
        used = np.ones(packed.shape, dtype=bool)
        for (matrix, lengths), at, stop in zip(columns, starts[:-1].tolist(), starts[1:].tolist()):
            packed[:, at:stop] = matrix
            if lengths is not None:
                used[:, at:stop] = np.arange(stop - at) < lengths[:, None]
        for first, end, present in runs:
            if present is not None:
                absent = np.flatnonzero(~present)
                if absent.size:
                    used[absent, int(starts[first + len(head)]) : int(starts[end + len(head)])] = False
        data = packed[used].tobytes()
        ends = np.cumsum(body + 1 + header_lengths).tolist()
        return [data[a:b] for a, b in zip([0, *ends[:-1]], ends)]


def _entry_head(key: bytes, length: int) -> bytes:
    """A map entry up to its Feature's payload: 0a <entry length> 0a <len(key)> key 12."""
    return b"\x0a" + _varint(length) + b"\x0a" + _varint(len(key)) + key + b"\x12"


@functools.lru_cache(maxsize=4096)
def _int_heads(key: bytes) -> np.ndarray:
    """Everything of an int64 feature's entry before its varint, which depends only on the varint's length k:
    row k - 1, for k in 1..10 (rows of equal width)."""
    heads = [_entry_head(key, len(key) + 8 + k) + bytes([k + 4, 0x1A, k + 2, 0x0A, k]) for k in range(1, 11)]
    return np.array([list(head) for head in heads], dtype=np.uint8)


def _binary_parts(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(the concatenated bytes, each value's length) of a binary array without nulls."""
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset : values.offset + len(values) + 1]
    buffer = values.buffers()[2]
    data = np.frombuffer(buffer, dtype=np.uint8) if buffer is not None else np.zeros(0, dtype=np.uint8)
    return data[offsets[0] : offsets[-1]], np.diff(offsets).astype(np.int64)


def _add_feature(segments: _Segments, name: str, values: pa.Array) -> None:
    """The map entry of feature `name` for every record (a null: a missing value, an empty Feature)."""
    key = name.encode("utf-8")
    present = None
    if values.null_count:
        present = np.asarray(values.is_valid(), dtype=bool)
        segments.const(_entry_head(key, len(key) + 4) + b"\x00", ~present)  # 12 00: the empty Feature
    kind = values.type
    if pa.types.is_float32(kind):
        floats = values.fill_null(0.0).to_numpy().astype("<f4")
        segments.const(_entry_head(key, len(key) + 12) + b"\x08\x12\x06\x0a\x04", present)
        segments.rows(floats.view(np.uint8).reshape(-1, 4), None, present)
    elif pa.types.is_int64(kind):
        matrix, lengths = _varints(values.fill_null(0).to_numpy())
        # Everything before the varint depends only on its length k (1..10): ten alternatives of equal width.
        segments.rows(_int_heads(key)[lengths - 1], None, present)
        segments.rows(matrix, lengths, present)
    elif pa.types.is_binary(kind):
        data, sizes = _binary_parts(values.fill_null(b"") if present is not None else values)
        list_length = 1 + _varints(sizes)[1] + sizes  # 0a <m> b
        feature_length = 1 + _varints(list_length)[1] + list_length  # 0a <len> BytesList
        entry_length = 2 + len(key) + 1 + _varints(feature_length)[1] + feature_length
        segments.const(b"\x0a", present)
        segments.varints(entry_length, present)
        segments.const(b"\x0a" + _varint(len(key)) + key + b"\x12", present)
        segments.varints(feature_length, present)
        segments.const(b"\x0a", present)
        segments.varints(list_length, present)
        segments.const(b"\x0a", present)
        segments.varints(sizes, present)
        segments.blob(data, sizes, present)
    else:
        raise TypeError(f"feature {name}: {kind} is not int64, float32 or binary")


def encode_columns(names: Sequence[str], columns: Sequence[pa.Array]) -> list[bytes]:
    """The canonical serialization of each row's tf.Example: feature `names[j]` holds row i of `columns[j]` (int64,
    float32 or binary; a null is a missing value), one value each."""
    n = len(columns[0]) if columns else 0
    if n == 0:
        return []
    keys = [name.encode("utf-8") for name in names]
    if max(map(len, keys)) > MAX_KEY_BYTES or len(set(keys)) != len(keys):
        raise ValueError(f"feature names must be distinct and at most {MAX_KEY_BYTES} bytes")
    segments = _Segments(n)
    for j in sorted(range(len(names)), key=keys.__getitem__):
        _add_feature(segments, names[j], columns[j])
    return segments.serialize()
