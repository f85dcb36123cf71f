"""An executor that asks for its temporary directory, as TFX's Tuner executor does (`self._get_tmp_dir()`), and
writes the answer into its own output URI: run through Kubeflow V2's container entrypoint, it shows whether that
entrypoint gives executors a temporary path (tensorflow/tfx#4530: `RuntimeError('Temp path not available')`)."""

from __future__ import annotations

import os
from typing import Any

from tfx.dsl.components.base import base_executor

ANSWER_FILE = "tmp_dir.txt"


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict, output_dict: dict[str, list[Any]], exec_properties: dict[str, Any]) -> None:
        tmp_dir = self._get_tmp_dir()
        [artifact] = output_dict["probe"]
        os.makedirs(artifact.uri, exist_ok=True)
        with open(os.path.join(artifact.uri, ANSWER_FILE), "w") as f:
            f.write(tmp_dir)
