"""AutoGraph skips Keras 2's internals (compat/autograph_keras2.py) and still converts our own code."""

from tensorflow.python.autograph.impl import conversion

import models.ranker  # noqa: F401 (applies the rule on import)
from compat import autograph_keras2


def _ours(x):
    return x


def test_keras2_internals_are_library_code_and_ours_is_not():
    import tf_keras

    assert conversion.is_allowlisted(tf_keras.src.engine.training.Model.train_step)
    assert conversion.is_allowlisted(tf_keras.src.metrics.AUC.update_state)
    assert not conversion.is_allowlisted(_ours)
    assert not conversion.is_allowlisted(models.ranker.build_ranker)


def test_the_rule_is_added_once():
    from tensorflow.python.autograph.core import config

    before = len(config.CONVERSION_RULES)
    assert autograph_keras2.install() and autograph_keras2.install()
    assert len(config.CONVERSION_RULES) == before
