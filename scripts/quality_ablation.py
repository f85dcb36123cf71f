"""Ranker variants against a logistic regression on the same transformed day: what moves next-day AUC.

Generates the preset's world for days 0 .. N-1 (default 2), analyses the training days with the pipeline's
`preprocessing_fn` (the lab's data path, experiments/data.py), trains each ranker variant on 80 % of the training
days (the pipeline's train split share) and scores all of day N-1, beside scikit-learn's logistic regression on
the same transformed features. Prints one JSON line per model: AUC and calibration (mean predicted / observed - 1)
per binary task (`<task>_cal_platt`: after Platt scaling fitted on the training days' 20 % holdout;
`<task>_cal_platt_all`: fitted on all of the training days, as the Trainer calibrates), and watch time's RMSE.

    python scripts/quality_ablation.py --out /tmp/ablation --variants base,cond,d0.3,l2e1e-4,h64x32,seed1

A variant is `base` (the preset's ranker) or `_`-joined edits of it: `plain` (independent heads, equal task
weights, no wide part, no dropout), `cond` (conditional_tasks), `dN` (dropout), `l2kN` / `l2eN` (kernel /
embedding L2), `hAxB` (hidden units), `eN` (embedding dim), `sN` (train steps), `lrN`, `elrN`, `seedN`, `adamN`
(Adam at rate N), `rw` (rare tasks up-weighted: like 3, share 6, dismiss 2, watch time 0.2, survey 0.5) and
`core` (no ids, generated features or high-cardinality categoricals), `linear` (no hidden layers), `wide` (wide &
deep: `model.wide`), `wl2N` (its L2), `cwN` (click's task weight), `wsimple` (the wide part starts from the
simple model's trained weights as the Trainer starts it, models/wide_start.py; `wmask`: with chained heads only the
click and survey columns, not dismiss; `wfreeze` also freezes it),
`tuned` (the Tuner's best trial, from `--hyperparameters`: its best_hyperparameters.txt); `simple` is the
pipeline's simple model (models/baseline.py), `simple_...` with edits of its own: `bl2N` (`baseline.l2`), `bdl2N`
(`baseline.dense_l2`). Feature edits, for the ranker and the simple model: `sel` (only the generated features the
screening test keeps, models/feature_selection.py, at its default level), `nogen` (no generated feature), and for
the ranker `deepcore` (the generated features feed its wide part only).

`--blend A,B` also scores a stacked model of two of the variants: per binary task, a logistic regression on their
two logits fitted on the training days' 20 % holdout (the stacker sees no example the variants trained on).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from config.settings import BINARY_TASKS, DEFAULT_TASK_WEIGHTS, PipelineConfig, get_preset  # noqa: E402
from experiments.data import feature_set, prepare_data  # noqa: E402
from models import features as F  # noqa: E402
from models.baseline import build_baseline, compile_baseline  # noqa: E402
from models.calibration import fit_platt  # noqa: E402
from models.feature_selection import kept_features, screen  # noqa: E402
from models.hyperparameters import apply_hyperparameters  # noqa: E402
from models.ranker import build_ranker, compile_ranker, split_labels  # noqa: E402
from models.trainer import build_optimizer  # noqa: E402
from models.wide_start import linear_weights_of_model, start_wide_part  # noqa: E402


def variant(config: PipelineConfig, name: str, hyperparameters: str | None = None) -> tuple[PipelineConfig, bool]:
    """The config of variant `name` and whether it keeps only the core features."""
    if "tuned" in name.split("_"):
        if not hyperparameters:
            raise SystemExit("the variant part 'tuned' needs --hyperparameters")
        with open(hyperparameters) as f:
            config = apply_hyperparameters(config, f.read())
        name = "_".join(part for part in name.split("_") if part != "tuned") or "base"
    model: dict = {}
    train: dict = {}
    baseline: dict = {}
    parts = [] if name in ("base", "simple") else name.split("_")
    for part in parts:
        if part in ("simple", "wsimple", "wfreeze", "wmask", "deepcore", "nogen", "sel"):  # handled below
            continue
        if part == "plain":  # the ranker without the preset's choices: independent heads, equal weights, no wide part
            model.update(
                wide=False, conditional_tasks=False, task_weights=dict.fromkeys(DEFAULT_TASK_WEIGHTS, 1.0), dropout=0.0
            )
        elif part == "linear":
            model.update(hidden_units=(), tower_units=())
        elif part == "cond":
            model["conditional_tasks"] = True
        elif part == "wide":
            model["wide"] = True
        elif part.startswith("cw"):
            model["task_weights"] = {**model.get("task_weights", config.model.task_weights), "click": float(part[2:])}
        elif part.startswith("wl2"):
            model["wide_l2"] = float(part[3:])
        elif part == "rw":
            model["task_weights"] = dict(DEFAULT_TASK_WEIGHTS)
        elif part.startswith("bl2"):
            baseline["l2"] = float(part[3:])
        elif part.startswith("bdl2"):
            baseline["dense_l2"] = float(part[4:])
        elif part.startswith("l2k"):
            model["kernel_l2"] = float(part[3:])
        elif part.startswith("l2e"):
            model["embedding_l2"] = float(part[3:])
        elif part.startswith("elr"):
            train["embedding_learning_rate"] = float(part[3:])
        elif part.startswith("lr"):
            train["learning_rate"] = float(part[2:])
        elif part.startswith("seed"):
            train["seed"] = int(part[4:])
        elif part.startswith("adam"):
            train.update(optimizer="adam", learning_rate=float(part[4:]), optimizer_params={})
        elif part.startswith("d"):
            model["dropout"] = float(part[1:])
        elif part.startswith("h"):
            model["hidden_units"] = tuple(int(x) for x in part[1:].split("x"))
        elif part.startswith("e"):
            model["embedding_dim"] = int(part[1:])
        elif part.startswith("s"):
            train["train_steps"] = int(part[1:])
        elif part != "core":
            raise SystemExit(f"unknown variant part {part!r}")
    return (
        dataclasses.replace(
            config,
            model=dataclasses.replace(config.model, **model),
            train=dataclasses.replace(config.train, **train),
            baseline=dataclasses.replace(config.baseline, **baseline),
        ),
        "core" in parts,
    )


def scores(predicted: dict[str, np.ndarray], day: dict[str, np.ndarray]) -> dict[str, float]:
    out: dict[str, float] = {}
    for task in BINARY_TASKS:
        y, p = day[F.label_key(task)], predicted[task]
        out[task] = round(float(roc_auc_score(y, p)), 4)
        out[f"{task}_cal"] = round(float(p.mean() / y.mean() - 1), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="cache directory for the generated, transformed days")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--days", type=int, default=2, help="days generated; the last is scored")
    parser.add_argument("--world-seed", type=int, default=None)
    parser.add_argument("--variants", default="base")
    parser.add_argument("--hyperparameters", default=None, help="a Tuner's best_hyperparameters.txt (variant 'tuned')")
    parser.add_argument(
        "--index-shuffle",
        action="store_true",
        help="shuffle row indices instead of examples (a 100k-example shuffle buffer of the wide preset's 258 "
        "columns holds ~20 GB); another data order, so compare only variants of the same run",
    )
    parser.add_argument("--blend", default=None, help="two variants A,B: a stacker on their logits (docstring)")
    args = parser.parse_args()
    config = get_preset(args.preset)
    world = dataclasses.replace(config.world, num_days=args.days)
    if args.world_seed is not None:
        world = dataclasses.replace(world, seed=args.world_seed)
    lab = prepare_data(args.out, world, config.transform, log=lambda message: None)
    features = feature_set(lab)
    days = {k: np.concatenate([d[k] for d in lab.train_days]) for k in lab.train_days[0]}
    keep = np.random.default_rng(0).random(len(days[F.label_key("click")])) < 0.8
    train_cols = {k: v[keep] for k, v in days.items()}

    core_dense = (*features.log_dense, *features.linear_dense, *features.rates)
    core_cats = ("position", "surface", "is_subscribed")

    def linear_inputs(day: dict[str, np.ndarray]) -> np.ndarray:
        parts = [np.stack([day[F.transformed_name(k)] for k in core_dense], 1)]
        for key in core_cats:
            size = int(max(train_cols[F.transformed_name(key)].max(), lab.eval_day[F.transformed_name(key)].max())) + 1
            parts.append(np.eye(size, dtype=np.float32)[day[F.transformed_name(key)]])
        return np.concatenate(parts, 1)

    x_train, x_eval = linear_inputs(train_cols), linear_inputs(lab.eval_day)
    lr = {
        task: LogisticRegression(max_iter=1000, C=0.1)
        .fit(x_train, train_cols[F.label_key(task)])
        .predict_proba(x_eval)[:, 1]
        for task in BINARY_TASKS
    }
    print("logistic_regression", json.dumps(scores(lr, lab.eval_day)), flush=True)

    holdout_cols = {k: v[~keep] for k, v in days.items()}
    holdout_feats, _ = split_labels({k: tf.constant(v) for k, v in holdout_cols.items()})
    feats, labels = split_labels({k: tf.constant(v) for k, v in train_cols.items()})
    eval_feats, _ = split_labels({k: tf.constant(v) for k, v in lab.eval_day.items()})
    variant_logits: dict[str, tuple[dict, dict]] = {}  # variant -> (holdout logits, day N-1 logits), for --blend
    for name in args.variants.split(","):
        cfg, core = variant(config, name, args.hyperparameters)
        fs = features
        if core:
            fs = dataclasses.replace(
                features, ids=(), categoricals=("surface",), bucketed_ints=(("position", 32), ("is_subscribed", 2))
            )
            fs = dataclasses.replace(fs, signed_log_dense=())
        if "sel" in name.split("_"):  # only the generated features the screening test keeps
            screening = screen(
                {k: train_cols[F.transformed_name(k)] for k in fs.raw_inputs},
                {t: train_cols[F.label_key(t)] for t in (*BINARY_TASKS, "watch_time")},
                fs.dense,
                fs.embedded,
                BINARY_TASKS,
            )
            print(f"screening: kept {len(screening.kept)} of {len(screening.p_values)}: {screening.kept}", flush=True)
            fs = kept_features(fs, screening)
        if "nogen" in name.split("_"):  # no generated features anywhere in the model
            fs = dataclasses.replace(
                fs, categoricals=tuple(k for k in fs.categoricals if not k.startswith("f_cat_")), signed_log_dense=()
            )
        tf.keras.utils.set_random_seed(cfg.train.seed)
        if args.index_shuffle:  # shuffle row indices and gather batches: no per-example tensors in a buffer
            rows = len(train_cols[F.label_key("click")])
            data = (
                tf.data.Dataset.range(rows)
                .shuffle(rows, seed=cfg.train.seed)
                .repeat()
                .batch(cfg.train.batch_size, drop_remainder=True)
                .map(lambda i: tf.nest.map_structure(lambda column: tf.gather(column, i), (feats, labels)))
            )
        else:
            data = (
                tf.data.Dataset.from_tensor_slices((feats, labels))
                .shuffle(100_000, seed=cfg.train.seed)
                .repeat()
                .batch(cfg.train.batch_size, drop_remainder=True)
            )
        if name.split("_")[0] == "simple":
            model = compile_baseline(build_baseline(cfg.baseline, lab.vocab_sizes, fs), cfg.baseline)
        else:
            edits = name.split("_")
            start = None
            if "wsimple" in edits:  # train the simple model first; its weights start the wide part
                start = compile_baseline(build_baseline(cfg.baseline, lab.vocab_sizes, fs), cfg.baseline)
                start.fit(data, epochs=1, steps_per_epoch=cfg.baseline.train_steps, verbose=0)
                tf.keras.utils.set_random_seed(cfg.train.seed)
            deep = None
            if "deepcore" in edits:  # the generated features feed the wide part only
                deep = dataclasses.replace(
                    fs,
                    categoricals=tuple(k for k in fs.categoricals if not k.startswith("f_cat_")),
                    signed_log_dense=(),
                )
            model = build_ranker(cfg.model, lab.vocab_sizes, fs, deep)
            if start is not None:
                weights = linear_weights_of_model(start)
                copied = ("click", "survey_rating") if "wmask" in edits else None
                start_wide_part(model, weights, cfg.model.conditional_tasks, copied)
                for layer in model.layers:  # `wfreeze`: the deep part learns the residual of a fixed linear part
                    if layer.name.startswith("wide_") and "wfreeze" in edits:
                        layer.trainable = False
            compile_ranker(model, build_optimizer(cfg.train), cfg.model)
        started = time.time()
        model.fit(data, epochs=1, steps_per_epoch=cfg.train.train_steps, verbose=0)
        train_seconds = round(time.time() - started, 1)
        raw = model.predict({k: eval_feats[k] for k in model.input}, batch_size=8192, verbose=0)
        predicted = {t: 1 / (1 + np.exp(-raw[t].reshape(-1))) for t in BINARY_TASKS}
        result = scores(predicted, lab.eval_day)
        held = model.predict({k: holdout_feats[k] for k in model.input}, batch_size=8192, verbose=0)
        seen = model.predict({k: feats[k] for k in model.input}, batch_size=8192, verbose=0)
        for t in BINARY_TASKS:  # Platt scaling on the training days' holdout, or on all of them (as the Trainer)
            observed = lab.eval_day[F.label_key(t)].mean()
            for suffix, logits, y in (
                ("platt", held[t], holdout_cols[F.label_key(t)]),
                (
                    "platt_all",
                    np.concatenate([held[t], seen[t]]),
                    np.concatenate([holdout_cols[F.label_key(t)], train_cols[F.label_key(t)]]),
                ),
            ):
                p = fit_platt(logits, y).probability(raw[t].reshape(-1))
                result[f"{t}_cal_{suffix}"] = round(float(p.mean() / observed - 1), 3)
        watch = lab.eval_day[F.label_key("watch_time")]
        result["watch_rmse"] = round(float(np.sqrt(np.mean((raw["watch_time"].reshape(-1) - watch) ** 2))), 3)
        result["seconds"] = train_seconds
        print(name, json.dumps(result), flush=True)
        variant_logits[name] = (held, raw)
    if args.blend:
        first, second = args.blend.split(",")
        blended = {}
        for task in BINARY_TASKS:
            stack = [np.stack([variant_logits[v][i][task].reshape(-1) for v in (first, second)], 1) for i in (0, 1)]
            stacker = LogisticRegression(C=1.0).fit(stack[0], holdout_cols[F.label_key(task)])
            blended[task] = stacker.predict_proba(stack[1])[:, 1]
            print(f"blend {task} weights {first} {stacker.coef_[0][0]:.3f} {second} {stacker.coef_[0][1]:.3f}")
        print(f"blend_{first}_{second}", json.dumps(scores(blended, lab.eval_day)), flush=True)


if __name__ == "__main__":
    main()
