"""LogGen: the TFX component that writes one day (span) of synthetic impression logs (RawLogs) with Beam.

The Beam job is generation.run.GenerateLogs; this module adapts it to TFX: the spec, the executor that runs it in
the component's Beam pipeline and records the day's counts on the artifact, and the component.
"""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.dsl.components.base import base_beam_component, base_beam_executor, executor_spec
from tfx.types import artifact_utils
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from compat.install import install_patches
from components.types import RawLogs
from config.settings import WorldConfig, section_from_json, section_json
from generation.run import GenerateLogs, read_generation_summary


class LogGenSpec(types.ComponentSpec):
    """LogGen: exec properties `world_json` (section_json of a WorldConfig) and optional `day`; output `logs`."""

    PARAMETERS = {
        "world_json": ExecutionParameter(type=str),
        "day": ExecutionParameter(type=int, optional=True),
    }
    INPUTS: dict[str, ChannelParameter] = {}
    OUTPUTS = {"logs": ChannelParameter(type=RawLogs)}


class LogGenExecutor(base_beam_executor.BaseBeamExecutor):
    """Runs GenerateLogs for one day (exec property `day`, default `world.start_day`)."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        world = section_from_json(WorldConfig, exec_properties["world_json"], "world")
        day = exec_properties.get("day")
        day = world.start_day if day is None else int(day)
        logs = artifact_utils.get_single_instance(output_dict["logs"])
        install_patches()
        with self._make_beam_pipeline() as pipeline:
            _ = pipeline | "GenerateLogs" >> GenerateLogs(world, [day], logs.uri)
        summary = read_generation_summary(logs.uri)
        logs.span = day
        logs.set_int_custom_property("day", day)
        logs.set_int_custom_property("num_lines", summary["lines"])
        logs.set_int_custom_property("num_shards", world.num_shards)
        logs.set_int_custom_property("num_corrupted", summary["num_corrupted"])
        logs.set_int_custom_property("seed", world.seed)


class LogGen(base_beam_component.BaseBeamComponent):
    """Generates one day (span) of synthetic impression logs with Beam.

    Settings: the world (exec property `world_json`) and `day` (optional int, default `world.start_day`).
    Output: `logs` (RawLogs). `beam_pipeline_args` apply.
    """

    SPEC_CLASS = LogGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(LogGenExecutor)

    def __init__(self, world: WorldConfig, day: int | None = None):
        spec = LogGenSpec(world_json=section_json(world), day=day, logs=types.Channel(type=RawLogs))
        super().__init__(spec=spec)
