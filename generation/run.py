"""The generation job: all shards of the given days, then generation.json; run inside LogGen or on its own.

    Create[(day, shard), ...] -> Reshuffle -> ParDo(write one gzipped JSON-lines file per shard)
                              -> CombineGlobally(merge per-shard stats) -> <uri>/generation.json

`run_generation(config, out_dir, beam_args)` runs the job outside TFX. Throughput against a single-process writer of
the same files, per DirectRunner mode: benchmarks/generation_bench.py (numbers in docs/benchmarks/generation.md).
`multi_processing` is the slowest mode on two cores: each worker process imports TensorFlow before its first bundle.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from compat.install import install_patches
from config.settings import PipelineConfig, WorldConfig
from generation.layout import GENERATION_SUMMARY_FILE
from generation.shard import WriteShardFn
from generation.stats import MergeShardStats
from ingest.layout import join
from ingest.sink import WriteJsonFile


class GenerateLogs(beam.PTransform):
    """Writes the logs of `days` (all shards of each) under `logs_uri`, plus `generation.json`."""

    def __init__(self, world: WorldConfig, days: Sequence[int], logs_uri: str):
        super().__init__()
        self._world = world
        self._days = [int(d) for d in days]
        self._logs_uri = logs_uri

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.pvalue.PDone:
        header = {
            "seed": self._world.seed,
            "days": self._days,
            "num_shards": self._world.num_shards,
            "malformed_rate": self._world.malformed_rate,
        }
        seeds = [(day, shard) for day in self._days for shard in range(self._world.num_shards)]
        return (
            pbegin
            | "DayShards" >> beam.Create(seeds)
            | "Spread" >> beam.Reshuffle()
            | "WriteShard" >> beam.ParDo(WriteShardFn(self._world, self._logs_uri))
            | "Summarise" >> beam.CombineGlobally(MergeShardStats())
            | "ToJson" >> beam.Map(lambda stats: json.dumps({**header, **stats}, sort_keys=True))
            | "WriteSummary" >> WriteJsonFile(join(self._logs_uri, GENERATION_SUMMARY_FILE))
        )


def read_generation_summary(logs_uri: str) -> dict[str, Any]:
    """The `generation.json` written by GenerateLogs."""
    with FileSystems.open(join(logs_uri, GENERATION_SUMMARY_FILE)) as handle:
        return json.loads(handle.read())


def run_generation(
    config: PipelineConfig,
    out_dir: str,
    beam_args: Sequence[str] | None = None,
    days: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Generates `days` (default: the config's start_day .. start_day + num_days - 1) into `out_dir`.

    Usable outside TFX; returns the generation summary.
    """
    world = config.world
    if days is None:
        days = range(world.start_day, world.start_day + world.num_days)
    install_patches()
    with beam.Pipeline(argv=list(beam_args or [])) as pipeline:
        _ = pipeline | GenerateLogs(world, list(days), out_dir)
    return read_generation_summary(out_dir)
