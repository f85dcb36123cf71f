"""Impression ids are fingerprinted as farmhash Fingerprint64 of their UTF-8 bytes, NUL characters included."""

from __future__ import annotations

import farmhash
import numpy as np
import tensorflow as tf

from logformat.fingerprint import fingerprint64


def test_the_fingerprint_is_farmhash_of_the_utf8_bytes_nul_included():
    ids = ["d0s0r0p0", "é", "a\x00b", "\x00", "x" * 300 + "\x00"]
    expected = np.frombuffer(tf.fingerprint(tf.constant([i.encode() for i in ids]), "farmhash64").numpy(), "<u8")
    assert [fingerprint64(i) for i in ids] == expected.tolist()
    assert fingerprint64("d0s0r0p0") == farmhash.fingerprint64("d0s0r0p0") == 15281082752813039465
