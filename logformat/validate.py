"""`ranker validate-logs`: checks log files against the log format without running the pipeline.

Every line gets the verdict the ingest would give it (`logformat.columnar.judge_lines`, the same line reader, the same
file-level reasons: `empty_file`, `unreadable_file`, `corrupt_member`, and `duplicate_impression_id` for an id seen
before in the files given, in the order given); the report counts lines per reason, keeps a few sample quarantined
lines per reason with file:line, and gives the bad fraction that `ingest.max_bad_fraction` is compared with.
Files are listed with tf.io.gfile (local paths, gs://, ...) and read through the ingest's reader.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO

import tensorflow as tf

from config.settings import IngestConfig
from logformat.columnar import judge_lines
from logformat.fingerprint import fingerprint64
from logformat.line_reader import READ_ERRORS, read_log_lines

PROGRESS_EVERY_LINES = 200_000
BATCH_LINES = 1_024  # lines judged together (as the ingest's batches)
SAMPLE_CHARS = 200


@dataclass
class Report:
    files: int = 0
    total: int = 0  # lines, plus one per empty or unreadable file (as in counts.json)
    good: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    samples: dict[str, list[str]] = field(default_factory=dict)  # reason -> ["file:line: text", ...]
    unmatched: list[str] = field(default_factory=list)  # arguments that named no file

    @property
    def quarantined(self) -> int:
        return sum(self.reasons.values())

    @property
    def bad_fraction(self) -> float:
        return self.quarantined / self.total if self.total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "total": self.total,
            "good": self.good,
            "quarantined": self.quarantined,
            "bad_fraction": self.bad_fraction,
            "reasons": dict(sorted(self.reasons.items())),
            "samples": self.samples,
            "unmatched": self.unmatched,
        }


def expand(paths: list[str]) -> tuple[list[str], list[str]]:
    """(files, arguments that matched none): each argument is a file or a glob, in the order given."""
    files: list[str] = []
    unmatched: list[str] = []
    for arg in paths:
        found = (
            sorted(tf.io.gfile.glob(arg))
            if any(c in arg for c in "*?[")
            else ([arg] if tf.io.gfile.exists(arg) else [])
        )
        found = [f for f in found if not tf.io.gfile.isdir(f)]
        (files.extend(found) if found else unmatched.append(arg))
    return files, unmatched


def validate_logs(paths: list[str], ingest: IngestConfig, samples: int = 5, progress: TextIO | None = None) -> Report:
    """Validates every line of the files named by `paths` (files or globs)."""
    files, unmatched = expand(paths)
    report = Report(files=len(files), unmatched=unmatched)
    seen: set[int] = set()  # fingerprints of the impression ids seen so far
    started, next_progress = time.monotonic(), PROGRESS_EVERY_LINES

    def quarantine(reason: str, where: str, line: bytes) -> None:
        report.reasons[reason] += 1
        shown = report.samples.setdefault(reason, [])
        if len(shown) < samples:
            text = line[:SAMPLE_CHARS].decode("utf-8", "backslashreplace")
            shown.append(f"{where}: {text}" if text else where)

    def judge(batch: list[tuple[str, bytes, bool]]) -> None:
        nonlocal next_progress
        verdicts = iter(judge_lines([line for _, line, intact in batch if intact], ingest))
        for where, line, intact in batch:
            report.total += 1
            if not intact:
                quarantine("corrupt_member", where, line)
                continue
            reason, impression_id, _ = next(verdicts)
            if reason is not None or impression_id is None:
                quarantine(reason or "internal_error", where, line)
                continue
            key = fingerprint64(impression_id)
            if key in seen:
                quarantine("duplicate_impression_id", where, line)
                continue
            seen.add(key)
            report.good += 1
        if progress is not None and report.total >= next_progress:
            rate = report.total / max(time.monotonic() - started, 1e-9)
            print(f"validate-logs: {report.total} lines, {rate:,.0f} lines/s ({where})", file=progress)
            next_progress = (report.total // PROGRESS_EVERY_LINES + 1) * PROGRESS_EVERY_LINES

    for path in files:
        count = 0
        batch: list[tuple[str, bytes, bool]] = []
        try:
            for number, line, _, intact in read_log_lines(path, ingest.max_line_bytes):
                count += 1
                batch.append((f"{path}:{number}", line, intact))
                if len(batch) >= BATCH_LINES:
                    judge(batch)
                    batch = []
        except READ_ERRORS as err:
            judge(batch)
            report.total += 1
            quarantine("unreadable_file", f"{path}: {type(err).__name__} after line {count}", b"")
            continue
        judge(batch)
        if count == 0:
            report.total += 1
            quarantine("empty_file", path, b"")
    return report


def render_report(report: Report, as_json: bool = False) -> str:
    if as_json:
        return json.dumps(report.as_dict(), indent=2, sort_keys=True)
    out = [
        f"{report.files} files, {report.total} records: {report.good} good, {report.quarantined} quarantined "
        f"({report.bad_fraction:.2%})"
    ]
    for arg in report.unmatched:
        out.append(f"  no file matches {arg}")
    for reason, count in sorted(report.reasons.items(), key=lambda kv: (-kv[1], kv[0])):
        out.append(f"  {reason}: {count}")
        out.extend(f"    {sample}" for sample in report.samples.get(reason, []))
    return "\n".join(out)
