"""Kubeflow Pipelines (V2) runner: compiles the same `create_pipeline` into a pipeline spec (JSON).

Every component runs in `image` (built from kubeflow/Dockerfile), so components reference our code by
dotted path (`models.trainer.run_fn`, `models.preprocessing.preprocessing_fn`). Beam-powered components
receive `config.beam.args()` (e.g. DataflowRunner, or PortableRunner for Flink/Spark). InfraValidator is
not part of the pipeline: the V2 compiler refuses it (and it needs Docker or the model server); the serving
contract is verified in-process instead (see README).
"""

from __future__ import annotations

import os

from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

from pipeline.config import PipelineConfig
from pipeline.pipeline import create_pipeline


def compile_kubeflow(
    config: PipelineConfig,
    image: str,
    pipeline_root: str,
    out_file: str,
    serving_root: str | None = None,
) -> str:
    """Writes the KFP V2 pipeline spec to `out_file` and returns its path."""
    serving_root = serving_root or pipeline_root.rstrip("/") + "/serving"
    pipeline = create_pipeline(
        config,
        pipeline_root=pipeline_root,
        serving_root=serving_root,
        metadata_connection_config=None,  # KFP's own ML Metadata
        beam_pipeline_args=config.beam.args(),
    )
    out_file = os.path.abspath(out_file)
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=os.path.dirname(out_file),
        output_filename=os.path.basename(out_file),
    )
    runner.run(pipeline, write_out=True)
    return out_file
