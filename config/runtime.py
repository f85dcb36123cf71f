"""Process set-up shared by every entry point: Keras 2 for TensorFlow, and one logging configuration.

TensorFlow 2.16 picks Keras 3 unless `TF_USE_LEGACY_KERAS=1` is in the environment when TensorFlow is first
imported; TFX 1.16 and TensorFlow Recommenders need Keras 2 (tf-keras). The entry points call `select_keras2()`
first (the `ranker` console script, `python -m benchmarks.*`, the test suite's conftest); the Makefile, `.ci/run`
and the pipeline image (`ENV` in kubeflow/Dockerfile) put the variable in the environment of everything else.
"""

from __future__ import annotations

import logging
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


FIRST_PARTY = (
    "config",
    "logformat",
    "world",
    "models",
    "ingest",
    "serving",
    "components",
    "pipeline",
    "experiments",
    "ranker",
)
# absl carries TFX/TFT/TFMA logs: their warnings are mostly chatter (tf.function table init, resolver notes)
QUIET_THIRD_PARTY = {"absl": logging.ERROR, "apache_beam": logging.ERROR, "tensorflow": logging.ERROR}


class _QuietThirdParty(logging.Filter):
    """Drops a third-party record below its quiet level. Set on our handler, not on the library's logger: TFX and
    TensorFlow reset the `absl` logger's level while they run (absl.logging.set_verbosity), a handler filter stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        quiet = QUIET_THIRD_PARTY.get(record.name.split(".", 1)[0])
        return quiet is None or record.levelno >= quiet


def configure_logging(verbose: bool = False) -> None:
    """The process's logging, set once where a run starts (the CLI).

    Default: our own packages' INFO lines (the Trainer's step lines, the gates' verdicts) and every library's
    errors; third-party INFO and WARNING chatter is quiet (Beam's BatchElements statistics, absl's launcher lines,
    TensorFlow's C++ start-up notes such as the CUDA factory messages on a CPU-only machine). `verbose=True` brings
    all of it back. Must run before TensorFlow is first imported (its C++ log level is read when it loads).
    """
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        force=True,
    )
    for name in FIRST_PARTY:
        logging.getLogger(name).setLevel(logging.INFO)
    for name, level in QUIET_THIRD_PARTY.items():
        logging.getLogger(name).setLevel(logging.INFO if verbose else level)
    if not verbose:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_QuietThirdParty())
