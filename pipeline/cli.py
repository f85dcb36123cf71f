"""`ranker`: the command-line entry point of the project.

ranker run --preset {tiny,default} --pipeline-root DIR [--serving-root DIR]
    runs the whole TFX pipeline locally and prints the pushed model, the gates' verdicts and the metrics.
ranker presets
    prints the presets as JSON (every knob, with its default).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # before anything imports TensorFlow

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402

from pipeline.config import PRESETS, ConfigError, PipelineConfig, get_preset  # noqa: E402


def _load_config(args: argparse.Namespace) -> PipelineConfig:
    config = get_preset(args.preset)
    if getattr(args, "config", None):
        with open(args.config) as f:
            overrides = json.load(f)
        merged = _deep_merge(dataclasses.asdict(config), overrides)
        config = PipelineConfig.from_json(json.dumps(merged))
    return config


def _deep_merge(base: dict, overrides: dict) -> dict:
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.local_runner import LocalPaths, direct_beam_args, run_local

    config = _load_config(args)
    paths = LocalPaths.under(args.pipeline_root, args.serving_root)
    print(f"running preset {args.preset!r}: pipeline root {paths.pipeline_root}, serving root {paths.serving_root}")
    summary = run_local(config, paths, beam_args=direct_beam_args(args.beam_mode, args.beam_workers))
    print(summary.render())
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    out = {name: dataclasses.asdict(factory()) for name, factory in PRESETS.items()}
    print(json.dumps(out, indent=2, sort_keys=True))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ranker",
        description="Stable multitask ranking: a TFX pipeline with Clippy (Tang et al., KDD 2023).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the whole pipeline locally (LocalDagRunner + Beam DirectRunner)")
    run.add_argument("--preset", default="default", help=f"configuration preset: {sorted(PRESETS)}")
    run.add_argument("--config", help="JSON file of overrides merged into the preset (same shape as `presets`)")
    run.add_argument("--pipeline-root", required=True, help="directory for artifacts and the SQLite MLMD store")
    run.add_argument("--serving-root", help="where blessed models are pushed (default: PIPELINE_ROOT/serving)")
    run.add_argument(
        "--beam-mode",
        default="in_memory",
        choices=["in_memory", "multi_threading", "multi_processing"],
        help="DirectRunner running mode",
    )
    run.add_argument("--beam-workers", type=int, default=1, help="DirectRunner workers (multi_* modes)")
    run.set_defaults(func=cmd_run)

    presets = sub.add_parser("presets", help="print every preset's configuration as JSON")
    presets.set_defaults(func=cmd_presets)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("absl", "apache_beam", "tensorflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as err:
        print(f"configuration error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
