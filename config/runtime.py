"""Process set-up shared by every entry point: Keras 2 for TensorFlow, and nothing else.

TensorFlow 2.16 picks Keras 3 unless `TF_USE_LEGACY_KERAS=1` is in the environment when TensorFlow is first
imported; TFX 1.16 and TensorFlow Recommenders need Keras 2 (tf-keras). The entry points call `select_keras2()`
first (the `ranker` console script, `python -m benchmarks.*`, the test suite's conftest); the Makefile, `.ci/run`
and the pipeline image (`ENV` in kubeflow/Dockerfile) put the variable in the environment of everything else.
"""

from __future__ import annotations

import os
import sys

KERAS2_VARIABLE = "TF_USE_LEGACY_KERAS"


def select_keras2() -> None:
    """Sets TF_USE_LEGACY_KERAS=1; raises RuntimeError when TensorFlow was already imported without it."""
    if os.environ.get(KERAS2_VARIABLE) != "1" and "tensorflow" in sys.modules:
        raise RuntimeError(
            f"TensorFlow was imported before {KERAS2_VARIABLE}=1 was set: Keras 3 is active, but this project "
            f"needs Keras 2 (tf-keras). Export {KERAS2_VARIABLE}=1 before starting Python."
        )
    os.environ[KERAS2_VARIABLE] = "1"
