"""Shared helpers of the benchmarks: interleaved timing, paired ratios, percentiles, machine facts, JSON output.

Nothing here imports TensorFlow, so the statistics are unit-testable in milliseconds. A step function may return a
TensorFlow tensor: `interleaved` waits for it (``.numpy()``) before stopping the clock.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import math
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Samples = dict[str, list[float]]


def cpu_count() -> int:
    """Cores this process may run on (the affinity mask, which a container may narrow), else os.cpu_count()."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def load_average() -> float:
    """The 1-minute load average (0.0 where the platform has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return 0.0


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_facts() -> dict[str, Any]:
    """Core count, load average now, platform and the versions that matter (read without importing them)."""
    return {
        "cpu_count": cpu_count(),
        "load_average": load_average(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": package_version("tensorflow"),
        "apache_beam": package_version("apache-beam"),
        "tfx": package_version("tfx"),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def command_line(module: str, argv: Sequence[str] | None) -> str:
    """The command that reproduces this run: `python -m <module> <args>`, each argument quoted for a shell."""
    args = list(sys.argv[1:] if argv is None else argv)
    return " ".join(["python -m " + module, *(shlex.quote(a) for a in args)]).strip()


def write_json(path: str | Path, data: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


# --------------------------------------------------------------------------------------------------------------
# Timing


def _sync(result: Any) -> None:
    """Waits for an asynchronously computed TensorFlow result (anything with .numpy())."""
    if hasattr(result, "numpy"):
        result.numpy()


def interleaved(
    steps: dict[str, Callable[[], Any]],
    rounds: int,
    per_round: int,
    warmup: int = 2,
    lead_in: int = 0,
    pause_s: float = 0.0,
) -> Samples:
    """Seconds per call of every step function, one sample per round; the order rotates from round to round.

    Each function is first called `warmup` times (tracing, caches); then every round times `per_round` calls of
    each contender back to back, so slow drifts of a shared machine's load hit every contender alike.

    Steps fed by tf.data pipelines keep prefetching while the other contenders run, which steals their CPU and
    hands the pipeline pre-made batches: `pause_s` (an untimed sleep before each contender's block) lets that
    background work finish outside any timing, and `lead_in` untimed calls at the start of each block consume the
    batches made ahead, so the timed calls see the pipeline's steady state.
    """
    names = list(steps)
    for step in steps.values():
        for _ in range(warmup):
            _sync(step())
    samples: Samples = {name: [] for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            if pause_s:
                time.sleep(pause_s)
            result = None
            for _ in range(lead_in):
                result = steps[name]()
            _sync(result)
            start = time.perf_counter()
            for _ in range(per_round):
                result = steps[name]()
            _sync(result)
            samples[name].append((time.perf_counter() - start) / per_round)
    return samples


def paired_ratio(samples: Samples, name: str, baseline: str) -> float:
    """Median over rounds of time(name) / time(baseline) measured in the same round."""
    return statistics.median(mine / theirs for mine, theirs in zip(samples[name], samples[baseline]))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between order statistics (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q must be in [0, 100], got {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def time_summary(values: Sequence[float]) -> dict[str, Any]:
    """Median, minimum and quartiles (statistics.quantiles, n=4) of per-step seconds, in milliseconds."""
    quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return {
        "median_ms": 1e3 * statistics.median(values),
        "min_ms": 1e3 * min(values),
        "p25_ms": 1e3 * quartiles[0],
        "p75_ms": 1e3 * quartiles[2],
        "samples": len(values),
    }


def latency_summary(values: Sequence[float]) -> dict[str, Any]:
    """p50 / p90 / p99 / max / mean of per-request seconds, in milliseconds."""
    return {
        "p50_ms": 1e3 * percentile(values, 50),
        "p90_ms": 1e3 * percentile(values, 90),
        "p99_ms": 1e3 * percentile(values, 99),
        "max_ms": 1e3 * max(values),
        "mean_ms": 1e3 * statistics.fmean(values),
        "samples": len(values),
    }


class Stopwatch:
    """`with Stopwatch() as watch: ...; watch.seconds`; also records the load average before and after."""

    def __enter__(self) -> Stopwatch:
        self.load_before = load_average()
        self._start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start
        self.load_after = load_average()
