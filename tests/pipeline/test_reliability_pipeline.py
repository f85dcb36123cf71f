"""A crash mid-pipeline, for real: `ranker run --preset tiny` in a subprocess is killed (SIGKILL) while the Trainer
is training; the rerun reuses every completed component from the MLMD cache, the Trainer resumes from its backup,
and exactly one model version is pushed. (Rerunning a *finished* pipeline trains again, warm-started from the
pushed model, and pushes that new model; pushing the same model twice is refused by the pusher, test_pusher.py.)"""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import ml_metadata as mlmd
import pytest
from ml_metadata.proto import metadata_store_pb2

from pipeline.summary import summarize_run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent.parent
State = metadata_store_pb2.Execution


def ranker_run(root: Path, log_file: Path) -> subprocess.Popen:
    """`ranker run --preset tiny` in its own process group (so that it and its children can be killed at once)."""
    argv = [sys.executable, "-m", "ranker.cli", "run", "--preset", "tiny", "--pipeline-root", str(root / "pipeline")]
    argv += ["--serving-root", str(root / "serving")]
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


def test_killed_during_training_then_rerun_reuses_the_cache_and_pushes_once(tmp_path):
    metadata_path = str(tmp_path / "pipeline" / "metadata.sqlite")
    backup_checkpoints = str(tmp_path / "pipeline" / "Trainer" / "backup" / "*" / "chief" / "checkpoint")

    first_log = tmp_path / "first.log"
    first = ranker_run(tmp_path, first_log)
    wait_for(lambda: glob.glob(backup_checkpoints), first, first_log, timeout_s=600)  # >= 1 window trained
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL
    killed = latest_run_states(metadata_path)
    assert all(killed[c] == State.COMPLETE for c in ("LogGen", "LogIngest", "Transform")), killed
    assert killed["Trainer"] == State.RUNNING and "RankerPusher" not in killed  # died mid-training
    assert versions(tmp_path / "serving") == []

    second_log = tmp_path / "second.log"
    output = finish(ranker_run(tmp_path, second_log), second_log, timeout_s=600)
    states = latest_run_states(metadata_path)
    completed = [n for n, state in killed.items() if state == State.COMPLETE and not n.endswith("resolver")]
    assert all(states[n] == State.CACHED for n in completed), states  # nothing completed was recomputed
    assert states["Trainer"] == State.COMPLETE and states["RankerPusher"] == State.COMPLETE, states
    assert "resuming an interrupted training after step" in output  # from the backup, not from scratch
    assert not glob.glob(backup_checkpoints)  # a finished training removes its backup
    summary = summarize_run(metadata_path)
    assert summary.pushed, summary.render()
    [version] = versions(tmp_path / "serving")
    assert summary.pushed_version == version
