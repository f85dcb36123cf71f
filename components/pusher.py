"""RankerPusher: pushes a model blessed by every gate into a TF Serving model root.

Replaces TFX's Pusher because the ranker needs several blessings (the TFMA Evaluator against the served model, the
StabilityGate and, when wired, the BaselineEvaluator against the simple model), TF Serving warm-up records and a
`models.config`. The mechanics live in `serving.export`:

1. `model_blessing` (Evaluator), `stability_blessing` (StabilityGate) and, when the component was given one,
   `baseline_blessing` (BaselineEvaluator) must be present and blessed
   (custom property `blessed` == 1, or, when the property is absent, a `BLESSED` file and no `NOT_BLESSED` file),
   and none may name another model than `model` (the Evaluators' `current_model` / `current_model_id`, the
   StabilityGate's `judged_model` / `judged_model_id`): a blessing for another model refuses the push.
   Otherwise nothing is pushed, `models.config` is left as it is (serving keeps the last good version), and the
   PushedModel records `pushed` = 0 with `refused_by` and `refusal_reason` (the gate's `reason` property or
   stability_verdict.json).
2. The SavedModel (`<model.uri>/Format-Serving`, TFX Trainer layout) must have `serving_default` taking `examples`
   (DT_STRING serialized tf.Examples); a model breaking that contract fails the component.
3. Warm-up: up to `num_warmup_records` tf.Examples from the `eval` split of `examples` (labels removed) are written
   as PredictionLog records into `assets.extra/tf_serving_warmup_requests`; without `examples` warm-up is skipped
   and the push record says so.
4. Atomic push to `<serving_root>/<model_name>/<version>/` (version strictly greater than any existing one, never
   overwritten), then `<serving_root>/models.config` is rewritten atomically. Exactly once: when the latest version
   already holds this model (same fingerprint: a rerun after a crash, an Evaluator re-run against a new baseline),
   nothing is copied; that version is recorded (`already_pushed`) and models.config is rewritten.
5. The PushedModel gets `pushed` = 1, `pushed_destination`, `pushed_version` (as TFX's Pusher sets them), a copy of
   the pushed version (as TFX's Pusher archives it) and `push_record.json`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import io_utils, path_utils

from components.stability_gate import read_verdict
from serving import export as serving_export

MODEL_KEY = "model"
MODEL_BLESSING_KEY = "model_blessing"
STABILITY_BLESSING_KEY = "stability_blessing"
BASELINE_BLESSING_KEY = "baseline_blessing"
EXAMPLES_KEY = "examples"
PUSHED_MODEL_KEY = "pushed_model"
SERVING_ROOT_KEY = "serving_root"
MODEL_NAME_KEY = "model_name"
NUM_WARMUP_RECORDS_KEY = "num_warmup_records"
DAY_KEY = "day"
BASE_PATH_ROOT_KEY = "base_path_root"
GATED_BY_BASELINE_KEY = "gated_by_baseline"
DEFAULT_NUM_WARMUP_RECORDS = 16
PUSH_RECORD_FILE = "push_record.json"
WARMUP_SPLIT = "eval"

# The gates, by input key: the name used in logs and in `refused_by`.
GATES: dict[str, str] = {
    MODEL_BLESSING_KEY: "evaluator",
    STABILITY_BLESSING_KEY: "stability_gate",
    BASELINE_BLESSING_KEY: "baseline_evaluator",
}


@dataclass
class PushRecord:
    """What the pusher did; written as push_record.json into the PushedModel directory."""

    pushed: bool
    refusals: dict[str, str] = field(default_factory=dict)  # gate name -> why it refused
    destination: str | None = None
    version: int | None = None
    warmup_records: int = 0
    warmup_note: str = ""
    models_config: str | None = None
    already_pushed: bool = False  # the latest version already held this model: not pushed again


# The properties by which a blessing names the model it judged: (URI key, id key). The Evaluator's are TFX's.
JUDGED_MODEL_KEYS = (("current_model", "current_model_id"), ("judged_model", "judged_model_id"))


def judged_another_model(blessing: types.Artifact, model: types.Artifact | None) -> str | None:
    """Why `blessing` is not for `model` (it names another model), or None (same model, or it names none)."""
    if model is None:
        return None
    for uri_key, id_key in JUDGED_MODEL_KEYS:
        if blessing.has_custom_property(id_key) and model.id:
            judged_id = blessing.get_int_custom_property(id_key)
            if judged_id and judged_id != model.id:
                return f"the blessing is for model #{judged_id}, not for the model to push (#{model.id})"
        if blessing.has_custom_property(uri_key):
            judged = blessing.get_string_custom_property(uri_key).rstrip("/")
            if judged and judged != model.uri.rstrip("/"):
                return f"the blessing is for the model at {judged}, not for {model.uri}"
    return None


def blessing_decision(
    blessings: list[types.Artifact] | None, gate: str, model: types.Artifact | None = None
) -> tuple[bool, str]:
    """(blessed, why) for one gate's ModelBlessing input; a blessing that names another model refuses."""
    if not blessings:
        return False, f"no blessing from the {gate} was given"
    blessing = artifact_utils.get_single_instance(blessings)
    mismatch = judged_another_model(blessing, model)
    if mismatch is not None:
        return False, mismatch
    has_blessed_file = _exists(blessing.uri, "BLESSED")
    has_not_blessed_file = _exists(blessing.uri, "NOT_BLESSED")
    if blessing.has_custom_property("blessed"):
        blessed = blessing.get_int_custom_property("blessed") == 1
    elif has_blessed_file or has_not_blessed_file:
        blessed = has_blessed_file and not has_not_blessed_file
    else:
        return False, f"the {gate} left no verdict in {blessing.uri} (no 'blessed' property, no BLESSED file)"
    if blessed and has_not_blessed_file:
        return False, f"the {gate}'s blessing is inconsistent: blessed=1 but a NOT_BLESSED file exists"
    if blessed:
        return True, "blessed"
    return False, _refusal_reason(blessing, gate)


def _refusal_reason(blessing: types.Artifact, gate: str) -> str:
    if blessing.has_custom_property("reason"):
        return blessing.get_string_custom_property("reason")
    verdict = read_verdict(blessing.uri)
    if verdict and verdict.get("reason"):
        return str(verdict["reason"])
    return f"the {gate} marked the model NOT_BLESSED (see its validation result)"


def _exists(directory: str, name: str) -> bool:
    return fileio.exists(os.path.join(directory, name))


def warmup_examples(examples: list[types.Artifact] | None, limit: int) -> tuple[list[bytes], str]:
    """Up to `limit` label-free serialized tf.Examples from the eval split, and a note on what was done."""
    if limit <= 0:
        return [], "warm-up disabled (num_warmup_records=0)"
    if not examples:
        return [], "no examples input: warm-up records skipped"
    artifact = artifact_utils.get_single_instance(examples)
    payload = "FORMAT_TF_EXAMPLE"
    if artifact.has_custom_property("payload_format"):
        payload = artifact.get_string_custom_property("payload_format")
    if payload != "FORMAT_TF_EXAMPLE":
        return [], f"examples payload {payload} is not tf.Example: warm-up records skipped"
    splits = artifact_utils.decode_split_names(artifact.split_names)
    if WARMUP_SPLIT not in splits:
        return [], f"examples have no {WARMUP_SPLIT!r} split (splits {splits}): warm-up records skipped"
    split_uri = artifact_utils.get_split_uri([artifact], WARMUP_SPLIT)
    files = [f for f in fileio.glob(os.path.join(split_uri, "*")) if not fileio.isdir(f)]
    records = serving_export.read_serialized_examples(files, limit)
    if not records:
        return [], f"the {WARMUP_SPLIT!r} split at {split_uri} is empty: warm-up records skipped"
    return records, f"{len(records)} warm-up records from the {WARMUP_SPLIT!r} split (labels removed)"


class RankerPusherSpec(types.ComponentSpec):
    PARAMETERS = {
        SERVING_ROOT_KEY: ExecutionParameter(type=str),
        MODEL_NAME_KEY: ExecutionParameter(type=str),
        NUM_WARMUP_RECORDS_KEY: ExecutionParameter(type=int, optional=True),
        # The run's day, recorded in push_source.json (serving/served.py: a rerun of day d resolves what day d
        # started from). The serving root as TF Serving sees it, for models.config's base paths ("" = as is).
        DAY_KEY: ExecutionParameter(type=int, optional=True),
        BASE_PATH_ROOT_KEY: ExecutionParameter(type=str, optional=True),
        # 1: the BaselineEvaluator's blessing is required (the component was given `baseline_blessing`).
        GATED_BY_BASELINE_KEY: ExecutionParameter(type=int, optional=True),
    }
    INPUTS = {
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        # Optional here so that a missing blessing at run time is recorded as a refusal; the component's
        # constructor still requires both channels.
        MODEL_BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing, optional=True),
        STABILITY_BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing, optional=True),
        BASELINE_BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing, optional=True),
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples, optional=True),
    }
    OUTPUTS = {PUSHED_MODEL_KEY: ChannelParameter(type=standard_artifacts.PushedModel)}


class Executor(base_executor.BaseExecutor):
    """Pushes when both gates blessed; see the module docstring."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        pushed_model = artifact_utils.get_single_instance(output_dict[PUSHED_MODEL_KEY])
        serving_root = exec_properties[SERVING_ROOT_KEY]
        model_name = serving_export.validate_model_name(exec_properties[MODEL_NAME_KEY])
        num_warmup = exec_properties.get(NUM_WARMUP_RECORDS_KEY)
        num_warmup = DEFAULT_NUM_WARMUP_RECORDS if num_warmup is None else int(num_warmup)
        if not 0 <= num_warmup <= serving_export.MAX_WARMUP_RECORDS:
            raise ValueError(f"num_warmup_records={num_warmup} must be in 0..{serving_export.MAX_WARMUP_RECORDS}")

        refusals = {}
        models = input_dict.get(MODEL_KEY) or []
        required = [MODEL_BLESSING_KEY, STABILITY_BLESSING_KEY]
        required += [BASELINE_BLESSING_KEY] if exec_properties.get(GATED_BY_BASELINE_KEY) else []
        for key in required:
            gate = GATES[key]
            blessed, why = blessing_decision(input_dict.get(key), gate, models[0] if models else None)
            if not blessed:
                refusals[gate] = why
        if refusals:
            record = PushRecord(pushed=False, refusals=refusals)
            _mark(pushed_model, record)
            lines = "\n".join(f"  refused by {gate}: {why}" for gate, why in refusals.items())
            logging.warning("\n%s\nPUSHER: NOT PUSHED\n%s\n%s", "=" * 100, lines, "=" * 100)
            return

        model = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
        saved_model = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
        serving_export.check_serving_signature(saved_model)
        records, note = warmup_examples(input_dict.get(EXAMPLES_KEY), num_warmup)

        def prepare(version_dir: str) -> None:
            if records:
                serving_export.write_warmup_requests(version_dir, records, model_name)

        day = exec_properties.get(DAY_KEY)
        result = serving_export.push_version(
            saved_model,
            serving_root,
            model_name,
            prepare=prepare,
            source_uri=model.uri,
            day=None if day is None else int(day),
        )
        # Publishing: one single-object write naming the verified version (see serving/export.py).
        config_path = serving_export.write_models_config(serving_root, exec_properties.get(BASE_PATH_ROOT_KEY) or None)
        if fileio.exists(pushed_model.uri):  # a retried execution may find a partial archive
            fileio.rmtree(pushed_model.uri)
        serving_export.copy_tree(result.path, pushed_model.uri)  # archive, as TFX's Pusher does
        warmed = 0 if result.already_pushed else len(records)
        if result.already_pushed:
            note = f"the latest version {result.version} already holds this model: not pushed again"
        record = PushRecord(True, {}, result.path, result.version, warmed, note, config_path, result.already_pushed)
        _mark(pushed_model, record)
        logging.info(
            "\n%s\nPUSHER: %s %s version %d to %s\n  %s; models.config: %s\n%s",
            "=" * 100,
            "ALREADY PUSHED" if result.already_pushed else "PUSHED",
            model_name,
            result.version,
            result.path,
            note,
            config_path,
            "=" * 100,
        )


def _mark(pushed_model: types.Artifact, record: PushRecord) -> None:
    """Custom properties as TFX's Pusher sets them (`pushed`, `pushed_destination`, `pushed_version`)."""
    pushed_model.set_int_custom_property("pushed", int(record.pushed))
    if record.pushed:
        pushed_model.set_string_custom_property("pushed_destination", record.destination or "")
        pushed_model.set_string_custom_property("pushed_version", str(record.version))
    else:
        pushed_model.set_string_custom_property("refused_by", ",".join(record.refusals))
        pushed_model.set_string_custom_property(
            "refusal_reason", "; ".join(f"{gate}: {why}" for gate, why in record.refusals.items())
        )
    io_utils.write_string_file(os.path.join(pushed_model.uri, PUSH_RECORD_FILE), json.dumps(asdict(record), indent=1))


class RankerPusher(base_component.BaseComponent):
    """Pushes a model blessed by the Evaluator, the StabilityGate (and the BaselineEvaluator) to a TF Serving root.

    Inputs: `model` (Model), `model_blessing` (Evaluator's ModelBlessing), `stability_blessing` (StabilityGate's
    ModelBlessing), optional `baseline_blessing` (BaselineEvaluator's ModelBlessing: required at run time when
    given), optional `examples` (Examples, eval split used for warm-up). Exec properties: `serving_root`,
    `model_name`, `num_warmup_records` (default 16). Output: `pushed_model` (PushedModel).
    """

    SPEC_CLASS = RankerPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        model_blessing: types.BaseChannel,
        stability_blessing: types.BaseChannel,
        serving_root: str,
        model_name: str,
        examples: types.BaseChannel | None = None,
        num_warmup_records: int = DEFAULT_NUM_WARMUP_RECORDS,
        day: int | None = None,
        base_path_root: str = "",
        baseline_blessing: types.BaseChannel | None = None,
    ):
        if model_blessing is None or stability_blessing is None:
            raise ValueError("RankerPusher needs both model_blessing (Evaluator) and stability_blessing")
        serving_export.validate_model_name(model_name)
        super().__init__(
            spec=RankerPusherSpec(
                model=model,
                model_blessing=model_blessing,
                stability_blessing=stability_blessing,
                baseline_blessing=baseline_blessing,
                gated_by_baseline=int(baseline_blessing is not None),
                examples=examples,
                serving_root=serving_root,
                model_name=model_name,
                num_warmup_records=num_warmup_records,
                day=day,
                base_path_root=base_path_root,
                pushed_model=types.Channel(type=standard_artifacts.PushedModel),
            )
        )
