"""The simple model the ranker must beat: one linear model per task on the ranker's own Transform output.

`Trainer(run_fn='models.baseline.run_fn')` (node id `BaselineTrainer`) trains it on the same span and transformed
examples as the ranker, and exports it with the ranker's signatures (models/serving.py), so the Evaluator scores
both on the same examples and a client or report can score either:

  z_k = b_k + Σ_f w_{k, f}[x_f] + Σ_d v_{k, d} x_d          for each task k

ids and categoricals (and the bucketed ints) contribute one weight per value and task (a per-id bias term, an
embedding of width 1 per task, L2-regularised by `baseline.l2`); dense features (z-scored by Transform) enter
linearly. Binary tasks: z_k is a logit (a logistic regression, sigmoid cross-entropy); `watch_time` and
`survey_rating` are linear regressions (squared error, the survey masked to surveyed impressions): the ranker's
losses and labels (models/ranker.py). Tasks share no parameter. Adagrad at `baseline.learning_rate` for
`baseline.train_steps` batches of `baseline.batch_size`, seeded by `train.seed`, without training metrics (they
cost more than the linear model's own arithmetic): the BaselineEvaluator measures it on span d + 1.
"""

from __future__ import annotations

import json
import logging
import os

import tensorflow as tf
import tensorflow_transform as tft

from config.settings import TASKS, BaselineConfig, PipelineConfig
from models import feature_selection
from models import features as F
from models.inputs import make_dataset
from models.ranker import categorical_sizes, linear_logits, losses, model_inputs, task_column
from models.serving import export_serving_model
from models.trainer import vocab_sizes

log = logging.getLogger(__name__)

# The configuration sections the BaselineTrainer reads (`model` for the serving score weights).
BASELINE_SECTIONS: tuple[str, ...] = ("baseline", "train", "transform", "model")
BASELINE_REPORT_FILE = "baseline_report.json"


def build_baseline(
    config: BaselineConfig, vocab_sizes: dict[str, int], features: F.FeatureSet = F.CORE_FEATURES
) -> tf.keras.Model:
    """The linear model of the module docstring: inputs as the ranker's, outputs one [B, 1] tensor per task."""
    sizes = categorical_sizes(vocab_sizes, features)
    inputs, indices, stacked = model_inputs(features)
    bias = tf.keras.initializers.Constant([3.0 if task == "survey_rating" else 0.0 for task in TASKS])
    logits = linear_logits(features, sizes, indices, stacked, config.l2, bias=bias, dense_l2=config.dense_l2)
    outputs = {task: task_column(logits, task, task) for task in TASKS}
    return tf.keras.Model(inputs=inputs, outputs=outputs, name="linear_baseline")


def compile_baseline(model: tf.keras.Model, config: BaselineConfig) -> tf.keras.Model:
    """Compiled with the ranker's losses, without metrics (the BaselineEvaluator measures the model)."""
    model.compile(optimizer=tf.keras.optimizers.Adagrad(config.learning_rate), loss=losses())
    return model


def train_and_export(
    config: PipelineConfig,
    transform_output_dir: str,
    train_files: list[str],
    serving_model_dir: str,
    model_run_dir: str,
) -> dict[str, float]:
    """Trains the baseline, writes `baseline_report.json` (its final training losses) and exports it; returns them."""
    train, baseline = config.train, config.baseline
    tf.keras.utils.set_random_seed(train.seed)
    tf_transform_output = tft.TFTransformOutput(transform_output_dir)
    spec = tf_transform_output.transformed_feature_spec()
    features = F.feature_set_from_spec(tf_transform_output.raw_feature_spec())
    screening = None
    if config.model.feature_screening_alpha is not None:
        screening = feature_selection.screen_span(train_files, spec, features, config.model.feature_screening_alpha)
        features = feature_selection.kept_features(features, screening)
        log.info("screening kept %d of %d generated features", len(screening.kept), len(screening.p_values))
    model = build_baseline(baseline, vocab_sizes(tf_transform_output, config, features), features)
    compile_baseline(model, baseline)
    dataset = make_dataset(train_files, spec, baseline.batch_size, shuffle=True, repeat=True, seed=train.seed)
    history = model.fit(dataset, epochs=1, steps_per_epoch=baseline.train_steps, verbose=0)
    report = {f"train_{k}": float(v[-1]) for k, v in history.history.items()}
    tf.io.gfile.makedirs(model_run_dir)
    with tf.io.gfile.GFile(os.path.join(model_run_dir, BASELINE_REPORT_FILE), "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)
    log.info("baseline trained for %d steps: %s", baseline.train_steps, report)
    export_serving_model(model, tf_transform_output, config.model, serving_model_dir)
    if screening is not None:
        feature_selection.save_screening(screening, serving_model_dir)
    return report


def run_fn(fn_args) -> None:
    """TFX Trainer hook. `custom_config=PipelineConfig.sections_json(BASELINE_SECTIONS)`."""
    train_and_export(
        PipelineConfig.from_sections_json(fn_args.custom_config),
        transform_output_dir=fn_args.transform_output,
        train_files=fn_args.train_files,
        serving_model_dir=fn_args.serving_model_dir,
        model_run_dir=fn_args.model_run_dir,
    )
