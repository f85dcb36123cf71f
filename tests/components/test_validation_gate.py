"""An anomaly in the day's data stops the run at the ValidationGate, before Transform: nothing trained, nothing pushed.

The real DAG (`pipeline.local_runner.run_local` -> `create_pipeline`) on the tiny preset, with a world whose optional
fields are always missing (`world.missing_rate = 1.0`: every record is still valid for the parser, so the ingest keeps
them all). The curated schema's presence rule then flags those features in ExampleValidator's anomalies, and the
ValidationGate raises DataValidationError naming them.
"""

from __future__ import annotations

import dataclasses
import os

import pytest

from components.validation_gate import DataValidationError
from config.settings import tiny_preset
from pipeline.local_runner import LocalPaths, run_local

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_an_anomalous_day_stops_the_run_before_transform(tmp_path):
    from ml_metadata.metadata_store import metadata_store
    from tfx.orchestration import metadata

    config = tiny_preset()
    small = {"impressions_per_day": 1_000, "num_shards": 1}  # the stop is at the gate: little data is enough
    config = config.replace(world=dataclasses.replace(config.world, missing_rate=1.0, **small))
    paths = LocalPaths.under(str(tmp_path / "root"), str(tmp_path / "serving"))
    with pytest.raises(DataValidationError, match=r"ExampleValidator found [0-9]+ anomalies") as raised:
        run_local(config, paths)
    message = str(raised.value)
    assert "user_language" in message and "user_age_bucket" in message, message  # named, feature by feature

    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(paths.metadata_path))
    node_type = store.get_context_type("node").id
    ran = {  # the pipeline nodes that have an execution (a failed one included)
        context.name.rsplit(".", 1)[-1]
        for execution in store.get_executions()
        for context in store.get_contexts_by_execution(execution.id)
        if context.type_id == node_type
    }
    assert {"LogIngest", "ExampleValidator", "ValidationGate"} <= ran, ran
    assert not ran & {"Transform", "Trainer", "Evaluator", "RankerPusher"}, ran
    assert not os.path.exists(os.path.join(paths.serving_root, config.model_name))
