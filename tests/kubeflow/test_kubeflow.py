"""Kubeflow V2 compilation, the pipeline image's Dockerfile and the TF Serving manifests, checked for real.

No cluster here: the compiled spec is parsed with KFP's own protos and KFP's own package loader, the Dockerfile's
inputs are checked against the repository, and the manifests against what the pipeline pushes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format, text_format
from helpers.serving_flags import expected_server_flags
from kfp.pipeline_spec import pipeline_spec_pb2
from tensorflow_serving.config import model_server_config_pb2

from config.settings import BeamConfig, ConfigError, default_preset, tiny_preset
from kubeflow.runner import compile_kubeflow, validate_pipeline_name
from serving import server as model_server

ROOT = Path(__file__).resolve().parents[2]
SERVING = ROOT / "kubeflow" / "serving"
IMAGE = "registry.example.com/stable-ranker:test"
PIPELINE_ROOT = "gs://bucket/root"
BEAM_EXTRA = ("--project=proj", "--region=europe-west4", "--temp_location=gs://bucket/tmp")
BEAM_COMPONENTS = {"LogGen", "LogIngest", "StatisticsGen", "Transform", "Evaluator"}  # at least these
PIPELINE_TASKS = {
    "LogGen",
    "LogIngest",
    "NextDayLogGen",
    "NextDayLogIngest",
    "NextDayStatisticsGen",
    "DriftGate",
    "StatisticsGen",
    "ImportSchemaGen",
    "ExampleValidator",
    "ValidationGate",
    "Transform",
    "Trainer",
    "StabilityGate",
    "Evaluator",
    "BaselineTrainer",
    "BaselineEvaluator",
    "RankerPusher",
}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    config = tiny_preset().replace(beam=BeamConfig(runner="DataflowRunner", extra_args=BEAM_EXTRA))
    out = tmp_path_factory.mktemp("kfp") / "pipeline.json"
    result = compile_kubeflow(config, IMAGE, PIPELINE_ROOT, str(out))
    job = json.loads(Path(result.job_file).read_text())
    return config, result, job


@pytest.fixture(scope="module")
def dag_nodes(compiled) -> dict[str, str]:
    """Node id -> "beam" (Beam-powered component), "component" or "resolver", from the same create_pipeline."""
    from tfx.dsl.components.base.base_beam_component import BaseBeamComponent
    from tfx.dsl.components.common.resolver import Resolver

    from pipeline.pipeline import create_pipeline

    config, _, _ = compiled
    dag = create_pipeline(config, PIPELINE_ROOT, PIPELINE_ROOT + "/serving", beam_pipeline_args=config.beam.args())

    def kind(node) -> str:
        if isinstance(node, Resolver):
            return "resolver"
        return "beam" if isinstance(node, BaseBeamComponent) else "component"

    return {node.id: kind(node) for node in dag.components}


def executors(job: dict) -> dict[str, dict]:
    return job["pipelineSpec"]["deploymentSpec"]["executors"]


def test_spec_parses_as_kfp_pipeline_job_and_pipeline_spec(compiled):
    _, result, job = compiled
    pipeline_job = json_format.ParseDict(job, pipeline_spec_pb2.PipelineJob())  # strict: unknown fields fail
    assert pipeline_job.runtime_config.gcs_output_directory == PIPELINE_ROOT
    spec = json_format.ParseDict(
        json_format.MessageToDict(pipeline_job.pipeline_spec), pipeline_spec_pb2.PipelineSpec()
    )
    assert spec.pipeline_info.name == "stable-ranker"
    assert spec.schema_version == "2.1.0"  # parameters as `constant` Values, as the KFP 2 SDK writes them
    deployment = pipeline_spec_pb2.PipelineDeploymentConfig()
    json_format.ParseDict(json_format.MessageToDict(spec.deployment_spec), deployment)
    assert set(deployment.executors) == set(executors(job))
    assert set(result.components) == set(spec.root.dag.tasks)


def test_ir_file_loads_with_kfps_own_package_loader(compiled):
    # what kfp.Client().create_run_from_pipeline_package uses: KFP's own loader, private in KFP
    from kfp.client.client import _extract_pipeline_yaml  # noqa: PLC2701

    _, result, job = compiled
    document = _extract_pipeline_yaml(result.ir_file)
    assert document.pipeline_spec.default_pipeline_root == PIPELINE_ROOT
    assert set(document.pipeline_spec.root.dag.tasks) == set(job["pipelineSpec"]["root"]["dag"]["tasks"])


def test_every_component_runs_in_the_image_with_the_beam_arguments(compiled, dag_nodes):
    config, result, job = compiled
    tasks = set(result.components)
    components = {node for node, kind in dag_nodes.items() if kind != "resolver"}
    beam_components = {node for node, kind in dag_nodes.items() if kind == "beam"}
    assert components >= PIPELINE_TASKS and beam_components >= BEAM_COMPONENTS
    assert tasks >= components
    for resolver in set(dag_nodes) - components:  # V2 compiles a resolver into query tasks named after it
        assert any(t.startswith(resolver) for t in tasks), resolver
    containers = {
        name.removesuffix("_executor"): e["container"] for name, e in executors(job).items() if "container" in e
    }
    assert set(containers) == components
    beam_args = config.beam.args()
    assert "--runner=DataflowRunner" in beam_args and not any("direct_" in a for a in beam_args)
    for name, container in containers.items():
        assert container["image"] == IMAGE, name
        assert container["command"][-1] == "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"
        if name in beam_components:
            assert all(arg in container["args"] for arg in beam_args), (name, container["args"])
    class_paths = {container["args"][1] for container in containers.values()}
    assert {"components.log_generator.LogGenExecutor", "components.pusher.Executor"} <= class_paths


def test_custom_artifact_types_resolve_to_importable_classes(compiled):
    """The V2 container imports a custom artifact type from its schema title (TYPE_NAME)."""
    from tfx.utils import import_utils

    _, _, job = compiled
    titles = set(re.findall(r"title: ([\w.]+)", json.dumps(job["pipelineSpec"]["components"])))
    custom = {t for t in titles if not t.startswith("tfx.")}
    assert custom >= {"components.RawLogs", "components.QuarantinedRecords"}
    for title in custom:
        assert title == import_utils.import_class_by_path(title).TYPE_NAME


def test_pusher_pushes_under_the_pipeline_root_with_the_model_name(compiled):
    config, _, job = compiled
    params = job["pipelineSpec"]["root"]["dag"]["tasks"]["RankerPusher"]["inputs"]["parameters"]
    values = {k: v["runtimeValue"]["constant"] for k, v in params.items()}
    assert values["serving_root"] == PIPELINE_ROOT + "/serving"
    assert values["model_name"] == config.model_name


@pytest.mark.parametrize("name", ["stable_ranker", "Stable-Ranker", "-ranker", "ranker pipeline", ""])
def test_invalid_pipeline_names_are_rejected_before_compiling(tmp_path, name):
    with pytest.raises(ConfigError, match="not valid for Kubeflow Pipelines V2") as err:
        compile_kubeflow(tiny_preset().replace(name=name), IMAGE, PIPELINE_ROOT, str(tmp_path / "p.json"))
    assert err.value.field == "name"
    assert not (tmp_path / "p.json").exists()


def test_underscore_message_says_to_use_hyphens():
    with pytest.raises(ConfigError, match=r"underscores are not allowed, use hyphens \(e.g. 'stable-ranker-v2'\)"):
        validate_pipeline_name("stable_ranker_v2")
    assert validate_pipeline_name("stable-ranker-2") == "stable-ranker-2"


def test_cli_rejects_an_underscored_name(tmp_path, capsys):
    from ranker.cli import main

    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({"name": "stable_ranker"}))
    argv = ["compile-kubeflow", "--preset", "tiny", "--config", str(overrides), "--image", IMAGE]
    code = main([*argv, "--pipeline-root", PIPELINE_ROOT, "--out", str(tmp_path / "p.json")])
    assert code == 2
    assert "underscores are not allowed" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------------
# Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "kubeflow" / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_dockerfile_builds_from_tfx_with_the_lock_file_and_legacy_keras():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "tensorflow/tfx:1.16.0")
    env = " ".join(arg for op, arg in instructions if op == "ENV")
    assert "TF_USE_LEGACY_KERAS=1" in env
    runs = " ".join(arg for op, arg in instructions if op == "RUN")
    assert "-r requirements.lock" in runs and "--no-deps ." in runs
    copies = [arg.split() for op, arg in instructions if op == "COPY"]
    sources = {src.rstrip("/") for args in copies for src in args[:-1]}
    for source in sources:
        assert (ROOT / source).exists(), f"Dockerfile copies {source}, which is not in the repository"
    pyproject = (ROOT / "pyproject.toml").read_text()
    packages = re.search(r"include = \[([^\]]*)\]", pyproject).group(1)
    for package in re.findall(r'"(\w+)\*"', packages):
        assert package in sources, f"package {package} is installed by pyproject but not copied into the image"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and not (set(ignored) & sources)


# ---------------------------------------------------------------------------------------------------------------
# TF Serving manifests


def manifests() -> dict[str, dict]:
    """The NFS overlay as `kubectl kustomize` renders it (test_serving_manifests.py checks every overlay)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    text = subprocess.run(
        [kubectl, "kustomize", str(SERVING / "overlays" / "nfs")], check=True, capture_output=True, text=True
    ).stdout
    return {doc["kind"]: doc for doc in yaml.safe_load_all(text) if doc}


def test_manifests_render_and_the_base_kustomization_lists_every_base_file():
    docs = manifests()
    assert set(docs) == {
        "Namespace",
        "ServiceAccount",
        "Deployment",
        "Service",
        "NetworkPolicy",
        "ConfigMap",
        "PersistentVolume",
        "PersistentVolumeClaim",
    }
    base = yaml.safe_load((SERVING / "base" / "kustomization.yaml").read_text())
    assert set(base["resources"]) == {p.name for p in (SERVING / "base").glob("*.yaml")} - {"kustomization.yaml"}


def test_manifests_agree_with_the_push_configuration():
    docs = manifests()
    model_name = tiny_preset().model_name
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == model_server.SERVING_IMAGE
    lock = (ROOT / "requirements.lock").read_text()
    assert f"tensorflow-serving-api=={container['image'].rsplit(':', 1)[1]}" in lock
    assert container["command"] == ["/usr/bin/tensorflow_model_server"]

    # Same flags as `ranker serve`, with the config file where the ConfigMap is mounted and threads = CPU limit.
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert set(docs["ConfigMap"]["data"]) == {"models.config"}
    config_file = f"{mounts['config']}/models.config"
    cpus = int(container["resources"]["limits"]["cpu"])
    assert cpus >= 1
    # Pinned literals, not the code's own output.
    assert container["args"] == expected_server_flags(config_file, cpus=cpus)
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == docs["ConfigMap"]["metadata"]["name"]
    assert volumes["models"]["persistentVolumeClaim"]["claimName"] == docs["PersistentVolumeClaim"]["metadata"]["name"]
    assert mounts["models"] == model_server.CONTAINER_MODELS_ROOT

    # The ConfigMap's models.config is what the pusher's build_models_config writes for a root mounted at /models.
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse(docs["ConfigMap"]["data"]["models.config"], config)
    [entry] = config.model_config_list.config
    assert (entry.name, entry.model_platform) == (model_name, "tensorflow")
    assert entry.base_path == f"{mounts['models']}/{model_name}"

    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": model_server.GRPC_PORT, "http": model_server.REST_PORT}
    probe = container["readinessProbe"]["httpGet"]
    assert probe["port"] == model_server.REST_PORT and probe["path"].startswith(f"/v1/models/{model_name}")
    service = docs["Service"]["spec"]
    assert service["selector"] == docs["Deployment"]["spec"]["selector"]["matchLabels"]
    assert {p["port"]: p["targetPort"] for p in service["ports"]} == {8500: 8500, 8501: 8501}


def test_configmap_matches_build_models_config_for_a_pushed_root(tmp_path):
    from serving.export import build_models_config

    model_name = tiny_preset().model_name
    (tmp_path / model_name / "1700000000").mkdir(parents=True)
    built = build_models_config(str(tmp_path), base_path_root=model_server.CONTAINER_MODELS_ROOT, pin=False)
    shipped = text_format.Parse(manifests()["ConfigMap"]["data"]["models.config"], type(built)())
    assert shipped == built


def test_struct_round_trip_keeps_the_spec(compiled):
    """The IR file is the PipelineJob's pipelineSpec unchanged, plus defaultPipelineRoot."""
    _, result, job = compiled
    ir = yaml.safe_load(Path(result.ir_file).read_text())
    assert ir.pop("defaultPipelineRoot") == PIPELINE_ROOT
    assert ir == job["pipelineSpec"]
    assert os.path.basename(result.ir_file) == "pipeline.kfp.yaml"


def test_the_tuner_compiles_as_a_container_task_feeding_the_trainer(tmp_path, compiled):
    assert "Tuner" not in compiled[2]["pipelineSpec"]["root"]["dag"]["tasks"]  # tuning.enabled is off by default
    config = tiny_preset()
    config = config.replace(tuning=dataclasses.replace(config.tuning, enabled=True))
    result = compile_kubeflow(config, IMAGE, PIPELINE_ROOT, str(tmp_path / "pipeline.json"))
    job = json.loads(Path(result.job_file).read_text())
    tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
    assert "container" in executors(job)["Tuner_executor"]
    hyperparameters = tasks["Trainer"]["inputs"]["artifacts"]["hyperparameters"]["taskOutputArtifact"]
    assert hyperparameters == {"outputArtifactKey": "best_hyperparameters", "producerTask": "Tuner"}


def test_the_trainer_compiles_with_the_simple_model_as_an_input_when_its_wide_part_starts_from_it(tmp_path, compiled):
    tiny_trainer = compiled[2]["pipelineSpec"]["root"]["dag"]["tasks"]["Trainer"]
    assert "simple_model" not in tiny_trainer["inputs"]["artifacts"]  # the tiny preset has no wide part
    config = default_preset().replace(beam=BeamConfig(runner="DataflowRunner", extra_args=BEAM_EXTRA))
    assert config.model.wide_from_simple
    result = compile_kubeflow(config, IMAGE, PIPELINE_ROOT, str(tmp_path / "pipeline.json"))
    job = json.loads(Path(result.job_file).read_text())
    trainer = job["pipelineSpec"]["root"]["dag"]["tasks"]["Trainer"]
    simple = trainer["inputs"]["artifacts"]["simple_model"]["taskOutputArtifact"]
    assert simple == {"outputArtifactKey": "model", "producerTask": "BaselineTrainer"}
    assert "BaselineTrainer" in trainer["dependentTasks"]
    command = " ".join(executors(job)["Trainer_executor"]["container"]["args"])
    assert "components.ranker_trainer.Executor" in command


def test_the_v2_container_entrypoint_gives_executors_a_temp_path(tmp_path):
    """tensorflow/tfx#4530 reported the Tuner failing under KubeflowV2DagRunner with RuntimeError('Temp path not
    available'): its executor asks `self._get_tmp_dir()`. TFX 1.16's V2 entrypoint (the one the compiled tasks run,
    `kubeflow_v2_run_executor`) derives the temp path and unique id from the task's output file: an executor asking
    for it gets `<task root>/.temp/<task id>/`."""
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

    task_root = tmp_path / "root" / "Tuner_123"
    invocation = {
        "outputs": {
            "artifacts": {
                "probe": {
                    "artifacts": [
                        {
                            "uri": str(tmp_path / "probe"),
                            "name": "projects/1/locations/l/metadataStores/default/artifacts/1",
                            "type": {"instanceSchema": "title: tfx.Model\ntype: object\n"},
                        }
                    ]
                }
            },
            "outputFile": str(task_root / "executor_output.json"),
        }
    }
    args, beam_args = kubeflow_v2_run_executor._parse_flags(
        [
            "prog",
            "--executor_class_path=helpers.tmp_path_probe.Executor",
            f"--json_serialized_invocation_args={json.dumps(invocation)}",
        ]
    )
    kubeflow_v2_run_executor._run_executor(args, beam_args)
    answer = (tmp_path / "probe" / "tmp_dir.txt").read_text()
    assert answer == os.path.join(str(task_root), ".temp", "Tuner_123", "")
