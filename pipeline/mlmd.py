"""The one way into a run's ML Metadata store: open it, read artifact properties, find a node's executions.

Used by the run summary (pipeline/summary.py), the per-day history (pipeline/history.py), the sequential runner's
run marks (pipeline/sequential.py) and the progress lines of the local runner (pipeline/progress.py).
"""

from __future__ import annotations

import os
from typing import Any

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

INPUT_EVENTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)
OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
DONE_STATES = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)
NODE_CONTEXT_TYPE = "node"  # TFX names a node's context "<pipeline name>.<node id>"


def open_store(metadata_path: str, writable: bool = False) -> mlmd.MetadataStore:
    """The SQLite store at `metadata_path`; read-only ones must exist (FileNotFoundError says to run first)."""
    if not writable and not os.path.exists(metadata_path):
        raise FileNotFoundError(f"no MLMD store at {metadata_path} (run `ranker run` first)")
    cfg = metadata_store_pb2.ConnectionConfig()
    cfg.sqlite.filename_uri = metadata_path
    mode = metadata_store_pb2.SqliteMetadataSourceConfig
    cfg.sqlite.connection_mode = mode.READWRITE_OPENCREATE if writable else mode.READONLY
    return mlmd.MetadataStore(cfg)


def artifact_properties(artifact: metadata_store_pb2.Artifact) -> dict[str, Any]:
    """Properties and custom properties of an artifact as plain values (custom ones win on a name clash)."""
    out: dict[str, Any] = {}
    for source in (artifact.properties, artifact.custom_properties):
        for key, value in source.items():
            kind = value.WhichOneof("value")
            out[key] = getattr(value, kind) if kind else None
    return out


def node_id_of(store: mlmd.MetadataStore, execution: metadata_store_pb2.Execution, default: str = "") -> str:
    """The pipeline node id (e.g. `NextDayLogIngest`) of an execution, from its node context."""
    node_type = store.get_context_type(NODE_CONTEXT_TYPE).id
    names = [c.name for c in store.get_contexts_by_execution(execution.id) if c.type_id == node_type]
    return names[0].rsplit(".", 1)[-1] if names else default


def latest_node_execution(
    store: mlmd.MetadataStore, pipeline_name: str, node_id: str
) -> metadata_store_pb2.Execution | None:
    """The newest execution of node `node_id` of `pipeline_name`, or None."""
    context = store.get_context_by_type_and_name(NODE_CONTEXT_TYPE, f"{pipeline_name}.{node_id}")
    if context is None:
        return None
    executions = store.get_executions_by_context(context.id)
    return max(executions, key=lambda e: e.id) if executions else None
