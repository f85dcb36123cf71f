"""The examples' TFRecord framing uses google-crc32c's C CRC-32C: the same masked checksums as Beam's own."""

from __future__ import annotations

import random

from apache_beam.io.tfrecordio import _TFRecordUtil  # noqa: PLC2701 - the reference: Beam's own framing

from ingest.sink import _masked_crc32c, tfrecord_bytes  # noqa: PLC2701 - the checksum under test


def test_the_masked_crc32c_is_beams():
    rng = random.Random(0)
    for size in (0, 1, 3, 8, 100, 1_500, 70_000):
        data = rng.randbytes(size)
        assert _masked_crc32c(data) == _TFRecordUtil._masked_crc32c(data)
    framed = tfrecord_bytes([b"abc"])
    assert framed[-4:] == _TFRecordUtil._masked_crc32c(b"abc").to_bytes(4, "little")
