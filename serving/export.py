"""Pushing a SavedModel into a TF Serving model root: atomic numeric versions, warm-up records, models.config.

Plain functions (no TFX), shared by the RankerPusher component, the `ranker` CLI and the Kubeflow serving manifests.

Layout that TF Serving's file-system source loads:

    <serving_root>/models.config                   model_config_list, one entry per model directory
    <serving_root>/<model_name>/<version>/         version = all digits; anything else is ignored
        saved_model.pb, variables/, assets/
        assets.extra/tf_serving_warmup_requests    TFRecord of PredictionLog, replayed by the server at load

Push: the model is copied into `<serving_root>/<model_name>/.tmp-push-<version>-<random>/` (dot-prefixed and
not all digits, so TF Serving never looks at it), completed there (warm-up records, `push_source.json` listing
every file with its size), then renamed to `<version>/`, verified (every listed file present with its size:
saved_model.pb, the variables index and data shards, assets) and only then published by rewriting
`<serving_root>/models.config`, one single-object write, pinning the version
(`model_version_policy { specific { versions: N } }`).

* On a local or POSIX filesystem (NFS included) the rename is atomic, so a version directory is visible only when
  complete; a TF Serving that discovers versions by polling the base path is safe there.
* On object stores (gs://, s3://) there is no directory rename: TensorFlow's GCS "rename" copies object by object
  in listing (sorted) order, so `N/saved_model.pb` exists before `N/variables/`. A server polling the base path can
  load a half-copied version; a server reading the pushed `models.config` (`--model_config_file=<root>/models.config`
  with `--model_config_file_poll_wait_seconds`) loads N only after the config names it, i.e. after N was verified
  complete. The Kubernetes GCS FUSE overlay (kubeflow/serving/overlays/gcsfuse) runs TF Serving that way.

An existing version is never overwritten: versions are strictly increasing (unix seconds, bumped past the largest
existing one) and the rename refuses an existing target.

Exactly once: every pushed version carries `assets.extra/push_source.json` with the source SavedModel's fingerprint
(SHA-256 of its files; variables through their index, which holds a CRC32C of every tensor). A model whose
fingerprint is already the latest version is not pushed again (`latest_version_holding`): a rerun after a crash
between the rename and the pipeline's bookkeeping, or an Evaluator that re-ran against a new baseline, finds the
version it already pushed instead of duplicating it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
from tensorflow_serving.config import model_server_config_pb2

from config.paths import is_remote
from config.validation import validate_model_name
from logformat.schema import BINARY_LABEL_FIELDS

# Features that are labels, not inputs: removed from warm-up examples (serving never sees them).
LABEL_FEATURES: tuple[str, ...] = (*BINARY_LABEL_FIELDS, "watch_time_s", "survey_rating", "has_survey")
SERVING_SIGNATURE = "serving_default"
SERVING_INPUT_KEY = "examples"
WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
MODELS_CONFIG_FILE = "models.config"
MAX_WARMUP_RECORDS = 1000  # TF Serving replays at most this many warm-up records
_TMP_PREFIX = ".tmp-push-"
PUSH_SOURCE_FILE = "push_source.json"  # in WARMUP_DIR (assets.extra): TF Serving ignores it


@dataclass(frozen=True)
class PushResult:
    version: int
    path: str  # <serving_root>/<model_name>/<version>
    already_pushed: bool = False  # the latest version already held this model: nothing was copied


def model_fingerprint(saved_model_dir: str) -> str:
    """SHA-256 over a SavedModel's relative file names and contents; variable data through the variables index
    (its entries hold each tensor's CRC32C), so multi-gigabyte shards are not read."""
    digest = hashlib.sha256()
    for directory, _, files in sorted(tf.io.gfile.walk(saved_model_dir)):
        for name in sorted(files):
            relative = os.path.relpath(os.path.join(directory, name), saved_model_dir)
            if re.fullmatch(r"variables/variables\.data-\d+-of-\d+", relative):
                continue
            digest.update(relative.encode() + b"\0")
            with tf.io.gfile.GFile(os.path.join(directory, name), "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def is_object_store(path: str) -> bool:
    """gs://, s3://, ... : filesystems without an atomic directory rename (file:// and plain paths have one)."""
    return is_remote(path) and not path.startswith("file://")


def _file_sizes(directory: str) -> dict[str, int]:
    """{relative path: size} of every file under `directory`."""
    out: dict[str, int] = {}
    for parent, _, files in tf.io.gfile.walk(directory):
        for name in files:
            path = os.path.join(parent, name)
            out[os.path.relpath(path, directory)] = tf.io.gfile.stat(path).length
    return out


def verify_version(version_dir: str, source: dict | None = None) -> str | None:
    """None when the version is complete, else what is missing: saved_model.pb, the variables index and every data
    shard it names, and every file `push_source.json` lists (with its size)."""
    source = push_source(version_dir) if source is None else source
    if source is None:
        return f"{version_dir}: no {WARMUP_DIR}/{PUSH_SOURCE_FILE}"
    listed = source.get("files")
    if not isinstance(listed, dict):
        return f"{version_dir}: {PUSH_SOURCE_FILE} lists no files (pushed before file lists were recorded)"
    for required in ("saved_model.pb", "variables/variables.index"):
        if required not in listed:
            return f"{version_dir}: the pushed model has no {required}"
    shards = [n for n in listed if re.fullmatch(r"variables/variables\.data-\d+-of-\d+", n)]
    expected = int(shards[0].rsplit("-of-", 1)[1]) if shards else 0
    if not shards or len(shards) != expected:
        return f"{version_dir}: {len(shards)} of {expected or '?'} variables data shards listed"
    present = _file_sizes(version_dir)
    for name, size in sorted(listed.items()):
        if present.get(name) != size:
            got = "missing" if name not in present else f"{present[name]} bytes"
            return f"{version_dir}: {name} is {got}, expected {size} bytes"
    return None


def push_source(version_dir: str) -> dict | None:
    """The push_source.json of a pushed version, or None (absent or unreadable)."""
    path = os.path.join(version_dir, WARMUP_DIR, PUSH_SOURCE_FILE)
    try:
        with tf.io.gfile.GFile(path, "r") as f:
            return json.loads(f.read())
    except (tf.errors.NotFoundError, ValueError):
        return None


def latest_version_holding(serving_root: str, model_name: str, fingerprint: str) -> PushResult | None:
    """The latest version when it holds the model with `fingerprint` (it is what TF Serving serves)."""
    model_dir = os.path.join(serving_root, model_name)
    versions = list_versions(model_dir)
    if not versions:
        return None
    path = os.path.join(model_dir, str(versions[-1]))
    source = push_source(path)
    if source is None or source.get("model_fingerprint") != fingerprint:
        return None
    return PushResult(versions[-1], path, already_pushed=True)


def is_version_name(name: str) -> bool:
    """TF Serving loads only directories whose name parses as a non-negative integer."""
    return re.fullmatch(r"[0-9]+", name.rstrip("/")) is not None


def _listdir(path: str) -> list[str]:
    return [name.rstrip("/") for name in tf.io.gfile.listdir(path)] if tf.io.gfile.isdir(path) else []


def list_versions(model_dir: str) -> list[int]:
    """Numeric version directories under `<serving_root>/<model_name>`, ascending."""
    names = [n for n in _listdir(model_dir) if is_version_name(n)]
    return sorted(int(n) for n in names if tf.io.gfile.isdir(os.path.join(model_dir, n)))


def next_version(model_dir: str, now: float | None = None) -> int:
    """max(unix seconds, largest existing version + 1): strictly increasing, never an existing one."""
    existing = list_versions(model_dir)
    seconds = int(time.time() if now is None else now)
    return max(seconds, existing[-1] + 1) if existing else seconds


def check_serving_signature(
    saved_model_dir: str, signature: str = SERVING_SIGNATURE, input_key: str = SERVING_INPUT_KEY
) -> None:
    """Raises ValueError unless the SavedModel's `signature` takes `input_key` as DT_STRING (serialized
    tf.Examples), the contract TF Serving clients and warm-up records rely on. Reads saved_model.pb only."""
    pb_path = os.path.join(saved_model_dir, "saved_model.pb")
    if not tf.io.gfile.exists(pb_path):
        raise FileNotFoundError(f"no SavedModel at {saved_model_dir} (saved_model.pb missing)")
    saved_model = saved_model_pb2.SavedModel.FromString(tf.io.gfile.GFile(pb_path, "rb").read())
    signatures = saved_model.meta_graphs[0].signature_def
    if signature not in signatures:
        raise ValueError(f"SavedModel {saved_model_dir} has no {signature!r} signature (has {sorted(signatures)})")
    inputs = signatures[signature].inputs
    if input_key not in inputs or inputs[input_key].dtype != tf.string.as_datatype_enum:
        found = {k: tf.dtypes.as_dtype(v.dtype).name for k, v in inputs.items()}
        raise ValueError(f"signature {signature!r} must take {input_key!r} as a string tensor; inputs are {found}")


# --------------------------------------------------------------------------------------------------------------
# Warm-up records


def strip_features(serialized: bytes, drop: Iterable[str] = LABEL_FEATURES) -> bytes:
    """The serialized tf.Example without the `drop` features."""
    example = tf.train.Example.FromString(serialized)
    for name in drop:
        if name in example.features.feature:
            del example.features.feature[name]
    return example.SerializeToString(deterministic=True)


def read_serialized_examples(files: Sequence[str], limit: int, drop: Iterable[str] = LABEL_FEATURES) -> list[bytes]:
    """The first `limit` tf.Examples of TFRecord `files` (GZIP when named *.gz), labels removed."""
    drop = tuple(drop)
    out: list[bytes] = []
    for path in sorted(files):
        if len(out) >= limit:
            break
        compression = "GZIP" if path.endswith(".gz") else ""
        for record in tf.data.TFRecordDataset(path, compression_type=compression).take(limit - len(out)):
            out.append(strip_features(record.numpy(), drop))
    return out


def warmup_request(serialized_example: bytes, model_name: str, signature: str = SERVING_SIGNATURE):
    """One PredictionLog wrapping a PredictRequest with a batch of one serialized tf.Example."""
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature))
    request.inputs[SERVING_INPUT_KEY].CopyFrom(tf.make_tensor_proto([serialized_example], dtype=tf.string))
    return prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))


def write_warmup_requests(
    version_dir: str, serialized_examples: Sequence[bytes], model_name: str, signature: str = SERVING_SIGNATURE
) -> str:
    """Writes `<version_dir>/assets.extra/tf_serving_warmup_requests`; returns its path."""
    if not 0 < len(serialized_examples) <= MAX_WARMUP_RECORDS:
        raise ValueError(f"need 1..{MAX_WARMUP_RECORDS} warm-up examples, got {len(serialized_examples)}")
    directory = os.path.join(version_dir, WARMUP_DIR)
    tf.io.gfile.makedirs(directory)
    path = os.path.join(directory, WARMUP_FILE)
    with tf.io.TFRecordWriter(path) as writer:
        for example in serialized_examples:
            writer.write(warmup_request(example, model_name, signature).SerializeToString())
    return path


def read_warmup_requests(path: str) -> list[prediction_log_pb2.PredictionLog]:
    return [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in tf.data.TFRecordDataset(path)]


# --------------------------------------------------------------------------------------------------------------
# Atomic version push


def copy_tree(src: str, dst: str) -> None:
    """Recursive copy with tf.io.gfile; `saved_model.pb` files are copied last (the server waits for them)."""
    last: list[tuple[str, str]] = []
    for directory, _, files in tf.io.gfile.walk(src):
        target_dir = os.path.join(dst, os.path.relpath(directory, src))
        tf.io.gfile.makedirs(target_dir)
        for name in files:
            pair = (os.path.join(directory, name), os.path.join(target_dir, name))
            if name == "saved_model.pb":
                last.append(pair)
            else:
                tf.io.gfile.copy(*pair, overwrite=False)
    for pair in last:
        tf.io.gfile.copy(*pair, overwrite=False)


def push_version(
    saved_model_dir: str,
    serving_root: str,
    model_name: str,
    prepare: Callable[[str], None] | None = None,
    now: float | None = None,
    max_attempts: int = 20,
    source_uri: str | None = None,
    day: int | None = None,
) -> PushResult:
    """Copies a SavedModel into a new numeric version of `<serving_root>/<model_name>` and verifies it complete,
    unless the latest version already holds the same model (then that version is returned with `already_pushed`).
    Publishing it (models.config) is the caller's next step: `write_models_config`.

    `prepare(temp_dir)` completes the copy before it is renamed (e.g. writes warm-up records). When another
    writer takes the chosen version first, the next number is tried; nothing is ever overwritten. `day`: the
    pipeline run's day, recorded in push_source.json (serving/served.py reads it).
    """
    validate_model_name(model_name)
    fingerprint = model_fingerprint(saved_model_dir)
    existing = latest_version_holding(serving_root, model_name, fingerprint)
    if existing is not None:
        return existing
    model_dir = os.path.join(serving_root, model_name)
    tf.io.gfile.makedirs(model_dir)
    version = next_version(model_dir, now)
    tmp_dir = os.path.join(model_dir, f"{_TMP_PREFIX}{version}-{uuid.uuid4().hex[:12]}")
    try:
        copy_tree(saved_model_dir, tmp_dir)
        if prepare is not None:
            prepare(tmp_dir)
        _write_push_source(tmp_dir, fingerprint, source_uri or saved_model_dir, day)
        for _ in range(max_attempts):
            final = os.path.join(model_dir, str(version))
            if not tf.io.gfile.exists(final):
                try:
                    tf.io.gfile.rename(tmp_dir, final, overwrite=False)
                    problem = verify_version(final)
                    if problem is not None:
                        raise RuntimeError(f"pushed version is incomplete, not published: {problem}")
                    return PushResult(version, final)
                except (tf.errors.OpError, OSError):
                    if not tf.io.gfile.exists(final):
                        raise  # a real failure, not a lost race
                    # another writer took this number between the check and the rename: try the next one
            version = max(version + 1, next_version(model_dir, now))
        raise RuntimeError(f"could not claim a new version under {model_dir} in {max_attempts} attempts")
    finally:
        if tf.io.gfile.exists(tmp_dir):
            tf.io.gfile.rmtree(tmp_dir)


def _write_push_source(version_dir: str, fingerprint: str, source_uri: str, day: int | None = None) -> None:
    directory = os.path.join(version_dir, WARMUP_DIR)
    tf.io.gfile.makedirs(directory)
    record = {
        "model_fingerprint": fingerprint,
        "source": source_uri,
        "pushed_at": int(time.time()),
        "day": day,
        "files": _file_sizes(version_dir),  # what verify_version checks; push_source.json itself is not listed
    }
    with tf.io.gfile.GFile(os.path.join(directory, PUSH_SOURCE_FILE), "w") as f:
        f.write(json.dumps(record, sort_keys=True))


# --------------------------------------------------------------------------------------------------------------
# models.config


def model_names(serving_root: str) -> list[str]:
    """Model directories under `serving_root`: not hidden, holding at least one numeric version."""
    names = [n for n in _listdir(serving_root) if not n.startswith(".") and not is_version_name(n)]
    return sorted(n for n in names if list_versions(os.path.join(serving_root, n)))


def newest_complete_version(model_dir: str) -> int | None:
    """The largest numeric version under `model_dir` that `verify_version` finds complete, or None."""
    for version in reversed(list_versions(model_dir)):
        if verify_version(os.path.join(model_dir, str(version))) is None:
            return version
    return None


def build_models_config(
    serving_root: str, base_path_root: str | None = None, pin: bool = True
) -> model_server_config_pb2.ModelServerConfig:
    """One `config` per model directory: name, absolute base_path, model_platform "tensorflow", and (`pin`) a
    `model_version_policy { specific { versions: N } }` naming the newest complete version (none complete: no pin,
    TF Serving's default policy, the newest version).

    `base_path_root` replaces `serving_root` in base paths when the server mounts the root elsewhere
    (e.g. "/models" in a Kubernetes pod); by default the absolute serving root is used.
    """
    root = base_path_root or (serving_root if is_remote(serving_root) else os.path.abspath(serving_root))
    config = model_server_config_pb2.ModelServerConfig()
    for name in model_names(serving_root):
        entry = config.model_config_list.config.add()
        entry.name = name
        entry.base_path = os.path.join(root, name)
        entry.model_platform = "tensorflow"
        version = newest_complete_version(os.path.join(serving_root, name)) if pin else None
        if version is not None:
            entry.model_version_policy.specific.versions.append(version)
    return config


def write_models_config(serving_root: str, base_path_root: str | None = None, pin: bool = True) -> str:
    """Rewrites `<serving_root>/models.config` from the directory listing in one single-object write (a temp file
    renamed over it: atomic on POSIX, one object copy on object stores). This is the publishing step: a server
    reading this file loads a version only once it is named here, after it was verified complete."""
    text = text_format.MessageToString(build_models_config(serving_root, base_path_root, pin))
    path = os.path.join(serving_root, MODELS_CONFIG_FILE)
    tmp = os.path.join(serving_root, f".{MODELS_CONFIG_FILE}.tmp-{uuid.uuid4().hex[:12]}")
    with tf.io.gfile.GFile(tmp, "w") as f:
        f.write(text)
    tf.io.gfile.rename(tmp, path, overwrite=True)
    return path


def read_models_config(path: str) -> model_server_config_pb2.ModelServerConfig:
    with tf.io.gfile.GFile(path, "r") as f:
        return text_format.Parse(f.read(), model_server_config_pb2.ModelServerConfig())
