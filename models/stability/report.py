"""The training report: the curve the Trainer writes (`training_report.json`) and the stability gate reads."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from config.settings import StabilityConfig
from models.stability.detector import DivergenceReport, detect_divergence
from models.stability.files import read_text, write_text
from models.stability.numbers import decode_float, decode_tree, encode_series_value, json_safe

TRAINING_REPORT_FILE = "training_report.json"


@dataclass
class TrainingReport:
    """The Trainer's training-stability record, written as `training_report.json` in the ModelRun directory.

    JSON format (strict JSON: `allow_nan=False`):
      {"format_version": 1,
       "steps": [int],                      # step of each logged point
       "loss": [float | null | "inf" | "-inf"],  # total training loss; NaN is written as null
       "auc": {"click": [float | null]},     # optional, per binary task, aligned with steps
       "task_loss": {"click": [float | null]},  # optional, each task's unweighted loss, aligned with steps
       "stopped_early": bool, "stop_reason": str | null,
       "telemetry": [dict],                 # optional optimizer stats; non-finite floats as "nan"/"inf"/"-inf"
       "recovery": {...} | null,            # train.recovery's record (models/recovery.py): events, gave_up
       "divergence": {...} | null}          # DivergenceReport.to_dict() computed by the Trainer
    In memory, curve values are floats (NaN/±inf restored on load).
    """

    FORMAT_VERSION: ClassVar[int] = 1

    steps: list[int]
    loss: list[float]
    auc: dict[str, list[float]] = field(default_factory=dict)
    task_loss: dict[str, list[float]] = field(default_factory=dict)
    stopped_early: bool = False
    stop_reason: str | None = None
    telemetry: list[dict[str, Any]] = field(default_factory=list)
    divergence: dict[str, Any] | None = None
    recovery: dict[str, Any] | None = None

    @property
    def recovery_gave_up(self) -> bool:
        return bool(self.recovery and self.recovery.get("gave_up"))

    def detect(self, config: StabilityConfig = StabilityConfig()) -> DivergenceReport:
        return detect_divergence(self.steps, self.loss, self.auc or None, config)

    def with_divergence(self, config: StabilityConfig = StabilityConfig()) -> TrainingReport:
        """A copy whose `divergence` field holds this curve's detector report."""
        return dataclasses.replace(self, divergence=self.detect(config).to_dict())

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.FORMAT_VERSION,
            "steps": [int(s) for s in self.steps],
            "loss": [encode_series_value(x) for x in self.loss],
            "auc": {t: [encode_series_value(x) for x in v] for t, v in self.auc.items()},
            "task_loss": {t: [encode_series_value(x) for x in v] for t, v in self.task_loss.items()},
            "stopped_early": bool(self.stopped_early),
            "stop_reason": self.stop_reason,
            "telemetry": json_safe(self.telemetry),
            "divergence": json_safe(self.divergence),
            "recovery": json_safe(self.recovery),
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> TrainingReport:
        """Parses and validates; raises ValueError naming what is wrong."""
        if not isinstance(data, Mapping):
            raise ValueError("training report must be a JSON object")
        missing = [k for k in ("steps", "loss") if k not in data]
        if missing:
            raise ValueError(f"training report lacks {missing}")
        steps = [int(s) for s in data["steps"]]
        loss = [decode_float(x) for x in data["loss"]]
        auc = {str(t): [decode_float(x) for x in v] for t, v in (data.get("auc") or {}).items()}
        task_loss = {str(t): [decode_float(x) for x in v] for t, v in (data.get("task_loss") or {}).items()}
        series = [("loss", loss), *((f"auc.{t}", v) for t, v in auc.items())]
        series += [(f"task_loss.{t}", v) for t, v in task_loss.items()]
        for name, values in series:
            if len(values) != len(steps):
                raise ValueError(f"training report: {name} has {len(values)} points but steps has {len(steps)}")
        return cls(
            steps=steps,
            loss=loss,
            auc=auc,
            task_loss=task_loss,
            stopped_early=bool(data.get("stopped_early", False)),
            stop_reason=data.get("stop_reason"),
            telemetry=decode_tree(data.get("telemetry") or []),
            divergence=decode_tree(data.get("divergence")),
            recovery=decode_tree(data.get("recovery")),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), allow_nan=False, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainingReport:
        return cls.from_json_dict(json.loads(text))

    def save(self, path: str) -> None:
        """Writes the report to `path` (a file; atomically on a local filesystem)."""
        write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str) -> TrainingReport:
        return cls.from_json(read_text(path))


def training_report_path(model_run_dir: str) -> str:
    return os.path.join(model_run_dir, TRAINING_REPORT_FILE)
