"""TFX builds no sdist of itself per Beam component where the Beam workers already have TFX, and still does elsewhere
(compat/tfx_sdist.py), checked through a stock TFX Beam executor."""

from __future__ import annotations

import dataclasses

import pytest
from tfx.components.statistics_gen.executor import Executor as StatisticsGenExecutor
from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
from tfx.utils import dependency_utils

from compat import tfx_sdist
from compat.tfx_sdist import workers_have_tfx
from config.settings import tiny_preset

DIRECT = tiny_preset().beam.args()
PORTABLE = {
    env: dataclasses.replace(
        tiny_preset().beam, runner="PortableRunner", job_endpoint="localhost:8099", environment_type=env
    ).args()
    for env in ("EXTERNAL", "LOOPBACK", "DOCKER")
}
DATAFLOW = ["--runner=DataflowRunner", "--project=p", "--region=r", "--temp_location=gs://b/tmp"]


def test_which_workers_have_tfx():
    assert workers_have_tfx(DIRECT) and workers_have_tfx([])
    assert all(workers_have_tfx(args) for args in PORTABLE.values())
    assert not workers_have_tfx(DATAFLOW)
    assert not workers_have_tfx(["--runner=PortableRunner", "--job_endpoint=localhost:8099"])  # Beam's own image


def executor_args(args: list[str]) -> list[str]:
    """The Beam arguments a stock Beam executor (StatisticsGen's) ends up with."""
    return StatisticsGenExecutor(BaseBeamExecutor.Context(beam_pipeline_args=list(args)))._beam_pipeline_args


def test_tfx_packages_itself_only_for_workers_without_it(monkeypatch):
    built = []

    def build() -> str:
        built.append(1)
        return "/tmp/tfx_ephemeral-1.16.0.tar.gz"

    monkeypatch.setattr(dependency_utils, "build_ephemeral_package", build)
    monkeypatch.setattr(dependency_utils, "make_beam_dependency_flags", tfx_sdist.ORIGINAL)
    assert "--extra_package=/tmp/tfx_ephemeral-1.16.0.tar.gz" in executor_args(DIRECT)  # TFX's own behaviour
    assert tfx_sdist.install()
    assert tfx_sdist.installed()
    built.clear()
    for args in (DIRECT, *PORTABLE.values()):
        assert executor_args(args)[: len(args)] == args
        assert not any(a.startswith("--extra_package") for a in executor_args(args))
    assert built == []
    assert "--extra_package=/tmp/tfx_ephemeral-1.16.0.tar.gz" in executor_args(DATAFLOW)
    assert built == [1]


@pytest.mark.parametrize("args", [DIRECT, PORTABLE["EXTERNAL"]])
def test_the_pass_through_returns_the_arguments_unchanged(args):
    assert tfx_sdist.dependency_flags(list(args)) == args
