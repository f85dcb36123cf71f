"""Reads the latest pipeline run back from MLMD: what was pushed, each gate's verdict, per-task metrics."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from ml_metadata.proto import metadata_store_pb2

from pipeline.mlmd import OUTPUT_EVENTS, artifact_properties, node_id_of, open_store

BASELINE_EVALUATOR = "BaselineEvaluator"


@dataclass
class RunSummary:
    run_id: str = ""
    elapsed_s: float | None = None
    pushed: bool = False
    pushed_destination: str | None = None
    pushed_version: str | None = None
    stability_blessed: bool | None = None
    stability_reason: str | None = None
    evaluator_blessed: bool | None = None
    evaluator_failures: list[str] = field(default_factory=list)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    # The BaselineEvaluator: the ranker against the simple model (None: not gated, or did not run).
    baseline_blessed: bool | None = None
    baseline_reason: str | None = None
    baseline_metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # the simple model's
    ingest_counts: dict[str, Any] = field(default_factory=dict)
    component_seconds: dict[str, float] = field(default_factory=dict)  # per pipeline node id (MLMD execution)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def render(self) -> str:
        def verdict(b: bool | None) -> str:
            return "n/a (did not run)" if b is None else ("BLESSED" if b else "NOT BLESSED")

        lines = [f"run {self.run_id}" + (f" finished in {self.elapsed_s:.0f}s" if self.elapsed_s else "")]
        if self.ingest_counts:
            lines.append("ingest: " + ", ".join(f"{k}={v}" for k, v in sorted(self.ingest_counts.items())))
        lines.append(f"stability gate: {verdict(self.stability_blessed)}" + _suffix(self.stability_reason))
        failures = "; ".join(self.evaluator_failures)
        lines.append(f"evaluator gate: {verdict(self.evaluator_blessed)}" + _suffix(failures))
        if self.baseline_blessed is not None:
            lines.append(f"baseline gate: {verdict(self.baseline_blessed)}" + _suffix(self.baseline_reason))
        if self.pushed:
            lines.append(f"pushed: version {self.pushed_version} -> {self.pushed_destination}")
        else:
            lines.append("pushed: nothing (a gate refused or the run stopped earlier)")
        if self.metrics:
            lines.append("eval metrics:")
            for task, values in sorted(self.metrics.items()):
                lines.append("  " + f"{task:<14}" + "  ".join(f"{k}={v:.4f}" for k, v in sorted(values.items())))
        if self.baseline_metrics:
            lines.append("simple model (the baseline the ranker must beat):")
            for task, values in sorted(self.baseline_metrics.items()):
                lines.append("  " + f"{task:<14}" + "  ".join(f"{k}={v:.4f}" for k, v in sorted(values.items())))
        return "\n".join(lines)


def _suffix(reason: str | None) -> str:
    return f" ({reason})" if reason else ""


def component_windows(metadata_path: str) -> dict[str, tuple[float, float]]:
    """Each pipeline node's execution window in the newest run: (creation, last update) in epoch seconds."""
    store = open_store(metadata_path)
    runs = store.get_contexts_by_type("pipeline_run")
    if not runs:
        return {}
    run = max(runs, key=lambda c: c.create_time_since_epoch)
    types = {t.id: t.name for t in store.get_execution_types()}
    windows: dict[str, tuple[float, float]] = {}
    for execution in store.get_executions_by_context(run.id):
        if execution.last_update_time_since_epoch and execution.create_time_since_epoch:
            node = node_id_of(store, execution, default=types.get(execution.type_id, "").rsplit(".", 1)[-1])
            windows[node] = (execution.create_time_since_epoch / 1000, execution.last_update_time_since_epoch / 1000)
    return windows


def summarize_run(metadata_path: str, elapsed_s: float | None = None) -> RunSummary:
    """Summary of the newest `pipeline_run` context in the SQLite MLMD store at `metadata_path`."""
    store = open_store(metadata_path)
    runs = store.get_contexts_by_type("pipeline_run")
    summary = RunSummary(elapsed_s=elapsed_s)
    if not runs:
        return summary
    run = max(runs, key=lambda c: c.create_time_since_epoch)
    summary.run_id = run.name
    executions = store.get_executions_by_context(run.id)
    types = {t.id: t.name for t in store.get_execution_types()}
    for execution in executions:
        component = types.get(execution.type_id, "").rsplit(".", 1)[-1]
        # Keyed by pipeline node, not component type: LogGen, LogIngest and StatisticsGen run twice (the training
        # day and the next day, e.g. `NextDayLogIngest`), the Evaluator twice (`BaselineEvaluator`).
        node = node_id_of(store, execution, default=component)
        if execution.last_update_time_since_epoch and execution.create_time_since_epoch:
            seconds = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000
            summary.component_seconds[node] = seconds
        events = [e for e in store.get_events_by_execution_ids([execution.id]) if e.type in OUTPUT_EVENTS]
        artifacts = store.get_artifacts_by_id([e.artifact_id for e in events])
        for artifact in artifacts:
            if node == BASELINE_EVALUATOR:
                _absorb_baseline(summary, artifact)
            else:
                _absorb(summary, component, artifact)
    return summary


def _absorb(summary: RunSummary, component: str, artifact: metadata_store_pb2.Artifact) -> None:
    props = artifact_properties(artifact)
    if component == "RankerPusher":
        summary.pushed = bool(props.get("pushed", 0))
        summary.pushed_destination = props.get("pushed_destination")
        summary.pushed_version = str(props["pushed_version"]) if props.get("pushed_version") else None
    elif component == "StabilityGate":
        summary.stability_blessed = bool(props.get("blessed", 0))
        summary.stability_reason = props.get("reason")
    elif component == "Evaluator" and "blessed" in props:
        summary.evaluator_blessed = bool(props.get("blessed", 0))
    elif component == "Evaluator":
        summary.metrics, summary.evaluator_failures = read_evaluation(artifact.uri)
    elif component == "LogIngest":
        summary.ingest_counts.update(
            {k: v for k, v in props.items() if isinstance(v, (int, float)) and k not in ("span",)}
        )


def _absorb_baseline(summary: RunSummary, artifact: metadata_store_pb2.Artifact) -> None:
    props = artifact_properties(artifact)
    if "blessed" in props:
        summary.baseline_blessed = bool(props.get("blessed", 0))
        summary.baseline_reason = props.get("reason")
    elif os.path.basename(os.path.dirname(artifact.uri.rstrip("/"))) == "evaluation":  # <node>/<output key>/<id>
        summary.baseline_metrics = read_evaluation(artifact.uri, model="baseline")[0]


def read_evaluation(uri: str, model: str = "candidate") -> tuple[dict[str, dict[str, float]], list[str]]:
    """Overall-slice metrics per output of `model` ("candidate" or "baseline"; a lone model counts as the
    candidate) and the failed thresholds of a TFMA evaluation."""
    import tensorflow_model_analysis as tfma

    metrics: dict[str, dict[str, float]] = {}
    try:
        results = tfma.load_metrics(uri)
    except Exception:  # noqa: BLE001 - a missing evaluation is reported as "no metrics"
        return metrics, []
    for slice_metrics in results:
        if slice_metrics.slice_key.single_slice_keys:
            continue
        for kv in slice_metrics.metric_keys_and_values:
            name = kv.key.name
            if name == "example_count" or (kv.key.model_name or "candidate") != model:
                continue
            output = kv.key.output_name or "_"
            bounded = kv.value.bounded_value.value.value if kv.value.HasField("bounded_value") else None
            value = bounded if bounded is not None else kv.value.double_value.value
            if kv.key.is_diff:
                name = f"{name}_change"
            metrics.setdefault(output, {})[name] = float(value)
    try:
        validation = tfma.load_validation_result(uri)
    except Exception:  # noqa: BLE001 - no validation result: no failures to report
        return metrics, []
    failures = [
        f"{failure.metric_key.output_name}/{failure.metric_key.name}"
        f"={failure.metric_value.double_value.value:.4f} violates {failure.message or 'threshold'}"
        for per_slice in validation.metric_validations_per_slice
        for failure in per_slice.failures
    ]
    return metrics, failures
