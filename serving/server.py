"""`ranker serve`: start TF Serving on a serving root, with the binary or with Docker, or say what is missing.

The serving root is what RankerPusher writes: `<root>/models.config` (model_config_list) and
`<root>/<model>/<numeric version>/` SavedModels with warm-up records. Both launchers pass the same flags as the
Kubernetes Deployment in kubeflow/serving/base/deployment.yaml:

* binary: ``tensorflow_model_server --port=8500 --rest_api_port=8501 --model_config_file=<root>/models.config ...``
* Docker: ``docker run --rm -p 8500:8500 -p 8501:8501 -v <root>:/models:ro -v <cfg>:/config:ro
  tensorflow/serving:2.16.1 --model_config_file=/config/models.config ...``, where `<cfg>/models.config` is the
  root's config rewritten with base paths under /models (the container's view of the root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from google.protobuf import text_format

from serving.export import MODELS_CONFIG_FILE, build_models_config, list_versions, read_models_config

# Pinned to the tensorflow-serving-api version in requirements.lock (the same image as kubeflow/serving/).
SERVING_IMAGE = "tensorflow/serving:2.16.1"
GRPC_PORT = 8500
REST_PORT = 8501
CONTAINER_MODELS_ROOT = "/models"
CONTAINER_CONFIG_DIR = "/config"
SERVER_BINARY = "tensorflow_model_server"
EXIT_NO_SERVER = 3

INSTALL_HELP = f"""\
Install one of them, then rerun this command:
  * the TF Serving binary (Debian/Ubuntu x86-64), from TF Serving's APT repository:
      echo "deb [arch=amd64] http://storage.googleapis.com/tensorflow-serving-apt stable \
tensorflow-model-server tensorflow-model-server-universal" \\
        | sudo tee /etc/apt/sources.list.d/tensorflow-serving.list
      curl -fsSL https://storage.googleapis.com/tensorflow-serving-apt/tensorflow-serving.release.pub.gpg \\
        | sudo apt-key add -
      sudo apt-get update && sudo apt-get install tensorflow-model-server
  * or Docker (https://docs.docker.com/engine/install/), then: docker pull {SERVING_IMAGE}
Or serve on Kubernetes: kubectl apply -k kubeflow/serving/overlays/nfs (or overlays/gcsfuse).
Without a server, `ranker predict --model-dir ROOT/MODEL --input LOGS.jsonl` scores records in-process through
the same serving_default signature."""


class ServeError(RuntimeError):
    """The serving root cannot be served (no models.config, no model version, ...)."""


@dataclass(frozen=True)
class ServerCommand:
    """How TF Serving will be started: `kind` is "binary" or "docker"; `argv` is the full command line."""

    kind: str
    argv: list[str]
    rest_url: str

    def render(self) -> str:
        return " ".join(_quote(a) for a in self.argv)


def _quote(arg: str) -> str:
    return arg if arg and all(c.isalnum() or c in "-_=./:," for c in arg) else repr(arg)


def check_serving_root(serving_root: str) -> list[str]:
    """The model names of `<serving_root>/models.config`; ServeError when it is missing or names no version."""
    config_path = os.path.join(serving_root, MODELS_CONFIG_FILE)
    if not os.path.isfile(config_path):
        raise ServeError(
            f"no {MODELS_CONFIG_FILE} in {serving_root}: push a model first (`ranker run --serving-root "
            f"{serving_root}` writes it with the first blessed model)"
        )
    names = []
    for entry in read_models_config(config_path).model_config_list.config:
        local = os.path.join(serving_root, entry.name)
        if not list_versions(local):
            raise ServeError(f"model {entry.name!r} in {config_path} has no numeric version directory under {local}")
        names.append(entry.name)
    if not names:
        raise ServeError(f"{config_path} lists no model")
    return names


def server_flags(config_file: str, cpus: int | None = None) -> list[str]:
    """Flags shared by the binary, Docker and the Kubernetes Deployment.

    `model_config_file_poll_wait_seconds`: the server re-reads models.config, which is how a pushed version is
    published (serving/export.py: the pusher pins the verified version there). `cpus` (a container's CPU limit):
    TensorFlow's intra- and inter-op thread pools are sized to it instead of to the node's cores, which would
    oversubscribe the CFS quota and throttle every request."""
    flags = [
        f"--port={GRPC_PORT}",
        f"--rest_api_port={REST_PORT}",
        f"--model_config_file={config_file}",
        "--model_config_file_poll_wait_seconds=60",
        "--file_system_poll_wait_seconds=30",
        "--enable_model_warmup=true",
    ]
    if cpus:
        flags += [f"--tensorflow_intra_op_parallelism={cpus}", f"--tensorflow_inter_op_parallelism={cpus}"]
    return flags


def binary_command(binary: str, serving_root: str) -> ServerCommand:
    config = os.path.join(os.path.abspath(serving_root), MODELS_CONFIG_FILE)
    return ServerCommand("binary", [binary, *server_flags(config)], f"http://localhost:{REST_PORT}")


def write_container_config(serving_root: str, config_dir: str) -> str:
    """Writes `<config_dir>/models.config` with base paths under /models (where Docker mounts the root)."""
    config = build_models_config(serving_root, base_path_root=CONTAINER_MODELS_ROOT)
    path = os.path.join(config_dir, MODELS_CONFIG_FILE)
    with open(path, "w") as f:
        f.write(text_format.MessageToString(config))
    return path


def docker_command(docker: str, serving_root: str, config_dir: str) -> ServerCommand:
    root = os.path.abspath(serving_root)
    argv = [
        docker,
        "run",
        "--rm",
        "-p",
        f"{GRPC_PORT}:{GRPC_PORT}",
        "-p",
        f"{REST_PORT}:{REST_PORT}",
        "-v",
        f"{root}:{CONTAINER_MODELS_ROOT}:ro",
        "-v",
        f"{os.path.abspath(config_dir)}:{CONTAINER_CONFIG_DIR}:ro",
        SERVING_IMAGE,
        *server_flags(f"{CONTAINER_CONFIG_DIR}/{MODELS_CONFIG_FILE}"),
    ]
    return ServerCommand("docker", argv, f"http://localhost:{REST_PORT}")


def find_launcher(path: str | None = None) -> tuple[str, str] | None:
    """("binary", path) when tensorflow_model_server is on PATH, else ("docker", path), else None."""
    binary = shutil.which(SERVER_BINARY, path=path)
    if binary:
        return "binary", binary
    docker = shutil.which("docker", path=path)
    return ("docker", docker) if docker else None


def missing_server_message(path: str | None = None) -> str:
    searched = path if path is not None else os.environ.get("PATH", "")
    return (
        f"cannot start TF Serving: neither `{SERVER_BINARY}` nor `docker` was found on PATH ({searched}).\n"
        + INSTALL_HELP
    )


def plan(serving_root: str, config_dir: str | None = None, path: str | None = None) -> ServerCommand | None:
    """The command that would serve `serving_root`, or None when no launcher exists. Checks the root first."""
    check_serving_root(serving_root)
    launcher = find_launcher(path)
    if launcher is None:
        return None
    kind, executable = launcher
    if kind == "binary":
        return binary_command(executable, serving_root)
    config_dir = config_dir or tempfile.mkdtemp(prefix="ranker-serving-config-")
    write_container_config(serving_root, config_dir)
    return docker_command(executable, serving_root, config_dir)


def run(command: ServerCommand) -> int:
    """Runs the server in the foreground until it exits (Ctrl-C stops it); returns its exit status."""
    process = subprocess.Popen(command.argv)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        return process.wait()
