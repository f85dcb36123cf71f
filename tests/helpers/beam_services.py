"""Beam's own local job service and an external SDK worker pool on localhost: the portable Job API that the Flink and
Spark runners implement, for the session's shared tiny run (tests/conftest.py's `tiny_pipeline`).

`apache_beam.runners.portability.local_job_service_main` takes the jobs; Beam's worker pool service
(`apache_beam.runners.worker.worker_pool_main.BeamFnExternalWorkerPoolServicer`) runs them in its own process.
The pool starts each job's SDK harness (`sdk_worker.SdkHarness`, the harness `worker_pool_main` would start in a
`python -c` child) as a thread of that one long-lived process (the servicer's `use_process=False` mode), as a
long-lived worker of a Flink or Spark cluster does: the pipeline still crosses the Job API as protos and pickled
DoFns into another process, and TensorFlow is imported there once instead of once per job (each component of the
tiny pipeline is a job: about 8 CPU-seconds saved per job).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Beam's worker pool service with in-process (thread) SDK harnesses, serving until it is terminated.
_WORKER_POOL = """
import sys, time
from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer
_, server = BeamFnExternalWorkerPoolServicer.start(use_process=False, port=int(sys.argv[1]))  # kept: it serves
while True:
    time.sleep(3600)
"""


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


@contextmanager
def beam_services(logs: Path) -> Iterator[tuple[str, str]]:
    """(job endpoint, worker pool address), both on localhost, stopped on exit; their logs go to `logs`."""
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    job_port, pool_port = _free_port(), _free_port()
    commands = {
        "job_service": [sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main",
                        f"--port={job_port}", f"--staging_dir={logs / 'staging'}"],
        "worker_pool": [sys.executable, "-c", _WORKER_POOL, str(pool_port)],
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
