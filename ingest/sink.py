"""The examples' files: records framed as in a TFRecord file, gzipped at EXAMPLES_GZIP_LEVEL by a Beam sink.

Examples are written a batch at a time: `_ParseBatchFn` (ingest/dofns.py) frames each batch's serialized examples
with `tfrecord_bytes`, `_KeepFirstFn` joins about BATCH_SIZE framed examples of a split into one element, and
`_TFRecordListSink` writes those elements into gzipped TFRecord files with the format and names of
`beam.io.WriteToTFRecord`.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import google_crc32c
from apache_beam.io import filebasedsink
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.tfrecordio import _TFRecordUtil

# Examples: framing + gzip of a 1.26 kB framed example costs ~13.8 us at level 6 (zlib's default, Beam's), ~7.4 us at
# level 3, ~6.2 us at level 2, for files 15 % (level 3) and 22 % (level 2) larger than level 6's; docs/benchmarks.md.
EXAMPLES_GZIP_LEVEL = 2

FRAME_BYTES = 16  # what TFRecord framing adds to a record: its length, the length's crc and the record's crc
_FRAME_HEADS: dict[int, bytes] = {}  # record length -> its 12-byte TFRecord header (length, masked crc32c)
_MAX_FRAME_HEADS = 1 << 16


def _masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC-32C (`_TFRecordUtil._masked_crc32c`), with google-crc32c's C implementation."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord_bytes(records: Iterable[bytes]) -> bytes:
    """`records` framed as in a TFRecord file (length, masked crc32c, record, masked crc32c), as Beam writes them."""
    masked_crc32c = _masked_crc32c if google_crc32c.implementation == "c" else _TFRecordUtil._masked_crc32c
    chunks: list[bytes] = []
    for record in records:
        head = _FRAME_HEADS.get(len(record))
        if head is None:
            length = struct.pack("<Q", len(record))
            head = length + struct.pack("<I", masked_crc32c(length))
            if len(_FRAME_HEADS) < _MAX_FRAME_HEADS:
                _FRAME_HEADS[len(record)] = head
        chunks += (head, record, struct.pack("<I", masked_crc32c(record)))
    return b"".join(chunks)


class GzipWriter:
    """A write-only gzip stream at `level` over a binary file handle (Beam's own gzip is fixed at level 6)."""

    def __init__(self, raw: Any, level: int):
        self._raw = raw
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

    def write(self, data: bytes) -> None:
        self._raw.write(self._compressor.compress(data))

    def close(self) -> None:
        self._raw.write(self._compressor.flush())
        self._raw.close()


class _TFRecordListSink(filebasedsink.FileBasedSink):
    """Gzipped TFRecord files (the format and names of `beam.io.WriteToTFRecord`) written from elements that hold
    records already framed (`tfrecord_bytes`)."""

    def __init__(self, file_path_prefix: str):
        super().__init__(
            file_path_prefix,
            coder=None,
            file_name_suffix=".gz",
            mime_type="application/octet-stream",
            compression_type=CompressionTypes.UNCOMPRESSED,
        )

    def open(self, temp_path: str) -> GzipWriter:
        raw = FileSystems.create(temp_path, self.mime_type, CompressionTypes.UNCOMPRESSED)
        return GzipWriter(raw, EXAMPLES_GZIP_LEVEL)

    def write_record(self, file_handle: GzipWriter, value: bytes) -> None:
        file_handle.write(value)


def WriteJsonFile(path: str) -> beam.PTransform:  # noqa: N802 (a PTransform factory, named like one)
    """Writes a PCollection of one JSON string to exactly `path` (a name ending in .json): one shard, no shard
    numbers in the name. Beam writes to a temporary file and renames it when the pipeline finishes."""
    return beam.io.WriteToText(
        path.removesuffix(".json"), file_name_suffix=".json", num_shards=1, shard_name_template=""
    )
