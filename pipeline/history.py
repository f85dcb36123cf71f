"""`ranker history`: per day, what the sequential runs did, read back from MLMD (and a PNG of metrics over days).

For every pipeline run in the store (oldest first) it reports: the day (LogGen's `day`), the spans Transform trained
on (its input Examples artifacts), the span the Evaluator scored, the model it warm-started from and the version it
pushed, each gate's verdict (schema validation, drift/skew, stability, Evaluator) and the Evaluator's metrics per task.
The status and error of a day come from the custom properties pipeline/sequential.py sets on the run's context;
runs without them (a plain `ranker run`) get a status inferred from their executions.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from models.stability import TrainingReport, training_report_path
from pipeline.mlmd import DONE_STATES, INPUT_EVENTS, OUTPUT_EVENTS, artifact_properties, open_store
from pipeline.paths import LocalPaths
from pipeline.summary import read_evaluation

METRIC_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("click", "auc", "click_auc"),
    ("like", "auc", "like_auc"),
    ("share", "auc", "share_auc"),
    ("dismiss", "auc", "dismiss_auc"),
    ("watch_time", "root_mean_squared_error", "watch_rmse"),
    ("survey_rating", "root_mean_squared_error", "survey_rmse"),
)


MAX_DAY_TICKS = 30


@dataclass
class DayRecord:
    """One pipeline run (one day) as MLMD recorded it."""

    run_id: str
    created_ms: int
    day: int | None = None
    status: str | None = None  # pushed | refused | failed | incomplete
    error: str | None = None
    train_spans: list[int] = field(default_factory=list)
    eval_span: int | None = None
    warm_start_from: str | None = None  # version (or model id) of the base model
    pushed_version: str | None = None
    schema_check: str = "-"  # ok | FAILED | - (did not run)
    drift_check: str = "-"  # ok | ok (n acknowledged) | FAILED | -
    drift_worst: str | None = None
    stability: str = "-"
    stability_reason: str | None = None
    recoveries: str = "-"  # train.recovery: "-" off (or no report), "0", "2", "1, gave up"
    recovery_notes: list[str] = field(default_factory=list)
    evaluator: str = "-"
    evaluator_failures: list[str] = field(default_factory=list)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)

    def metric(self, output: str, name: str) -> float | None:
        return self.metrics.get(output, {}).get(name)


def _span(artifact: metadata_store_pb2.Artifact) -> int | None:
    props = artifact_properties(artifact)
    return int(props["span"]) if props.get("span") is not None else None


class _Reader:
    """Indexes the store once: node id per execution, events and artifacts by id."""

    def __init__(self, store: mlmd.MetadataStore):
        self.store = store
        self.node_of: dict[int, str] = {}
        for context in store.get_contexts_by_type("node"):
            node = context.name.rsplit(".", 1)[-1]
            for execution in store.get_executions_by_context(context.id):
                self.node_of[execution.id] = node
        self.events: dict[int, list[metadata_store_pb2.Event]] = defaultdict(list)
        for event in store.get_events_by_execution_ids(list(self.node_of)):
            self.events[event.execution_id].append(event)
        ids = {e.artifact_id for events in self.events.values() for e in events}
        self.artifacts = {a.id: a for a in store.get_artifacts_by_id(sorted(ids))} if ids else {}
        self.version_of_model: dict[int, str] = {}
        for execution_id, node in self.node_of.items():
            if node != "RankerPusher":
                continue
            model = self.io(execution_id, "model", INPUT_EVENTS)
            pushed = self.io(execution_id, "pushed_model", OUTPUT_EVENTS)
            if model and pushed and artifact_properties(pushed[0]).get("pushed"):
                self.version_of_model[model[0].id] = str(artifact_properties(pushed[0]).get("pushed_version"))

    def io(self, execution_id: int, key: str, kinds: tuple) -> list[metadata_store_pb2.Artifact]:
        ids = [
            e.artifact_id
            for e in self.events.get(execution_id, [])
            if e.type in kinds and e.path.steps and e.path.steps[0].key == key
        ]
        return [self.artifacts[i] for i in ids if i in self.artifacts]


def read_history(metadata_path: str) -> list[DayRecord]:
    """One DayRecord per pipeline run in the store, oldest first."""
    store = open_store(metadata_path)
    reader = _Reader(store)
    records = []
    for run in sorted(store.get_contexts_by_type("pipeline_run"), key=lambda c: c.create_time_since_epoch):
        record = DayRecord(run_id=run.name, created_ms=run.create_time_since_epoch)
        props = {
            k: v.WhichOneof("value") and getattr(v, v.WhichOneof("value")) for k, v in run.custom_properties.items()
        }
        record.day = props.get("day")
        record.status = props.get("status")
        record.error = props.get("error") or None
        failed = False
        for execution in store.get_executions_by_context(run.id):
            node = reader.node_of.get(execution.id, "")
            done = execution.last_known_state in DONE_STATES
            failed |= execution.last_known_state == metadata_store_pb2.Execution.FAILED
            _absorb(record, reader, node, execution, done)
        if record.status is None:
            if record.pushed_version:
                record.status = "pushed"
            elif record.stability != "-" and record.evaluator != "-":
                record.status = "refused"
            else:
                record.status = "failed" if failed else "incomplete"
        records.append(record)
    return records


def _absorb(record: DayRecord, reader: _Reader, node: str, execution: metadata_store_pb2.Execution, done: bool) -> None:
    verdict = "ok" if done else ("FAILED" if execution.last_known_state == metadata_store_pb2.Execution.FAILED else "-")
    if node == "LogGen" and record.day is None:
        day = execution.custom_properties.get("day")
        if day is not None and day.HasField("int_value"):
            record.day = day.int_value
    elif node == "Transform":
        spans = [_span(a) for a in reader.io(execution.id, "examples", INPUT_EVENTS)]
        record.train_spans = sorted(s for s in spans if s is not None)
    elif node == "Trainer":
        base = reader.io(execution.id, "base_model", INPUT_EVENTS)
        if base:  # a ServedModel output: the served version it copied (none when nothing was served yet)
            props = artifact_properties(base[0])
            if props.get("served_version"):
                record.warm_start_from = str(props["served_version"])
            elif props.get("served") != 0:
                record.warm_start_from = reader.version_of_model.get(base[0].id, f"model #{base[0].id}")
        for model_run in reader.io(execution.id, "model_run", OUTPUT_EVENTS):
            record.recoveries, record.recovery_notes = read_recoveries(model_run.uri)
    elif node == "ValidationGate":
        record.schema_check = verdict
    elif node == "DriftGate":
        record.drift_check = verdict
        report = reader.io(execution.id, "report", OUTPUT_EVENTS)
        if report:
            props = artifact_properties(report[0])
            record.drift_worst = props.get("worst")
            if props.get("num_acknowledged"):
                record.drift_check = f"ok ({props['num_acknowledged']} acknowledged)"
    elif node == "StabilityGate" and done:
        for blessing in reader.io(execution.id, "blessing", OUTPUT_EVENTS):
            props = artifact_properties(blessing)
            record.stability = "BLESSED" if props.get("blessed") else "NOT BLESSED"
            record.stability_reason = props.get("reason")
    elif node == "Evaluator" and done:
        examples = reader.io(execution.id, "examples", INPUT_EVENTS)
        record.eval_span = _span(examples[0]) if examples else None
        for blessing in reader.io(execution.id, "blessing", OUTPUT_EVENTS):
            record.evaluator = "BLESSED" if artifact_properties(blessing).get("blessed") else "NOT BLESSED"
        for evaluation in reader.io(execution.id, "evaluation", OUTPUT_EVENTS):
            record.metrics, record.evaluator_failures = read_evaluation(evaluation.uri)
    elif node == "RankerPusher" and done:
        for pushed in reader.io(execution.id, "pushed_model", OUTPUT_EVENTS):
            props = artifact_properties(pushed)
            if props.get("pushed"):
                record.pushed_version = str(props.get("pushed_version"))


def read_recoveries(model_run_uri: str) -> tuple[str, list[str]]:
    """train.recovery's record in the Trainer's training_report.json: (column text, one note per recovery)."""
    try:
        record = TrainingReport.load(training_report_path(model_run_uri)).recovery
    except (OSError, ValueError):
        return "-", []
    if not record:
        return "-", []
    events = record.get("events") or []
    notes = [
        f"recovery {i}: {e['rule']} at step {e['detected_step']}, restored step {e['restored_step']}, "
        f"skipped batches {e['skipped_batches'][0]}-{e['skipped_batches'][1]}, learning rate {e.get('lr_before')} -> "
        f"{e.get('lr_after')}"
        for i, e in enumerate(events, 1)
    ]
    if record.get("gave_up"):
        notes.append(f"recovery gave up: {record.get('reason')}")
    return f"{len(events)}{', gave up' if record.get('gave_up') else ''}", notes


def _spans_text(spans: list[int]) -> str:
    if not spans:
        return "-"
    if spans == list(range(spans[0], spans[-1] + 1)) and len(spans) > 1:
        return f"{spans[0]}-{spans[-1]}"
    return ",".join(str(s) for s in spans)


def render_table(records: list[DayRecord]) -> str:
    """A fixed-width table, one row per day, then the reasons of failed and refused days."""
    header = ["day", "train spans", "eval span", "status", "version", "warm start from", "schema", "drift"]
    header += ["stability", "recoveries", "evaluator", *(c for _, _, c in METRIC_COLUMNS)]
    rows = []
    for r in records:
        row = [
            "?" if r.day is None else str(r.day),
            _spans_text(r.train_spans),
            "-" if r.eval_span is None else str(r.eval_span),
            r.status or "?",
            r.pushed_version or "-",
            r.warm_start_from or "-",
            r.schema_check,
            r.drift_check,
            r.stability,
            r.recoveries,
            r.evaluator,
        ]
        for output, name, _ in METRIC_COLUMNS:
            value = r.metric(output, name)
            row.append("-" if value is None else f"{value:.4f}")
        rows.append(row)
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in rows]
    notes = []
    for r in records:
        day = "?" if r.day is None else r.day
        if r.error:
            notes.append(f"day {day} failed: {r.error.strip()}")
        if r.stability == "NOT BLESSED" and r.stability_reason:
            notes.append(f"day {day} stability gate: {r.stability_reason}")
        notes += [f"day {day} {note}" for note in r.recovery_notes]
        for failure in r.evaluator_failures:
            notes.append(f"day {day} evaluator: {failure}")
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


def plot_history(records: list[DayRecord], path: str) -> str:
    """Writes a PNG of the evaluation metrics over days (filled: pushed, hollow: refused, grey line: failed)."""
    import matplotlib.pyplot as plt

    fig = history_figure(records)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def history_figure(records: list[DayRecord]) -> Any:
    """The figure of `plot_history`: AUCs above, RMSEs below, one integer tick per day."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_auc, ax_rmse) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    by_day = [r for r in records if r.day is not None]
    for output, name, label in METRIC_COLUMNS:
        ax = ax_auc if name == "auc" else ax_rmse
        points = [(r.day, r.metric(output, name), r.status == "pushed") for r in by_day]
        points = [p for p in points if p[1] is not None]
        if not points:
            continue
        (line,) = ax.plot([p[0] for p in points], [p[1] for p in points], label=label, alpha=0.8)
        for day, value, pushed in points:
            ax.plot(day, value, "o", color=line.get_color(), markerfacecolor=line.get_color() if pushed else "none")
    for r in by_day:
        if r.status == "failed":
            for ax in (ax_auc, ax_rmse):
                ax.axvline(r.day, color="grey", linestyle=":", alpha=0.7)
    set_day_ticks(ax_rmse, [r.day for r in by_day])
    ax_auc.set_ylabel("AUC on day d+1")
    ax_rmse.set_ylabel("RMSE on day d+1")
    ax_rmse.set_xlabel("day d (model trained on the window ending at d)")
    ax_auc.legend(loc="best", fontsize=8)
    ax_rmse.legend(loc="best", fontsize=8)
    ax_auc.set_title("Sequential training: evaluation on the next day (filled = pushed, hollow = refused)")
    fig.tight_layout()
    return fig


def set_day_ticks(ax: Any, days: list[int]) -> None:
    """Days are integers: a tick per day (at most MAX_DAY_TICKS, else integer ticks), half a day of margin."""
    from matplotlib.ticker import MaxNLocator

    days = sorted(set(days))
    if not days:
        return
    ax.set_xlim(days[0] - 0.5, days[-1] + 0.5)
    if len(days) <= MAX_DAY_TICKS:
        ax.set_xticks(days)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def history_json(records: list[DayRecord]) -> str:
    return json.dumps([asdict(r) for r in records], indent=1, sort_keys=True, default=_json_default)


def _json_default(value: Any) -> Any:
    return str(value)


def cmd_history(args: Any) -> int:
    """`ranker history --pipeline-root DIR [--png FILE] [--json] [--quality]`."""
    paths = LocalPaths.under(args.pipeline_root)
    try:
        records = read_history(paths.metadata_path)
    except FileNotFoundError as err:
        print(f"history: {err}")
        return 1
    print(history_json(records) if args.json else render_table(records))
    if getattr(args, "quality", False):
        from pipeline.quality.by_day import quality_section

        print("\n" + quality_section(paths.metadata_path))
    if args.png:
        print(f"wrote {plot_history(records, args.png)}")
    return 0
