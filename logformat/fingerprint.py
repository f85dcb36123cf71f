"""The stable 64-bit fingerprint of an impression id (farmhash Fingerprint64 of its UTF-8 bytes), the key of the
ingest's split and duplicate check.

`farmhash.fingerprint64` takes a str but stops at an embedded NUL character (ValueError); TensorFlow's
`tf.fingerprint(..., "farmhash64")` is the same function over any bytes and judges those ids.
"""

from __future__ import annotations

import farmhash
import numpy as np


def fingerprint64(text: str) -> int:
    """farmhash Fingerprint64 of `text`'s UTF-8 bytes, whatever characters it holds."""
    if "\x00" not in text:
        return farmhash.fingerprint64(text)
    import tensorflow as tf

    digest = tf.fingerprint(tf.constant([text.encode("utf-8")]), method="farmhash64").numpy()
    return int(np.frombuffer(digest.tobytes(), dtype="<u8")[0])
