"""`create_pipeline`: the one TFX DAG shared by the local runner, Kubeflow and every test.

The run of day d (one span per day; pipeline/sequential.py runs it day after day):

LogGen(d) ─► LogIngest ─► StatisticsGen ─► ExampleValidator ◄─ ImportSchemaGen (CuratedSchemaGen: the world's schema)
                 │              │                 │
                 │              │           ValidationGate (anomaly => stop)
                 │              ├─► DriftGate (span d vs d-1 drift, vs d+1 skew => stop) ◄─ StatisticsGen of d-1
                 ▼              │                 │
 spans [d-K+1, d] of LogIngest ─► Transform ◄─────┘
                 ▼
     [Tuner (tuning.enabled) ─► best hyperparameters]
                 ▼
              Trainer (Clippy; warm start) ─► StabilityGate ──────────────────────┐
                 ▼                                                               ▼
 ServedModel (served now) ─► Evaluator on span d+1 (TFMA thresholds, slices) ─► RankerPusher ─► <root>/<model>/<ver>
                 ▲                                                               ▲
 BaselineTrainer (the simple model) ─► BaselineEvaluator on span d+1 (lift) ─────┘
                 ▲
NextDayLogGen(d+1) ─► NextDayLogIngest ─► NextDayStatisticsGen (─► DriftGate skew)

The model served before day d (read from the serving root by the ServedModel component: the newest complete version
an earlier day's run pushed) is both the Evaluator's baseline and the
Trainer's warm-start base, so a day that fails a gate pushes nothing and the next day continues from the model still
being served, and a rerun of a day resolves the same base (its Trainer comes from the cache).

The BaselineTrainer trains the simple model (models/baseline.py) on the same Transform output; the
BaselineEvaluator scores the ranker against it on span d+1, and unless `gates.min_lift_over_baseline` is None the
pusher needs its blessing too (`baseline.enabled` false leaves both out of the DAG). Both Evaluators score every
split of span d+1 (`gates.eval_splits`): the model of day d has seen none of it. With `tuning.enabled` TFX's Tuner
searches the ranker's hyperparameters (models/tuning.py) on the same Transform output and the Trainer trains with
the best ones. With `model.wide_from_simple` the Trainer (components/ranker_trainer.py: TFX's Trainer with a
`simple_model` input) runs after the BaselineTrainer and starts the ranker's wide part from the simple model's
weights (models/wide_start.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import tensorflow as tf
from tfx import v1 as tfx
from tfx.dsl.input_resolution.canned_resolver_functions import static_range
from tfx.types import standard_artifacts

if TYPE_CHECKING:
    import tensorflow_model_analysis as tfma

from components.drift_gate import DriftGate
from components.evaluator import SIMPLE_MODEL_NODE, Evaluator
from components.log_generator import LogGen
from components.log_ingest import LogIngest
from components.pusher import RankerPusher
from components.ranker_trainer import RankerTrainer
from components.schema_gen import CuratedSchemaGen
from components.served_model import ServedModel
from components.span_resolver import SpanStrategy
from components.stability_gate import StabilityGate
from components.validation_gate import ValidationGate
from config.paths import is_remote
from config.settings import PipelineConfig, section_json
from logformat.log_files import files_fingerprint, span_files
from models.baseline import BASELINE_SECTIONS
from models.preprocessing import TRANSFORM_SECTIONS
from models.trainer import TRAINER_SECTIONS
from models.tuning import TUNER_SECTIONS
from pipeline.eval_config import build_baseline_eval_config, build_eval_config, gates_baseline

TRAINER_ID = "Trainer"
BASELINE_TRAINER_ID = SIMPLE_MODEL_NODE  # components/evaluator.py names the simple model by it


@dataclass(frozen=True)
class DataNodes:
    """The day's span and the next day's (the Evaluator's data)."""

    nodes: list
    ingest: LogIngest
    examples: tfx.dsl.Channel
    next_examples: tfx.dsl.Channel


@dataclass(frozen=True)
class ValidationNodes:
    """Statistics, schema and the gates that stop a bad span before Transform."""

    nodes: list
    statistics: tfx.components.StatisticsGen
    schema: tfx.dsl.Channel
    gates: list


@dataclass(frozen=True)
class TrainingNodes:
    nodes: list
    trainer: RankerTrainer
    stability_gate: StabilityGate
    baseline: tfx.dsl.Channel
    simple_model: tfx.dsl.Channel | None  # the BaselineTrainer's model (None: `baseline.enabled` false)


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
    """Builds the pipeline for a validated `config` (config/validation.py; the entry points validate it once).

    `day`: the day (span) of this run. Given (the local and sequential runners), Transform and the Trainer read the
    spans [day - K + 1, day] that LogIngest produced in this and earlier runs (K = `sequential.window_days`, resolved
    from MLMD by `static_range`), the DriftGate also compares with span day - 1, and the baseline / warm-start base is
    the version served from `serving_root` that an earlier day's run pushed. None (Kubeflow: open-source KFP runs
    no resolver nodes, and the V2 compiler takes no resolver functions): the run trains on its own span
    (`world.start_day`), the DriftGate checks skew with the next day only, and the baseline is the version served
    now. Either way the baseline comes from the ServedModel component, an ordinary component that reads the serving
    root (components/served_model.py), and the Evaluator scores span day + 1.
    `schema_path`: import this schema file instead of the world's generated curated schema.
    """
    run_day = config.world.start_day if day is None else day
    data = _data_nodes(config, run_day)
    validation = _validation_nodes(config, data, day, schema_path)
    training = _training_nodes(config, data, validation, day, serving_root)
    release = _release_nodes(config, data, training, serving_root, run_day)
    return tfx.dsl.Pipeline(
        pipeline_name=config.name,
        pipeline_root=pipeline_root,
        components=[*data.nodes, *validation.nodes, *training.nodes, *release],
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args or [],
    )


def _data_nodes(config: PipelineConfig, run_day: int) -> DataNodes:
    """LogGen -> LogIngest for the run's day, and again for day + 1 (the paper trains on days 1..N-1 and evaluates
    on day N). With `ingest.logs_pattern` (the user's own logs) there is no LogGen: LogIngest reads the files of
    each span that the pattern names."""
    if config.ingest.logs_pattern:
        ingest = LogIngest(None, config.ingest, span=run_day, logs_fingerprint=_fingerprint(config, run_day))
        next_ingest = LogIngest(
            None, config.ingest, span=run_day + 1, logs_fingerprint=_fingerprint(config, run_day + 1)
        ).with_id("NextDayLogIngest")
        nodes = [ingest, next_ingest]
    else:
        log_gen = LogGen(world=config.world, day=run_day)
        ingest = LogIngest(logs=log_gen.outputs["logs"], ingest=config.ingest)
        next_gen = LogGen(world=config.world, day=run_day + 1).with_id("NextDayLogGen")
        next_ingest = LogIngest(logs=next_gen.outputs["logs"], ingest=config.ingest).with_id("NextDayLogIngest")
        nodes = [log_gen, ingest, next_gen, next_ingest]
    return DataNodes(
        nodes=nodes,
        ingest=ingest,
        examples=ingest.outputs["examples"],
        next_examples=next_ingest.outputs["examples"],
    )


def _fingerprint(config: PipelineConfig, span: int) -> str:
    """What the files of `span` under `ingest.logs_pattern` are now (so a changed file is not served from the
    cache). Local patterns only: a remote one (gs://...) is not listed when the pipeline is built or compiled, and
    its fingerprint is empty."""
    if is_remote(config.ingest.logs_pattern):
        return ""
    try:
        return files_fingerprint(span_files(config.ingest.logs_pattern, span))
    except (OSError, tf.errors.OpError):
        return ""


def _validation_nodes(config: PipelineConfig, data: DataNodes, day: int | None, schema_path: str | None):
    """StatisticsGen -> ExampleValidator against the curated schema -> ValidationGate; the DriftGate when enabled."""
    statistics = tfx.components.StatisticsGen(examples=data.examples)
    if schema_path:
        schema = tfx.components.ImportSchemaGen(schema_file=schema_path)
    else:
        # The node keeps the id of the stock ImportSchemaGen it replaces (caches, MLMD history, Kubeflow task names).
        schema = CuratedSchemaGen(world_json=section_json(config.world)).with_id("ImportSchemaGen")
    validator = tfx.components.ExampleValidator(
        statistics=statistics.outputs["statistics"], schema=schema.outputs["schema"]
    )
    validation_gate = ValidationGate(anomalies=validator.outputs["anomalies"])
    nodes: list = [statistics, schema, validator, validation_gate]
    gates: list = [validation_gate]
    if config.drift.enabled:
        drift_nodes = _drift_nodes(config, data, statistics, schema.outputs["schema"], day)
        nodes += drift_nodes
        gates.append(drift_nodes[-1])
    return ValidationNodes(nodes=nodes, statistics=statistics, schema=schema.outputs["schema"], gates=gates)


def _drift_nodes(config: PipelineConfig, data: DataNodes, statistics, schema: tfx.dsl.Channel, day: int | None):
    """The DriftGate (last in the list): span d against d - 1 (drift, when an earlier run made it) and d + 1 (skew)."""
    next_statistics = tfx.components.StatisticsGen(examples=data.next_examples).with_id("NextDayStatisticsGen")
    previous: list = []
    if day is not None and day > 0:  # span d-1's statistics, from an earlier run
        previous = [
            tfx.dsl.Resolver(
                strategy_class=SpanStrategy,
                config={"span": day - 1},
                statistics=tfx.dsl.Channel(
                    type=standard_artifacts.ExampleStatistics,
                    producer_component_id=statistics.id,
                    output_key="statistics",
                ),
            ).with_id("previous_statistics_resolver")
        ]
    drift_gate = DriftGate(
        statistics=statistics.outputs["statistics"],
        schema=schema,
        previous_statistics=previous[0].outputs["statistics"] if previous else None,
        next_statistics=next_statistics.outputs["statistics"],
        drift_json=section_json(config.drift),
        day=config.world.start_day if day is None else day,
    )
    drift_gate.add_upstream_node(statistics)
    return [next_statistics, *previous, drift_gate]


def _training_window(config: PipelineConfig, data: DataNodes, day: int | None) -> tfx.dsl.Channel:
    """The run's own span (day None), or the latest version of each span in [day - K + 1, day]."""
    if day is None:
        return data.examples
    return static_range(
        tfx.dsl.Channel(type=standard_artifacts.Examples, producer_component_id=data.ingest.id, output_key="examples"),
        start_span_number=max(0, day - config.sequential.window_days + 1),
        end_span_number=day,
        min_spans=1,
    )


def _training_nodes(
    config: PipelineConfig, data: DataNodes, validation: ValidationNodes, day: int | None, serving_root: str
):
    """Transform (after every gate passed) -> Trainer (warm-started from the served model) -> StabilityGate."""
    transform = tfx.components.Transform(
        examples=_training_window(config, data, day),
        schema=validation.schema,
        preprocessing_fn="models.preprocessing.preprocessing_fn",
        custom_config=config.sections_json(TRANSFORM_SECTIONS),
        disable_statistics=True,  # its pre/post-transform statistics and anomalies: nothing reads them (~4 s)
        force_tf_compat_v1=config.transform.tf_compat_v1,
    )
    for gate in (*validation.gates, data.ingest):
        transform.add_upstream_node(gate)
    # The model TF Serving serves (before this day, with `day`): the Evaluator's baseline and the warm-start base.
    baseline = ServedModel(serving_root=serving_root, model_name=config.model_name, before_day=day)
    train_args = tfx.proto.TrainArgs(splits=["train"], num_steps=config.train.train_steps)
    eval_args = tfx.proto.EvalArgs(splits=["eval"], num_steps=config.train.eval_steps)
    tuner = None
    if config.tuning.enabled:
        tuner = tfx.components.Tuner(
            tuner_fn="models.tuning.tuner_fn",
            examples=transform.outputs["transformed_examples"],
            transform_graph=transform.outputs["transform_graph"],
            schema=validation.schema,
            train_args=tfx.proto.TrainArgs(splits=["train"], num_steps=config.tuning.train_steps),
            eval_args=tfx.proto.EvalArgs(splits=["eval"], num_steps=config.tuning.eval_steps),
            custom_config=config.sections_json(TUNER_SECTIONS),
        )

    def trainer_node(component, run_fn: str, sections: tuple[str, ...], node_id: str, **inputs):
        """A Trainer on Transform's output with the run's train and eval args, reading `sections` of the config."""
        return component(
            run_fn=run_fn,
            examples=transform.outputs["transformed_examples"],
            transform_graph=transform.outputs["transform_graph"],
            schema=validation.schema,
            train_args=train_args,
            eval_args=eval_args,
            custom_config=config.sections_json(sections),
            **inputs,
        ).with_id(node_id)

    simple = None
    if config.baseline.enabled:
        simple = trainer_node(tfx.components.Trainer, "models.baseline.run_fn", BASELINE_SECTIONS, BASELINE_TRAINER_ID)
    trainer = trainer_node(
        RankerTrainer,
        "models.trainer.run_fn",
        TRAINER_SECTIONS,
        TRAINER_ID,
        base_model=baseline.outputs["model"],
        hyperparameters=tuner.outputs["best_hyperparameters"] if tuner else None,
        # The wide part's start (models/wide_start.py): the BaselineTrainer runs first.
        simple_model=simple.outputs["model"] if simple is not None and config.model.wide_from_simple else None,
    )
    stability_gate = StabilityGate(
        model_run=trainer.outputs["model_run"], model=trainer.outputs["model"], stability=config.stability
    )
    return TrainingNodes(
        nodes=[
            transform,
            *([tuner] if tuner else []),
            *([simple] if simple is not None else []),
            trainer,
            stability_gate,
            baseline,
        ],
        trainer=trainer,
        stability_gate=stability_gate,
        baseline=baseline.outputs["model"],
        simple_model=simple.outputs["model"] if simple is not None else None,
    )


def _release_nodes(
    config: PipelineConfig, data: DataNodes, training: TrainingNodes, serving_root: str, run_day: int
) -> list:
    """Evaluator on the next day's span (TFMA thresholds, change threshold against the served model, slices) and
    BaselineEvaluator (lift over the simple model) -> RankerPusher (publishes the verified version in
    models.config)."""

    def against(baseline: tfx.dsl.Channel, eval_config: tfma.EvalConfig, node_id: str) -> Evaluator:
        """The ranker scored beside `baseline` on every split of span d+1 named in `gates.eval_splits`."""
        return Evaluator(
            examples=data.next_examples,
            model=training.trainer.outputs["model"],
            baseline_model=baseline,
            eval_config=eval_config,
            example_splits=list(config.gates.eval_splits),
        ).with_id(node_id)

    evaluator = against(training.baseline, build_eval_config(config.gates), "Evaluator")
    baseline_evaluator = None
    if training.simple_model is not None:
        baseline_evaluator = against(
            training.simple_model, build_baseline_eval_config(config.gates), "BaselineEvaluator"
        )
    baseline_blessing = None
    if baseline_evaluator is not None and gates_baseline(config.gates):
        baseline_blessing = baseline_evaluator.outputs["blessing"]
    pusher = RankerPusher(
        model=training.trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        stability_blessing=training.stability_gate.outputs["blessing"],
        baseline_blessing=baseline_blessing,
        examples=data.next_examples,
        serving_root=serving_root,
        model_name=config.model_name,
        day=run_day,
        base_path_root=config.deploy.base_path_root,  # the serving root as TF Serving's pod sees it
    )
    return [evaluator, *([baseline_evaluator] if baseline_evaluator is not None else []), pusher]
