"""ServedModel: an ordinary component that outputs the model TF Serving serves, the baseline and warm-start base.

It replaces the TFX resolver nodes (LatestBlessedModelStrategy, a custom LatestPushedModelStrategy) that only Vertex
AI runs: open-source KFP's Argo compiler refuses resolver executors ("resolver executors not implemented"). The
component reads the serving root the pipeline pushes to (`serving/served.py`: models.config's pin, the newest
complete version, its `assets.extra/push_source.json`) and copies that version into its output Model's
`Format-Serving/` (the Trainer's layout), so the Evaluator's baseline and the Trainer's warm-start base are by
construction what users are being served, on every orchestrator.

Output `model` (Model) custom properties: `served` (1 or 0), and when 1 `served_version`, `served_path`,
`source_uri` (the Trainer Model the version was pushed from) and `model_fingerprint`. When nothing is served
yet (`served` = 0) the artifact holds no SavedModel: the Trainer trains from scratch (models/trainer.py) and the
Evaluator runs without a baseline (components/evaluator.py), as TFX does with an empty resolver output.

`before_day` = d (the run of day d): only versions pushed by earlier days' runs count, so a rerun of day d resolves
the same base (its Trainer comes from the cache). Kubeflow (`before_day` unset): the newest served version; the
Kubeflow compile turns caching off for this task (kubeflow/runner.py), since its answer changes with every push.
"""

from __future__ import annotations

import json
import os
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import io_utils, path_utils

from serving import export as serving_export
from serving import served

MODEL_KEY = "model"
SERVING_ROOT_KEY = "serving_root"
MODEL_NAME_KEY = "model_name"
BEFORE_DAY_KEY = "before_day"
SERVED_PROPERTY = "served"
RECORD_FILE = "served_model.json"


def holds_saved_model(model: types.Artifact) -> bool:
    """Whether a Model artifact holds a SavedModel (a ServedModel output with `served` = 0 does not)."""
    path = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
    return fileio.exists(os.path.join(path, "saved_model.pb"))


class ServedModelSpec(types.ComponentSpec):
    PARAMETERS = {
        SERVING_ROOT_KEY: ExecutionParameter(type=str),
        MODEL_NAME_KEY: ExecutionParameter(type=str),
        BEFORE_DAY_KEY: ExecutionParameter(type=int, optional=True),
    }
    INPUTS: dict = {}
    OUTPUTS = {MODEL_KEY: ChannelParameter(type=standard_artifacts.Model)}


class Executor(base_executor.BaseExecutor):
    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model = artifact_utils.get_single_instance(output_dict[MODEL_KEY])
        before_day = exec_properties.get(BEFORE_DAY_KEY)
        found = served.served_version(
            exec_properties[SERVING_ROOT_KEY],
            exec_properties[MODEL_NAME_KEY],
            before_day=None if before_day is None else int(before_day),
        )
        record: dict[str, Any] = {"served": found is not None, "before_day": before_day}
        model.set_int_custom_property(SERVED_PROPERTY, int(found is not None))
        if found is None:
            logging.info("ServedModel: nothing served yet under %s: no baseline", exec_properties[SERVING_ROOT_KEY])
        else:
            target = path_utils.serving_model_dir(model.uri)
            if fileio.exists(target):  # a retried execution may find a partial copy
                fileio.rmtree(target)
            serving_export.copy_tree(found.path, target)
            model.set_string_custom_property("served_version", str(found.version))
            model.set_string_custom_property("served_path", found.path)
            model.set_string_custom_property("source_uri", str(found.source.get("source", "")))
            model.set_string_custom_property("model_fingerprint", str(found.source.get("model_fingerprint", "")))
            record.update(version=found.version, path=found.path, source=found.source.get("source"))
            logging.info("ServedModel: version %d (%s) from %s", found.version, found.path, record["source"])
        io_utils.write_string_file(os.path.join(model.uri, RECORD_FILE), json.dumps(record, indent=1))


class ServedModel(base_component.BaseComponent):
    """Outputs the served model of `serving_root`/`model_name` as a Model artifact (see the module docstring)."""

    SPEC_CLASS = ServedModelSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, serving_root: str, model_name: str, before_day: int | None = None):
        serving_export.validate_model_name(model_name)
        super().__init__(
            spec=ServedModelSpec(
                serving_root=serving_root,
                model_name=model_name,
                before_day=before_day,
                model=types.Channel(type=standard_artifacts.Model),
            )
        )
