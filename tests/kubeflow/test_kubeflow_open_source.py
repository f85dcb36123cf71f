"""The compiled pipeline runs on open-source KFP as well as Vertex: no resolver or customJob executor, the baseline
from an uncached ServedModel task, per-executor resources, and the portable-runner flags of `compile-kubeflow`."""

from __future__ import annotations

import json

import pytest
import yaml

from config.settings import DEFAULT_RESOURCES, ConfigError, PipelineConfig, tiny_preset
from config.validation import validate_config
from ranker.cli import _apply_beam_flags, build_parser, main  # noqa: PLC2701 - the CLI's flag merge, tested alone

IMAGE = "registry.example.com/stable-ranker:test"
PORTABLE = [
    "--beam-runner=portable",
    "--job-endpoint=flink-jobserver:8099",
    "--environment-type=EXTERNAL",
    "--environment-config=localhost:50000",
]


@pytest.fixture(scope="module")
def ir(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("kfp")
    argv = ["compile-kubeflow", "--preset", "tiny", "--image", IMAGE, "--pipeline-root", "gs://b/root"]
    assert main([*argv, "--out", str(out / "pipeline.json"), *PORTABLE]) == 0
    spec = yaml.safe_load((out / "pipeline.kfp.yaml").read_text())
    job = json.loads((out / "pipeline.json").read_text())
    assert job["pipelineSpec"]["root"] == spec["root"]
    return spec


def test_no_executor_kind_that_open_source_kfp_refuses(ir):
    kinds = {kind for executor in ir["deploymentSpec"]["executors"].values() for kind in executor}
    assert kinds == {"container"}, kinds  # not resolver ("not implemented" in the Argo compiler), not customJob
    tasks = ir["root"]["dag"]["tasks"]
    assert not [t for t in tasks if "resolver" in t.lower()]
    assert tasks["ServedModel"]["cachingOptions"] == {"enableCache": False}
    assert (
        tasks["ServedModel"]["inputs"]["parameters"]["serving_root"]["runtimeValue"]["constant"]
        == "gs://b/root/serving"
    )
    served_edges = {
        task: spec["taskOutputArtifact"]["producerTask"]
        for task, body in tasks.items()
        for spec in body.get("inputs", {}).get("artifacts", {}).values()
        if spec.get("taskOutputArtifact", {}).get("producerTask") == "ServedModel"
    }
    assert set(served_edges) == {"Trainer", "Evaluator"}  # warm-start base and baseline


def test_every_executor_has_cpu_and_memory_from_the_config(ir):
    for name, executor in ir["deploymentSpec"]["executors"].items():
        node = name.removesuffix("_executor")
        expected = DEFAULT_RESOURCES.get(node, DEFAULT_RESOURCES["default"])
        resources = executor["container"]["resources"]
        assert resources == {
            "cpuLimit": expected["cpu_limit"],
            "cpuRequest": expected["cpu_request"],
            "memoryLimit": expected["memory_limit"],
            "memoryRequest": expected["memory_request"],
        }, node


def test_beam_components_get_the_portable_runner_flags(ir):
    executors = ir["deploymentSpec"]["executors"]
    for node in ("LogGen", "LogIngest", "StatisticsGen", "Transform", "Evaluator"):
        args = executors[f"{node}_executor"]["container"]["args"]
        for flag in (
            "--runner=PortableRunner",
            "--job_endpoint=flink-jobserver:8099",
            "--environment_type=EXTERNAL",
            "--environment_config=localhost:50000",
            "--job_server_timeout=3600",
        ):
            assert flag in args, (node, flag)
        assert not any(a.startswith("--direct_") for a in args)


def test_portable_runner_settings_are_validated():
    args = build_parser().parse_args(["run", "--pipeline-root", "/tmp/x", "--beam-runner", "portable"])
    with pytest.raises(ConfigError, match=r"beam.job_endpoint"):
        validate_config(_apply_beam_flags(tiny_preset(), args))
    args = build_parser().parse_args(["run", "--pipeline-root", "/tmp/x", *PORTABLE[:2], "--environment-type=PROCESS"])
    with pytest.raises(ConfigError, match=r"beam.environment_config"):
        validate_config(_apply_beam_flags(tiny_preset(), args))
    bad = PipelineConfig.from_json(
        json.dumps({"deploy": {"resources": {"Trainer": {"cpu_limit": 1, "cpu_request": 2}}}})
    )
    with pytest.raises(ConfigError, match=r"deploy.resources.Trainer"):
        validate_config(bad)
    ok = _apply_beam_flags(tiny_preset(), build_parser().parse_args(["run", "--pipeline-root", "/x", *PORTABLE]))
    assert validate_config(ok).beam.args() == [
        "--runner=PortableRunner",
        "--job_endpoint=flink-jobserver:8099",
        "--environment_type=EXTERNAL",
        "--environment_config=localhost:50000",
        "--job_server_timeout=3600",
    ]
