"""StabilityGate: a model whose training fully diverged is never blessed (paper §2.1).

Reads `training_report.json` (models.stability.TrainingReport) from the Trainer's ModelRun directory, re-runs
`models.stability.detect_divergence` on its curve with the pipeline config's `stability` thresholds, and writes a
ModelBlessing the way TFX's Evaluator does: an empty `BLESSED` or `NOT_BLESSED` file in the artifact directory and
the custom property `blessed` = 1 / 0, plus a `reason` string property and `stability_verdict.json` with the
verdict, the reason and the detector report.

Not blessed when: the report is missing or unreadable; it has no loss points; the detector finds a full divergence
(non-finite loss, unrecovered blow-up, end level far above the best level, AUC collapse, every AUC at chance); the
Trainer's recovery (`train.recovery`) gave up after its allowed recoveries; the run ends inside a
spike too short to judge (`StabilityConfig.block_unresolved_spike`); or the Trainer's own detector said it fully
diverged (the more conservative of the two verdicts wins).

The blessing names the model it judged: with the optional `model` input (the Trainer's Model, produced with the
ModelRun), custom properties `judged_model` (its URI) and `judged_model_id` (its MLMD id, when it has one), so the
RankerPusher refuses a stability blessing for another model on every orchestrator (components/pusher.py). It
deliberately uses its own property names, not the Evaluator's `current_model_id`: a model blessed only for
stability must never look like an Evaluator-blessed one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import io_utils

from config.settings import StabilityConfig, section_from_json, section_json
from models.stability import TrainingReport, json_safe, judge_report, training_report_path

MODEL_RUN_KEY = "model_run"
STABILITY_JSON_KEY = "stability_json"
MODEL_KEY = "model"
JUDGED_MODEL_PROPERTY = "judged_model"
JUDGED_MODEL_ID_PROPERTY = "judged_model_id"
BLESSING_KEY = "blessing"
VERDICT_FILE = "stability_verdict.json"
BLESSED_FILE = "BLESSED"
NOT_BLESSED_FILE = "NOT_BLESSED"


@dataclass
class StabilityVerdict:
    """What the gate decided and why; written as stability_verdict.json."""

    blessed: bool
    reason: str
    report_path: str | None
    detector: dict[str, Any] | None = None  # DivergenceReport.to_dict() of the gate's own detection
    trainer_divergence: dict[str, Any] | None = None  # what the Trainer's detector wrote into the report
    stopped_early: bool | None = None
    stop_reason: str | None = None

    @property
    def verdict(self) -> str:
        return BLESSED_FILE if self.blessed else NOT_BLESSED_FILE

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, **asdict(self)}


def judge_model_run(model_run_dir: str | None, config: StabilityConfig) -> StabilityVerdict:
    """The gate's decision for a ModelRun directory (pure function of the report and the thresholds)."""
    if model_run_dir is None:
        return StabilityVerdict(False, "no model_run artifact was given to the stability gate", None)
    path = training_report_path(model_run_dir)
    try:
        report = TrainingReport.load(path)
        blessed, reason, detected = judge_report(report, config)
    except FileNotFoundError:
        return StabilityVerdict(False, f"training report {path} is missing", path)
    except Exception as error:  # unreadable JSON, wrong shapes, bad values: never bless what cannot be read
        return StabilityVerdict(False, f"training report {path} is unreadable: {error}", path)
    return StabilityVerdict(
        blessed, reason, path, detected.to_dict(), report.divergence, report.stopped_early, report.stop_reason
    )


class StabilityGateSpec(types.ComponentSpec):
    PARAMETERS = {STABILITY_JSON_KEY: ExecutionParameter(type=str)}
    INPUTS = {
        MODEL_RUN_KEY: ChannelParameter(type=standard_artifacts.ModelRun),
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model, optional=True),  # the model judged
    }
    OUTPUTS = {BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing)}


class Executor(base_executor.BaseExecutor):
    """Writes the stability blessing; see the module docstring."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        config = section_from_json(StabilityConfig, exec_properties[STABILITY_JSON_KEY], "stability")
        blessing = artifact_utils.get_single_instance(output_dict[BLESSING_KEY])
        runs = input_dict.get(MODEL_RUN_KEY) or []
        verdict = judge_model_run(runs[0].uri if runs else None, config)

        io_utils.write_string_file(os.path.join(blessing.uri, verdict.verdict), "")
        io_utils.write_string_file(
            os.path.join(blessing.uri, VERDICT_FILE),
            json.dumps(json_safe(verdict.to_dict()), indent=1, allow_nan=False),
        )
        blessing.set_int_custom_property("blessed", int(verdict.blessed))
        blessing.set_string_custom_property("reason", verdict.reason)
        if runs:
            blessing.set_string_custom_property("model_run", runs[0].uri)
        models = input_dict.get(MODEL_KEY) or []
        if models:
            blessing.set_string_custom_property(JUDGED_MODEL_PROPERTY, models[0].uri)
            if models[0].id:
                blessing.set_int_custom_property(JUDGED_MODEL_ID_PROPERTY, models[0].id)
        banner = "=" * 100
        log = logging.info if verdict.blessed else logging.warning
        log("\n%s\nSTABILITY GATE: %s\n  %s\n%s", banner, verdict.verdict, verdict.reason, banner)


class StabilityGate(base_component.BaseComponent):
    """Blesses a trained model only when its training did not fully diverge.

    Inputs: `model_run` (ModelRun holding training_report.json), optional `model` (the Model trained with it, named
    in the blessing). Settings: the detector's thresholds (exec property `stability_json`, a StabilityConfig).
    Output: `blessing` (ModelBlessing).
    """

    SPEC_CLASS = StabilityGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self, model_run: types.BaseChannel, stability: StabilityConfig, model: types.BaseChannel | None = None
    ):
        super().__init__(
            spec=StabilityGateSpec(
                model_run=model_run,
                model=model,
                stability_json=section_json(stability),
                blessing=types.Channel(type=standard_artifacts.ModelBlessing),
            )
        )


def read_verdict(blessing_uri: str) -> dict[str, Any] | None:
    """The gate's stability_verdict.json in a blessing directory, or None when absent/unreadable."""
    try:
        return json.loads(io_utils.read_string_file(os.path.join(blessing_uri, VERDICT_FILE)))
    except Exception:
        return None
