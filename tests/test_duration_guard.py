"""The duration guard of tests/conftest.py fails a passing test that runs past its tier's budget, and only then."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CONFTEST = Path(__file__).with_name("conftest.py")

SAMPLE = """
import time
import pytest

@pytest.fixture(scope="module")
def costly():
    time.sleep(0.4)

def test_quick():
    pass

def test_over_the_unit_budget():
    time.sleep(0.4)

def test_its_fixture_counts(costly):
    pass

@pytest.mark.slow
def test_slow_has_a_larger_budget():
    time.sleep(0.4)

@pytest.fixture(scope="module")
def small_shared():
    from conftest import _built
    return _built("trained_ranker", lambda: time.sleep(0.4))

@pytest.fixture(scope="module")
def big_shared():
    from conftest import _built
    return _built("trained_ranker", lambda: time.sleep(2.0))

def test_a_shared_fixtures_build_is_not_charged_to_the_test(small_shared):
    pass

def test_a_shared_fixture_over_its_own_budget_fails(big_shared):
    pass

def test_a_failure_stays_a_failure():
    time.sleep(0.4)
    assert False, "the test's own failure"
"""


def run_sample(tmp_path: Path, scale: str) -> str:
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    env = {**os.environ, "RANKER_TEST_TIME_SCALE": scale, "RANKER_TEST_WARMUP": "0"}  # the sample needs no TF
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "test_sample.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    return done.stdout + done.stderr


def test_guard_fails_unit_tests_over_budget_and_spares_marked_ones(tmp_path):
    # Scale 0.01: the unit budget is 0.2 s, the slow one 3 s, the shared `trained_ranker` one 0.6 s.
    out = run_sample(tmp_path, "0.01")
    assert "PASSED test_sample.py::test_quick" in out
    assert "FAILED test_sample.py::test_over_the_unit_budget" in out
    assert "FAILED test_sample.py::test_its_fixture_counts" in out  # a module fixture's setup counts
    assert "PASSED test_sample.py::test_slow_has_a_larger_budget" in out
    assert "over the 'unit' tier's budget of 0.2 s" in out
    assert "the test's own failure" in out  # a real failure is reported as itself, not as the guard's
    assert "PASSED test_sample.py::test_a_shared_fixtures_build_is_not_charged_to_the_test" in out
    assert "FAILED test_sample.py::test_a_shared_fixture_over_its_own_budget_fails" in out
    assert "the shared fixture 'trained_ranker' took" in out
    assert "4 failed, 3 passed" in out, out


def test_scale_zero_turns_the_guard_off(tmp_path):
    out = run_sample(tmp_path, "0")
    assert "1 failed, 6 passed" in out, out
