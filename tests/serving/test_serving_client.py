"""Serving, client side and server layout, against a real exported ranker (no TF Serving binary or Docker here).

The model is the session's shared trained ranker (tests/helpers/trained.py: real Transform and Trainer, exported by
models.serving.export_serving_model); a module fixture pushes it with serving.export (numeric version, warm-up records
from synthetic log lines, models.config). TF Serving's REST side is a loopback HTTP server in a thread
answering with recorded TF Serving response bodies.
"""

from __future__ import annotations

import base64
import gzip
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import tensorflow as tf
from helpers.serving_flags import expected_server_flags

from config.settings import BINARY_TASKS, TASKS, tiny_preset
from ranker.cli import main
from serving import export as serving_export
from serving import in_process, log_records, rest, signature
from serving import server as model_server
from world.simulator import generate_lines

CONFIG = tiny_preset()
MODEL = CONFIG.model_name
NUM_LINES = 48
NUM_WARMUP = 8
OUTPUTS = {*TASKS, "score"}


@pytest.fixture(scope="module")
def served(trained_ranker, tmp_path_factory) -> dict:
    """The session's trained ranker (tests/helpers/trained.py), pushed with warm-up records next to a log file."""
    root = tmp_path_factory.mktemp("serving")
    lines = [line for _, line in zip(range(NUM_LINES), generate_lines(CONFIG.world, 0, 0))]
    logs = root / "LOGS.jsonl"
    logs.write_text("\n".join([*lines[:5], "{not json", "", *lines[5:]]) + "\n")
    export_dir = trained_ranker.serving_model_dir

    records = log_records.read_log_records(str(logs))
    serving_root = str(root / "models")
    pushed = serving_export.push_version(
        export_dir,
        serving_root,
        MODEL,
        prepare=lambda d: serving_export.write_warmup_requests(d, records.examples[:NUM_WARMUP], MODEL),
    )
    serving_export.write_models_config(serving_root)
    return {"logs": str(logs), "root": serving_root, "version_dir": pushed.path, "records": records}


# ---------------------------------------------------------------------------------------------------------------
# Reading log records


def test_log_records_become_label_free_examples_and_bad_lines_keep_their_reason(served, tmp_path):
    records = served["records"]
    assert len(records.examples) == NUM_LINES
    assert records.quarantined == [(6, "invalid_json")]  # the blank line 7 is skipped, not quarantined
    assert records.line_numbers[:6] == [1, 2, 3, 4, 5, 8]
    example = tf.train.Example.FromString(records.examples[0])
    assert not set(example.features.feature) & set(serving_export.LABEL_FEATURES)
    assert records.impression_ids[0] == json.loads(Path(served["logs"]).read_text().splitlines()[0])["impression_id"]

    gz = tmp_path / "logs.jsonl.gz"
    gz.write_bytes(gzip.compress(Path(served["logs"]).read_bytes()))
    again = log_records.read_log_records(str(gz), limit=3)
    assert again.examples == records.examples[:3]


# ---------------------------------------------------------------------------------------------------------------
# Server layout: models.config, versions, warm-up


def test_models_config_parses_with_tf_serving_protos_and_versions_are_numeric(served):
    config = serving_export.read_models_config(os.path.join(served["root"], "models.config"))
    [entry] = config.model_config_list.config
    assert (entry.name, entry.model_platform) == (MODEL, "tensorflow")
    assert entry.base_path == os.path.join(os.path.abspath(served["root"]), MODEL)
    assert all(name.isdigit() for name in os.listdir(entry.base_path))
    assert model_server.check_serving_root(served["root"]) == [MODEL]


def test_warmup_records_replay_through_the_loaded_saved_model(served):
    path = os.path.join(served["version_dir"], "assets.extra", "tf_serving_warmup_requests")
    logs = serving_export.read_warmup_requests(path)
    assert len(logs) == NUM_WARMUP
    for log in logs:
        request = log.predict_log.request
        assert (request.model_spec.name, request.model_spec.signature_name) == (MODEL, "serving_default")
        batch = tf.make_ndarray(request.inputs["examples"])
        assert batch.shape == (1,)
        assert not set(tf.train.Example.FromString(batch[0]).features.feature) & set(serving_export.LABEL_FEATURES)
    assert in_process.replay_warmup_requests(served["version_dir"]) == NUM_WARMUP


# ---------------------------------------------------------------------------------------------------------------
# ranker predict (in-process, serving_default)


def test_predict_scores_log_records_through_serving_default(served, capsys):
    code = main(["predict", "--model-dir", os.path.join(served["root"], MODEL), "--input", served["logs"]])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"{served['logs']}:6: skipped, not a valid log record (invalid_json)" in err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == NUM_LINES
    assert list(rows[0]) == ["line", "impression_id", *TASKS, "score"]
    weights = CONFIG.model.score_weights
    for row in rows:
        assert all(np.isfinite(row[k]) for k in OUTPUTS)
        assert all(0.0 <= row[t] <= 1.0 for t in BINARY_TASKS)
        assert row["score"] == pytest.approx(sum(weights[t] * row[t] for t in TASKS), rel=1e-5, abs=1e-5)
    direct = in_process.predict_local(served["version_dir"], served["records"].examples)
    np.testing.assert_allclose([r["score"] for r in rows], direct["score"], rtol=1e-6)

    assert main(["predict", "--model-dir", served["root"], "--input", served["logs"]]) == 1
    assert "neither a SavedModel" in capsys.readouterr().err


def test_predict_table_format(served, capsys):
    argv = ["predict", "--model-dir", served["version_dir"], "--input", served["logs"], "--limit", "2"]
    assert main([*argv, "--format", "table"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["line", "impression_id", *TASKS, "score"] and len(lines) == 3


# ---------------------------------------------------------------------------------------------------------------
# REST bodies against the signature


def test_rest_bodies_match_the_serving_signature(served):
    metadata = signature.signature_metadata(served["version_dir"])
    serving_default = metadata["signature_def"]["serving_default"]
    assert serving_default["method_name"] == "tensorflow/serving/predict"
    assert serving_default["inputs"]["examples"]["dtype"] == "DT_STRING"
    assert set(serving_default["outputs"]) == OUTPUTS
    examples = served["records"].examples[:3]
    for form in rest.REQUEST_FORMS:
        body = json.loads(json.dumps(rest.build_predict_request(examples, form)))  # what goes over the wire
        assert body["signature_name"] == "serving_default"
        assert signature.check_request_against_signature(body, metadata) == examples
    row = rest.build_predict_request(examples, "row")
    assert row["instances"][0] == {"examples": {"b64": base64.b64encode(examples[0]).decode()}}


def test_signature_metadata_agrees_with_saved_model_cli(served):
    done = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "saved_model_cli"),
            "show",
            "--dir",
            served["version_dir"],
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    shown = done.stdout
    inputs = shown.split("following output(s):")[0]
    assert "inputs['examples'] tensor_info:" in inputs and "dtype: DT_STRING" in inputs and "shape: (-1)" in inputs
    for name in OUTPUTS:
        assert f"outputs['{name}'] tensor_info:" in shown
    metadata = signature.signature_metadata(served["version_dir"])["signature_def"]["serving_default"]
    assert metadata["inputs"]["examples"]["name"] in inputs


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b.update(signature_name="predict"), "signature 'predict' is not in the model"),
        (lambda b: b.update(instances=[{"inputs": i["examples"]} for i in b["instances"]]), "the signature takes"),
        (lambda b: b.update(instances=[{"examples": "raw bytes"} for _ in b["instances"]]), "must be {'b64'"),
        (lambda b: b.update(instances=[{"examples": {"b64": "%%%"}} for _ in b["instances"]]), "invalid base64"),
        (lambda b: b.update(inputs={"examples": []}), "exactly one of 'instances'"),
    ],
)
def test_malformed_bodies_are_refused_by_the_signature_check(served, mutate, message):
    metadata = signature.signature_metadata(served["version_dir"])
    body = rest.build_predict_request(served["records"].examples[:2], "row")
    mutate(body)
    with pytest.raises(ValueError, match=message.replace("(", "\\(").replace("{", "\\{")):
        signature.check_request_against_signature(body, metadata)


# ---------------------------------------------------------------------------------------------------------------
# Recorded TF Serving response bodies (REST API documentation: row "predictions", columnar "outputs", "error")

ROW_BODY = """{
    "predictions": [
        {
            "click": 0.31, "watch_time": 2.5, "like": 0.05, "share": 0.02, "dismiss": 0.1, "survey_rating": 3.9,
            "score": 1.4
        },
        {
            "click": 0.62, "watch_time": 3.0, "like": 0.11, "share": 0.04, "dismiss": 0.07, "survey_rating": 4.2,
            "score": 2.0
        },
        {
            "click": 0.12, "watch_time": 0.4, "like": 0.01, "share": 0.0, "dismiss": 0.3, "survey_rating": 3.1,
            "score": 0.3
        }
    ]
}"""
COLUMNAR_BODY = """{
    "outputs": {
        "click": [0.31, 0.62, 0.12], "watch_time": [2.5, 3.0, 0.4], "like": [0.05, 0.11, 0.01],
        "share": [0.02, 0.04, 0.0], "dismiss": [0.1, 0.07, 0.3], "survey_rating": [3.9, 4.2, 3.1],
        "score": [1.4, 2.0, 0.3]
    }
}"""
SINGLE_OUTPUT_ROW_BODY = '{"predictions": [0.25, 0.5, 0.75]}'
NOT_FOUND_BODY = '{ "error": "Servable not found for request: Latest(nope)" }'
BAD_REQUEST_BODY = (
    '{ "error": "Failed to process element: 0 key: examples of \'instances\' list. Error: INVALID_ARGUMENT: '
    'JSON object: does not have named input: examples" }'
)


def test_response_parser_reads_row_and_columnar_bodies_alike():
    row = rest.parse_predict_response(ROW_BODY, 200, expected_rows=3)
    columnar = rest.parse_predict_response(COLUMNAR_BODY.encode(), 200, expected_rows=3)
    assert set(row) == set(columnar) == OUTPUTS
    for name in OUTPUTS:
        np.testing.assert_array_equal(row[name], columnar[name])
    np.testing.assert_array_equal(row["click"], [0.31, 0.62, 0.12])
    single = rest.parse_predict_response(SINGLE_OUTPUT_ROW_BODY)
    np.testing.assert_array_equal(single[rest.SINGLE_OUTPUT_NAME], [0.25, 0.5, 0.75])


@pytest.mark.parametrize(
    "body, status, message",
    [
        (NOT_FOUND_BODY, 404, "HTTP 404: Servable not found for request: Latest\\(nope\\)"),
        (BAD_REQUEST_BODY, 400, "HTTP 400: Failed to process element: 0 key: examples"),
        ("<html>502 Bad Gateway</html>", 502, "HTTP 502: response is not JSON"),
        ('{"model_version_status": []}', 200, "not a predict response"),
        (ROW_BODY, 200, "expected 2 rows"),
        ('{"predictions": [{"click": 1}, 0.5]}', 200, "mix objects and plain values"),
        ('{"outputs": {"click": [1, 2], "score": [1]}}', 200, "different numbers of rows"),
    ],
)
def test_response_parser_raises_serving_errors(body, status, message):
    with pytest.raises(rest.ServingError, match=message) as err:
        rest.parse_predict_response(body, status, expected_rows=2)
    assert err.value.status == status


# ---------------------------------------------------------------------------------------------------------------
# ranker query against a loopback HTTP server


class RecordedTFServing(http.server.BaseHTTPRequestHandler):
    """Answers like TF Serving's REST API with recorded bodies; remembers the requests it received."""

    metadata: ClassVar[dict] = {}
    received: ClassVar[list] = []

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _reply(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == f"/v1/models/{MODEL}/metadata":
            self._reply(200, json.dumps(self.metadata, indent=4))
        else:
            self._reply(404, NOT_FOUND_BODY)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(min(length, 10_000_000)))
        type(self).received.append((self.path, body))
        if self.path != f"/v1/models/{MODEL}:predict":
            self._reply(404, NOT_FOUND_BODY)
        elif "instances" in body and all("examples" in i for i in body["instances"]):
            self._reply(200, ROW_BODY)
        elif "inputs" in body:
            self._reply(200, COLUMNAR_BODY)
        else:
            self._reply(400, BAD_REQUEST_BODY)


@pytest.fixture
def tf_serving(served):
    RecordedTFServing.received = []
    RecordedTFServing.metadata = {
        "model_spec": {"name": MODEL, "signature_name": "", "version": os.path.basename(served["version_dir"])},
        "metadata": {"signature_def": signature.signature_metadata(served["version_dir"])},
    }
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RecordedTFServing)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.mark.parametrize("form", rest.REQUEST_FORMS)
def test_query_sends_b64_examples_and_prints_the_recorded_predictions(served, tf_serving, capsys, form):
    argv = ["query", "--url", tf_serving, "--model", MODEL, "--input", served["logs"], "--limit", "3"]
    assert main([*argv, "--form", form, "--check-signature"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["click"] for r in rows] == [0.31, 0.62, 0.12]
    assert [r["line"] for r in rows] == [1, 2, 3]
    [(path, body)] = RecordedTFServing.received
    assert path == f"/v1/models/{MODEL}:predict"
    sent = signature.check_request_against_signature(body, RecordedTFServing.metadata["metadata"]["signature_def"])
    assert sent == served["records"].examples[:3]


def test_query_reports_tf_serving_errors(served, tf_serving, capsys):
    argv = ["query", "--url", tf_serving, "--model", "nope", "--input", served["logs"], "--limit", "3"]
    assert main(argv) == 1
    assert "TF Serving error: HTTP 404: Servable not found for request: Latest(nope)" in capsys.readouterr().err
    with pytest.raises(rest.ServingError, match="expected 2 rows"):  # the recorded body holds 3 rows
        rest.query(tf_serving, MODEL, served["records"].examples[:2])


def test_query_without_a_server_says_it_cannot_reach_it(served, capsys):
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = ["query", "--url", f"http://127.0.0.1:{port}", "--input", served["logs"], "--limit", "1", "--timeout", "5"]
    assert main(argv) == 1
    assert "cannot reach TF Serving at" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--url must be http"):
        rest.model_url("localhost:8501", MODEL)


# ---------------------------------------------------------------------------------------------------------------
# ranker serve


def test_serve_without_binary_or_docker_says_exactly_what_is_missing(served, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither tensorflow_model_server nor docker
    assert main(["serve", "--serving-root", served["root"]]) == model_server.EXIT_NO_SERVER
    err = capsys.readouterr().err
    assert "neither `tensorflow_model_server` nor `docker` was found on PATH" in err
    assert "apt-get install tensorflow-model-server" in err and f"docker pull {model_server.SERVING_IMAGE}" in err
    assert main(["serve", "--serving-root", str(tmp_path)]) == 2
    assert "no models.config" in capsys.readouterr().err


def _executable(directory: Path, name: str, script: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def test_serve_starts_the_binary_with_the_deployment_flags(served, tmp_path, monkeypatch, capsys):
    """A stand-in `tensorflow_model_server` records the command line it is started with."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _executable(bin_dir, "tensorflow_model_server", f'printf "%s\\n" "$@" > {tmp_path}/args\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    assert main(["serve", "--serving-root", served["root"], "--dry-run"]) == 0
    assert "--model_config_file=" in capsys.readouterr().out and not (tmp_path / "args").exists()
    assert main(["serve", "--serving-root", served["root"]]) == 0
    config = os.path.join(os.path.abspath(served["root"]), "models.config")
    assert (tmp_path / "args").read_text().splitlines() == expected_server_flags(config)  # pinned literals


def test_serve_with_docker_mounts_the_root_and_a_container_config(served, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _executable(bin_dir, "docker", "exit 0\n")
    command = model_server.plan(served["root"], config_dir=str(tmp_path), path=str(bin_dir))
    assert command.kind == "docker"
    argv = command.argv
    assert argv[:3] == [str(bin_dir / "docker"), "run", "--rm"]
    assert f"{os.path.abspath(served['root'])}:/models:ro" in argv and f"{tmp_path}:/config:ro" in argv
    assert argv[argv.index(model_server.SERVING_IMAGE) + 1 :] == expected_server_flags("/config/models.config")
    config = serving_export.read_models_config(str(tmp_path / "models.config"))
    assert [(c.name, c.base_path) for c in config.model_config_list.config] == [(MODEL, f"/models/{MODEL}")]
