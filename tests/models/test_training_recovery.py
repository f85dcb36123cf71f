"""A Trainer that heals itself (`train.recovery`), and the collapse-to-chance rule end to end.

Fast: the online spike rule and the poison schedule. End to end (`ranker run --config`, tiny preset with the
reference world seed 1234, in a copy of the store of the session's crashed run on that world,
tests/helpers/cli_runs.py, so that every run's data components come from the MLMD cache):
1. the reference case: naive Adagrad at learning rate 8 (train seed 7) never leaves chance; the StabilityGate refuses
   it (criterion "auc_at_chance") and nothing is pushed;
2. a poisoned update makes Clippy's loss spike; the Trainer restores the last healthy state, lowers the learning
   rate, continues, and the model is blessed and pushed;
3. the poison repeated every window exhausts `max_recoveries`; training stops as diverged and nothing is pushed.
"""

from __future__ import annotations

import glob
import json
import math
import os
import shutil
from pathlib import Path

import pytest
from helpers import cli_runs
from helpers.cli_runs import OVERRIDES

from config.settings import ConfigError, PipelineConfig, PoisonConfig, RecoveryConfig, TrainConfig
from config.validation import validate_config
from models.recovery import PoisonCallback
from models.stability import TrainingReport, online_spike
from ranker import cli

# --------------------------------------------------------------------------------------------------- fast


def test_online_spike_fires_only_at_the_newest_point():
    steps = list(range(10, 110, 10))
    loss = [1.0, 0.9, 0.8, 0.75, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]
    assert online_spike(steps, loss) is None
    spike = online_spike(steps, [*loss[:-1], 2.0])
    assert spike is not None and spike.start_step == 100 and spike.peak_ratio > 2.0
    # One point later the spike is no longer new: the offline verdict's business, not a new recovery.
    assert online_spike([*steps, 110], [*loss[:-1], 2.0, 2.1]) is None


def test_online_spike_on_a_non_finite_point():
    spike = online_spike([10, 20, 30], [1.0, 0.9, math.nan])
    assert spike is not None and spike.start_step == 30 and math.isinf(spike.peak_ratio)
    assert spike.reference_level == 0.9


def test_poison_schedule():
    once = PoisonCallback(PoisonConfig(step=45), steps_per_window=10)
    assert [s for s in range(1, 200) if once.due(s)] == [45]
    repeated = PoisonCallback(PoisonConfig(step=45, every=10), steps_per_window=10)
    assert [s for s in range(1, 80) if repeated.due(s)] == [45, 55, 65, 75]
    assert not any(PoisonCallback(PoisonConfig(), 10).due(s) for s in range(1, 100))


@pytest.mark.parametrize(
    "recovery, poison, field",
    [
        (RecoveryConfig(lr_factor=0.0), PoisonConfig(), "train.recovery.lr_factor"),
        (RecoveryConfig(lr_factor=1.5), PoisonConfig(), "train.recovery.lr_factor"),
        (RecoveryConfig(max_recoveries=-1), PoisonConfig(), "train.recovery.max_recoveries"),
        (RecoveryConfig(enabled="yes"), PoisonConfig(), "train.recovery.enabled"),
        (RecoveryConfig(), PoisonConfig(step=-3), "train.poison.step"),
        (RecoveryConfig(), PoisonConfig(step=3, scale=0.0), "train.poison.scale"),
    ],
)
def test_recovery_settings_are_validated(recovery, poison, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        validate_config(PipelineConfig(train=TrainConfig(recovery=recovery, poison=poison)))


def test_recovery_record_round_trips_through_the_report(tmp_path):
    record = {"enabled": True, "events": [{"rule": "spike", "detected_step": 50, "loss": math.inf}], "gave_up": False}
    report = TrainingReport(steps=[10], loss=[1.0], recovery=record)
    report.save(str(tmp_path / "r.json"))
    loaded = TrainingReport.load(str(tmp_path / "r.json"))
    assert loaded.recovery["events"][0]["loss"] == math.inf and not loaded.recovery_gave_up


# --------------------------------------------------------------------------------------------------- end to end


def ranker(argv: list[str], capsys) -> str:
    """`ranker ARGV` in this process (the CLI's own entry point, without a second TensorFlow import); its stdout,
    after checking that it returned 0."""
    capsys.readouterr()
    code = cli.main(argv)
    out = capsys.readouterr()
    assert code == 0, out.out[-3000:] + out.err[-3000:]
    return out.out


def ranker_run(root: Path, overrides: dict, name: str, capsys) -> str:
    return ranker(cli_runs.run_arguments(root, overrides, name), capsys)


def newest(pattern: str) -> str:
    """The artifact directory of the newest execution (TFX names them by execution id)."""
    paths = glob.glob(pattern)
    assert paths, pattern
    return max(paths, key=lambda p: int(Path(p).parent.name))


def versions(root: Path) -> list[str]:
    return cli_runs.versions(root / "serving")


def gate_verdict(root: Path) -> dict:
    return json.loads(Path(newest(str(root / "pipeline/StabilityGate/blessing/*/stability_verdict.json"))).read_text())


RECOVERY = {"enabled": True, "lr_factor": 0.5, "max_recoveries": 1}


@pytest.mark.e2e
@pytest.mark.slow
def test_chance_is_refused_poison_is_recovered_and_pushed_repeated_poison_gives_up(crashed_run, tmp_path, capsys):
    root = tmp_path
    # The session's crashed run is on the same world with the same Beam settings: from a copy of its store, the data
    # components (LogGen ... Transform) come from the cache; everything these runs write goes under `root`.
    paths = cli_runs.run_paths(root)
    os.makedirs(paths.pipeline_root)
    shutil.copyfile(crashed_run.metadata_path, paths.metadata_path)
    # 1. The reference case: click AUC 0.501 at the end, which the chance rule refuses.
    naive = {"optimizer": "adagrad", "optimizer_params": {}, "learning_rate": 8.0, "seed": 7}
    ranker_run(root, {**OVERRIDES, "train": naive}, "chance", capsys)
    report = TrainingReport.load(newest(str(root / "pipeline/Trainer/model_run/*/training_report.json")))
    assert report.divergence["criterion"] == "auc_at_chance", report.divergence["reason"]
    verdict = gate_verdict(root)
    assert not verdict["blessed"] and "ended at chance" in verdict["reason"], verdict
    assert versions(root) == []

    # 2. One poisoned update before step 45: the window 41-50 spikes, the state of step 40 comes back.
    heal = {"recovery": RECOVERY, "poison": {"step": 45, "scale": 30.0}}
    ranker_run(root, {**OVERRIDES, "train": heal}, "heal", capsys)
    report = TrainingReport.load(newest(str(root / "pipeline/Trainer/model_run/*/training_report.json")))
    events = report.recovery["events"]
    assert len(events) == 1, report.recovery
    [event] = events
    assert event["restored_step"] == 40 and event["skipped_batches"] == [41, 50]
    assert event["rule"] in ("spike", "non_finite") and event["lr_after"] == pytest.approx(event["lr_before"] * 0.5)
    assert not report.recovery_gave_up and 50 not in report.steps  # the rolled-back window is not on the curve
    assert report.steps[-1] == 150 and not report.divergence["fully_diverged"], report.divergence
    verdict = gate_verdict(root)
    assert verdict["blessed"], verdict
    assert "recovery" in verdict["reason"]
    assert len(versions(root)) == 1
    assert glob.glob(str(root / "pipeline/Trainer/model_run/*/recovery/events.out.tfevents.*"))

    # 3. The same poison every window: one recovery, then the second spike stops training; nothing is pushed.
    poison = {"step": 45, "every": 10, "scale": 30.0}
    ranker_run(root, {**OVERRIDES, "train": {"recovery": RECOVERY, "poison": poison}}, "give-up", capsys)
    report = TrainingReport.load(newest(str(root / "pipeline/Trainer/model_run/*/training_report.json")))
    assert report.recovery_gave_up and len(report.recovery["events"]) == 1, report.recovery
    assert report.stopped_early and "recovery gave up" in report.stop_reason
    assert report.divergence["fully_diverged"]
    verdict = gate_verdict(root)
    assert not verdict["blessed"], verdict
    assert len(versions(root)) == 1  # still only the healed model

    # 4. `ranker history` shows both runs' recoveries.
    history = ranker(["history", "--pipeline-root", str(root / "pipeline")], capsys)
    assert "recoveries" in history
    assert "recovery 1: " in history and "recovery gave up" in history, history
