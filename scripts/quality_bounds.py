"""How far any model of the logs can go: the oracle's ceiling against simple models given far more training data.

Generates the preset's world for days 0 .. N (default N = 8) through the pipeline's own path (LogGen's lines, the
ingest's verdicts and tf.Examples, the quality report's tables) and scores day N with:

* the oracle (world/oracle.py): each impression's expected outcome given every latent quantity; no model of the
  logs can pass its AUC;
* the quality report's simple baselines (pipeline/quality/baselines.py: logistic regression and HistGradientBoosting
  on the logged numeric columns) trained on day N - 1 alone, as the pipeline trains, and on all N days before it:
  what a model of one impression's logged columns gains from N times the data;
* for click, the oracle's own logit with one latent term replaced by its logged proxy (the affinity by
  log(T · user_topic_share + 0.1), the video's quality and clickbait term by logit(video_ctr) + 2.6, which is exact
  when the observed rate has no noise): which noisy proxy costs how much of the ceiling.

    python scripts/quality_bounds.py --days 8 --markdown docs/quality/bounds.md

prints the tables (Markdown) and writes them to `--markdown`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from config.settings import IngestConfig, get_preset  # noqa: E402
from logformat.columnar import judge_lines  # noqa: E402
from pipeline.quality.baselines import BINARY, GBDT, LINEAR, fit_and_predict  # noqa: E402
from pipeline.quality.examples import ExampleTable, table_of  # noqa: E402
from world.oracle import Oracle  # noqa: E402
from world.simulator import World  # noqa: E402

RATE_FLOOR = 1e-4  # an observed rate of exactly 0 or 1 is clipped before its log-odds


def day_table(world: World, day: int) -> ExampleTable:
    """Day `day`'s logs as the ingest encodes them (malformed lines, if the world writes any, left out)."""
    lines = [line for shard in range(world.cfg.num_shards) for line, _ in world.generate_encoded_lines(day, shard)]
    examples = [example for _, _, example in judge_lines(lines, IngestConfig()) if example is not None]
    return table_of(examples)


def click_ladder(world: World, day: int) -> list[tuple[str, float]]:
    """AUC on `day`'s clicks of the oracle's click logit with latent terms replaced by their logged proxies."""
    state = world.day_state(day)
    num_topics = world.cfg.num_topics
    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("click", "mean", "aff", "video", "share", "ctr")}
    for shard in range(world.cfg.num_shards):
        for batch in world.impression_batches(day, shard):
            latents = batch.latents
            rows["click"].append(batch.outcomes.click.ravel())
            rows["mean"].append(latents.click_logit_mean().ravel())
            rows["aff"].append(latents.affinity.ravel())
            rows["video"].append((0.35 * latents.quality_z + 2.2 * latents.clickbait).ravel())
            rows["share"].append(batch.topic_share.ravel())
            rows["ctr"].append(state.video_ctr[batch.video.ravel()])
    col = {k: np.concatenate(v) for k, v in rows.items()}
    ctr = np.clip(col["ctr"], RATE_FLOOR, 1 - RATE_FLOOR)
    aff_proxy = 0.55 * (np.log(num_topics * col["share"] + 0.1) - col["aff"])
    video_proxy = np.log(ctr / (1 - ctr)) + 2.6 - col["video"]
    y = col["click"]
    return [
        ("every latent known (the ceiling's logit)", roc_auc_score(y, col["mean"])),
        ("affinity from user_topic_share", roc_auc_score(y, col["mean"] + aff_proxy)),
        ("video quality and clickbait from video_ctr", roc_auc_score(y, col["mean"] + video_proxy)),
        ("both from their proxies", roc_auc_score(y, col["mean"] + aff_proxy + video_proxy)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--world-seed", type=int, default=None)
    parser.add_argument("--days", type=int, default=8, help="training days before the scored day N")
    parser.add_argument("--markdown", default=None, help="also write the tables here")
    args = parser.parse_args()
    config = get_preset(args.preset)
    world_config = dataclasses.replace(config.world, num_days=args.days + 1)
    if args.world_seed is not None:
        world_config = dataclasses.replace(world_config, seed=args.world_seed)
    world = World(world_config)
    started = time.time()
    tables = [day_table(world, day) for day in range(args.days + 1)]
    test = tables[-1]
    print(f"generated and encoded {args.days + 1} days in {time.time() - started:.0f} s", file=sys.stderr)
    oracle = Oracle(world).day(args.days).lookup(test.impression_ids)
    columns = {"the oracle (ceiling)": {task: oracle[task] for task in BINARY}}
    for label, train in (("1 day", tables[-2]), (f"{args.days} days", ExampleTable.concat(tables[:-1]))):
        predicted = fit_and_predict(train, [test], BINARY)
        for kind in (LINEAR, GBDT):
            columns[f"{kind}, {label}"] = {task: predicted[kind][task][0] for task in BINARY}
        print(f"fitted the baselines on {label} at {time.time() - started:.0f} s", file=sys.stderr)
    head = f"world seed {world_config.seed}, preset {args.preset}, scored on day {args.days}"
    command = "python scripts/quality_bounds.py " + " ".join(sys.argv[1:])
    lines = [f"Generated by `{command}`.", ""]
    lines += [f"AUC on all {len(test):,} impressions of day {args.days} ({head}):", ""]
    lines += ["| model | " + " | ".join(BINARY) + " |", "|---|" + "---|" * len(BINARY)]
    for name, scores in columns.items():
        aucs = [roc_auc_score(test.label(task)[0], scores[task]) for task in BINARY]
        lines.append(f"| {name} | " + " | ".join(f"{a:.4f}" for a in aucs) + " |")
    ladder_title = f"Click AUC on day {args.days} of the oracle's click logit with latent terms replaced by proxies:"
    lines += ["", ladder_title, ""]
    lines += ["| the click logit's terms | click AUC |", "|---|---|"]
    lines += [f"| {name} | {auc:.4f} |" for name, auc in click_ladder(world, args.days)]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
