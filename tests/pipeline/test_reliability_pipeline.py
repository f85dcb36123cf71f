"""A crash mid-pipeline, for real: `ranker run --preset tiny` in a subprocess is killed (SIGKILL) while the Trainer
is training; the rerun reuses every completed component from the MLMD cache, the Trainer resumes from its backup,
and exactly one model version is pushed. (Rerunning a *finished* pipeline trains again, warm-started from the
pushed model, and pushes that new model; pushing the same model twice is refused by the pusher, test_pusher.py.)"""

from __future__ import annotations

import signal

import pytest
from helpers.cli_runs import State, versions

from pipeline.summary import summarize_run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_killed_during_training_then_rerun_reuses_the_cache_and_pushes_once(crashed_run):
    """The session's crashed run (tests/helpers/cli_runs.py): killed once the Trainer had written a backup, rerun."""
    assert crashed_run.killed_returncode == -signal.SIGKILL
    killed = crashed_run.killed_states
    assert all(killed[c] == State.COMPLETE for c in ("LogGen", "LogIngest", "Transform")), killed
    assert killed["Trainer"] == State.RUNNING and "RankerPusher" not in killed  # died mid-training
    assert crashed_run.versions_after_kill == []

    states = crashed_run.states
    completed = [n for n, state in killed.items() if state == State.COMPLETE and not n.endswith("resolver")]
    assert all(states[n] == State.CACHED for n in completed), states  # nothing completed was recomputed
    assert states["Trainer"] == State.COMPLETE and states["RankerPusher"] == State.COMPLETE, states
    assert "resuming an interrupted training after step" in crashed_run.output  # from the backup, not from scratch
    assert not crashed_run.backups_left  # a finished training removes its backup
    summary = summarize_run(crashed_run.metadata_path)
    assert summary.pushed, summary.render()
    [version] = versions(crashed_run.root / "serving")
    assert summary.pushed_version == version
