"""LatestPushedModelStrategy: resolves the model TF Serving is serving now, the latest one RankerPusher pushed.

The ranker is pushed only when both the Evaluator and the StabilityGate bless it, so TFX's LatestBlessedModelStrategy
(Evaluator blessing only) could pick a model the stability gate refused, and TFX's LATEST_PUSHED policy counts every
PushedModel artifact, including RankerPusher's "not pushed" records. This strategy follows the lineage instead: among
the PushedModel artifacts with `pushed` = 1, the latest (highest id) one's producing execution names the Model it
pushed. That model is the Evaluator's baseline and the Trainer's warm-start base, so a day that fails a gate leaves
both on the last good model.

With `before_day` = d (the run of day d), only pushes made by runs of earlier days count: the push's `examples` input
is the evaluation span, d' + 1 for the run of day d'. The run of day d then continues the model served before it
whether it runs for the first time or again (a rerun resolves the same base, so its Trainer comes from the cache and
pushes nothing new), and a second configuration tried on the same day starts from the same base.

Usage (pipeline/pipeline.py)::

    Resolver(
        strategy_class=LatestPushedModelStrategy,
        config={"before_day": d},
        model=Channel(type=Model, producer_component_id="Trainer"),
        pushed_model=Channel(type=PushedModel, producer_component_id="RankerPusher"),
    ).with_id("latest_pushed_model_resolver")
"""

from __future__ import annotations

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.components.common import resolver
from tfx.types import standard_artifacts

MODEL_KEY = "model"
EXAMPLES_KEY = "examples"  # RankerPusher's input: the evaluation span (the run's day + 1)
PUSHED_MODEL_KEY = "pushed_model"
PUSHED_PROPERTY = "pushed"
_OUTPUTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
_INPUTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)


def push_inputs(store: mlmd.MetadataStore, pushed_model_id: int) -> dict[str, int]:
    """{input key: artifact id} of the execution that produced PushedModel `pushed_model_id`."""
    producers = [e.execution_id for e in store.get_events_by_artifact_ids([pushed_model_id]) if e.type in _OUTPUTS]
    return {
        event.path.steps[0].key: event.artifact_id
        for event in store.get_events_by_execution_ids(producers)
        if event.type in _INPUTS and event.path.steps
    }


def _span(store: mlmd.MetadataStore, artifact_id: int | None) -> int | None:
    if artifact_id is None:
        return None
    [artifact] = store.get_artifacts_by_id([artifact_id])
    value = artifact.properties.get("span")
    return value.int_value if value is not None and value.HasField("int_value") else None


class LatestPushedModelStrategy(resolver.ResolverStrategy):
    """Resolves the latest pushed Model and its PushedModel (empty lists when nothing was pushed yet)."""

    def __init__(self, before_day: int | None = None):
        self._before_day = before_day

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]] | None:
        empty: dict[str, list[types.Artifact]] = {key: [] for key in input_dict}
        models = {m.id: m for m in input_dict.get(MODEL_KEY, [])}
        pushes = [
            p
            for p in input_dict.get(PUSHED_MODEL_KEY, [])
            if isinstance(p, standard_artifacts.PushedModel)
            and p.has_custom_property(PUSHED_PROPERTY)
            and p.get_int_custom_property(PUSHED_PROPERTY) == 1
        ]
        for push in sorted(pushes, key=lambda a: a.id, reverse=True):
            inputs = push_inputs(store, push.id)
            eval_span = _span(store, inputs.get(EXAMPLES_KEY))
            if self._before_day is not None and eval_span is not None and eval_span - 1 >= self._before_day:
                continue  # pushed by the run of this day or a later one
            model_id = inputs.get(MODEL_KEY)
            if model_id in models:
                return {MODEL_KEY: [models[model_id]], PUSHED_MODEL_KEY: [push]}
        return empty
