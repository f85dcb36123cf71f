"""Keeps TFX 1.16 from re-packaging itself for every Beam component when the Beam workers already have TFX.

`BaseBeamExecutor.__init__` passes nonempty Beam arguments through `tfx.utils.dependency_utils.
make_beam_dependency_flags`, which, unless `--extra_package`, `--setup_file`, `--requirements_file` or a worker or
SDK container image is given, copies the installed `tfx` package (48 MB) to a temporary directory and runs
`setup.py sdist` in a subprocess, to stage it as `--extra_package`. It does so for each Beam component of each run,
on every runner: measured, 8 builds and 10.4 s of a 64 s tiny run on the DirectRunner.

Where our pipelines run, the workers already have TFX and our code, so that package is never used:
* `DirectRunner`: the components run in this process;
* `PortableRunner` with `environment_type` EXTERNAL or LOOPBACK: the SDK workers are started from the pipeline image
  or venv (README: worker pools from the image), or run in this process;
* `PortableRunner` with DOCKER: the README's container is the pipeline image, which has TFX installed.
For these, `ship_no_tfx_package()` makes the flags pass through unchanged; any other runner or environment (for
example Dataflow without a container image) still gets TFX's own behaviour. It is installed where a local run starts
(`pipeline.local_runner`), which covers every component of the run.
"""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions
from tfx.utils import dependency_utils

_original = dependency_utils.make_beam_dependency_flags
DIRECT_RUNNERS = ("DirectRunner", "direct", "BundleBasedDirectRunner", "SwitchingDirectRunner")
PORTABLE_RUNNERS = ("PortableRunner", "portable")
OUR_ENVIRONMENTS = ("EXTERNAL", "LOOPBACK", "DOCKER")


def workers_have_tfx(beam_pipeline_args: list[str]) -> bool:
    """True where the Beam workers of these arguments run TFX from this process, venv or the pipeline image."""
    options = PipelineOptions(flags=list(beam_pipeline_args)).get_all_options()
    runner = options.get("runner") or "DirectRunner"
    if runner in DIRECT_RUNNERS:
        return True
    return runner in PORTABLE_RUNNERS and (options.get("environment_type") or "").upper() in OUR_ENVIRONMENTS


def _dependency_flags(beam_pipeline_args: list[str]) -> list[str]:
    if workers_have_tfx(beam_pipeline_args):
        return beam_pipeline_args
    return _original(beam_pipeline_args)


def ship_no_tfx_package() -> None:
    """Installs the pass-through for this process (idempotent; see the module docstring)."""
    dependency_utils.make_beam_dependency_flags = _dependency_flags


def ships_no_tfx_package() -> bool:
    return dependency_utils.make_beam_dependency_flags is _dependency_flags
