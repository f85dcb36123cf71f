"""`create_pipeline`: the one TFX DAG shared by the local runner, Kubeflow and every test.

LogGen ─► LogIngest ─► StatisticsGen ─► ExampleValidator ◄─ ImportSchemaGen (curated schema)
               │                              │
               │                        ValidationGate (anomaly => stop)
               ▼                              ▼
            Transform ◄───────────────────────┘
               ▼
            Trainer (Clippy) ─► StabilityGate ──────────────┐
               ▼                                            ▼
latest blessed model ─► Evaluator (TFMA thresholds) ─► RankerPusher ─► <serving root>/<model>/<version>
"""

from __future__ import annotations

from components.log_generator import LogGen
from components.log_ingest import LogIngest
from components.pusher import RankerPusher
from components.stability_gate import StabilityGate
from tfx import v1 as tfx
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy

from components.validation_gate import ValidationGate
from pipeline.config import PipelineConfig
from pipeline.eval_config import build_eval_config
from pipeline.schema import SCHEMA_PATH


def create_pipeline(
    config: PipelineConfig,
    pipeline_root: str,
    serving_root: str,
    metadata_connection_config=None,
    beam_pipeline_args: list[str] | None = None,
    enable_cache: bool = True,
    schema_path: str = SCHEMA_PATH,
) -> tfx.dsl.Pipeline:
    """Builds the pipeline for `config`. Runner-specific settings come in as arguments."""
    config_json = config.to_json()
    data_json = config.only("world", "ingest").to_json()
    log_gen = LogGen(config_json=data_json)
    ingest = LogIngest(logs=log_gen.outputs["logs"], config_json=data_json)
    examples = ingest.outputs["examples"]

    statistics = tfx.components.StatisticsGen(examples=examples)
    schema = tfx.components.ImportSchemaGen(schema_file=schema_path)
    validator = tfx.components.ExampleValidator(
        statistics=statistics.outputs["statistics"], schema=schema.outputs["schema"]
    )
    validation_gate = ValidationGate(anomalies=validator.outputs["anomalies"])

    transform = tfx.components.Transform(
        examples=examples,
        schema=schema.outputs["schema"],
        preprocessing_fn="models.preprocessing.preprocessing_fn",
        custom_config={"config_json": config.only("transform").to_json()},
    )
    transform.add_upstream_node(validation_gate)

    trainer = tfx.components.Trainer(
        run_fn="models.trainer.run_fn",
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema.outputs["schema"],
        train_args=tfx.proto.TrainArgs(splits=["train"], num_steps=config.train.train_steps),
        eval_args=tfx.proto.EvalArgs(splits=["eval"], num_steps=config.train.eval_steps),
        custom_config={"config_json": config_json},
    )
    stability_gate = StabilityGate(model_run=trainer.outputs["model_run"], config_json=config_json)

    baseline = tfx.dsl.Resolver(
        strategy_class=LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model, producer_component_id=trainer.id),
        model_blessing=tfx.dsl.Channel(
            type=tfx.types.standard_artifacts.ModelBlessing, producer_component_id="Evaluator"
        ),
    ).with_id("latest_blessed_model_resolver")
    evaluator = tfx.components.Evaluator(
        examples=examples,
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        eval_config=build_eval_config(config.gates),
    )
    pusher = RankerPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        stability_blessing=stability_gate.outputs["blessing"],
        examples=examples,
        serving_root=serving_root,
        model_name=config.model_name,
    )
    components = [
        log_gen,
        ingest,
        statistics,
        schema,
        validator,
        validation_gate,
        transform,
        trainer,
        stability_gate,
        baseline,
        evaluator,
        pusher,
    ]
    return tfx.dsl.Pipeline(
        pipeline_name=config.name,
        pipeline_root=pipeline_root,
        components=components,
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args or [],
    )
