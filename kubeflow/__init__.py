"""Package init: tf-keras (Keras 2) must be selected before TensorFlow is first imported."""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
