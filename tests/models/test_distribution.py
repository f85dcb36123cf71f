"""The Trainer's tf.distribute strategy: choice from the config, and 2 replicas == 1 device with the same global batch.

The equivalence runs in a subprocess (tests/models/distributed_equivalence.py) that splits the host CPU into two logical
devices before TensorFlow initialises them; the rest of the test session keeps its single CPU device.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import ConfigError, PipelineConfig, TrainConfig
from config.validation import validate_config, validate_train
from models import distribution

SCRIPT = Path(__file__).with_name("distributed_equivalence.py")
WORKER_SCRIPT = Path(__file__).with_name("multi_worker_run.py")
CLIPPING_RULES = ("clippy", "gc", "agc", "lamb")
TWO_WORKERS = json.dumps(
    {"cluster": {"worker": ["10.0.0.1:2222", "10.0.0.2:2222"]}, "task": {"type": "worker", "index": 0}}
)


@pytest.mark.parametrize(
    "name, tf_config, gpus, expected",
    [
        ("auto", None, 0, "one_device"),
        ("auto", None, 1, "one_device"),
        ("auto", None, 4, "mirrored"),
        ("auto", TWO_WORKERS, 0, "multi_worker"),
        ("auto", json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}), 0, "one_device"),
        ("one_device", TWO_WORKERS, 4, "one_device"),
        ("mirrored", None, 0, "mirrored"),
        ("multi_worker", None, 0, "multi_worker"),
    ],
)
def test_resolve_distribution(name, tf_config, gpus, expected):
    assert distribution.resolve_distribution(name, tf_config, num_gpus=gpus) == expected


def test_unknown_strategies_and_bad_tf_config_are_config_errors():
    with pytest.raises(ConfigError, match=r"train.distribution: must be one of") as err:
        validate_train(TrainConfig(distribution="tpu"))
    assert err.value.field == "train.distribution"
    with pytest.raises(ConfigError, match=r"train.distribution"):
        validate_config(PipelineConfig.from_json(json.dumps({"train": {"distribution": "parameter_server"}})))
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        distribution.resolve_distribution("auto", "{not json", num_gpus=0)
    assert PipelineConfig.from_json(PipelineConfig().to_json()).train.distribution == "auto"


def test_one_device_is_the_default_strategy_and_the_chief():
    import tensorflow as tf

    strategy = distribution.make_strategy("one_device")
    assert strategy is tf.distribute.get_strategy() and strategy.num_replicas_in_sync == 1
    assert distribution.is_chief(strategy)
    assert distribution.worker_dir("/out/model", strategy) == "/out/model"


@pytest.fixture(scope="module")
def equivalence() -> dict:
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TF_CONFIG", None)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--optimizers", "clippy", "--steps", "6", "--batch", "64"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=str(SCRIPT.parents[1]),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("rule", [*CLIPPING_RULES, "adagrad"])
def test_sigma_comes_from_the_aggregated_gradient(equivalence, rule):
    """Replicas see different gradients; σ and the step equal one device's on their sum, not replica 0's alone."""
    result = equivalence["sigma"][rule]
    assert result["replicas"] == 2
    assert result["sigma_mirrored"] == pytest.approx(result["sigma_single"], rel=1e-6)
    assert result["weights_mirrored"] == pytest.approx(result["weights_single"], rel=1e-6, abs=1e-7)
    if rule in CLIPPING_RULES:  # the check can tell: σ of one replica's gradient would differ
        assert result["sigma_single"] < 0.9 * result["sigma_replica0_alone"]


@pytest.mark.slow
def test_two_replicas_train_the_ranker_like_one_device(equivalence):
    """The trainer's model, Clippy/Adagrad split optimizer and losses: same global batch, same trajectory."""
    fit = equivalence["fit"]["clippy"]
    assert fit["replicas"] == [1, 2]
    assert fit["max_weight_change"] > 0.05  # training really moved the weights ...
    assert fit["max_weight_diff"] < 1e-5  # ... and both runs moved them identically (float32 summation order)
    assert fit["max_loss_diff"] < 1e-4
    assert fit["loss_single"][-1] < fit["loss_single"][0]
    assert fit["max_export_diff"] < 1e-5  # a model trained under the strategy exports and serves its weights


def _free_loopback_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.mark.slow
def test_two_workers_from_tf_config_train_like_one_device(tmp_path):
    """A real 2-worker MultiWorkerMirroredStrategy cluster on 127.0.0.1, its cluster read from TF_CONFIG."""
    workers = [f"127.0.0.1:{port}" for port in _free_loopback_ports(2)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {
            **os.environ,
            "TF_CONFIG": json.dumps(tf_config),
            "CUDA_VISIBLE_DEVICES": "",
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
        out = open(tmp_path / f"worker{index}.out", "w")  # noqa: SIM115 (closed below)
        err = open(tmp_path / f"worker{index}.err", "w")  # noqa: SIM115 (closed below)
        process = subprocess.Popen([sys.executable, str(WORKER_SCRIPT)], stdout=out, stderr=err, env=env)
        processes.append((process, out, err))
    try:
        for process, _, _ in processes:
            process.wait(timeout=600)
    finally:
        for process, out, err in processes:
            if process.poll() is None:
                process.kill()
            out.close()
            err.close()
    results = []
    for index, (process, _, _) in enumerate(processes):
        stderr = (tmp_path / f"worker{index}.err").read_text()
        assert process.returncode == 0, stderr[-3000:]
        results.append(json.loads((tmp_path / f"worker{index}.out").read_text().strip().splitlines()[-1]))
    chief, other = results
    assert chief["resolved"] == other["resolved"] == "multi_worker"
    assert chief["replicas"] == other["replicas"] == 2
    assert (chief["is_chief"], other["is_chief"]) == (True, False)
    assert chief["worker_dir"] == "/out/model" and other["worker_dir"] != "/out/model"
    assert chief["max_weight_change"] > 0.05
    assert chief["max_weight_diff"] < 1e-5, chief
    assert chief["max_loss_diff"] < 1e-4, chief
