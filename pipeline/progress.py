"""What a user sees while a pipeline runs: one progress line per component (logging is set up once, by
config/runtime.configure_logging, where a run starts).

`ProgressDagRunner` is TFX's LocalDagRunner with a progress line after each node:

    [7/16] Transform: executed in 41.3 s
    [8/16] Trainer: cached in 0.2 s

"cached" means TFX reused an earlier execution's outputs (MLMD cache); "executed" that it ran now. The line comes
from the runner itself, so no library's logging configuration can silence it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from ml_metadata.proto import metadata_store_pb2
from tfx.dsl.compiler import constants
from tfx.orchestration import metadata
from tfx.orchestration.local import runner_utils
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.orchestration.portable import launcher, runtime_parameter_utils
from tfx.proto.orchestration import pipeline_pb2

from pipeline.mlmd import latest_node_execution

_STATE_WORDS = {
    metadata_store_pb2.Execution.CACHED: "cached",
    metadata_store_pb2.Execution.COMPLETE: "executed",
    metadata_store_pb2.Execution.FAILED: "FAILED",
}


def print_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class ProgressDagRunner(LocalDagRunner):
    """LocalDagRunner (nodes run one after another, in the IR's topological order) reporting each node."""

    def __init__(self, progress: Callable[[str], None] = print_progress):
        super().__init__()
        self._progress = progress

    def run_with_ir(self, pipeline: pipeline_pb2.Pipeline, run_options=None) -> None:
        if run_options is not None:  # partial runs: TFX's own loop
            super().run_with_ir(pipeline, run_options)
            return
        run_id = time.strftime("%Y-%m-%dT%H:%M:%S") + f".{time.time_ns() % 1_000_000:06d}"
        runtime_parameter_utils.substitute_runtime_parameter(
            pipeline, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id}
        )
        deployment = runner_utils.extract_local_deployment_config(pipeline)
        connection = deployment.metadata_connection_config
        connection = getattr(connection, connection.WhichOneof("connection_config"))
        nodes = [n.pipeline_node for n in pipeline.nodes]
        for k, node in enumerate(nodes, start=1):
            node_id = node.node_info.id
            if node.execution_options.HasField("skip"):
                self._progress(f"[{k}/{len(nodes)}] {node_id}: skipped")
                continue
            step = launcher.Launcher(
                pipeline_node=node,
                mlmd_connection=metadata.Metadata(connection),
                pipeline_info=pipeline.pipeline_info,
                pipeline_runtime_spec=pipeline.runtime_spec,
                executor_spec=runner_utils.extract_executor_spec(deployment, node_id),
                custom_driver_spec=runner_utils.extract_custom_driver_spec(deployment, node_id),
            )
            before = self._latest(connection, pipeline.pipeline_info.id, node_id)
            started = time.monotonic()
            try:
                step.launch()
            except BaseException:
                self._progress(f"[{k}/{len(nodes)}] {node_id}: FAILED after {time.monotonic() - started:.1f} s")
                raise
            after = self._latest(connection, pipeline.pipeline_info.id, node_id)
            if after is None or (before is not None and after.id == before.id):
                state = "no execution"
            else:
                state = _STATE_WORDS.get(after.last_known_state, "done")
            self._progress(f"[{k}/{len(nodes)}] {node_id}: {state} in {time.monotonic() - started:.1f} s")

    @staticmethod
    def _latest(connection, pipeline_name: str, node_id: str) -> metadata_store_pb2.Execution | None:
        with metadata.Metadata(connection) as handle:
            return latest_node_execution(handle.store, pipeline_name, node_id)
