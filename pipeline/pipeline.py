"""`create_pipeline`: the one TFX DAG shared by the local runner, Kubeflow and every test.

The run of day d (one span per day; pipeline/sequential.py runs it day after day):

LogGen(d) ─► LogIngest ─► StatisticsGen ─► ExampleValidator ◄─ ImportSchemaGen (CuratedSchemaGen: the world's schema)
                 │              │                 │
                 │              │           ValidationGate (anomaly => stop)
                 │              ├─► DriftGate (span d vs d-1 drift, vs d+1 skew => stop) ◄─ StatisticsGen of d-1
                 ▼              │                 │
 spans [d-K+1, d] of LogIngest ─► Transform ◄─────┘
                 ▼
              Trainer (Clippy; warm start) ─► StabilityGate ──────────────────────┐
                 ▼                                                               ▼
 model served before d ─► Evaluator on span d+1 (TFMA thresholds) ─► RankerPusher ─► <serving root>/<model>/<version>
                 ▲
NextDayLogGen(d+1) ─► NextDayLogIngest ─► NextDayStatisticsGen (─► DriftGate skew)

The model served before day d (the latest one pushed by an earlier day's run) is both the Evaluator's baseline and the
Trainer's warm-start base, so a day that fails a gate pushes nothing and the next day continues from the model still
being served, and a rerun of a day resolves the same base (its Trainer comes from the cache).
"""

from __future__ import annotations

from tfx import v1 as tfx
from tfx.dsl.input_resolution.canned_resolver_functions import static_range
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy

from components.drift_gate import DriftGate
from components.log_generator import LogGen
from components.log_ingest import LogIngest
from components.pusher import RankerPusher
from components.schema_gen import CuratedSchemaGen
from components.served_model import LatestPushedModelStrategy
from components.span_resolver import SpanStrategy
from components.stability_gate import StabilityGate
from components.validation_gate import ValidationGate
from config.settings import PipelineConfig
from pipeline.eval_config import build_eval_config


def create_pipeline(
    config: PipelineConfig,
    pipeline_root: str,
    serving_root: str,
    metadata_connection_config=None,
    beam_pipeline_args: list[str] | None = None,
    enable_cache: bool = True,
    schema_path: str | None = None,
    day: int | None = None,
) -> tfx.dsl.Pipeline:
    """Builds the pipeline for `config`. Runner-specific settings come in as arguments.

    `day`: the day (span) of this run. Given (the local and sequential runners), Transform and the Trainer read the
    spans [day - K + 1, day] that LogIngest produced in this and earlier runs (K = `sequential.window_days`, resolved
    from MLMD by `static_range`), the DriftGate also compares with span day - 1, and the baseline / warm-start base is
    the model pushed last by an earlier day's run. None (Kubeflow V2, whose compiler takes neither resolver
    functions nor custom resolver strategies): the run trains on its own span (`world.start_day`), the DriftGate
    checks skew with the next day only, and the baseline is TFX's latest Evaluator-blessed model. Either way the
    Evaluator scores span day + 1.
    `schema_path`: import this schema file instead of the world's generated curated schema.
    """
    config_json = config.to_json()
    data_json = config.only("world", "ingest").to_json()
    run_day = config.world.start_day if day is None else day
    log_gen = LogGen(config_json=data_json, day=run_day)
    ingest = LogIngest(logs=log_gen.outputs["logs"], config_json=data_json)
    examples = ingest.outputs["examples"]
    # The next day's span: the Evaluator's data (the paper trains on days 1..N-1 and evaluates on day N).
    next_gen = LogGen(config_json=data_json, day=run_day + 1).with_id("NextDayLogGen")
    next_ingest = LogIngest(logs=next_gen.outputs["logs"], config_json=data_json).with_id("NextDayLogIngest")
    next_examples = next_ingest.outputs["examples"]

    statistics = tfx.components.StatisticsGen(examples=examples)
    if schema_path:
        schema = tfx.components.ImportSchemaGen(schema_file=schema_path)
    else:
        # The node keeps the id of the stock ImportSchemaGen it replaces (caches, MLMD history, Kubeflow task names).
        schema = CuratedSchemaGen(config_json=config.only("world").to_json()).with_id("ImportSchemaGen")
    validator = tfx.components.ExampleValidator(
        statistics=statistics.outputs["statistics"], schema=schema.outputs["schema"]
    )
    validation_gate = ValidationGate(anomalies=validator.outputs["anomalies"])
    gates: list = [validation_gate]
    drift_nodes: list = []
    if config.drift.enabled:
        next_statistics = tfx.components.StatisticsGen(examples=next_examples).with_id("NextDayStatisticsGen")
        previous: list = []
        if day is not None and day > 0:  # span d-1's statistics, from an earlier run
            previous = [
                tfx.dsl.Resolver(
                    strategy_class=SpanStrategy,
                    config={"span": day - 1},
                    statistics=tfx.dsl.Channel(
                        type=tfx.types.standard_artifacts.ExampleStatistics,
                        producer_component_id=statistics.id,
                        output_key="statistics",
                    ),
                ).with_id("previous_statistics_resolver")
            ]
        drift_gate = DriftGate(
            statistics=statistics.outputs["statistics"],
            schema=schema.outputs["schema"],
            previous_statistics=previous[0].outputs["statistics"] if previous else None,
            next_statistics=next_statistics.outputs["statistics"],
            config_json=config.only("drift").to_json(),
            day=run_day,
        )
        drift_gate.add_upstream_node(statistics)
        gates.append(drift_gate)
        drift_nodes = [next_statistics, *previous, drift_gate]

    if day is None:
        train_examples = examples
    else:  # the rolling window: the latest version of each span in [day - K + 1, day]
        train_examples = static_range(
            tfx.dsl.Channel(
                type=tfx.types.standard_artifacts.Examples, producer_component_id=ingest.id, output_key="examples"
            ),
            start_span_number=max(0, day - config.sequential.window_days + 1),
            end_span_number=day,
            min_spans=1,
        )
    transform = tfx.components.Transform(
        examples=train_examples,
        schema=schema.outputs["schema"],
        preprocessing_fn="models.preprocessing.preprocessing_fn",
        custom_config={"config_json": config.only("transform").to_json()},
    )
    for gate in (*gates, ingest):
        transform.add_upstream_node(gate)

    trainer_id = "Trainer"
    if day is None:
        baseline = tfx.dsl.Resolver(
            strategy_class=LatestBlessedModelStrategy,
            model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model, producer_component_id=trainer_id),
            model_blessing=tfx.dsl.Channel(
                type=tfx.types.standard_artifacts.ModelBlessing, producer_component_id="Evaluator"
            ),
        ).with_id("latest_blessed_model_resolver")
    else:  # the model served before this day: blessed by both gates, pushed by an earlier day's run
        baseline = tfx.dsl.Resolver(
            strategy_class=LatestPushedModelStrategy,
            config={"before_day": day},
            model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model, producer_component_id=trainer_id),
            pushed_model=tfx.dsl.Channel(
                type=tfx.types.standard_artifacts.PushedModel, producer_component_id="RankerPusher"
            ),
        ).with_id("latest_pushed_model_resolver")
    trainer = tfx.components.Trainer(
        run_fn="models.trainer.run_fn",
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema.outputs["schema"],
        base_model=baseline.outputs["model"],
        train_args=tfx.proto.TrainArgs(splits=["train"], num_steps=config.train.train_steps),
        eval_args=tfx.proto.EvalArgs(splits=["eval"], num_steps=config.train.eval_steps),
        custom_config={"config_json": config_json},
    ).with_id(trainer_id)
    stability_gate = StabilityGate(model_run=trainer.outputs["model_run"], config_json=config_json)

    evaluator = tfx.components.Evaluator(
        examples=next_examples,
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        eval_config=build_eval_config(config.gates),
    )
    pusher = RankerPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        stability_blessing=stability_gate.outputs["blessing"],
        examples=next_examples,
        serving_root=serving_root,
        model_name=config.model_name,
    )
    components = [
        log_gen,
        ingest,
        next_gen,
        next_ingest,
        statistics,
        schema,
        validator,
        validation_gate,
        *drift_nodes,
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
