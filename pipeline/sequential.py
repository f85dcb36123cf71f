"""Sequential training, day by day: the paper's protocol (Tang et al. 2023, §3.1 and §5.1.2).

`run_days` runs `create_pipeline` once per day d with LocalDagRunner, all days in one pipeline root and one MLMD store:

1. span d is generated and ingested (LogGen(day=d) -> LogIngest: Examples with `span` = d), and so is span d+1
   (NextDayLogGen -> NextDayLogIngest), the evaluation data;
2. span d is validated against the curated schema and compared with spans d-1 and d+1 (DriftGate); a violation
   stops the run before training;
3. Transform and the Trainer read the rolling window of spans [d-K+1, d] (K = `sequential.window_days`), resolved
   from MLMD with TFX's `static_range` over every Examples artifact LogIngest ever produced;
4. the Trainer warm-starts from the model served before day d (the latest one pushed by an earlier day's run:
   weights, optimizer state, iteration counters; models/warm_start.py);
5. the Evaluator scores the new model on span d+1 against that served model, and RankerPusher pushes a new
   version only when both gates bless it. A refused day pushes nothing: serving, the next baseline and the next
   warm start all stay on the last pushed model.

A day whose pipeline raises (bad data, drift, a crash) is recorded and, by default, ends the sequence: its data needs
a human (acknowledge an intended shift with `--accept-drift FEATURE@DAY`, then resume with `--days DAY-B`; completed
components of a rerun day come from the MLMD cache).

Every day's pipeline_run context in MLMD gets the custom properties `day`, `status` (pushed / refused / failed) and
`error`; `ranker history` (pipeline/history.py) reads them back with the spans, versions, verdicts and metrics.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from config.settings import ConfigError, PipelineConfig
from pipeline.history import read_history, render_table
from pipeline.local_runner import LocalPaths, run_local
from pipeline.mlmd import open_store
from pipeline.summary import RunSummary

log = logging.getLogger(__name__)

RUN_CONTEXT_TYPE = "pipeline_run"
STATUS_PUSHED, STATUS_REFUSED, STATUS_FAILED = "pushed", "refused", "failed"
MAX_ERROR_CHARS = 4_000


@dataclass
class DayResult:
    """What one day's run did."""

    day: int
    status: str  # pushed | refused | failed
    summary: RunSummary | None = None
    error: str | None = None
    elapsed_s: float = 0.0
    run_id: str | None = None

    def line(self) -> str:
        head = f"day {self.day}: {self.status.upper()} ({self.elapsed_s:.0f}s)"
        if self.status == STATUS_PUSHED and self.summary is not None:
            return f"{head} version {self.summary.pushed_version}"
        if self.status == STATUS_REFUSED and self.summary is not None:
            why = "; ".join(
                x
                for x in (
                    self.summary.stability_reason if self.summary.stability_blessed is False else None,
                    "; ".join(self.summary.evaluator_failures) if self.summary.evaluator_blessed is False else None,
                )
                if x
            )
            return f"{head}: {why or 'a gate refused'}"
        return f"{head}: {' '.join(line.strip() for line in (self.error or '').strip().splitlines()[:2])}"


def parse_days(text: str) -> list[int]:
    """Days of "A-B" (inclusive), "A" or "A,B,C"; ConfigError (field --days) otherwise."""
    text = text.strip()
    match = re.fullmatch(r"(\d+)\s*-\s*(\d+)", text)
    if match:
        first, last = int(match[1]), int(match[2])
        if last < first:
            raise ConfigError(f"range {text!r} ends before it starts", field="--days")
        return list(range(first, last + 1))
    if re.fullmatch(r"\d+(\s*,\s*\d+)*", text):
        days = [int(d) for d in text.split(",")]
        if days != sorted(set(days)):
            raise ConfigError(f"days {text!r} must be increasing and distinct", field="--days")
        return days
    raise ConfigError(f"expected A-B, A or A,B,C (non-negative day numbers), got {text!r}", field="--days")


def _run_context_ids(metadata_path: str) -> set[int]:
    try:
        return {c.id for c in open_store(metadata_path, writable=True).get_contexts_by_type(RUN_CONTEXT_TYPE)}
    except Exception:  # noqa: BLE001 - no store yet
        return set()


def mark_runs(metadata_path: str, context_ids: set[int], day: int, status: str, error: str | None) -> str | None:
    """Records `day`, `status` and `error` on the given pipeline_run contexts; returns the newest run's name."""
    if not context_ids:
        return None
    store = open_store(metadata_path, writable=True)
    contexts = store.get_contexts_by_id(sorted(context_ids))
    for context in contexts:
        context.custom_properties["day"].int_value = day
        context.custom_properties["status"].string_value = status
        if error:
            context.custom_properties["error"].string_value = error[:MAX_ERROR_CHARS]
    store.put_contexts(contexts)
    return max(contexts, key=lambda c: c.create_time_since_epoch).name


def run_days(
    config: PipelineConfig,
    paths: LocalPaths,
    days: Sequence[int],
    config_for_day: Callable[[int], PipelineConfig] | None = None,
    beam_args: list[str] | None = None,
    stop_on_failure: bool = True,
    on_day: Callable[[DayResult], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[DayResult]:
    """Runs the pipeline for each day in order (see the module docstring); returns one DayResult per day run.

    `config_for_day(d)` may change the config of single days (the stability lab and tests use it, e.g. a learning
    rate that makes one day diverge); by default every day uses `config`. `on_day` is called after each day;
    `progress` gets run_local's per-component lines.
    """
    results = []
    for day in days:
        day_config = config_for_day(day) if config_for_day else config
        before = _run_context_ids(paths.metadata_path)
        started = time.time()
        log.info("=== sequential training: day %d (window %d days) ===", day, day_config.sequential.window_days)
        try:
            summary = run_local(day_config, paths, beam_args=beam_args, day=day, progress=progress)
        except Exception as err:  # noqa: BLE001 - recorded, reported, and (by default) the sequence stops
            result = DayResult(
                day, STATUS_FAILED, error=f"{type(err).__name__}: {err}", elapsed_s=time.time() - started
            )
        else:
            status = STATUS_PUSHED if summary.pushed else STATUS_REFUSED
            result = DayResult(day, status, summary=summary, elapsed_s=time.time() - started)
        new_runs = _run_context_ids(paths.metadata_path) - before
        result.run_id = mark_runs(paths.metadata_path, new_runs, day, result.status, result.error)
        results.append(result)
        log.info("%s", result.line())
        if on_day is not None:
            on_day(result)
        if result.status == STATUS_FAILED and stop_on_failure:
            break
    return results


def run_days_command(
    config: PipelineConfig, paths: LocalPaths, days_text: str, progress: Callable[[str], None] | None = None
) -> int:
    """`ranker run --days A-B`: runs the days, prints one line per day and the history table; exit status 1 when a
    day failed."""
    days = parse_days(days_text)
    print(f"sequential training over days {days[0]}..{days[-1]} (window {config.sequential.window_days} days)")
    results = run_days(config, paths, days, on_day=lambda r: print(r.line(), flush=True), progress=progress)
    print()
    print(render_table([r for r in read_history(paths.metadata_path) if r.day in set(days)]))
    failed = [r for r in results if r.status == STATUS_FAILED]
    if failed:
        last = failed[-1]
        remaining = [d for d in days if d >= last.day]
        print(
            f"\nday {last.day} failed; nothing after it ran. Fix or acknowledge, then resume with "
            f"--days {remaining[0]}-{remaining[-1]}.\n{last.error}"
        )
        return 1
    return 0
