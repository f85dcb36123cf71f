"""AutoGraph leaves Keras 2's own code unconverted, as TensorFlow intends for Keras.

While tracing a `tf.function`, AutoGraph rewrites the Python control flow of every function the traced code calls,
except library code, which it recognises by module name (TensorFlow's `autograph/core/config.py`:
`DoNotConvert('tensorflow')`, `DoNotConvert('keras')`, ...). Keras 2 now ships as the package `tf_keras`, a name
missing from that list, so each trace of a Keras train step re-parses and rewrites Keras's own internals (fit's
train function, compile_loss, the metrics' confusion-matrix updates, the optimizer's apply_gradients): measured on
the tiny preset, the Trainer took 31.6 s, 12.8 s with `tf_keras` on the list, with the same weights and metrics.

Keras 2's code was written to run unconverted (it always did, under the name `keras`). The top-level function
given to `tf.function` and our own code (the ranker's layers, the optimizer rules) are converted as before.
The list is TensorFlow-internal (no public API adds a module to it); `skip_keras2_internals` adds one rule, once.
"""

from __future__ import annotations

KERAS2_PACKAGE = "tf_keras"


def skip_keras2_internals() -> bool:
    """Adds `DoNotConvert('tf_keras')` to AutoGraph's rules (idempotent). Returns False when this TensorFlow has no
    such rule list (nothing changed: AutoGraph then converts Keras's internals as before, only slower)."""
    try:
        from tensorflow.python.autograph.core import config, config_lib
    except ImportError:
        return False
    rules = getattr(config, "CONVERSION_RULES", None)
    if not isinstance(rules, tuple):
        return False
    if not any(isinstance(r, config_lib.DoNotConvert) and r.matches(KERAS2_PACKAGE) for r in rules):
        config.CONVERSION_RULES = (*rules, config_lib.DoNotConvert(KERAS2_PACKAGE))
    return True
