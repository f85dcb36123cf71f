"""Versions appear whole on every filesystem: the push against an object-store-like filesystem.

The filesystem here renames a directory the way TensorFlow's GCS filesystem does: object by object, in sorted
(listing) order, so `N/saved_model.pb` exists before `N/variables/`. A poller imitating TF Serving looks at the
serving root after every single file operation:

* "config" mode is TF Serving with `--model_config_file=<root>/models.config` (the GCS FUSE overlay): it loads the
  versions models.config pins, or with no pin the newest numeric directory of the base path;
* "base path" mode is TF Serving's file-system discovery without a pinned config: the newest numeric directory.

A version the poller would load is recorded as partial when any file of the pushed model is missing or short.
"""

from __future__ import annotations

import os

import pytest
import tensorflow as tf
from google.protobuf import text_format
from helpers.tiny_model import save_tiny_ranker

from serving import export as serving_export
from serving import served

MODEL = "ranker"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("models")
    return [save_tiny_ranker(str(root / f"m{i}" / "Format-Serving"), w=0.1 * (i + 1)) for i in range(3)]


def _files(directory: str) -> dict[str, int]:
    out = {}
    for parent, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(parent, name)
            out[os.path.relpath(path, directory)] = os.path.getsize(path)
    return out


class Poller:
    """Imitates TF Serving's version discovery on `serving_root`, recording every partial version it would load."""

    def __init__(self, serving_root: str, sources: dict[str, dict[str, int]], use_config: bool):
        self.root = serving_root
        self.sources = sources  # fingerprint -> the source model's files
        self.use_config = use_config
        self.loaded: list[int] = []
        self.partial: list[str] = []

    def _wanted(self) -> list[int]:
        model_dir = os.path.join(self.root, MODEL)
        if self.use_config:
            if not os.path.exists(os.path.join(self.root, serving_export.MODELS_CONFIG_FILE)):
                return []  # the server waits for its config (the pod's startupProbe covers that)
            pinned = served.pinned_versions(self.root, MODEL)
            if pinned is not None:
                return pinned
        names = [n for n in os.listdir(model_dir) if n.isdigit()] if os.path.isdir(model_dir) else []
        return [max(int(n) for n in names)] if names else []

    def poll(self) -> None:
        for version in self._wanted():
            path = os.path.join(self.root, MODEL, str(version))
            present = _files(path) if os.path.isdir(path) else {}
            # Whichever source it came from, every file of that model must be there (warm-up and push_source extra).
            complete = any(
                all(present.get(name) == size for name, size in files.items()) for files in self.sources.values()
            )
            if not complete:
                self.partial.append(f"version {version}: {sorted(present)}")
            else:
                self.loaded.append(version)


@pytest.fixture
def object_store(monkeypatch):
    """tf.io.gfile as an object store: directory rename = copy every object in sorted order, then delete."""
    pollers: list[Poller] = []
    real_copy, real_rename = tf.io.gfile.copy, tf.io.gfile.rename

    def poll():
        for poller in pollers:
            poller.poll()

    def copy(src, dst, overwrite=False):
        real_copy(src, dst, overwrite=overwrite)
        poll()

    def rename(src, dst, overwrite=False):
        if not tf.io.gfile.isdir(src):  # one object: an atomic single-object write
            real_rename(src, dst, overwrite=overwrite)
            poll()
            return
        if tf.io.gfile.exists(dst) and not overwrite:
            raise tf.errors.AlreadyExistsError(None, None, f"{dst} exists")
        for name in sorted(_files(src)):
            os.makedirs(os.path.dirname(os.path.join(dst, name)), exist_ok=True)
            real_copy(os.path.join(src, name), os.path.join(dst, name), overwrite=True)
            poll()
        tf.io.gfile.rmtree(src)

    monkeypatch.setattr(tf.io.gfile, "copy", copy)
    monkeypatch.setattr(tf.io.gfile, "rename", rename)
    return pollers


def _push_three(models, serving_root):
    for day, model in enumerate(models):
        serving_export.push_version(model, serving_root, MODEL, day=day)
        serving_export.write_models_config(serving_root)


def _sources(models) -> dict[str, dict[str, int]]:
    return {serving_export.model_fingerprint(m): _files(m) for m in models}


def test_object_store_push_is_never_seen_partial_by_a_config_reading_server(tmp_path, models, object_store):
    root = str(tmp_path / "serving")
    poller = Poller(root, _sources(models), use_config=True)
    object_store.append(poller)
    _push_three(models, root)
    assert poller.partial == []
    versions = serving_export.list_versions(os.path.join(root, MODEL))
    assert len(versions) == 3 and poller.loaded[-1] == versions[-1]
    assert served.pinned_versions(root, MODEL) == [versions[-1]]


def test_a_base_path_polling_server_sees_partial_versions_on_the_object_store(tmp_path, models, object_store):
    """Why the object-store route needs the models.config pin: the directory copy exposes saved_model.pb first."""
    root = str(tmp_path / "serving")
    poller = Poller(root, _sources(models), use_config=False)
    object_store.append(poller)
    _push_three(models, root)
    assert poller.partial, "sorted object-by-object copies should expose incomplete versions"
    assert any("saved_model.pb" in p and "variables/variables.index" not in p for p in poller.partial)


def test_posix_rename_is_never_seen_partial_even_by_base_path_polling(tmp_path, models, monkeypatch):
    root = str(tmp_path / "serving")
    poller = Poller(root, _sources(models), use_config=False)
    real_copy, real_rename = tf.io.gfile.copy, tf.io.gfile.rename

    def copy(src, dst, overwrite=False):
        real_copy(src, dst, overwrite=overwrite)
        poller.poll()

    def rename(src, dst, overwrite=False):
        real_rename(src, dst, overwrite=overwrite)
        poller.poll()

    monkeypatch.setattr(tf.io.gfile, "copy", copy)
    monkeypatch.setattr(tf.io.gfile, "rename", rename)
    _push_three(models, root)
    assert poller.partial == [] and len(set(poller.loaded)) == 3


def test_incomplete_versions_are_neither_published_nor_served(tmp_path, models):
    root = str(tmp_path / "serving")
    first = serving_export.push_version(models[0], root, MODEL, day=0)
    serving_export.write_models_config(root)
    second = serving_export.push_version(models[1], root, MODEL, day=1)
    os.remove(os.path.join(second.path, "variables", "variables.index"))  # a copy that died half-way
    assert "variables/variables.index is missing" in serving_export.verify_version(second.path)
    serving_export.write_models_config(root)
    assert served.pinned_versions(root, MODEL) == [first.version]
    assert served.served_version(root, MODEL).version == first.version


def test_a_push_whose_copy_is_short_is_refused(tmp_path, models, monkeypatch):
    root = str(tmp_path / "serving")
    real_rename = tf.io.gfile.rename

    def lossy_rename(src, dst, overwrite=False):
        real_rename(src, dst, overwrite=overwrite)
        if tf.io.gfile.isdir(dst):
            os.remove(os.path.join(dst, "saved_model.pb"))

    monkeypatch.setattr(tf.io.gfile, "rename", lossy_rename)
    with pytest.raises(RuntimeError, match=r"incomplete, not published: .*saved_model.pb is missing"):
        serving_export.push_version(models[0], root, MODEL, day=0)


def test_served_version_before_a_day_follows_the_pushes_of_earlier_days(tmp_path, models):
    """What the ServedModel component resolves: a refused day leaves the base on the last pushed model, a rerun of
    day d resolves what day d started from, and models.config's pin caps what counts as served (rollbacks)."""
    root = str(tmp_path / "serving")
    assert served.served_version(root, MODEL, before_day=0) is None  # day 0: nothing served yet
    v0 = serving_export.push_version(models[0], root, MODEL, day=0)
    serving_export.write_models_config(root)
    # day 1 was refused by a gate: nothing pushed. Day 2 continues from day 0's model.
    assert served.served_version(root, MODEL, before_day=2).version == v0.version
    v3 = serving_export.push_version(models[1], root, MODEL, day=3)
    serving_export.write_models_config(root)
    assert served.served_version(root, MODEL, before_day=4).version == v3.version
    assert served.served_version(root, MODEL).version == v3.version
    assert served.served_version(root, MODEL, before_day=3).version == v0.version  # a rerun of day 3
    source = served.served_version(root, MODEL).source
    assert source["source"] == models[1] and source["day"] == 3
    # An operator pins the previous version (a rollback): that is what is served.
    config = serving_export.build_models_config(root)
    config.model_config_list.config[0].model_version_policy.specific.versions[:] = [v0.version]
    with open(os.path.join(root, serving_export.MODELS_CONFIG_FILE), "w") as f:
        f.write(text_format.MessageToString(config))
    assert served.served_version(root, MODEL).version == v0.version
