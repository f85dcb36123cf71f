"""A minimal, project-free reproduction of the Beam 2.59 data-plane race that loses elements in multi_threading.

    .venv/bin/python scripts/beam_race_repro.py                 # race on: elements are lost
    .venv/bin/python scripts/beam_race_repro.py --safe          # DATA_BUFFER_TIME_LIMIT_MS = 0: none lost

The pipeline has no project code: Create(range(N)) -> Reshuffle -> FlatMap(x -> K copies) -> GroupByKey -> count.
It runs on the DirectRunner (FnApiRunner) with `direct_running_mode=multi_threading`, which starts its embedded SDK
worker with `worker_handlers.DATA_BUFFER_TIME_LIMIT_MS` (1000 ms): every data-plane output stream then has a
`PeriodicThread` that calls `flush()` = `self._flush_callback(self.get()); self._clear()`
(apache_beam/runners/worker/data_plane.py) under a lock that the bundle thread, writing elements into the same
buffer, never takes. Whatever the bundle thread writes between `get()` and `_clear()` is wiped.

On an idle machine the window between `get()` and `_clear()` is short and the loss is rare (seen in 3 of 14 real
ingests on a loaded machine). To make it visible in one run, this script widens that window the way a busy machine
does: the periodic flusher thread (and only it) sleeps `--delay-ms` inside the flush callback, i.e. after `get()` and
before `_clear()`, and the flush interval is shortened to `--interval-ms`. Nothing else is changed;
with `--safe` (the fix used by compat/beam_data_plane.py: `DATA_BUFFER_TIME_LIMIT_MS = 0`, size-based buffering only,
no flusher thread) the same delays lose nothing.

Prints one line per run: expected and counted elements and how many were lost; exit status 1 if any were lost.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import worker_handlers
from apache_beam.runners.worker import data_plane


def widen_race_window(delay_s: float) -> None:
    """The periodic flusher sleeps after `get()`, before `_clear()` (as a descheduled thread would)."""
    original_init = data_plane.TimeBasedBufferingClosableOutputStream.__init__

    def init(self, close_callback=None, flush_callback=None, *args, **kwargs):
        def delayed(data, _callback=flush_callback):
            if isinstance(threading.current_thread(), data_plane.PeriodicThread):
                time.sleep(delay_s)
            if _callback is not None:
                _callback(data)

        original_init(self, close_callback, delayed if flush_callback else None, *args, **kwargs)

    data_plane.TimeBasedBufferingClosableOutputStream.__init__ = init


def run_once(elements: int, copies: int, workers: int) -> int:
    """The number of elements that reached the end (a Beam metrics counter: reported outside the data plane)."""
    counter = beam.metrics.Metrics.counter("repro", "counted")
    pipeline = beam.Pipeline(argv=["--direct_running_mode=multi_threading", f"--direct_num_workers={workers}"])
    _ = (
        pipeline
        | beam.Create(range(elements))
        | beam.Reshuffle()
        | beam.FlatMap(lambda x: [(x % 97, x)] * copies)
        | beam.GroupByKey()
        | beam.Map(lambda kv: counter.inc(sum(1 for _ in kv[1])))
    )
    result = pipeline.run()
    result.wait_until_finish()
    counters = result.metrics().query(beam.metrics.MetricsFilter().with_name("counted"))["counters"]
    return sum(c.committed for c in counters)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--elements", type=int, default=20_000)
    parser.add_argument("--copies", type=int, default=10, help="outputs per input element (FlatMap)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--delay-ms", type=float, default=20.0, help="flusher sleep between get() and _clear()")
    parser.add_argument("--interval-ms", type=int, default=5, help="the timed flush interval (Beam's: 1000)")
    parser.add_argument("--safe", action="store_true", help="set DATA_BUFFER_TIME_LIMIT_MS = 0 (the fix)")
    args = parser.parse_args(argv)

    widen_race_window(args.delay_ms / 1000)
    worker_handlers.DATA_BUFFER_TIME_LIMIT_MS = 0 if args.safe else args.interval_ms
    expected = args.elements * args.copies
    lost_runs = 0
    for run in range(args.runs):
        counted = run_once(args.elements, args.copies, args.workers)
        lost = expected - counted
        lost_runs += lost != 0
        mode = "safe (limit 0)" if args.safe else f"timed flush every {args.interval_ms} ms"
        print(f"run {run}: {mode}: expected {expected}, counted {counted}, lost {lost}", flush=True)
    return 1 if lost_runs else 0


if __name__ == "__main__":
    sys.exit(main())
