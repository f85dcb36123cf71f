"""A real trained ranker and its data, shared by the session (tests/conftest.py's `trained_ranker` fixture).

They are the outputs of the session's shared tiny run (`tiny_pipeline`, day 0): LogIngest's raw tf.Examples,
Transform's graph and transformed examples, the Trainer's exported model and its model_run, taken when that run ended
(`day0_artifacts`); beside them, the same ranker exported untrained (a worse model: AUCs near 0.5). Users: the
Evaluator gate tests (candidate / baseline), the serving tests (a real exported ranker), the training-reliability
tests (the transformed data).
"""

from __future__ import annotations

import dataclasses
import glob
import os

from config.settings import PipelineConfig

# Where LocalDagRunner puts one execution's output of (node, output key) under the pipeline root.
DAY0_OUTPUTS = {
    "examples": ("LogIngest", "examples"),
    "transform_graph": ("Transform", "transform_graph"),
    "transformed_examples": ("Transform", "transformed_examples"),
    "model": ("Trainer", "model"),
    "model_run": ("Trainer", "model_run"),
}


def day0_artifacts(pipeline_root: str) -> dict[str, str]:
    """{name: artifact uri} of DAY0_OUTPUTS, read when the pipeline root holds exactly one run of each node."""
    found = {}
    for name, (node, key) in DAY0_OUTPUTS.items():
        [uri] = glob.glob(os.path.join(pipeline_root, node, key, "*"))
        found[name] = uri
    return found


@dataclasses.dataclass(frozen=True)
class TrainedRanker:
    config: PipelineConfig
    root: str  # a directory of this fixture's own
    examples_uri: str  # LogIngest's raw tf.Examples: Split-train/, Split-eval/
    transform_graph: str  # Transform's transform_graph artifact
    train_files: list[str]  # Transform's transformed train examples (glob)
    model_uri: str  # a TFX Model artifact uri: <model_uri>/Format-Serving, trained
    untrained_model_uri: str  # the same, exported without training
    model_run: str  # the training's report and TensorBoard logs

    @property
    def serving_model_dir(self) -> str:
        return os.path.join(self.model_uri, "Format-Serving")

    @property
    def untrained_model_dir(self) -> str:
        return os.path.join(self.untrained_model_uri, "Format-Serving")


def build_trained_ranker(config: PipelineConfig, artifacts: dict[str, str], root: str) -> TrainedRanker:
    """The shared run's `artifacts` (day0_artifacts), and the ranker of `config` exported untrained under `root`."""
    import tensorflow as tf
    import tensorflow_transform as tft

    from models import features as F
    from models.ranker import build_ranker
    from models.serving import export_serving_model
    from models.trainer import vocab_sizes

    graph = artifacts["transform_graph"]
    train_files = [os.path.join(artifacts["transformed_examples"], "Split-train", "*")]
    untrained_uri = os.path.join(root, "untrained")
    tft_output = tft.TFTransformOutput(graph)
    features = F.feature_set_from_spec(tft_output.raw_feature_spec())
    tf.keras.utils.set_random_seed(config.train.seed + 1)
    untrained = build_ranker(config.model, vocab_sizes(tft_output, config, features), features)
    export_serving_model(untrained, tft_output, config.model, os.path.join(untrained_uri, "Format-Serving"))
    return TrainedRanker(
        config,
        root,
        artifacts["examples"],
        graph,
        train_files,
        artifacts["model"],
        untrained_uri,
        artifacts["model_run"],
    )
