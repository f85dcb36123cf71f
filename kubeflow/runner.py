"""Kubeflow Pipelines (V2) runner: compiles the same `create_pipeline` into a pipeline spec.

Every component runs in `image` (built from kubeflow/Dockerfile), so components reference our code by
dotted path (`models.trainer.run_fn`, `models.preprocessing.preprocessing_fn`). Beam-powered components
receive `config.beam.args()` (e.g. DataflowRunner, or PortableRunner for Flink/Spark) as container arguments.

Two files come out of one compilation:

* `out_file` (JSON): the PipelineJob that TFX's `KubeflowV2DagRunner` writes (displayName, labels, pipelineSpec,
  runtimeConfig.gcsOutputDirectory = the pipeline root): what Vertex AI Pipelines runs
  (`aiplatform.PipelineJob(template_path=...)`).
* `ir_file` (YAML): the bare PipelineSpec (KFP's IR) with `defaultPipelineRoot` set: what the open-source KFP
  backend's UI and `kfp.Client().create_run_from_pipeline_package(...)` accept (they refuse the PipelineJob wrapper).

The DAG holds no resolver node (open-source KFP's Argo compiler refuses resolver executors, and `customJob` is
Google Cloud only): the baseline comes from the ServedModel component, whose task is compiled with caching off (its
answer changes with every push). Each executor gets CPU/memory requests and limits from `config.deploy.resources`.

InfraValidator is not part of the pipeline: the V2 compiler refuses it (and it needs Docker or the model server);
the serving contract is verified in-process instead (see docs/deploy.md).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import yaml
from kfp.pipeline_spec import pipeline_spec_pb2

from config.settings import ConfigError, PipelineConfig
from config.validation import validate_pipeline_name
from pipeline.pipeline import create_pipeline

# Executor kinds open-source KFP's backend runs: container, importer. It refuses resolver ("resolver executors not
# implemented") and customJob (Vertex AI only).
OPEN_SOURCE_KFP_EXECUTORS: frozenset[str] = frozenset({"container", "importer"})
UNCACHED_TASKS: tuple[str, ...] = ("ServedModel",)  # read the serving root: never answer from the cache


@dataclass(frozen=True)
class CompiledPipeline:
    job_file: str  # PipelineJob JSON (Vertex AI Pipelines)
    ir_file: str  # PipelineSpec YAML (open-source KFP)
    components: tuple[str, ...]  # task names in the spec


def _default_ir_file(out_file: str) -> str:
    stem, _ = os.path.splitext(out_file)
    return stem + ".kfp.yaml"


def compile_kubeflow(
    config: PipelineConfig,
    image: str,
    pipeline_root: str,
    out_file: str,
    serving_root: str | None = None,
    ir_file: str | None = None,
) -> CompiledPipeline:
    """Writes the PipelineJob JSON to `out_file` and the KFP IR YAML to `ir_file` (default `<out stem>.kfp.yaml`)."""
    validate_pipeline_name(config.name)
    if not image or any(c.isspace() for c in image):
        raise ConfigError(f"must be a container image reference, got {image!r}", field="image")
    if not pipeline_root:
        raise ConfigError("is required (e.g. gs://bucket/root)", field="pipeline_root")
    # Imported here: TFX's V2 runner pulls in kfp and the whole DSL, which the CLI's other commands do not need.
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

    serving_root = serving_root or pipeline_root.rstrip("/") + "/serving"
    pipeline = create_pipeline(
        config,
        pipeline_root=pipeline_root,
        serving_root=serving_root,
        metadata_connection_config=None,  # KFP's own ML Metadata
        beam_pipeline_args=config.beam.args(),
    )
    out_file = os.path.abspath(out_file)
    os.makedirs(os.path.dirname(out_file), exist_ok=True)
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        # Schema 2.1 (parameters as `constant` protobuf Values): what the KFP 2 SDK and backend emit and expect.
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(default_image=image, use_pipeline_spec_2_1=True),
        output_dir=os.path.dirname(out_file),
        output_filename=os.path.basename(out_file),
    )
    resource_spec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec
    for node in pipeline.components:
        spec = config.deploy.resources.get(node.id, config.deploy.resources.get("default"))
        if spec:
            node.with_platform_config(resource_spec(**{k: float(v) for k, v in spec.items()}))
    runner.run(pipeline, write_out=True)

    with open(out_file) as f:
        job = json.load(f)
    for task_name, task in job["pipelineSpec"]["root"]["dag"]["tasks"].items():
        if task_name in UNCACHED_TASKS:
            task["cachingOptions"] = {"enableCache": False}
    with open(out_file, "w") as f:
        json.dump(job, f, indent=2, sort_keys=True)
    spec = dict(job["pipelineSpec"])
    refused = {
        name: kind
        for name, executor in spec["deploymentSpec"]["executors"].items()
        for kind in executor
        if kind not in OPEN_SOURCE_KFP_EXECUTORS
    }
    if refused:  # a guard: create_pipeline must stay runnable on open-source KFP
        raise ValueError(f"executors open-source KFP cannot run: {refused}")
    spec["defaultPipelineRoot"] = pipeline_root
    ir_file = os.path.abspath(ir_file or _default_ir_file(out_file))
    with open(ir_file, "w") as f:
        yaml.safe_dump(spec, f, sort_keys=False)
    tasks = tuple(sorted(spec["root"]["dag"]["tasks"]))
    return CompiledPipeline(out_file, ir_file, tasks)
