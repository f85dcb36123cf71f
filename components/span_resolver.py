"""SpanStrategy: resolves the latest artifact of one span from a channel (e.g. the statistics of the previous day).

TFX's span resolver functions (`static_range`, `rolling_range`) only consider artifact types that declare both `span`
and `version` properties (Examples does); ExampleStatistics declares `span` only, so the DriftGate's "statistics of span
d-1" input is resolved by this small ResolverStrategy instead::

    Resolver(
        strategy_class=SpanStrategy,
        config={"span": d - 1},
        statistics=Channel(type=ExampleStatistics, producer_component_id="StatisticsGen", output_key="statistics"),
    ).with_id("previous_statistics_resolver")

Among the artifacts with `span` == config span, the latest created (highest id) wins; none: an empty list.
"""

from __future__ import annotations

import ml_metadata as mlmd
from tfx import types
from tfx.dsl.components.common import resolver


def artifact_span(artifact: types.Artifact) -> int | None:
    """The `span` of an artifact (property or custom property), or None."""
    if artifact.has_property("span"):
        return int(artifact.span)
    if artifact.has_custom_property("span"):
        return int(artifact.get_int_custom_property("span"))
    return None


class SpanStrategy(resolver.ResolverStrategy):
    """For every input channel: the latest artifact whose span is `span`."""

    def __init__(self, span: int):
        self._span = int(span)

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]] | None:
        out: dict[str, list[types.Artifact]] = {}
        for key, artifacts in input_dict.items():
            matching = [a for a in artifacts if artifact_span(a) == self._span]
            out[key] = [max(matching, key=lambda a: a.id)] if matching else []
        return out
