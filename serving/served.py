"""Which model TF Serving serves from a serving root: the baseline and warm-start base of the next run.

Plain functions (no TFX), read by the ServedModel component (components/served_model.py) on every orchestrator:
the local runner, Vertex AI and open-source KFP all resolve the baseline the same way, by reading the serving root
the pipeline pushes to, so the baseline is by construction what users are being served.

The served version of `<serving_root>/<model_name>`:

1. `models.config` (what RankerPusher writes, what the TF Serving pod reads): when it pins the model's versions
   (`model_version_policy { specific { versions: N } }`) versions above the largest pinned one are not served
   (an operator's rollback is respected); without a pin TF Serving serves the newest version.
2. Among the remaining numeric version directories, the newest *complete* one: its `assets.extra/push_source.json`
   lists every file of the version with its size, and every one is present with that size
   (`serving.export.verify_version`). A half-copied version (an object-store push still in progress, or one that
   crashed) is skipped, as TF Serving never loads it.
3. With `before_day` = d (the run of day d), only versions pushed by runs of earlier days count (push_source.json
   records the run's `day`): a rerun of day d resolves what day d started from, not its own push, so reruns are
   idempotent and a refused day leaves the next day on the model still being served.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import tensorflow as tf

from serving import export


@dataclass(frozen=True)
class ServedVersion:
    version: int
    path: str  # <serving_root>/<model_name>/<version>
    source: dict  # its push_source.json: model_fingerprint, source (the Model artifact it came from), day, files


def pinned_versions(serving_root: str, model_name: str) -> list[int] | None:
    """The versions models.config pins for `model_name` (specific policy), or None (no file, no entry, or a
    latest/all policy: TF Serving then discovers versions by polling the base path)."""
    path = os.path.join(serving_root, export.MODELS_CONFIG_FILE)
    if not tf.io.gfile.exists(path):
        return None
    config = export.read_models_config(path)
    for entry in config.model_config_list.config:
        if entry.name == model_name and entry.model_version_policy.WhichOneof("policy_choice") == "specific":
            return sorted(int(v) for v in entry.model_version_policy.specific.versions)
    return None


def served_version(serving_root: str, model_name: str, before_day: int | None = None) -> ServedVersion | None:
    """The version TF Serving serves (see the module docstring), or None when nothing complete is served."""
    model_dir = os.path.join(serving_root, model_name)
    pinned = pinned_versions(serving_root, model_name)
    ceiling = max(pinned) if pinned else None
    for version in reversed(export.list_versions(model_dir)):
        if ceiling is not None and version > ceiling:
            continue
        path = os.path.join(model_dir, str(version))
        source = export.push_source(path)
        if source is None or export.verify_version(path, source) is not None:
            continue  # incomplete (or not pushed by us): never loaded
        day = source.get("day")
        if before_day is not None and day is not None and int(day) >= before_day:
            continue  # pushed by this day's run or a later one
        return ServedVersion(version, path, source)
    return None
