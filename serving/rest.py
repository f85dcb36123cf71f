"""A client of TF Serving's REST API (https://www.tensorflow.org/tfx/serving/api_rest).

``POST /v1/models/<name>[/versions/<v>]:predict`` with

    row form:       {"signature_name": "serving_default", "instances": [{"examples": {"b64": "..."}}, ...]}
    columnar form:  {"signature_name": "serving_default", "inputs": {"examples": [{"b64": "..."}, ...]}}

is answered by {"predictions": [{"click": 0.1, ..., "score": 0.4}, ...]} (row), {"outputs": {"click": [...], ...}}
(columnar) or {"error": "..."} with an HTTP error status; ``GET /v1/models/<name>[/versions/<v>]/metadata`` answers
with the model's signatures.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

import numpy as np

from serving.export import SERVING_INPUT_KEY, SERVING_SIGNATURE

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
    if urllib.parse.urlparse(url).scheme not in ("http", "https"):
        raise ValueError(f"TF Serving's REST API is reached over http(s), got {url!r}")
    data = None if body is None else json.dumps(body).encode("utf-8")
    # S310: the scheme is checked above, so no file:// or custom scheme is opened.
    request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")  # noqa: S310
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
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
