"""Client side of serving: raw log records -> serialized tf.Examples -> `serving_default`, in-process or over REST.

The model's contract (models/serving.py, checked by serving.export.check_serving_signature):
`serving_default` takes `examples`, a DT_STRING tensor of shape [None] holding serialized tf.Examples of the raw
serving features, and returns one float tensor of shape [None] per task plus `score`.

* :func:`read_log_records` turns a JSON-lines log file into those examples with the ingest's own parser
  (`logformat.parser.parse_line`), labels removed; malformed lines come back with their quarantine reason.
* :func:`predict_local` calls the SavedModel's `serving_default` in-process (what TF Serving executes).
* :func:`build_predict_request` / :func:`parse_predict_response` / :func:`query` speak TF Serving's REST API
  (https://www.tensorflow.org/tfx/serving/api_rest): ``POST /v1/models/<name>[/versions/<v>]:predict`` with

      row form:       {"signature_name": "serving_default", "instances": [{"examples": {"b64": "..."}}, ...]}
      columnar form:  {"signature_name": "serving_default", "inputs": {"examples": [{"b64": "..."}, ...]}}

  answered by {"predictions": [{"click": 0.1, ..., "score": 0.4}, ...]} (row), {"outputs": {"click": [...], ...}}
  (columnar) or {"error": "..."} with an HTTP error status.
* :func:`signature_metadata` renders a SavedModel's signatures as TF Serving's model-metadata endpoint does
  (``GET /v1/models/<name>/metadata``), from the same `saved_model.pb` fields `saved_model_cli show` prints;
  :func:`check_request_against_signature` checks a request body against it (input names, DT_STRING as b64).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from config.settings import TASKS, IngestConfig
from logformat.parser import parse_line
from serving.export import (
    LABEL_FEATURES,
    SERVING_INPUT_KEY,
    SERVING_SIGNATURE,
    WARMUP_DIR,
    WARMUP_FILE,
    check_serving_signature,
    list_versions,
    read_warmup_requests,
    strip_features,
)

REQUEST_FORMS: tuple[str, ...] = ("row", "columnar")
DEFAULT_TIMEOUT_S = 30.0
SINGLE_OUTPUT_NAME = "output"  # TF Serving drops the output name when a signature has exactly one output
_MAX_ERROR_BODY = 2_000  # characters of an unparseable error body kept in messages


class ServingError(RuntimeError):
    """TF Serving answered with an error (or could not be reached); `status` is the HTTP status, 0 if none."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.message = message
        self.status = status


# --------------------------------------------------------------------------------------------------------------
# Log records -> serialized tf.Examples


@dataclass
class LogRecords:
    """Valid records as label-free serialized tf.Examples, and the lines that failed, with their reasons."""

    examples: list[bytes] = field(default_factory=list)
    impression_ids: list[str] = field(default_factory=list)
    line_numbers: list[int] = field(default_factory=list)
    quarantined: list[tuple[int, str]] = field(default_factory=list)  # (1-based line number, reason)


def _lines(path: str) -> Iterator[bytes]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        yield from f


def read_log_records(path: str, ingest: IngestConfig | None = None, limit: int | None = None) -> LogRecords:
    """Parses a JSON-lines log file (optionally .gz) exactly as LogIngest does; blank lines are skipped.

    `limit` bounds the number of valid records read. Labels (click, like, ..., survey) are removed: clients send
    only the features.
    """
    ingest = ingest or IngestConfig()
    out = LogRecords()
    for number, line in enumerate(_lines(path), start=1):
        if limit is not None and len(out.examples) >= limit:
            break
        if not line.strip():
            continue
        result = parse_line(line.rstrip(b"\r\n"), ingest)
        if result.example is None:
            out.quarantined.append((number, result.reason or "unknown"))
            continue
        out.examples.append(strip_features(result.example.SerializeToString(), LABEL_FEATURES))
        out.impression_ids.append(result.impression_id or "")
        out.line_numbers.append(number)
    return out


# --------------------------------------------------------------------------------------------------------------
# In-process prediction through serving_default


def resolve_saved_model_dir(model_dir: str) -> str:
    """`model_dir` itself when it holds saved_model.pb, else its latest numeric version (TF Serving's choice)."""
    if os.path.exists(os.path.join(model_dir, "saved_model.pb")):
        return model_dir
    versions = list_versions(model_dir)
    if not versions:
        raise FileNotFoundError(
            f"{model_dir} is neither a SavedModel (no saved_model.pb) nor a model directory with numeric versions"
        )
    return os.path.join(model_dir, str(versions[-1]))


def predict_local(
    saved_model_dir: str,
    examples: Sequence[bytes],
    signature: str = SERVING_SIGNATURE,
    batch_size: int = 256,
) -> dict[str, np.ndarray]:
    """Runs `examples` through the SavedModel's `signature` in batches; returns one array per output."""
    import tensorflow as tf

    check_serving_signature(saved_model_dir, signature)
    serve = tf.saved_model.load(saved_model_dir).signatures[signature]
    chunks: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(examples), batch_size):
        batch = tf.constant(list(examples[start : start + batch_size]), dtype=tf.string)
        for name, value in serve(**{SERVING_INPUT_KEY: batch}).items():
            chunks.setdefault(name, []).append(value.numpy())
    return {name: np.concatenate(parts) for name, parts in chunks.items()}


def replay_warmup_requests(version_dir: str) -> int:
    """Replays `assets.extra/tf_serving_warmup_requests` through the loaded SavedModel, as TF Serving does at
    load time; returns the number of records replayed. Raises on the first request that fails."""
    import tensorflow as tf

    loaded = tf.saved_model.load(version_dir)
    logs = read_warmup_requests(os.path.join(version_dir, WARMUP_DIR, WARMUP_FILE))
    for i, log in enumerate(logs):
        request = log.predict_log.request
        serve = loaded.signatures[request.model_spec.signature_name or SERVING_SIGNATURE]
        inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
        outputs = serve(**{name: tf.constant(value) for name, value in inputs.items()})
        for name, value in outputs.items():
            if not np.all(np.isfinite(value.numpy())):
                raise ValueError(f"warm-up record {i}: output {name!r} is not finite")
    return len(logs)


# --------------------------------------------------------------------------------------------------------------
# TF Serving REST API


def build_predict_request(
    examples: Sequence[bytes],
    form: str = "row",
    signature: str = SERVING_SIGNATURE,
    input_key: str = SERVING_INPUT_KEY,
) -> dict[str, Any]:
    """The JSON body of a `:predict` call; serialized examples are binary, hence {"b64": ...} objects."""
    if form not in REQUEST_FORMS:
        raise ValueError(f"request form {form!r} is not one of {list(REQUEST_FORMS)}")
    encoded = [{"b64": base64.b64encode(e).decode("ascii")} for e in examples]
    if form == "row":
        return {"signature_name": signature, "instances": [{input_key: value} for value in encoded]}
    return {"signature_name": signature, "inputs": {input_key: encoded}}


def _decode_json(body: bytes | str, status: int) -> Any:
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        return json.loads(text)
    except ValueError:
        raise ServingError(f"response is not JSON: {text[:_MAX_ERROR_BODY]!r}", status) from None


def _columns_from_rows(predictions: list[Any], status: int) -> dict[str, list[Any]]:
    if predictions and all(isinstance(row, dict) for row in predictions):
        names = list(predictions[0])
        if any(set(row) != set(names) for row in predictions):
            raise ServingError("row predictions do not all have the same outputs", status)
        return {name: [row[name] for row in predictions] for name in names}
    if any(isinstance(row, dict) for row in predictions):
        raise ServingError("row predictions mix objects and plain values", status)
    return {SINGLE_OUTPUT_NAME: list(predictions)}


def parse_predict_response(
    body: bytes | str, status: int = 200, expected_rows: int | None = None
) -> dict[str, np.ndarray]:
    """Outputs of a `:predict` response, one array per output name, for row and columnar responses alike.

    Raises ServingError for an {"error": ...} body, a non-2xx status, a body that is not JSON or not a predict
    response, or (with `expected_rows`) a number of rows other than the number of instances sent.
    """
    payload = _decode_json(body, status)
    if isinstance(payload, dict) and "error" in payload:
        raise ServingError(str(payload["error"]), status)
    if not 200 <= status < 300:
        raise ServingError(f"unexpected response {json.dumps(payload)[:_MAX_ERROR_BODY]}", status)
    if not isinstance(payload, dict) or not ({"predictions", "outputs"} & set(payload)):
        raise ServingError(f"not a predict response (no 'predictions' or 'outputs'): {str(payload)[:200]}", status)
    if "predictions" in payload:
        if not isinstance(payload["predictions"], list):
            raise ServingError("'predictions' is not a list", status)
        columns = _columns_from_rows(payload["predictions"], status)
    else:
        outputs = payload["outputs"]
        columns = outputs if isinstance(outputs, dict) else {SINGLE_OUTPUT_NAME: outputs}
    arrays = {name: np.asarray(values, dtype=np.float64) for name, values in columns.items()}
    sizes = {name: (array.shape[0] if array.ndim else 1) for name, array in arrays.items()}
    if len(set(sizes.values())) > 1:
        raise ServingError(f"outputs have different numbers of rows: {sizes}", status)
    if expected_rows is not None and any(size != expected_rows for size in sizes.values()):
        raise ServingError(f"expected {expected_rows} rows, the response has {sizes}", status)
    return arrays


def model_url(base_url: str, model: str, version: int | None = None) -> str:
    """`<base_url>/v1/models/<model>[/versions/<version>]`; `base_url` like http://host:8501."""
    parsed = urllib.parse.urlparse(base_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(
            f"--url must be http(s)://host:port (TF Serving's REST port, 8501 by default), got {base_url!r}"
        )
    url = f"{base_url.rstrip('/')}/v1/models/{urllib.parse.quote(model, safe='')}"
    return f"{url}/versions/{int(version)}" if version is not None else url


def http_json(url: str, body: dict[str, Any] | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> tuple[int, bytes]:
    """GET (no body) or POST JSON; returns (status, body) for HTTP errors too. ServingError when unreachable."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise ServingError(f"cannot reach TF Serving at {url}: {reason}") from None


def query(
    base_url: str,
    model: str,
    examples: Sequence[bytes],
    form: str = "row",
    version: int | None = None,
    signature: str = SERVING_SIGNATURE,
    batch_size: int = 128,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> dict[str, np.ndarray]:
    """Scores `examples` with a running TF Serving over REST, `batch_size` per request."""
    url = model_url(base_url, model, version) + ":predict"
    chunks: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(examples), batch_size):
        batch = list(examples[start : start + batch_size])
        status, body = http_json(url, build_predict_request(batch, form, signature), timeout)
        for name, values in parse_predict_response(body, status, expected_rows=len(batch)).items():
            chunks.setdefault(name, []).append(values)
    return {name: np.concatenate(parts) for name, parts in chunks.items()}


def get_model_metadata(
    base_url: str, model: str, version: int | None = None, timeout: float = DEFAULT_TIMEOUT_S
) -> dict[str, Any]:
    """TF Serving's `GET /v1/models/<model>[/versions/<v>]/metadata`, parsed; ServingError on an error body."""
    status, body = http_json(model_url(base_url, model, version) + "/metadata", timeout=timeout)
    payload = _decode_json(body, status)
    if not isinstance(payload, dict) or "error" in payload or not 200 <= status < 300:
        message = payload.get("error", payload) if isinstance(payload, dict) else payload
        raise ServingError(str(message)[:_MAX_ERROR_BODY], status)
    return payload


# --------------------------------------------------------------------------------------------------------------
# Signature metadata (what saved_model_cli shows, as TF Serving's metadata endpoint renders it)


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


# --------------------------------------------------------------------------------------------------------------
# Printing


def output_order(names: Sequence[str]) -> list[str]:
    """The task outputs in TASKS order, then `score`, then anything else (sorted)."""
    known = [n for n in (*TASKS, "score") if n in names]
    return known + sorted(set(names) - set(known))


def prediction_rows(records: LogRecords, outputs: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """One dict per record: line, impression_id, then each output as a float."""
    names = output_order(list(outputs))
    return [
        {
            "line": records.line_numbers[i],
            "impression_id": records.impression_ids[i],
            **{name: float(outputs[name][i]) for name in names},
        }
        for i in range(len(records.examples))
    ]


def render_rows(rows: list[dict[str, Any]], fmt: str = "jsonl") -> str:
    """JSON lines (`jsonl`) or an aligned text table (`table`)."""
    if fmt == "jsonl":
        return "\n".join(json.dumps(row) for row in rows)
    if fmt != "table":
        raise ValueError(f"unknown output format {fmt!r}; use jsonl or table")
    if not rows:
        return ""
    columns = list(rows[0])
    cells = [[f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)
