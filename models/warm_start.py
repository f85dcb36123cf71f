"""Warm start: day d+1's model continues from the served day-d model (the paper's sequential training, §3.1).

The run of day d+1 builds a fresh model for its own Transform output, then copies every variable of the base model (the
latest pushed SavedModel) into it, optimizer state included, so training continues where the base left off: same
weights, same Adagrad accumulators, same iteration counters (learning-rate schedules keep counting); hyperparameters
such as the learning rate come from the new day's configuration, telemetry starts afresh. The base is read
without loading its functions (`read_saved_variables`: the SavedModel's object graph names each variable, its
checkpoint holds the values), which is fast even for a SavedModel carrying the whole Transform graph.

Vocabularies move between days (new videos and users, others drop out of the top-k, frequency order changes), so an
embedding row means a different id in the two models. Embedding tables, the wide part's per-value weight tables
(`model.wide`) and their optimizer slots are therefore remapped by token: with `V_b`, `V_n` the base and new
vocabularies (the SavedModel's `assets/vocab_<feature>` and the new Transform output), new row `i < |V_n|` takes
base row `j` where `V_b[j] = V_n[i]`; the `oov` hash-bucket rows after the vocabulary map to the same buckets
(`|V_n| + b <- |V_b| + b`); rows of tokens new on this day keep their fresh initial values (and fresh accumulators).
Every other variable must have the same name and shape in both models, or warm start fails with `WarmStartError` (an
architecture change cannot be continued: start a new pipeline root or set `sequential.warm_start` to false).

`warm_start.json` (written beside the training report) records what was copied and a SHA-256 fingerprint of each
carried value (whole tensor; for an embedding, its kept rows in sorted-token order), which tests recompute from the
base SavedModel to check that the weights before training day d+1 are exactly the blessed day-d weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from models import features as F
from models.ranker import WIDE_PREFIX, embedding_layer_name, value_weights_layer_name

WARM_START_FILE = "warm_start.json"


class WarmStartError(RuntimeError):
    """The base model cannot be continued by the new one (names or shapes differ)."""


@dataclass
class WarmStartReport:
    base_model: str
    base_iterations: int | None = None
    copied: list[str] = field(default_factory=list)  # model variables copied as they are
    remapped: dict[str, dict[str, int]] = field(default_factory=dict)  # embedding -> kept / new / dropped rows
    fresh: list[str] = field(default_factory=list)  # variables absent from the base: left at their initial value
    optimizer_copied: int = 0
    optimizer_remapped: int = 0
    fingerprints: dict[str, str] = field(default_factory=dict)  # variable name -> sha256 of the carried values

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: str) -> None:
        tf.io.gfile.makedirs(os.path.dirname(path))
        with tf.io.gfile.GFile(path, "w") as f:
            f.write(json.dumps(self.to_dict(), indent=1, sort_keys=True))


@dataclass(frozen=True)
class RowMap:
    """Rows of a remapped table: `new[new_rows] = base[base_rows]`; `tokens` (sorted) are the kept tokens."""

    new_rows: np.ndarray
    base_rows: np.ndarray
    tokens: tuple[bytes, ...]
    new_size: int
    base_size: int


def embedding_variable_name(feature: str) -> str:
    """The Keras variable name of a feature's embedding table."""
    return f"{embedding_layer_name(feature)}/embeddings:0"


def wide_variable_name(feature: str) -> str:
    """The Keras variable name of the wide part's per-value weights of a feature: a table with one row per
    vocabulary entry, like the embedding."""
    return f"{value_weights_layer_name(feature, WIDE_PREFIX)}/embeddings:0"


def read_vocabulary(path: str) -> list[bytes]:
    """A Transform vocabulary file: one token per line, most frequent first."""
    with tf.io.gfile.GFile(path, "rb") as f:
        return [line.rstrip(b"\n") for line in f.read().splitlines(keepends=True)]


def base_vocabulary(base_model_dir: str, feature: str) -> list[bytes] | None:
    path = os.path.join(base_model_dir, "assets", F.vocab_name(feature))
    return read_vocabulary(path) if tf.io.gfile.exists(path) else None


def row_map(base_vocab: list[bytes], new_vocab: list[bytes], oov_buckets: int) -> RowMap:
    """Token-wise row correspondence, OOV buckets included (they follow the vocabulary in both tables)."""
    base_index = {token: j for j, token in enumerate(base_vocab)}
    pairs = sorted((token, i, base_index[token]) for i, token in enumerate(new_vocab) if token in base_index)
    new_rows = [i for _, i, _ in pairs] + [len(new_vocab) + b for b in range(oov_buckets)]
    base_rows = [j for _, _, j in pairs] + [len(base_vocab) + b for b in range(oov_buckets)]
    return RowMap(
        new_rows=np.array(new_rows, dtype=np.int64),
        base_rows=np.array(base_rows, dtype=np.int64),
        tokens=tuple(t for t, _, _ in pairs),
        new_size=len(new_vocab) + oov_buckets,
        base_size=len(base_vocab) + oov_buckets,
    )


def fingerprint(values: np.ndarray) -> str:
    """SHA-256 of the values as contiguous little-endian float32/int64 bytes, with the shape."""
    values = np.ascontiguousarray(values)
    digest = hashlib.sha256(str(values.shape).encode())
    digest.update(values.astype(values.dtype.newbyteorder("<")).tobytes())
    return digest.hexdigest()


def carried_fingerprint(values: np.ndarray, rows: RowMap | None, side: str) -> str:
    """Fingerprint of what warm start carries over: the whole tensor, or the kept rows (base or new side)."""
    if rows is None:
        return fingerprint(values)
    return fingerprint(values[rows.new_rows if side == "new" else rows.base_rows])


def optimizer_key(path: str, name: str) -> str:
    """A position-free key of an optimizer variable: the path of the (sub-)optimizer owning it, and its name.

    List positions (`_variables/7`) depend on which slots a rule creates, and one variable can be reached by several
    attributes (`_iterations`, `_variables/0`); names (`accumulator/<layer>/kernel`) are unique within one
    (sub-)optimizer, so the key is stable, and a switch of clipping rule still carries the shared Adagrad state.
    """
    owner = re.sub(r"(^|/)[^/]+(/[0-9]+)?$", "", path)
    return f"{owner}|{name.removesuffix(':0')}"


def is_optimizer_state(name: str) -> bool:
    """Whether an optimizer variable is training state to carry over: a slot of a model variable
    (`accumulator/<layer>/kernel`, ...) or an iteration counter. Hyperparameters (`learning_rate`) come from the
    current configuration, and bookkeeping (telemetry) starts afresh."""
    name = name.removesuffix(":0")
    return name == "iteration" or "/" in name


def trackable_variables(obj: Any, prefix: str = "", seen: set[int] | None = None) -> dict[str, tf.Variable]:
    """Variables reachable from `obj` through its checkpoint dependencies, by dependency path."""
    seen = set() if seen is None else seen
    out: dict[str, tf.Variable] = {}
    for name, child in obj._trackable_children().items():  # noqa: SLF001 - the public checkpoint graph
        if id(child) in seen:
            continue
        seen.add(id(child))
        path = f"{prefix}{name}"
        if isinstance(child, tf.Variable):
            out[path] = child
        else:
            out.update(trackable_variables(child, path + "/", seen))
    return out


@dataclass(frozen=True)
class SavedVariable:
    path: str  # dependency path from the SavedModel's root, e.g. "model/optimizer/dense_optimizer/_variables/3"
    name: str  # the variable's name without ":0", e.g. "accumulator/shared_dense_0/kernel"
    value: np.ndarray


def _paths(nodes: Any) -> dict[int, str]:
    """Dependency path of every node of an object graph (breadth-first from the root, first path wins)."""
    paths, queue = {0: ""}, [0]
    while queue:
        node = queue.pop(0)
        for child in nodes[node].children:
            if child.node_id not in paths:
                paths[child.node_id] = f"{paths[node]}/{child.local_name}" if paths[node] else child.local_name
                queue.append(child.node_id)
    return paths


def read_saved_variables(saved_model_dir: str) -> dict[str, SavedVariable]:
    """Every variable of a TF2 SavedModel by dependency path: names from saved_model.pb's object graph, values from
    the variables checkpoint, joined on the path (no function is loaded)."""
    from tensorflow.core.protobuf import saved_model_pb2, trackable_object_graph_pb2

    saved = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    graph = saved.meta_graphs[0].object_graph_def
    reader = tf.train.load_checkpoint(os.path.join(saved_model_dir, "variables", "variables"))
    checkpoint_graph = trackable_object_graph_pb2.TrackableObjectGraph()
    checkpoint_graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    saved_paths, checkpoint_paths = _paths(graph.nodes), _paths(checkpoint_graph.nodes)
    names = {
        saved_paths[i]: node.variable.name
        for i, node in enumerate(graph.nodes)
        if i in saved_paths and node.WhichOneof("kind") == "variable"
    }
    out = {}
    for i, node in enumerate(checkpoint_graph.nodes):
        path = checkpoint_paths.get(i)
        for attribute in node.attributes:
            if attribute.name == "VARIABLE_VALUE" and path in names:
                out[path] = SavedVariable(path, names[path], reader.get_tensor(attribute.checkpoint_key))
    return out


def _embedding_feature(variable_name: str, row_maps: Mapping[str, RowMap]) -> str | None:
    """The vocabulary feature whose table (its embedding or its wide per-value weights) `variable_name` is (or is a
    slot of), else None."""
    for feature in row_maps:
        for table in (embedding_variable_name(feature), wide_variable_name(feature)):
            if variable_name == table or variable_name.endswith("/" + table):
                return feature
    return None


def _remap(new_value: np.ndarray, base_value: np.ndarray, rows: RowMap, name: str) -> np.ndarray:
    if base_value.shape[0] != rows.base_size or new_value.shape[0] != rows.new_size:
        raise WarmStartError(
            f"{name}: table rows {base_value.shape[0]} -> {new_value.shape[0]} do not match the vocabularies "
            f"({rows.base_size} -> {rows.new_size} rows with OOV buckets)"
        )
    if base_value.shape[1:] != new_value.shape[1:]:
        raise WarmStartError(f"{name}: embedding width {base_value.shape[1:]} -> {new_value.shape[1:]} changed")
    out = new_value.copy()
    out[rows.new_rows] = base_value[rows.base_rows]
    return out


def _copy(new: tf.Variable, base_value: np.ndarray, rows: RowMap | None, name: str) -> None:
    if rows is not None:
        new.assign(_remap(new.numpy(), base_value, rows, name))
    elif tuple(new.shape) != tuple(base_value.shape):
        raise WarmStartError(
            f"{name}: shape {tuple(base_value.shape)} in the base model, {tuple(new.shape)} now; the architecture "
            "or the feature set changed, which a warm start cannot continue (set sequential.warm_start to false or "
            "use a new pipeline root)"
        )
    else:
        new.assign(base_value)


def build_row_maps(
    base_model_dir: str, new_vocabularies: Mapping[str, list[bytes]], oov_buckets: Mapping[str, int]
) -> dict[str, RowMap]:
    """Row maps of every vocabulary feature the base model also has."""
    maps = {}
    for feature, new_vocab in new_vocabularies.items():
        base_vocab = base_vocabulary(base_model_dir, feature)
        if base_vocab is not None:
            maps[feature] = row_map(base_vocab, new_vocab, oov_buckets[feature])
    return maps


def warm_start(
    model: tf.keras.Model,
    base_model_dir: str,
    new_vocabularies: Mapping[str, list[bytes]],
    oov_buckets: Mapping[str, int],
) -> WarmStartReport:
    """Copies the base SavedModel's model and optimizer variables into the compiled `model` (see module doc).

    `new_vocabularies[feature]` is the new Transform vocabulary of each embedded vocabulary feature and
    `oov_buckets[feature]` its number of OOV buckets.
    """
    saved = read_saved_variables(base_model_dir)
    optimizer_prefix = "model/optimizer/"
    base_vars = {
        v.name + ":0": v.value
        for v in saved.values()
        if v.path.startswith("model/") and not v.path.startswith((optimizer_prefix, "model/keras_api/"))
    }
    if not base_vars:
        raise WarmStartError(f"{base_model_dir} is not a ranker SavedModel (no variables under `model`)")
    rows = build_row_maps(base_model_dir, new_vocabularies, oov_buckets)
    report = WarmStartReport(base_model=base_model_dir)
    for variable in model.variables:
        name = variable.name
        if name not in base_vars:
            report.fresh.append(name)
            continue
        feature = _embedding_feature(name, rows)
        _copy(variable, base_vars[name], rows[feature] if feature else None, name)
        if feature:
            r = rows[feature]
            report.remapped[name] = {
                "kept": len(r.tokens),
                "new": r.new_size - len(r.new_rows),
                "dropped": r.base_size - len(r.base_rows),
            }
        else:
            report.copied.append(name)
        report.fingerprints[name] = carried_fingerprint(variable.numpy(), rows.get(feature) if feature else None, "new")

    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    base_opt = {
        optimizer_key(v.path.removeprefix(optimizer_prefix), v.name): v.value
        for v in saved.values()
        if v.path.startswith(optimizer_prefix)
    }
    for path, variable in trackable_variables(optimizer).items():
        key = optimizer_key(path, variable.name)
        if key not in base_opt or not is_optimizer_state(variable.name):
            continue
        feature = _embedding_feature(variable.name, rows)
        _copy(variable, base_opt[key], rows.get(feature) if feature else None, f"optimizer/{key}")
        report.optimizer_remapped += feature is not None
        report.optimizer_copied += feature is None
    iterations = saved.get(optimizer_prefix + "_iterations")
    report.base_iterations = int(iterations.value) if iterations is not None else None
    return report


def warm_start_from_transform(
    model: tf.keras.Model,
    base_model_dir: str,
    tf_transform_output: Any,
    features: F.FeatureSet,
    id_oov_buckets: int,
    categorical_oov_buckets: int,
) -> WarmStartReport:
    """`warm_start` with the new vocabularies of a TFTransformOutput (what the Trainer calls)."""
    vocabularies = {f: tf_transform_output.vocabulary_by_name(F.vocab_name(f)) for f in features.vocab_features}
    oov = {f: id_oov_buckets if f in features.ids else categorical_oov_buckets for f in features.vocab_features}
    return warm_start(model, base_model_dir, vocabularies, oov)
