"""Makes every DirectRunner mode we offer safe from a data race in Beam's FnApiRunner.

The race (reproduced without project code by `scripts/beam_race_repro.py`): with
`direct_running_mode=multi_threading` the FnApiRunner starts its embedded SDK worker with
`worker_handlers.DATA_BUFFER_TIME_LIMIT_MS` (1000 ms), so each data-plane output stream is a
`TimeBasedBufferingClosableOutputStream`: a `PeriodicThread` calls `flush()` every second, which sends
`self.get()` and then `self._clear()`s the buffer under a flush lock that the bundle thread, writing encoded
elements into the same buffer, never takes. An element written between `get()` and `_clear()` is wiped: it
is lost without any error, and everything downstream (counts included) simply never sees it. In
`multi_processing` the worker subprocess buffers by size only (its time limit defaults to 0), but the
runner's side of the data plane (`BeamFnDataServicer(DATA_BUFFER_TIME_LIMIT_MS)`, the stream that sends a
stage's input elements to the worker) uses the same timed flush.

Both handlers read the module constant when a pipeline's worker handlers are created, so setting it to 0
before a pipeline runs makes every stream size-buffered (`SizeBasedBufferingClosableOutputStream`: flushed
only by the writing thread itself, at element boundaries). Nothing else changes: elements still go out in
chunks of about 10 MB, and a bundle's buffered output is sent when the bundle finishes. `in_memory` never
uses the gRPC data plane. Other runners (Dataflow, Flink, Spark) are not affected by this setting.

Installed by compat.install.install_patches() where our pipelines are built and run: `pipeline.local_runner`
(every component of a local run, stock ones included, as they run in-process), the LogGen and LogIngest executors
(their own process on Kubeflow), `run_generation` and `run_ingest` (benchmarks, stress runs).
"""

from __future__ import annotations

from apache_beam.runners.portability.fn_api_runner import worker_handlers

from compat.versions import set_if_written_for

NAME = "Beam's DirectRunner data-plane fix"
WRITTEN_FOR = {"apache-beam": "2.59.0"}
SAFE_DATA_BUFFER_TIME_LIMIT_MS = 0  # no PeriodicThread flusher on any data-plane stream


def install() -> bool:
    """Disables the FnApiRunner's timed data-plane flush (idempotent; see the module docstring); False on a Beam it
    is not written for. The stress benchmark's control run sets SAFE_DATA_BUFFER_TIME_LIMIT_MS back to Beam's 1000."""
    return set_if_written_for(
        NAME, WRITTEN_FOR, worker_handlers, "DATA_BUFFER_TIME_LIMIT_MS", SAFE_DATA_BUFFER_TIME_LIMIT_MS
    )


def installed() -> bool:
    return worker_handlers.DATA_BUFFER_TIME_LIMIT_MS == SAFE_DATA_BUFFER_TIME_LIMIT_MS
