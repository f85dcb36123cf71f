"""AutoGraph leaves Keras 2's own code unconverted, as TensorFlow intends for Keras.

While tracing a `tf.function`, AutoGraph rewrites the Python control flow of every function the traced code calls,
except library code, which it recognises by module name (TensorFlow's `autograph/core/config.py`:
`DoNotConvert('tensorflow')`, `DoNotConvert('keras')`, ...). Keras 2 ships as the package `tf_keras`, a name missing
from that list, so each trace of a Keras train step re-parses and rewrites Keras's own internals (fit's train
function, compile_loss, the metrics' confusion-matrix updates, the optimizer's apply_gradients); with `tf_keras` on
the list the tiny Trainer runs in less than half the time, with the same weights and metrics (CHANGELOG.md).

Keras 2's code is written to run unconverted (it always did, under the name `keras`). The top-level function given
to `tf.function` and our own code (the ranker's layers, the optimizer rules) are still converted. The list is
TensorFlow-internal (no public API adds a module to it); `install` adds one rule, once. Installed by
compat.install.install_patches() when models/ranker.py is imported: every Keras model of the project is built there.
"""

from __future__ import annotations

from compat.versions import check_versions

NAME = "AutoGraph's Keras 2 rule"
WRITTEN_FOR = {"tensorflow": "2.16", "tf-keras": "2.16"}
KERAS2_PACKAGE = "tf_keras"


def install() -> bool:
    """Adds `DoNotConvert('tf_keras')` to AutoGraph's rules (idempotent). False when this TensorFlow is not the one
    the rule is written for or has no such rule list (nothing changes: AutoGraph converts Keras's internals, slower)."""
    if not check_versions(NAME, WRITTEN_FOR):
        return False
    try:
        from tensorflow.python.autograph.core import config, config_lib
    except ImportError:
        return False
    rules = getattr(config, "CONVERSION_RULES", None)
    if not isinstance(rules, tuple):
        return False
    if not installed():
        config.CONVERSION_RULES = (*rules, config_lib.DoNotConvert(KERAS2_PACKAGE))
    return True


def installed() -> bool:
    from tensorflow.python.autograph.core import config, config_lib

    rules = getattr(config, "CONVERSION_RULES", ())
    return any(isinstance(r, config_lib.DoNotConvert) and r.matches(KERAS2_PACKAGE) for r in rules)
