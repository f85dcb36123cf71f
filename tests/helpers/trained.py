"""One small real training, shared by the session (tests/conftest.py's `trained_ranker` fixture).

LogGen -> LogIngest -> ImportSchemaGen -> Transform through LocalDagRunner on one 1,500-impression day of the tiny
world, then the Trainer's own code (`models.trainer.train_and_export`, the tiny preset's training) and, beside it, the
same ranker exported untrained (a worse model: AUCs near 0.5). Users: the Evaluator gate tests (candidate /
baseline), the serving tests (a real exported ranker), the training-reliability tests (the transformed data).
"""

from __future__ import annotations

import dataclasses
import glob
import os

from config.settings import PipelineConfig, tiny_preset

# The tiny preset on one 1,500-impression shard: small enough for a Transform in seconds, large enough that the
# eval split (~300 impressions, ~30 clicks) tells a trained click model from an untrained one.
CONFIG = tiny_preset().replace(world=dataclasses.replace(tiny_preset().world, impressions_per_day=1_500, num_shards=1))
BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


@dataclasses.dataclass(frozen=True)
class TrainedRanker:
    config: PipelineConfig
    root: str
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


def transform_day(root: str, config: PipelineConfig = CONFIG) -> tuple[str, str, str]:
    """(LogIngest examples uri, Transform graph uri, transformed examples uri) of one day, real components."""
    from tfx.orchestration import metadata
    from tfx.orchestration import pipeline as tfx_pipeline
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from tfx.v1.components import ImportSchemaGen, Transform

    from components.log_generator import LogGen
    from components.log_ingest import LogIngest
    from ingest.dofn_specs import cache_dofn_specs
    from logformat.tf_schema import SCHEMA_PATH
    from models.preprocessing import TRANSFORM_SECTIONS

    gen = LogGen(world=config.world)
    ingest = LogIngest(logs=gen.outputs["logs"], ingest=config.ingest)
    schema = ImportSchemaGen(schema_file=SCHEMA_PATH)
    transform = Transform(
        examples=ingest.outputs["examples"],
        schema=schema.outputs["schema"],
        preprocessing_fn="models.preprocessing.preprocessing_fn",
        custom_config=config.sections_json(TRANSFORM_SECTIONS),
        disable_statistics=True,  # as in the pipeline: nothing reads them
    )
    cache_dofn_specs()  # as pipeline.local_runner does
    LocalDagRunner().run(
        tfx_pipeline.Pipeline(
            pipeline_name="shared-trained-ranker",
            pipeline_root=os.path.join(root, "pipeline"),
            components=[gen, ingest, schema, transform],
            metadata_connection_config=metadata.sqlite_metadata_connection_config(os.path.join(root, "mlmd.db")),
            beam_pipeline_args=BEAM_ARGS,
        )
    )
    [examples] = glob.glob(os.path.join(root, "pipeline", "LogIngest", "examples", "*"))
    [graph] = glob.glob(os.path.join(root, "pipeline", "Transform", "transform_graph", "*"))
    [transformed] = glob.glob(os.path.join(root, "pipeline", "Transform", "transformed_examples", "*"))
    return examples, graph, transformed


def build_trained_ranker(root: str, config: PipelineConfig = CONFIG) -> TrainedRanker:
    import tensorflow as tf
    import tensorflow_transform as tft

    from models import features as F
    from models.ranker import build_ranker
    from models.serving import export_serving_model
    from models.trainer import train_and_export, vocab_sizes

    examples, graph, transformed = transform_day(root, config)
    train_files = [os.path.join(transformed, "Split-train", "*")]
    model_uri, model_run = os.path.join(root, "trained"), os.path.join(root, "model_run")
    train_and_export(config, graph, train_files, os.path.join(model_uri, "Format-Serving"), model_run)

    untrained_uri = os.path.join(root, "untrained")
    tft_output = tft.TFTransformOutput(graph)
    features = F.feature_set_from_spec(tft_output.raw_feature_spec())
    tf.keras.utils.set_random_seed(config.train.seed + 1)
    untrained = build_ranker(config.model, vocab_sizes(tft_output, config, features), features)
    export_serving_model(untrained, tft_output, config.model, os.path.join(untrained_uri, "Format-Serving"))
    return TrainedRanker(config, root, examples, graph, train_files, model_uri, untrained_uri, model_run)
