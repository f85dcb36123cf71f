"""The tiny pipeline through Beam's portable Job API, the API the Flink and Spark runners implement.

Beam's own local job service (`apache_beam.runners.portability.local_job_service_main`) takes the jobs and an
external SDK worker pool (`apache_beam.runners.worker.worker_pool_main`, starting `python -m ...sdk_worker_main`
from the venv's python on PATH) runs them: every Beam component (LogGen, LogIngest, StatisticsGen x2, Transform,
Evaluator) goes through PortableRunner exactly as with `ranker run --beam-runner portable --job-endpoint HOST:PORT
--environment-type EXTERNAL --environment-config HOST:PORT`. The run must push a model, and LogIngest's examples
must equal those the DirectRunner makes of the same logs (the ingest run again on LogGen's output, in process).
"""

from __future__ import annotations

import dataclasses
import glob
import gzip
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import tensorflow as tf

from config.settings import tiny_preset
from config.validation import validate_config
from ingest.run import run_ingest
from pipeline.local_runner import LocalPaths, run_local
from serving import client
from serving.export import LABEL_FEATURES

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("localhost", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


@pytest.fixture(scope="module")
def beam_services(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """(job endpoint, worker pool address), both on localhost, stopped at the end."""
    logs = tmp_path_factory.mktemp("beam-services")
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    job_port, pool_port = _free_port(), _free_port()
    commands = {
        "job_service": [sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main",
                        f"--port={job_port}", f"--staging_dir={logs / 'staging'}"],
        "worker_pool": [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                        f"--service_port={pool_port}"],
    }  # fmt: skip
    processes = []
    try:
        for name, command in commands.items():
            out = open(logs / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process below)
            processes.append((subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT), out))
        _wait_for_port(job_port, processes[0][0])
        _wait_for_port(pool_port, processes[1][0])
        yield f"localhost:{job_port}", f"localhost:{pool_port}"
    finally:
        for process, out in processes:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            out.close()


def examples(examples_uri: str) -> dict[str, list[bytes]]:
    """Examples per split under an Examples artifact directory, as a sorted list of serialized tf.Examples."""
    out = {}
    for split in ("train", "eval"):
        files = sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*")))
        assert files, f"no {split} split under {examples_uri}"
        out[split] = sorted(r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP"))
    return out


def test_tiny_pipeline_through_the_portable_job_api(beam_services, tmp_path):
    job_endpoint, worker_pool = beam_services
    config = tiny_preset()
    beam = dataclasses.replace(
        config.beam,
        runner="PortableRunner",
        job_endpoint=job_endpoint,
        environment_type="EXTERNAL",
        environment_config=worker_pool,
    )
    config = validate_config(config.replace(beam=beam))
    paths = LocalPaths.under(str(tmp_path / "root"), str(tmp_path / "serving"))
    started = time.monotonic()
    summary = run_local(config, paths)
    print(f"portable run: {time.monotonic() - started:.0f} s\n{summary.render()}")
    assert summary.pushed and summary.stability_blessed and summary.evaluator_blessed, summary.render()
    versions = [d for d in os.listdir(os.path.join(paths.serving_root, config.model_name)) if d.isdigit()]
    assert len(versions) == 1

    # `ranker predict`'s records carry every feature serving_default parses, the world's generated ones included:
    # a feature is absent from a record only where its log line has no value for it.
    version_dir = os.path.join(paths.serving_root, config.model_name, versions[0])
    taken = client.signature_features(version_dir)
    assert {"f_dense_000", "f_cat_000", "user_language"} <= taken and not taken & set(LABEL_FEATURES)
    [log_file, *_] = sorted(glob.glob(os.path.join(paths.pipeline_root, "LogGen", "logs", "*", "day=*", "*.jsonl*")))
    records = client.read_log_records(log_file, limit=200)
    with gzip.open(log_file, "rb") as f:
        raw = f.read().split(b"\n")
    for number, serialized in zip(records.line_numbers, records.examples):
        line = json.loads(raw[number - 1])  # a valid record's line is valid JSON
        sent = set(tf.train.Example.FromString(serialized).features.feature)
        unsent = {f for f in taken - sent if line.get(f) is not None}
        assert not unsent, (number, unsent)
    assert client.predict_local(version_dir, records.examples)["score"].shape == (len(records.examples),)

    # The same ingest with the DirectRunner, on the logs LogGen wrote through the portable runner.
    [logs] = glob.glob(os.path.join(paths.pipeline_root, "LogGen", "logs", "*"))
    [portable] = glob.glob(os.path.join(paths.pipeline_root, "LogIngest", "examples", "*"))
    direct = str(tmp_path / "direct" / "examples")
    run_ingest(config, logs, direct, str(tmp_path / "direct" / "quarantine"), ["--runner=DirectRunner"])
    assert examples(portable) == examples(direct)
