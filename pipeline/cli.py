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
    from pipeline.local_runner import LocalPaths, run_local

    config = _load_config(args)
    if args.beam_mode or args.beam_workers:
        beam = dataclasses.replace(
            config.beam,
            direct_running_mode=args.beam_mode or config.beam.direct_running_mode,
            direct_num_workers=args.beam_workers or config.beam.direct_num_workers,
        )
        config = config.replace(beam=beam)
    paths = LocalPaths.under(args.pipeline_root, args.serving_root)
    print(f"running preset {args.preset!r}: pipeline root {paths.pipeline_root}, serving root {paths.serving_root}")
    summary = run_local(config, paths)
    print(summary.render())
    return 0


def cmd_compile_kubeflow(args: argparse.Namespace) -> int:
    from kubeflow.runner import compile_kubeflow

    config = _load_config(args)
    path = compile_kubeflow(config, args.image, args.pipeline_root, args.out, args.serving_root)
    print(f"wrote Kubeflow V2 pipeline spec {path} (image {args.image}, pipeline root {args.pipeline_root})")
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
        choices=["in_memory", "multi_threading", "multi_processing"],
        help="DirectRunner running mode (default: the preset's beam.direct_running_mode)",
    )
    run.add_argument("--beam-workers", type=int, help="DirectRunner workers (default: the preset's)")
    run.set_defaults(func=cmd_run)

    kfp = sub.add_parser("compile-kubeflow", help="compile the pipeline for Kubeflow Pipelines V2 (JSON spec)")
    kfp.add_argument("--preset", default="default", help=f"configuration preset: {sorted(PRESETS)}")
    kfp.add_argument("--config", help="JSON file of overrides (e.g. beam.runner, beam.extra_args)")
    kfp.add_argument("--image", required=True, help="pipeline image built from kubeflow/Dockerfile")
    kfp.add_argument("--pipeline-root", required=True, help="artifact root URI, e.g. gs://bucket/root")
    kfp.add_argument("--serving-root", help="push destination URI (default: PIPELINE_ROOT/serving)")
    kfp.add_argument("--out", default="pipeline.json", help="output file for the pipeline spec")
    kfp.set_defaults(func=cmd_compile_kubeflow)

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
