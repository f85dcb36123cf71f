"""TFX Tuner entry point (`Tuner(tuner_fn='models.tuning.tuner_fn')`) and how the Trainer applies its result.

The search space: hyperparameters named by the configuration field they set (dotted, as in `--config` overrides),
so the Trainer applies the best trial's values to its `PipelineConfig` (`apply_hyperparameters`):

  train.learning_rate                      0.01, 0.02, 0.05, 0.1     (the dense rule: Clippy by default)
  train.embedding_learning_rate            0.02, 0.05, 0.1, 0.2      (Adagrad on embeddings)
  model.embedding_dim                      8, 16, 32
  model.hidden_units                       "128-64", "256-128", "512-256"   (shared bottom widths)
  model.tower_units                        "16", "32", "64"
  model.task_weights.watch_time            0.1, 0.3, 1.0            (its squared error dwarfs the binary losses)
  model.task_weights.survey_rating         0.1, 0.3, 1.0
  model.dropout                            0.0, 0.1, 0.3            (regularization: 48k examples a day)
  model.kernel_l2                          0.0, 1e-5, 1e-4
  model.embedding_l2                       0.0, 1e-5, 1e-4
  train.optimizer_params.<p>               the Clippy thresholds, when the optimizer is Clippy:
      variable_relative_threshold          0.1, 0.5, 1.0
      absolute_threshold                   1e-3, 1e-2, 1e-1

KerasTuner's random search (`tuning.max_trials` trials, seeded by
`tuning.seed`, KerasTuner's RandomSearchOracle driving our RankerTuner) trains each trial for `tuning.train_steps`
steps on the train split and scores it by the mean AUC of the binary tasks on `tuning.eval_steps` batches of the
eval split (the span's own eval split: never span d + 1).
"""

from __future__ import annotations

import logging
from typing import Any

import keras_tuner
import tensorflow as tf
import tensorflow_transform as tft
from keras_tuner.engine import base_tuner
from tfx.components.tuner.component import TunerFnResult

from config.settings import BINARY_TASKS, PipelineConfig
from models import feature_selection
from models import features as F
from models.hyperparameters import apply_hyperparameters
from models.inputs import make_dataset
from models.ranker import build_ranker, compile_ranker
from models.trainer import build_optimizer, vocab_sizes

log = logging.getLogger(__name__)

# The configuration sections the Tuner reads (its custom_config).
TUNER_SECTIONS: tuple[str, ...] = ("model", "train", "transform", "tuning")
OBJECTIVE = "val_mean_auc"

SEARCH_SPACE: dict[str, list[Any]] = {
    "train.learning_rate": [0.01, 0.02, 0.05, 0.1],
    "train.embedding_learning_rate": [0.02, 0.05, 0.1, 0.2],
    "model.embedding_dim": [8, 16, 32],
    "model.hidden_units": ["128-64", "256-128", "512-256"],
    "model.tower_units": ["16", "32", "64"],
    "model.task_weights.watch_time": [0.1, 0.3, 1.0],
    "model.task_weights.survey_rating": [0.1, 0.3, 1.0],
    "model.dropout": [0.0, 0.1, 0.3],
    "model.kernel_l2": [0.0, 1e-5, 1e-4],
    "model.embedding_l2": [0.0, 1e-5, 1e-4],
}
CLIPPY_SPACE: dict[str, list[Any]] = {
    "train.optimizer_params.variable_relative_threshold": [0.1, 0.5, 1.0],
    "train.optimizer_params.absolute_threshold": [1e-3, 1e-2, 1e-1],
}


def search_space(config: PipelineConfig) -> dict[str, list[Any]]:
    """The choices of each hyperparameter for `config` (module docstring)."""
    space = dict(SEARCH_SPACE)
    if config.train.optimizer == "clippy":
        space.update(CLIPPY_SPACE)
    return space


def declared_space(config: PipelineConfig) -> keras_tuner.HyperParameters:
    """The search space as KerasTuner hyperparameters (declared up front, so the oracle samples every trial)."""
    hp = keras_tuner.HyperParameters()
    for name, choices in search_space(config).items():
        hp.Choice(name, choices)
    return hp


def build_trial(values: Any, config: PipelineConfig, sizes: dict, features) -> tf.keras.Model:
    """One trial's ranker, compiled with the paper's optimizer split, for the hyperparameter `values`."""
    trial = apply_hyperparameters(config, values)
    model = build_ranker(trial.model, sizes, features)
    compile_ranker(model, build_optimizer(trial.train), trial.model)
    return model


class RankerTuner(base_tuner.BaseTuner):
    """KerasTuner's search loop (oracle, trials, results) around our own trial: build, train, score.

    KerasTuner's `Tuner` accepts only models of the `keras` package (Keras 3 here), not the tf-keras models the
    project trains (DESIGN.md), so the trial is run here: `train_steps` steps on the train split, then the mean
    AUC of the binary tasks over `eval_steps` batches of the eval split (OBJECTIVE)."""

    def __init__(self, oracle: keras_tuner.Oracle, build, **kwargs):
        super().__init__(oracle, hypermodel=None, **kwargs)
        self._build = build

    def run_trial(self, trial, x, validation_data, steps_per_epoch: int, validation_steps: int) -> dict[str, float]:
        model = self._build(trial.hyperparameters.values)
        model.fit(x, epochs=1, steps_per_epoch=steps_per_epoch, verbose=0)
        logs = model.evaluate(validation_data, steps=validation_steps, return_dict=True, verbose=0)
        aucs = [logs[f"{task}_auc"] for task in BINARY_TASKS if f"{task}_auc" in logs]
        score = sum(aucs) / len(aucs) if aucs else 0.0
        log.info("tuning trial %s: %s = %.4f with %s", trial.trial_id, OBJECTIVE, score, trial.hyperparameters.values)
        return {OBJECTIVE: score}


def tuner_fn(fn_args) -> TunerFnResult:
    """TFX Tuner hook. `custom_config=PipelineConfig.sections_json(TUNER_SECTIONS)`."""
    config = PipelineConfig.from_sections_json(fn_args.custom_config)
    tuning, train = config.tuning, config.train
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    spec = tf_transform_output.transformed_feature_spec()
    features = F.feature_set_from_spec(tf_transform_output.raw_feature_spec())
    if config.model.feature_screening_alpha is not None:  # the trials take the features the Trainer would
        screening = feature_selection.screen_span(
            fn_args.train_files, spec, features, config.model.feature_screening_alpha
        )
        features = feature_selection.kept_features(features, screening)
    sizes = vocab_sizes(tf_transform_output, config, features)
    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective(OBJECTIVE, direction="max"),
        max_trials=tuning.max_trials,
        seed=tuning.seed,
        hyperparameters=declared_space(config),
        tune_new_entries=False,
    )
    tuner = RankerTuner(
        oracle,
        lambda values: build_trial(values, config, sizes, features),
        directory=fn_args.working_dir,
        project_name="ranker_tuning",
        overwrite=True,
    )
    train_data = make_dataset(fn_args.train_files, spec, train.batch_size, shuffle=True, repeat=True, seed=tuning.seed)
    eval_data = make_dataset(fn_args.eval_files, spec, train.batch_size, shuffle=False, repeat=True)
    log.info("tuning: %d trials of %d steps over %s", tuning.max_trials, fn_args.train_steps, search_space(config))
    return TunerFnResult(
        tuner=tuner,
        fit_kwargs={
            "x": train_data,
            "validation_data": eval_data,
            "steps_per_epoch": fn_args.train_steps,
            "validation_steps": fn_args.eval_steps,
        },
    )
