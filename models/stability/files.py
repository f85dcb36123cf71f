"""Text files written atomically: the one helper every writer of reports, results and caches uses.

A local path is written to a temporary file in the same directory and renamed into place (`os.replace`), so a
reader never sees half a file and an interrupted writer leaves the old file or none. A remote URI (gs://, s3://)
goes through `tf.io.gfile`, whose object stores publish a whole object at once.
"""

from __future__ import annotations

import os
import tempfile


def is_remote(path: str) -> bool:
    return "://" in path


def write_text(path: str, text: str) -> None:
    """Local: temp file + os.replace (readers never see half a file). Remote URIs: tf.io.gfile."""
    if is_remote(path):
        import tensorflow as tf

        with tf.io.gfile.GFile(path, "w") as f:
            f.write(text)
        return
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read_text(path: str) -> str:
    if is_remote(path):
        import tensorflow as tf

        with tf.io.gfile.GFile(path, "r") as f:
            return f.read()
    with open(path, encoding="utf-8") as f:
        return f.read()
