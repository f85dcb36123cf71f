"""Runs `create_pipeline` locally: LocalDagRunner, Beam's DirectRunner, an embedded SQLite MLMD store."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from tfx import v1 as tfx

from compat.install import install_patches
from config.settings import PipelineConfig
from pipeline.paths import LocalPaths
from pipeline.pipeline import create_pipeline
from pipeline.progress import ProgressDagRunner
from pipeline.summary import RunSummary, summarize_run

log = logging.getLogger(__name__)


def run_local(
    config: PipelineConfig,
    paths: LocalPaths,
    beam_args: list[str] | None = None,
    enable_cache: bool = True,
    day: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> RunSummary:
    """Runs the whole pipeline once, for `day` (default `world.start_day`), and returns what it pushed, the gates'
    verdicts and the metrics. pipeline/sequential.py runs it day after day.

    `progress` receives one line per component (`[k/N] Node: executed in S s`); None: no progress lines.
    """
    os.makedirs(paths.pipeline_root, exist_ok=True)
    pipeline = create_pipeline(
        config,
        pipeline_root=paths.pipeline_root,
        serving_root=paths.serving_root,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(paths.metadata_path),
        beam_pipeline_args=beam_args if beam_args is not None else config.beam.args(),
        enable_cache=enable_cache,
        day=config.world.start_day if day is None else day,
    )
    install_patches()  # every component of the run, Beam-powered ones included, runs in this process
    started = time.time()
    ProgressDagRunner(progress or (lambda line: None)).run(pipeline)
    elapsed = time.time() - started
    return summarize_run(paths.metadata_path, elapsed_s=elapsed)
