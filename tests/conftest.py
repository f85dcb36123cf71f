"""Test-wide setup: Keras 2 (tf-keras) must be selected before TensorFlow is imported anywhere.

Also here: the per-tier duration guard, the xdist grouping, and the session-scoped fixtures shared across files.

Duration tiers (a test's setup + call time, so an expensive fixture counts against the first test that builds it):

* unit, 20 s: unmarked tests; `make check` runs only these;
* slow, 300 s: `@pytest.mark.slow`: trains, runs Beam/TFX components or subprocesses; every test that uses the
  shared `trained_ranker` fixture is marked slow here;
* e2e, 600 s: `@pytest.mark.e2e`: whole pipelines (the tiny preset).

The shared session fixtures (`tiny_pipeline`, `trained_ranker`, `crashed_run`) are not charged to the test that
happens to build them: their build time is checked against their own budgets (SHARED_BUDGET_S: 300 s, 60 s, 300 s).

A test that passes but runs past its tier's budget fails, naming the tier and the time: mark it (and justify the
mark) or make it cheaper. The budgets are for a quiet 2-core machine; `RANKER_TEST_TIME_SCALE=3` multiplies them
(a loaded machine), `RANKER_TEST_TIME_SCALE=0` turns the guard off.

Under pytest-xdist (`make test`, `make check`: `-n 2 --dist loadgroup`) every test of one file runs on the same
worker, so module-scoped fixtures are built once; the users of a session fixture (SHARED_SESSION_FIXTURES)
are put in one group, so each is built once: `trained_ranker` is made of `tiny_pipeline`'s outputs, so all their
users share the group of `tiny_pipeline`, the first of SHARED_SESSION_FIXTURES that a test uses.
"""

import os
import time
from dataclasses import dataclass

import pytest

from config.runtime import select_keras2

select_keras2()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BUDGET_S = {"unit": 20.0, "slow": 300.0, "e2e": 600.0}
TIER_RANK = {"unit": 0, "slow": 1, "e2e": 2}
# Session fixtures whose users must share one xdist worker (each worker would otherwise build its own), with their
# own budgets: the time to build one is not charged to the test that happens to run first, but checked on its own.
SHARED_SESSION_FIXTURES = ("tiny_pipeline", "trained_ranker", "crashed_run")
SHARED_BUDGET_S = {"tiny_pipeline": 300.0, "trained_ranker": 60.0, "crashed_run": 300.0}
_shared_built: list[tuple[str, float]] = []  # (fixture, seconds) built since the last test's setup ended


def pytest_sessionstart(session: pytest.Session) -> None:
    """Pays TensorFlow's first-use cost once per test process, before any test: kernel and op registration, the
    first tf.function trace and Keras fit (seconds on 2 cores: the first TF test of a process pays them, the same
    test after another does not). Without this, the first TF test of each xdist worker is charged for it by
    the duration guard. `RANKER_TEST_WARMUP=0` skips it; the xdist controller, which runs no test, skips it too."""
    config = session.config
    if os.environ.get("RANKER_TEST_WARMUP", "1") == "0" or config.option.collectonly:
        return
    if getattr(config, "workerinput", None) is None and getattr(config.option, "numprocesses", None):
        return  # the xdist controller
    import numpy as np
    import tensorflow as tf

    ids = tf.keras.Input((1,), dtype=tf.int32)
    hidden = tf.keras.layers.Flatten()(tf.keras.layers.Embedding(4, 2)(ids))
    model = tf.keras.Model(ids, tf.keras.layers.Dense(1)(hidden))
    model.compile(optimizer=tf.keras.optimizers.Adagrad(0.1), loss="mse")
    model.fit(np.zeros((4, 1), np.int32), np.zeros((4, 1), np.float32), verbose=0)


def tier(item: pytest.Item) -> str:
    if item.get_closest_marker("e2e"):
        return "e2e"
    return "slow" if item.get_closest_marker("slow") else "unit"


def time_scale() -> float:
    return float(os.environ.get("RANKER_TEST_TIME_SCALE", "1"))


_setup_s = pytest.StashKey[float]()
_shared_s = pytest.StashKey[list]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if call.when == "setup":
        item.stash[_setup_s] = call.duration - sum(seconds for _, seconds in _shared_built)
        item.stash[_shared_s] = list(_shared_built)
        _shared_built.clear()
        return
    if call.when != "call" or not report.passed or time_scale() <= 0:
        return
    over = []
    for fixture, seconds in item.stash.get(_shared_s, []):
        if seconds > SHARED_BUDGET_S[fixture] * time_scale():
            over.append(
                f"the shared fixture {fixture!r} took {seconds:.1f} s to build, over its budget of "
                f"{SHARED_BUDGET_S[fixture] * time_scale():g} s"
            )
    spent = item.stash.get(_setup_s, 0.0) + call.duration
    name = tier(item)
    budget = BUDGET_S[name] * time_scale()
    if spent > budget:
        over.append(f"{item.nodeid} took {spent:.1f} s (setup + call), over the {name!r} tier's budget of {budget:g} s")
    if over:
        report.outcome = "failed"
        report.longrepr = (
            "duration guard: " + "; ".join(over) + " (tests/conftest.py). Make it cheaper, or mark it slow/e2e if it "
            "must be this costly."
        )


def _built(fixture: str, build):
    """Builds a shared session fixture, recording its build time for the guard (not charged to the test)."""
    started = time.perf_counter()
    value = build()
    _shared_built.append((fixture, time.perf_counter() - started))
    return value


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """xdist groups (used with `--dist loadgroup`): one per file; a file using a shared session fixture joins the
    fixture's group (with every other file using it)."""
    group_of_file: dict[str, str] = {}
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        shared = [f for f in SHARED_SESSION_FIXTURES if f in getattr(item, "fixturenames", ())]
        if shared or path not in group_of_file:
            group_of_file[path] = shared[0] if shared else group_of_file.get(path, path)
    for item in items:
        item.add_marker(pytest.mark.xdist_group(group_of_file[item.nodeid.split("::", 1)[0]]))
        # A test that needs the shared training (built in its setup when it runs first) is in the slow tier.
        if "trained_ranker" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
    # The costliest groups first (e2e, then slow, then unit; collection order within a tier), so that the workers
    # end together instead of one running the whole pipelines at the end while the other idles. xdist hands out
    # groups in this order with `--no-loadscope-reorder` (Makefile); its default orders them by test count.
    group_rank: dict[str, int] = {}
    for item in items:
        group = group_of_file[item.nodeid.split("::", 1)[0]]
        group_rank[group] = max(group_rank.get(group, 0), TIER_RANK[tier(item)])
    items.sort(key=lambda item: -group_rank[group_of_file[item.nodeid.split("::", 1)[0]]])


@dataclass(frozen=True)
class TinyRun:
    config: object  # PipelineConfig
    paths: object  # pipeline.paths.LocalPaths
    summary: object  # pipeline.summary.RunSummary of the run
    snapshot: object  # LocalPaths of a copy of the MLMD store and serving root, taken as soon as the run ended
    artifacts: dict  # {name: uri} of day 0's data, Transform and Trainer outputs (helpers/trained.py)

    def continue_from(self, directory) -> object:
        """LocalPaths under `directory` holding a copy of the store and the serving root as day 0 left them: a test
        runs later days there without touching the shared run (the store's artifact URIs still name the shared
        pipeline root, whose day-0 artifacts nothing changes; new artifacts go under `directory`)."""
        return _copy_store_and_serving(self.snapshot, directory)


def _copy_store_and_serving(paths, directory) -> object:
    """LocalPaths under `directory` (root/, serving/) with a copy of `paths`' MLMD store and serving root."""
    import shutil

    from pipeline.paths import LocalPaths

    copy = LocalPaths.under(str(directory / "root"), str(directory / "serving"))
    os.makedirs(copy.pipeline_root)
    shutil.copyfile(paths.metadata_path, copy.metadata_path)
    shutil.copytree(paths.serving_root, copy.serving_root)
    return copy


@pytest.fixture(scope="session")
def portable_beam(tmp_path_factory):
    """(job endpoint, worker pool address): Beam's own local job service and SDK worker pool, for the session."""
    from helpers.beam_services import beam_services

    with beam_services(tmp_path_factory.mktemp("beam-services")) as endpoints:
        yield endpoints


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory, portable_beam) -> TinyRun:
    """Day 0 of a sequence (`run_days`: one run of the `tiny` preset through LocalDagRunner, marked as day 0 in
    MLMD), its Beam components (LogGen, LogIngest, StatisticsGen x2, Transform, Evaluator) sent through Beam's
    portable Job API (`portable_beam`) exactly as `ranker run --beam-runner portable` sends them. Shared by the
    session's e2e tests; test_e2e_portable_runner checks what is particular to the portable runner.

    Tests only read its outputs; test_e2e_sequential runs day 1 on a copy (`continue_from`) of the store and serving
    root as day 0 left them.
    """
    import dataclasses

    from helpers.trained import day0_artifacts

    from config.settings import tiny_preset
    from config.validation import validate_config
    from pipeline.paths import LocalPaths
    from pipeline.sequential import run_days

    job_endpoint, worker_pool = portable_beam
    config = tiny_preset()
    beam = dataclasses.replace(
        config.beam,
        runner="PortableRunner",
        job_endpoint=job_endpoint,
        environment_type="EXTERNAL",
        environment_config=worker_pool,
    )
    config = validate_config(config.replace(beam=beam))
    base = tmp_path_factory.mktemp("tiny-pipeline")
    paths = LocalPaths.under(str(base / "root"), str(base / "serving"))

    def build() -> TinyRun:
        started = time.monotonic()
        [day0] = run_days(config, paths, [config.world.start_day])
        assert day0.summary is not None, day0.line()
        print(f"shared tiny run through the portable runner: {time.monotonic() - started:.0f} s")
        snapshot = _copy_store_and_serving(paths, base / "day0-snapshot")
        return TinyRun(config, paths, day0.summary, snapshot, day0_artifacts(paths.pipeline_root))

    return _built("tiny_pipeline", build)


@pytest.fixture(scope="session")
def trained_ranker(tiny_pipeline, tmp_path_factory):
    """The shared tiny run's data, Transform and trained model, and the same ranker untrained (helpers/trained.py)."""
    from helpers.trained import build_trained_ranker

    root = str(tmp_path_factory.mktemp("trained-ranker"))
    return _built("trained_ranker", lambda: build_trained_ranker(tiny_pipeline.config, tiny_pipeline.artifacts, root))


@pytest.fixture(scope="session")
def crashed_run(tmp_path_factory):
    """`ranker run --preset tiny` killed during training and run again (helpers/cli_runs.py): the crash test checks
    it, the recovery test starts from a copy of its store."""
    from helpers.cli_runs import crash_and_rerun

    return _built("crashed_run", lambda: crash_and_rerun(tmp_path_factory.mktemp("crashed-run")))
