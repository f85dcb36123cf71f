"""What a quality report reads from MLMD, per pipeline run: the models, the training window, span d+1, the world.

For each `pipeline_run` context: the Trainer's model (and whether RankerPusher pushed it), the in-pipeline simple
model (node `BaselineTrainer`, when the pipeline has one), the Examples artifacts Transform read (the training
window), the next day's Examples (`NextDayLogIngest`: all of span d+1, both splits) and LogGen's world config
(absent when the run ingested its own logs: no oracle, no generated days).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ml_metadata.proto import metadata_store_pb2

from config.settings import WorldConfig, section_from_json
from pipeline.mlmd import INPUT_EVENTS, OUTPUT_EVENTS, artifact_properties, open_store

RANKER_TRAINER = "Trainer"
BASELINE_TRAINER = "BaselineTrainer"
NEXT_DAY_INGEST = "NextDayLogIngest"


@dataclass
class RunSources:
    run_id: str
    created_ms: int
    day: int | None = None
    ranker_uri: str | None = None
    pushed_version: str | None = None
    baseline_uri: str | None = None
    train_examples: list[tuple[int | None, str]] = field(default_factory=list)  # (span, uri) Transform read
    eval_span: int | None = None
    eval_examples_uri: str | None = None
    world: WorldConfig | None = None

    @property
    def complete(self) -> bool:
        """Enough to report on: a trained ranker, its training window and span d+1."""
        return bool(self.ranker_uri and self.train_examples and self.eval_examples_uri)

    @property
    def model_label(self) -> str:
        return f"pushed version {self.pushed_version}" if self.pushed_version else "trained, not pushed"


def read_sources(metadata_path: str) -> list[RunSources]:
    """One RunSources per pipeline run in the store, oldest first."""
    store = open_store(metadata_path)
    node_of: dict[int, str] = {}
    for context in store.get_contexts_by_type("node"):
        node = context.name.rsplit(".", 1)[-1]
        for execution in store.get_executions_by_context(context.id):
            node_of[execution.id] = node
    events_of: dict[int, list[metadata_store_pb2.Event]] = {}
    for event in store.get_events_by_execution_ids(list(node_of)) if node_of else []:
        events_of.setdefault(event.execution_id, []).append(event)
    ids = sorted({e.artifact_id for events in events_of.values() for e in events})
    artifacts = {a.id: a for a in store.get_artifacts_by_id(ids)} if ids else {}

    def io(execution_id: int, key: str, kinds: tuple) -> list[metadata_store_pb2.Artifact]:
        found = [
            e.artifact_id
            for e in events_of.get(execution_id, [])
            if e.type in kinds and e.path.steps and e.path.steps[0].key == key
        ]
        return [artifacts[i] for i in found if i in artifacts]

    runs = []
    for run in sorted(store.get_contexts_by_type("pipeline_run"), key=lambda c: c.create_time_since_epoch):
        sources = RunSources(run_id=run.name, created_ms=run.create_time_since_epoch)
        day = run.custom_properties.get("day")
        if day is not None and day.HasField("int_value"):
            sources.day = day.int_value
        for execution in store.get_executions_by_context(run.id):
            _absorb(sources, node_of.get(execution.id, ""), execution, io)
        runs.append(sources)
    return runs


def _span(artifact: metadata_store_pb2.Artifact) -> int | None:
    span = artifact_properties(artifact).get("span")
    return int(span) if span is not None else None


def _absorb(sources: RunSources, node: str, execution: metadata_store_pb2.Execution, io) -> None:
    if node == "LogGen":
        world_json = execution.custom_properties.get("world_json")
        if world_json is not None and world_json.HasField("string_value"):
            sources.world = section_from_json(WorldConfig, world_json.string_value, "world")
        day = execution.custom_properties.get("day")
        if sources.day is None and day is not None and day.HasField("int_value"):
            sources.day = day.int_value
    elif node == RANKER_TRAINER:
        for model in io(execution.id, "model", OUTPUT_EVENTS):
            sources.ranker_uri = model.uri
    elif node == BASELINE_TRAINER:
        for model in io(execution.id, "model", OUTPUT_EVENTS):
            sources.baseline_uri = model.uri
    elif node == "Transform":
        sources.train_examples = sorted(
            ((_span(a), a.uri) for a in io(execution.id, "examples", INPUT_EVENTS)), key=lambda s: (s[0] is None, s)
        )
    elif node == NEXT_DAY_INGEST:
        for examples in io(execution.id, "examples", OUTPUT_EVENTS):
            sources.eval_examples_uri = examples.uri
            sources.eval_span = _span(examples)
    elif node == "RankerPusher":
        for pushed in io(execution.id, "pushed_model", OUTPUT_EVENTS):
            props = artifact_properties(pushed)
            if props.get("pushed"):
                sources.pushed_version = str(props.get("pushed_version"))
