"""Package init: tf-keras (Keras 2) must be selected before TensorFlow is first imported."""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

# Custom artifact types, importable as `components.<Class>`: their TYPE_NAME is that path, which Kubeflow V2
# uses to find the class inside the container.
from components.types import QuarantinedRecords, RawLogs  # noqa: E402

__all__ = ["QuarantinedRecords", "RawLogs"]
