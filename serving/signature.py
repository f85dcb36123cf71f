"""What a SavedModel's signatures take, read from saved_model.pb, and a check of a `:predict` body against them.

The model's contract (models/serving.py, checked by serving.export.check_serving_signature): `serving_default` takes
`examples`, a DT_STRING tensor of shape [None] holding serialized tf.Examples of the raw serving features, and
returns one float tensor of shape [None] per task plus `score`. :func:`signature_metadata` renders the signatures as
TF Serving's model-metadata endpoint does (``GET /v1/models/<name>/metadata``), from the same `saved_model.pb` fields
`saved_model_cli show` prints; :func:`check_request_against_signature` checks a request body against it.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence
from typing import Any

from serving.export import SERVING_SIGNATURE


def signature_features(saved_model_dir: str, signature: str = SERVING_SIGNATURE) -> set[str]:
    """The tf.Example features `signature` parses (its ParseExample ops' dense and sparse keys), read from
    saved_model.pb: the functions reachable from the signature's output nodes, nothing else (the
    `transform_features` signature also parses labels)."""
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        meta_graph = saved_model_pb2.SavedModel.FromString(f.read()).meta_graphs[0]
    functions = {fn.signature.name: fn for fn in meta_graph.graph_def.library.function}

    def called(nodes) -> set[str]:
        return {
            value.func.name
            for node in nodes
            for value in node.attr.values()
            if value.WhichOneof("value") == "func" and value.func.name in functions
        }

    outputs = {t.name.split(":")[0] for t in meta_graph.signature_def[signature].outputs.values()}
    todo = called(n for n in meta_graph.graph_def.node if n.name in outputs)
    seen: set[str] = set()
    keys: set[str] = set()
    while todo:
        name = todo.pop()
        seen.add(name)
        nodes = {n.name: n for n in functions[name].node_def}
        for node in nodes.values():
            if node.op in ("ParseExampleV2", "ParseExample", "ParseSingleExample"):
                for source in node.input:
                    const = nodes.get(source.split(":")[0])
                    if const is not None and const.op == "Const" and const.name.endswith(("dense_keys", "sparse_keys")):
                        keys |= {k.decode() for k in tf.make_ndarray(const.attr["value"].tensor).ravel()}
        todo |= called(nodes.values()) - seen
    return keys


def missing_signature_features(saved_model_dir: str, examples: Sequence[bytes]) -> dict[str, int]:
    """{feature: number of examples without it} for the features `serving_default` takes: what the model would
    see as missing (and impute) although the signature takes it."""
    from tensorflow.core.example import example_pb2

    wanted = signature_features(saved_model_dir)
    missing: dict[str, int] = {}
    for serialized in examples:
        present = example_pb2.Example.FromString(serialized).features.feature
        for name in wanted - set(present):
            missing[name] = missing.get(name, 0) + 1
    return dict(sorted(missing.items()))


def signature_metadata(saved_model_dir: str, tag: str = "serve") -> dict[str, Any]:
    """The `signature_def` map of the MetaGraph tagged `tag`, as JSON: {"signature_def": {name: {"inputs": {key:
    {"dtype": "DT_STRING", "tensor_shape": {...}, "name": ...}}, "outputs": {...}, "method_name": ...}}}.

    This is the `metadata.signature_def` part of TF Serving's model-metadata response, read from the same
    MetaGraphDef that `saved_model_cli show --tag_set serve` prints.
    """
    from google.protobuf import json_format
    from tensorflow.python.tools import saved_model_utils
    from tensorflow_serving.apis import get_model_metadata_pb2

    meta_graph = saved_model_utils.get_meta_graph_def(saved_model_dir, tag)
    message = get_model_metadata_pb2.SignatureDefMap()
    for name, signature in meta_graph.signature_def.items():
        message.signature_def[name].CopyFrom(signature)
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _check_b64(value: Any, where: str) -> bytes:
    if not (isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str)):
        raise ValueError(f"{where}: a DT_STRING input of binary data must be {{'b64': '<base64>'}}, got {value!r:.80}")
    try:
        return base64.b64decode(value["b64"], validate=True)
    except binascii.Error as err:
        raise ValueError(f"{where}: invalid base64 ({err})") from None


def check_request_against_signature(body: dict[str, Any], metadata: dict[str, Any]) -> list[bytes]:
    """Checks a `:predict` body against signature metadata (:func:`signature_metadata` or TF Serving's
    `metadata.signature_def`); returns the decoded string values of the first input. Raises ValueError naming
    the mismatch: unknown signature, input names, a DT_STRING value not sent as b64, a non-[None] input."""
    signatures = metadata.get("signature_def", {})
    name = body.get("signature_name", SERVING_SIGNATURE)
    if name not in signatures:
        raise ValueError(f"signature {name!r} is not in the model (has {sorted(signatures)})")
    inputs = signatures[name].get("inputs", {})
    for key, info in inputs.items():
        dims = [int(d.get("size", -1)) for d in info.get("tensor_shape", {}).get("dim", [])]
        if dims != [-1]:
            raise ValueError(f"input {key!r} has shape {dims}; this client sends one value per example ([-1])")
        if info.get("dtype") != "DT_STRING":
            raise ValueError(f"input {key!r} is {info.get('dtype')}, not DT_STRING serialized tf.Examples")
    if ("instances" in body) == ("inputs" in body):
        raise ValueError("a predict body has exactly one of 'instances' (row form) or 'inputs' (columnar form)")
    if "instances" in body:
        rows = body["instances"]
        if not isinstance(rows, list) or not rows:
            raise ValueError("'instances' must be a non-empty list")
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or set(row) != set(inputs):
                raise ValueError(
                    f"instance {i} has inputs {sorted(row) if isinstance(row, dict) else row!r}, "
                    f"the signature takes {sorted(inputs)}"
                )
        columns = {key: [row[key] for row in rows] for key in inputs}
    else:
        columns = body["inputs"]
        if not isinstance(columns, dict) or set(columns) != set(inputs):
            raise ValueError(
                f"'inputs' has {sorted(columns) if isinstance(columns, dict) else columns!r}, "
                f"the signature takes {sorted(inputs)}"
            )
    decoded: dict[str, list[bytes]] = {}
    for key, values in columns.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"input {key!r} must be a non-empty list")
        decoded[key] = [_check_b64(v, f"input {key!r} value {i}") for i, v in enumerate(values)]
    return decoded[next(iter(inputs))]
