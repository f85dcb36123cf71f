"""Scores examples through a SavedModel's `serving_default` (the ranker's, or the in-pipeline simple model's)."""

from __future__ import annotations

import os

import numpy as np

from config.settings import TASKS

SCORE_BATCH = 4_096


def serving_dir(model_uri: str) -> str:
    """The SavedModel of a Trainer's `model` artifact (`Format-Serving/`), or `model_uri` itself when it is one."""
    for candidate in (os.path.join(model_uri, "Format-Serving"), model_uri):
        if os.path.exists(os.path.join(candidate, "saved_model.pb")):
            return candidate
    raise FileNotFoundError(f"no SavedModel at {model_uri} (nor under Format-Serving/)")


class SavedModelScorer:
    """One loaded SavedModel: `score(serialized)` -> {task: [n] float64} for each task the signature outputs."""

    def __init__(self, model_uri: str):
        import tensorflow as tf

        self.path = serving_dir(model_uri)
        self._loaded = tf.saved_model.load(self.path)
        self._serve = self._loaded.signatures["serving_default"]

    def score(self, serialized: list[bytes]) -> dict[str, np.ndarray]:
        import tensorflow as tf

        parts: dict[str, list[np.ndarray]] = {}
        for start in range(0, len(serialized), SCORE_BATCH):
            batch = tf.constant(serialized[start : start + SCORE_BATCH], dtype=tf.string)
            outputs = self._serve(examples=batch)
            for task in TASKS:
                if task in outputs:
                    parts.setdefault(task, []).append(np.reshape(outputs[task].numpy(), [-1]).astype(np.float64))
        return {task: np.concatenate(values) for task, values in parts.items()}
