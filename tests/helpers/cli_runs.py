"""`ranker run` in a subprocess, and the session's crashed-then-rerun tiny run (tests/conftest.py's `crashed_run`).

The crashed run is `ranker run --preset tiny` with the CLI tests' OVERRIDES, killed with SIGKILL while the Trainer
trains and run again to the end in the same roots; the facts tests/pipeline/test_reliability_pipeline.py checks are
recorded on the way. tests/models/test_training_recovery.py starts its own runs from a copy of its MLMD store, so
that their data components (same world, same Beam settings) come from the cache instead of being computed again.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import ml_metadata as mlmd
import pytest
from ml_metadata.proto import metadata_store_pb2

from pipeline.paths import LocalPaths

REPO = Path(__file__).resolve().parents[2]
WORLD = {"seed": 1234}  # the CLI tests' world: the seed of the collapse-to-chance reference case
# Every CLI run's overrides: that world, and no simple model (BaselineTrainer, BaselineEvaluator): these runs check
# the ranker's crash, recovery and gates; the shared tiny run (tests/conftest.py) trains and scores the simple model.
OVERRIDES = {"world": WORLD, "baseline": {"enabled": False}}
State = metadata_store_pb2.Execution


def run_paths(root: Path) -> LocalPaths:
    """Where `ranker_run` puts a run under `root`: root/pipeline (with its MLMD store) and root/serving."""
    return LocalPaths.under(str(root / "pipeline"), str(root / "serving"))


def run_arguments(root: Path, overrides: dict, name: str) -> list[str]:
    """`ranker`'s arguments for `run --preset tiny --config <overrides>` into root/pipeline and root/serving (the
    overrides written to root/<name>.json)."""
    config = root / f"{name}.json"
    config.write_text(json.dumps(overrides))
    paths = run_paths(root)
    roots = ["--pipeline-root", paths.pipeline_root, "--serving-root", paths.serving_root]
    return ["run", "--preset", "tiny", "--config", str(config), *roots]


def ranker_run(root: Path, log_file: Path, overrides: dict, name: str) -> subprocess.Popen:
    """`ranker run` (run_arguments) in its own process group (so that it and its children can be killed at once);
    output to `log_file`."""
    argv = [sys.executable, "-m", "ranker", *run_arguments(root, overrides, name)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    with open(log_file, "wb") as log:
        return subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(condition, process: subprocess.Popen, log_file: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"ranker run exited ({process.returncode}) first:\n{log_file.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail(f"timed out after {timeout_s:.0f}s:\n{log_file.read_text()[-4000:]}")
        time.sleep(0.5)


def finish(process: subprocess.Popen, log_file: Path, timeout_s: float) -> str:
    """Waits for `process`; its output, after checking that it exited with 0."""
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail(f"ranker run did not finish in {timeout_s:.0f}s:\n{log_file.read_text()[-4000:]}")
    output = log_file.read_text()
    assert process.returncode == 0, output[-4000:]
    return output


def latest_run_states(metadata_path: str) -> dict[str, int]:
    """{node id: execution state} of the newest pipeline run in the MLMD store."""
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = mlmd.MetadataStore(config)
    run = max(store.get_contexts_by_type("pipeline_run"), key=lambda c: c.create_time_since_epoch)
    node_type = store.get_context_type("node").id
    states = {}
    for execution in store.get_executions_by_context(run.id):
        [node] = [c for c in store.get_contexts_by_execution(execution.id) if c.type_id == node_type]
        states[node.name.split(".", 1)[1]] = execution.last_known_state  # "<pipeline>.<node id>"
    return states


def versions(serving_root: Path) -> list[str]:
    model_dir = serving_root / "ranker"
    return sorted(p.name for p in model_dir.iterdir() if p.name.isdigit()) if model_dir.is_dir() else []


@dataclass(frozen=True)
class CrashedRun:
    root: Path  # run_paths(root): root/pipeline (with its MLMD store), root/serving
    killed_returncode: int
    killed_states: dict[str, int]  # {node: state} of the killed run, read right after the kill
    versions_after_kill: list[str]
    states: dict[str, int]  # {node: state} of the rerun
    output: str  # the rerun's output
    backups_left: list[str]  # Trainer backups still on disk after the rerun

    @property
    def metadata_path(self) -> str:
        return run_paths(self.root).metadata_path


def crash_and_rerun(root: Path) -> CrashedRun:
    """Kills `ranker run` once the Trainer has written its first backup (>= 1 window trained), then runs it again."""
    paths = run_paths(root)
    metadata_path = paths.metadata_path
    backup_checkpoints = os.path.join(paths.pipeline_root, "Trainer", "backup", "*", "chief", "checkpoint")
    first_log = root / "first.log"
    first = ranker_run(root, first_log, OVERRIDES, "crashed")
    wait_for(lambda: glob.glob(backup_checkpoints), first, first_log, timeout_s=600)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=60)
    killed_states = latest_run_states(metadata_path)
    versions_after_kill = versions(Path(paths.serving_root))

    second_log = root / "second.log"
    output = finish(ranker_run(root, second_log, OVERRIDES, "crashed"), second_log, timeout_s=600)
    return CrashedRun(
        root,
        first.returncode,
        killed_states,
        versions_after_kill,
        latest_run_states(metadata_path),
        output,
        glob.glob(backup_checkpoints),
    )
