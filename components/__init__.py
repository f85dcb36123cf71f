"""Thin TFX components and executors: each takes its own settings and calls the domain packages.

Custom artifact types are importable as `components.<Class>`: their TYPE_NAME is that path, which Kubeflow V2 uses
to find the class inside the container.
"""

from components.types import QuarantinedRecords, RawLogs

__all__ = ["QuarantinedRecords", "RawLogs"]
