"""Where a local run keeps its things: the pipeline root, the serving root and the MLMD store (no TFX import, so that
`ranker history` starts in about a second)."""

from __future__ import annotations

import os
from dataclasses import dataclass

METADATA_FILE = "metadata.sqlite"


@dataclass(frozen=True)
class LocalPaths:
    pipeline_root: str
    serving_root: str
    metadata_path: str

    @classmethod
    def under(cls, pipeline_root: str, serving_root: str | None = None) -> LocalPaths:
        root = os.path.abspath(pipeline_root)
        serving = os.path.abspath(serving_root) if serving_root else os.path.join(root, "serving")
        return cls(root, serving, os.path.join(root, METADATA_FILE))
