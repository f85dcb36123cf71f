"""Test-wide setup: Keras 2 (tf-keras) must be selected before TensorFlow is imported anywhere."""

import os
from dataclasses import dataclass

import pytest

from config.runtime import select_keras2

select_keras2()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass(frozen=True)
class TinyRun:
    config: object  # PipelineConfig
    paths: object  # pipeline.local_runner.LocalPaths
    summary: object  # pipeline.summary.RunSummary of the run


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory) -> TinyRun:
    """One run of the `tiny` preset through LocalDagRunner (~2 minutes), shared by the session's e2e tests.

    Tests that only read its outputs share it; test_e2e then runs a refused (diverged) run on the same roots, which
    adds a pipeline run and an unpushed model but leaves the Transform output and the pushed version as they were.
    """
    from config.settings import tiny_preset
    from pipeline.local_runner import LocalPaths, run_local

    base = tmp_path_factory.mktemp("tiny-pipeline")
    config = tiny_preset()
    paths = LocalPaths.under(str(base / "root"), str(base / "serving"))
    return TinyRun(config, paths, run_local(config, paths))
