"""Saves a SavedModel without the per-layer functions Keras 2 adds for its own reloading.

`tf.saved_model.save` asks each Keras layer it reaches for its serialization children, and Keras 2 (`tf_keras`)
answers with traced copies of every layer's call, losses and activity regularizers (the `keras_api` functions that
`tf.keras.models.load_model` uses to rebuild a model without its code). The ranker's serving module holds a whole
Keras model, so its SavedModel carried ~340 functions and ~1,000 objects for two signatures, and every loader pays
for all of them: `tf.saved_model.load`, TF Serving, TFMA's model loading in each Evaluator (CHANGELOG.md has the
measurement). Nothing of ours loads the export as a Keras model: serving, TFMA and the warm start read its signatures
or its variables.

`model.save(save_traces=False)` is Keras's public switch for a Keras root object; for another root the same switch
is the thread-local option scope it sets (`tf_keras.src.saving.legacy.saved_model.utils.keras_option_scope`), which
`skip_keras_traces()` enters. Variables, the optimizer's slots and the signatures are saved as before; only the
extra layer functions go. On another tf-keras the scope is not entered (a CompatWarning): the export is the same,
only larger.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from compat.versions import check_versions

NAME = "Keras 2's save_traces switch for a tf.Module root"
WRITTEN_FOR = {"tf-keras": "2.16"}


@contextlib.contextmanager
def skip_keras_traces() -> Iterator[bool]:
    """Within it, `tf.saved_model.save` saves no Keras layer functions; yields whether the switch is on."""
    if not check_versions(NAME, WRITTEN_FOR):
        yield False
        return
    from tf_keras.src.saving.legacy.saved_model.utils import keras_option_scope

    with keras_option_scope(save_traces=False, in_tf_saved_model_scope=True):
        yield True
