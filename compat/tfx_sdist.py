"""Keeps TFX from re-packaging itself for every Beam component when the Beam workers already have TFX.

`BaseBeamExecutor.__init__` passes nonempty Beam arguments through `tfx.utils.dependency_utils.
make_beam_dependency_flags`, which, unless `--extra_package`, `--setup_file`, `--requirements_file` or a worker or
SDK container image is given, copies the installed `tfx` package (48 MB) to a temporary directory and runs
`setup.py sdist` in a subprocess, to stage it as `--extra_package`. It does so for each Beam component of each run,
on every runner, the DirectRunner included (CHANGELOG.md has what it costs a tiny run).

Where our pipelines run, the workers already have TFX and our code, so that package is never used:
* `DirectRunner`: the components run in this process;
* `PortableRunner` with `environment_type` EXTERNAL or LOOPBACK: the SDK workers are started from the pipeline image
  or venv (docs/deploy.md: worker pools from the image), or run in this process;
* `PortableRunner` with DOCKER: the container is the pipeline image, which has TFX installed.
For these the flags pass through unchanged; any other runner or environment (for example Dataflow without a
container image) still gets TFX's own behaviour. Installed by compat.install.install_patches() where a local run
starts (`pipeline.local_runner`), which covers every component of the run.
"""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions
from tfx.utils import dependency_utils

from compat.versions import set_if_written_for

NAME = "TFX's sdist pass-through"
WRITTEN_FOR = {"tfx": "1.16.0", "apache-beam": "2.59.0"}
ORIGINAL = dependency_utils.make_beam_dependency_flags
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


def dependency_flags(beam_pipeline_args: list[str]) -> list[str]:
    """`make_beam_dependency_flags`, passing the arguments through unchanged where the workers have TFX."""
    if workers_have_tfx(beam_pipeline_args):
        return beam_pipeline_args
    return ORIGINAL(beam_pipeline_args)


def install() -> bool:
    """Installs the pass-through for this process (idempotent); False on a TFX it is not written for."""
    return set_if_written_for(NAME, WRITTEN_FOR, dependency_utils, "make_beam_dependency_flags", dependency_flags)


def installed() -> bool:
    return dependency_utils.make_beam_dependency_flags is dependency_flags
