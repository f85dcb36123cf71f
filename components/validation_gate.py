"""Validation gate: stops the run before Transform and training when ExampleValidator found anomalies.

ExampleValidator only records anomalies; this component reads them (`Split-*/SchemaDiff.pb`) and raises
`DataValidationError` naming each anomalous feature and the anomaly, so LocalDagRunner (or Kubeflow) fails
the run before any model is trained on bad data.
"""

# No `from __future__ import annotations`: TFX parses the @component annotations at import time.
import os

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import types
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts

ANOMALIES_FILE = "SchemaDiff.pb"


class DataValidationError(RuntimeError):
    """The data violates the schema; the message names the features."""


def read_anomalies(artifact: types.Artifact) -> dict[str, anomalies_pb2.Anomalies]:
    """Anomalies per split of an ExampleAnomalies artifact."""
    out = {}
    for split in artifact_utils.decode_split_names(artifact.split_names):
        path = os.path.join(artifact.uri, f"Split-{split}", ANOMALIES_FILE)
        anomalies = anomalies_pb2.Anomalies()
        if tf.io.gfile.exists(path):
            anomalies.ParseFromString(tf.io.gfile.GFile(path, "rb").read())
        out[split] = anomalies
    return out


def describe_anomalies(per_split: dict[str, anomalies_pb2.Anomalies]) -> list[str]:
    """One line per anomalous feature: `split/feature: short description (detail)`."""
    lines = []
    for split, anomalies in sorted(per_split.items()):
        for feature, info in sorted(anomalies.anomaly_info.items()):
            detail = "; ".join(r.description for r in info.reason) or info.description
            lines.append(f"{split}/{feature}: {info.short_description} ({detail})")
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            lines.append(f"{split}/<dataset>: {info.short_description}")
    return lines


@component
def ValidationGate(anomalies: InputArtifact[standard_artifacts.ExampleAnomalies]) -> None:
    """Raises DataValidationError if any split has anomalies."""
    lines = describe_anomalies(read_anomalies(anomalies))
    if lines:
        raise DataValidationError(
            f"ExampleValidator found {len(lines)} anomalies; stopping before training:\n  " + "\n  ".join(lines)
        )
    print("validation gate: no anomalies")
