"""`serving_default` called in-process: what TF Serving executes, without TF Serving.

:func:`predict_local` scores serialized tf.Examples through a SavedModel's signature; :func:`replay_warmup_requests`
replays a version's warm-up records as TF Serving does when it loads the version.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from serving.export import (
    SERVING_INPUT_KEY,
    SERVING_SIGNATURE,
    WARMUP_DIR,
    WARMUP_FILE,
    check_serving_signature,
    list_versions,
    read_warmup_requests,
)


def resolve_saved_model_dir(model_dir: str) -> str:
    """`model_dir` itself when it holds saved_model.pb, else its latest numeric version (TF Serving's choice)."""
    if os.path.exists(os.path.join(model_dir, "saved_model.pb")):
        return model_dir
    versions = list_versions(model_dir)
    if not versions:
        raise FileNotFoundError(
            f"{model_dir} is neither a SavedModel (no saved_model.pb) nor a model directory with numeric versions"
        )
    return os.path.join(model_dir, str(versions[-1]))


def predict_local(
    saved_model_dir: str,
    examples: Sequence[bytes],
    signature: str = SERVING_SIGNATURE,
    batch_size: int = 256,
) -> dict[str, np.ndarray]:
    """Runs `examples` through the SavedModel's `signature` in batches; returns one array per output."""
    import tensorflow as tf

    check_serving_signature(saved_model_dir, signature)
    serve = tf.saved_model.load(saved_model_dir).signatures[signature]
    chunks: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(examples), batch_size):
        batch = tf.constant(list(examples[start : start + batch_size]), dtype=tf.string)
        for name, value in serve(**{SERVING_INPUT_KEY: batch}).items():
            chunks.setdefault(name, []).append(value.numpy())
    return {name: np.concatenate(parts) for name, parts in chunks.items()}


def replay_warmup_requests(version_dir: str) -> int:
    """Replays `assets.extra/tf_serving_warmup_requests` through the loaded SavedModel, as TF Serving does at
    load time; returns the number of records replayed. Raises on the first request that fails."""
    import tensorflow as tf

    loaded = tf.saved_model.load(version_dir)
    logs = read_warmup_requests(os.path.join(version_dir, WARMUP_DIR, WARMUP_FILE))
    for i, log in enumerate(logs):
        request = log.predict_log.request
        serve = loaded.signatures[request.model_spec.signature_name or SERVING_SIGNATURE]
        inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
        outputs = serve(**{name: tf.constant(value) for name, value in inputs.items()})
        for name, value in outputs.items():
            if not np.all(np.isfinite(value.numpy())):
                raise ValueError(f"warm-up record {i}: output {name!r} is not finite")
    return len(logs)
