"""`ranker`: the command-line entry point of the project.

ranker run --preset {tiny,default} --pipeline-root DIR [--serving-root DIR] [--days A-B] [--accept-drift F@DAY]
    runs the whole TFX pipeline locally and prints the pushed model, the gates' verdicts and the metrics; with
    --days, once per day: sequential training on a rolling window, warm-started, evaluated on the next day.
ranker history --pipeline-root DIR [--png FILE] [--quality]
    per day: the spans trained on, the model version, each gate's verdict and the metrics (read from MLMD).
ranker quality --pipeline-root DIR [--png DIR] [--markdown FILE]
    the ranker against simple models and the world's ceiling on all of span d+1, calibration and staleness.
ranker presets
    prints the presets as JSON (every knob, with its default).
ranker run ... --logs 'DIR/day={SPAN}/*.jsonl.gz'
    the same, on your own logs (TFX's {SPAN} convention) instead of generated ones.
ranker validate-logs FILE_OR_PATTERN...
    validates log files against the log format (docs/log_format.md) without running the pipeline.
ranker compile-kubeflow --image IMAGE --pipeline-root URI --out FILE [--logs PATTERN]
    compiles the same pipeline for Kubeflow Pipelines V2 (kubeflow/runner.py).
ranker sweep --preset {quick,full} --out DIR
    the stability lab: trains the ranker outside TFX over optimizers x sizes x learning rates x seeds (experiments/).
ranker predict --model-dir DIR --input LOGS.jsonl | query --url URL --model NAME --input LOGS.jsonl | serve
    scores raw log records with the pushed model in-process or through TF Serving's REST API; starts TF Serving.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

from config.overrides import apply_overrides, read_overrides
from config.paths import is_remote
from config.runtime import configure_logging, select_keras2
from config.settings import PRESETS, ConfigError, PipelineConfig, get_preset
from config.validation import validate_config, validate_paths

select_keras2()  # the console entry point: nothing above imports TensorFlow; everything below may


def _load_config(args: argparse.Namespace) -> PipelineConfig:
    config = get_preset(args.preset)
    if getattr(args, "config", None):
        config = apply_overrides(config, read_overrides(args.config))
    return config


BEAM_RUNNERS = {"direct": "DirectRunner", "portable": "PortableRunner", "dataflow": "DataflowRunner"}


def _apply_beam_flags(config: PipelineConfig, args: argparse.Namespace) -> PipelineConfig:
    """--beam-runner / --job-endpoint / --environment-type / --environment-config over the config's `beam`."""
    changes = {}
    if getattr(args, "beam_runner", None):
        changes["runner"] = BEAM_RUNNERS[args.beam_runner]
    for flag in ("job_endpoint", "environment_type", "environment_config"):
        if getattr(args, flag, None):
            changes[flag] = getattr(args, flag)
    return config.replace(beam=dataclasses.replace(config.beam, **changes)) if changes else config


def _add_beam_flags(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--beam-runner",
        choices=sorted(BEAM_RUNNERS),
        help="Beam runner of every Beam component (default: the config's beam.runner); portable = a job server of "
        "the portable Job API (Flink, Spark, Beam's own local job service)",
    )
    command.add_argument("--job-endpoint", help="portable runner: the job server's HOST:PORT (e.g. flink-jm:8099)")
    command.add_argument(
        "--environment-type",
        choices=["EXTERNAL", "PROCESS", "LOOPBACK", "DOCKER"],
        help="portable runner: where SDK workers run (EXTERNAL: a worker pool at --environment-config HOST:PORT)",
    )
    command.add_argument("--environment-config", help="portable runner: worker pool HOST:PORT, command or image")


def cmd_run(args: argparse.Namespace) -> int:
    config = _apply_beam_flags(_load_config(args), args)
    if args.beam_mode or args.beam_workers:
        beam = dataclasses.replace(
            config.beam,
            direct_running_mode=args.beam_mode or config.beam.direct_running_mode,
            direct_num_workers=args.beam_workers or config.beam.direct_num_workers,
        )
        config = config.replace(beam=beam)
    config = _with_logs(config, args.logs)
    if args.accept_drift:  # intended shifts, FEATURE@DAY (components/drift_gate.py)
        acknowledged = (*config.drift.acknowledged, *args.accept_drift)
        config = config.replace(drift=dataclasses.replace(config.drift, acknowledged=acknowledged))
    validate_config(config)  # once, fail fast, before anything is imported, created or run
    serving_root = args.serving_root or os.path.join(args.pipeline_root, "serving")
    validate_paths(args.pipeline_root, serving_root)

    from pipeline.local_runner import LocalPaths, run_local
    from pipeline.progress import print_progress

    paths = LocalPaths.under(args.pipeline_root, args.serving_root)
    print(f"running preset {args.preset!r}: pipeline root {paths.pipeline_root}, serving root {paths.serving_root}")
    if args.days:
        from pipeline.sequential import run_days_command

        return run_days_command(config, paths, args.days, progress=print_progress)
    summary = run_local(config, paths, progress=print_progress)
    print(summary.render())
    return 0


def _with_logs(config: PipelineConfig, logs: str | None) -> PipelineConfig:
    """--logs PATTERN: ingest.logs_pattern (a local pattern made absolute; URIs such as gs://... kept as given)."""
    if not logs:
        return config
    pattern = logs if is_remote(logs) else os.path.abspath(logs)
    return config.replace(ingest=dataclasses.replace(config.ingest, logs_pattern=pattern))


def cmd_validate_logs(args: argparse.Namespace) -> int:
    """Validates log files against the log format without running the pipeline (logformat/validate.py)."""
    from logformat.validate import render_report, validate_logs

    config = _load_config(args)
    validate_config(config)
    report = validate_logs(args.paths, config.ingest, samples=args.samples, progress=sys.stderr)
    print(render_report(report, as_json=args.json))
    if report.files == 0:
        return 1
    return 1 if report.bad_fraction > config.ingest.max_bad_fraction or report.total == 0 else 0


def _cmd_history(args: argparse.Namespace) -> int:
    from pipeline.history import cmd_history

    return cmd_history(args)


def _cmd_quality(args: argparse.Namespace) -> int:
    from pipeline.quality.command import cmd_quality

    return cmd_quality(args)


def cmd_compile_kubeflow(args: argparse.Namespace) -> int:
    from kubeflow.runner import compile_kubeflow

    config = validate_config(_with_logs(_apply_beam_flags(_load_config(args), args), args.logs))
    compiled = compile_kubeflow(config, args.image, args.pipeline_root, args.out, args.serving_root, args.ir_out)
    print(f"compiled {len(compiled.components)} tasks for image {args.image}, pipeline root {args.pipeline_root}")
    print(f"  {compiled.job_file}  PipelineJob JSON (Vertex AI Pipelines)")
    print(f"  {compiled.ir_file}  PipelineSpec IR (open-source KFP: UI upload or kfp.Client)")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    out = {name: dataclasses.asdict(factory()) for name, factory in PRESETS.items()}
    print(json.dumps(out, indent=2, sort_keys=True))
    return 0


def _read_log_records(args: argparse.Namespace):
    """Valid records of --input as serialized examples; quarantined lines are reported on stderr."""
    from serving.log_records import read_log_records

    records = read_log_records(args.input, limit=args.limit)
    for line, reason in records.quarantined:
        print(f"{args.input}:{line}: skipped, not a valid log record ({reason})", file=sys.stderr)
    if not records.examples:
        raise ValueError(f"no valid log record in {args.input}")
    return records


def cmd_predict(args: argparse.Namespace) -> int:
    """Scores raw log records in-process through the pushed SavedModel's serving_default."""
    from serving import in_process, render, signature

    try:
        records = _read_log_records(args)
        saved_model = in_process.resolve_saved_model_dir(args.model_dir)
        outputs = in_process.predict_local(saved_model, records.examples, batch_size=args.batch_size)
    except (OSError, ValueError) as err:
        print(f"predict: {err}", file=sys.stderr)
        return 1
    print(f"# {saved_model}: {len(records.examples)} records", file=sys.stderr)
    absent = [
        f
        for f, n in signature.missing_signature_features(saved_model, records.examples).items()
        if n == len(records.examples)
    ]
    if absent:  # the model would impute them for every record: the input lacks features the model takes
        print(f"# warning: no record has {', '.join(absent)} (taken by serving_default): imputed", file=sys.stderr)
    print(render.render_rows(render.prediction_rows(records, outputs), args.format))
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    """Sends raw log records to a running TF Serving over REST and prints its answers."""
    from serving import render, rest, signature

    try:
        records = _read_log_records(args)
        if args.check_signature:
            metadata = rest.get_model_metadata(args.url, args.model, args.version, args.timeout)
            body = rest.build_predict_request(records.examples[:1], args.form, args.signature)
            signature.check_request_against_signature(body, metadata.get("metadata", {}).get("signature_def", {}))
        outputs = rest.query(
            args.url,
            args.model,
            records.examples,
            args.form,
            args.version,
            args.signature,
            args.batch_size,
            args.timeout,
        )
    except rest.ServingError as err:
        print(f"query: TF Serving error: {err}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as err:
        print(f"query: {err}", file=sys.stderr)
        return 1
    print(render.render_rows(render.prediction_rows(records, outputs), args.format))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Starts tensorflow_model_server (or Docker's tensorflow/serving) on the serving root."""
    from serving import server as model_server

    try:
        command = model_server.plan(args.serving_root)
    except (OSError, model_server.ServeError) as err:
        print(f"serve: {err}", file=sys.stderr)
        return 2
    if command is None:
        print(f"serve: {model_server.missing_server_message()}", file=sys.stderr)
        return model_server.EXIT_NO_SERVER
    print(f"TF Serving ({command.kind}): {command.render()}")
    print(f"REST {command.rest_url}/v1/models/<model>:predict, gRPC localhost:{model_server.GRPC_PORT}")
    return 0 if args.dry_run else model_server.run(command)


def _add_serving_commands(sub: argparse._SubParsersAction) -> None:
    """`predict`, `query` and `serve`: the client and server side of the pushed model."""
    formats = ["jsonl", "table"]
    predict = sub.add_parser("predict", help="score raw log records in-process with a pushed SavedModel")
    predict.add_argument("--model-dir", required=True, help="SERVING_ROOT/MODEL (latest version) or a version dir")
    query = sub.add_parser("query", help="score raw log records with a running TF Serving (REST :predict)")
    query.add_argument("--url", default="http://localhost:8501", help="TF Serving REST address")
    query.add_argument("--model", default="ranker", help="model name in TF Serving's models.config")
    query.add_argument("--version", type=int, help="model version (default: the latest TF Serving loaded)")
    query.add_argument("--form", choices=["row", "columnar"], default="row", help="'instances' or 'inputs' body")
    query.add_argument("--signature", default="serving_default", help="signature name")
    query.add_argument("--timeout", type=float, default=30.0, help="seconds per HTTP request")
    query.add_argument(
        "--check-signature", action="store_true", help="check the request against the server's model metadata first"
    )
    for command, func, batch in ((predict, cmd_predict, 256), (query, cmd_query, 128)):
        command.add_argument("--input", required=True, help="JSON-lines log file (LogGen's format; .gz accepted)")
        command.add_argument("--limit", type=int, help="score at most this many valid records")
        command.add_argument("--batch-size", type=int, default=batch, help="examples per call")
        command.add_argument("--format", choices=formats, default="jsonl", help="output format")
        command.set_defaults(func=func)
    serve = sub.add_parser("serve", help="start TF Serving (binary or Docker) on a serving root")
    serve.add_argument("--serving-root", required=True, help="directory holding models.config and MODEL/VERSION/")
    serve.add_argument("--dry-run", action="store_true", help="print the server command without starting it")
    serve.set_defaults(func=cmd_serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ranker",
        description="Stable multitask ranking: a TFX pipeline with Clippy (Tang et al., KDD 2023).",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show third-party INFO logs (TFX, Beam, TensorFlow start-up notes)"
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
    _add_beam_flags(run)
    run.add_argument(
        "--days",
        help="sequential training: run the pipeline once per day, A-B (inclusive), A or A,B,C (pipeline/sequential.py)",
    )
    run.add_argument(
        "--logs",
        metavar="PATTERN",
        help="ingest your own logs instead of generating them: a glob with one {SPAN} (or {SPAN:N}), local or gs://, "
        "e.g. 'logs/day={SPAN}/*.jsonl.gz' (sets ingest.logs_pattern)",
    )
    run.add_argument(
        "--accept-drift",
        action="append",
        metavar="FEATURE@DAY",
        help="acknowledge an intended shift of FEATURE starting on DAY (`*@DAY`: every feature); repeatable",
    )
    run.set_defaults(func=cmd_run)

    history = sub.add_parser("history", help="per day: spans, model version, gate verdicts and metrics (MLMD)")
    history.add_argument("--pipeline-root", required=True, help="the pipeline root of the runs")
    history.add_argument("--png", help="also write a PNG of the evaluation metrics over days")
    history.add_argument("--json", action="store_true", help="print JSON instead of a table")
    history.add_argument(
        "--quality", action="store_true", help="also a quality section: per day, the ranker vs the simple models"
    )
    history.set_defaults(func=_cmd_history)

    quality = sub.add_parser(
        "quality", help="the ranker vs simple models and the world's ceiling on span d+1, calibration, staleness"
    )
    quality.add_argument("--pipeline-root", required=True, help="the pipeline root of the run(s)")
    quality.add_argument("--day", type=int, help="the run of this day (default: the newest run with a trained model)")
    quality.add_argument("--png", metavar="DIR", help="also write quality.png, reliability.png, staleness.png to DIR")
    quality.add_argument("--markdown", metavar="FILE", help="also write the report as Markdown to FILE")
    quality.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    quality.add_argument(
        "--staleness-days", type=int, default=5, help="score the model on d+1 ... d+N (0: no staleness; default 5)"
    )
    quality.add_argument("--replicates", type=int, default=500, help="bootstrap replicates of the intervals")
    quality.set_defaults(func=_cmd_quality)

    kfp = sub.add_parser("compile-kubeflow", help="compile the pipeline for Kubeflow Pipelines V2 (JSON + IR YAML)")
    kfp.add_argument("--preset", default="default", help=f"configuration preset: {sorted(PRESETS)}")
    kfp.add_argument("--config", help="JSON file of overrides (e.g. beam.runner, beam.extra_args)")
    kfp.add_argument("--image", required=True, help="pipeline image built from kubeflow/Dockerfile")
    kfp.add_argument("--pipeline-root", required=True, help="artifact root URI, e.g. gs://bucket/root")
    kfp.add_argument("--serving-root", help="push destination URI (default: PIPELINE_ROOT/serving)")
    kfp.add_argument("--out", default="pipeline.json", help="output file for the PipelineJob JSON (Vertex AI)")
    kfp.add_argument("--ir-out", help="output file for the KFP PipelineSpec YAML (default: OUT stem + .kfp.yaml)")
    kfp.add_argument("--logs", metavar="PATTERN", help="ingest these logs ({SPAN} pattern, e.g. gs://b/day={SPAN}/*)")
    _add_beam_flags(kfp)
    kfp.set_defaults(func=cmd_compile_kubeflow)

    check = sub.add_parser("validate-logs", help="validate log files against the log format (no pipeline run)")
    check.add_argument("paths", nargs="+", metavar="FILE_OR_PATTERN", help="files or globs, local or gs://")
    check.add_argument("--preset", default="default", help="configuration preset (its ingest limits apply)")
    check.add_argument("--config", help="JSON file of overrides (e.g. ingest.max_bad_fraction)")
    check.add_argument("--samples", type=int, default=5, help="quarantined lines shown per reason")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(func=cmd_validate_logs)
    _add_serving_commands(sub)

    presets = sub.add_parser("presets", help="print every preset's configuration as JSON")
    presets.set_defaults(func=cmd_presets)

    sweep = sub.add_parser("sweep", help="stability lab: reproduce the paper's Table 2 and figures (experiments/)")
    sweep.add_argument(
        "--preset",
        default="quick",
        choices=["quick", "full", "frontier", "width", "probe", "gate-audit", "powered", "headroom"],
        help="lab preset (experiments/presets; frontier: full plus the uncensored frontier scan, run it into full's "
        "--out; width: experiments/width.py; probe: the Figure 4 mechanism probe, experiments/probe.py; "
        "gate-audit: the StabilityGate on held-out worlds, "
        "experiments/gate_audit.py; powered: the optimizers tuned with equal budgets on held-out seeds and worlds, "
        "experiments/powered.py; headroom: naive Adagrad's and Clippy's rate curves where naive's rate is limited by "
        "divergence, experiments/headroom.py)",
    )
    sweep.add_argument("--out", required=True, help="directory for data cache, results.csv, curves and summary.md")
    sweep.add_argument("--workers", type=int, help="training processes in parallel (default: the preset's)")
    sweep.set_defaults(func=cmd_sweep)
    return parser


def cmd_sweep(args: argparse.Namespace) -> int:
    if args.preset == "gate-audit":
        from experiments.audit_analysis import run_gate_audit

        return run_gate_audit(args.out, workers=args.workers)
    if args.preset == "width":
        from experiments.width import run_width_sweep

        return run_width_sweep(args.out, workers=args.workers)
    if args.preset == "probe":
        from experiments.probe import run_probe_sweep

        return run_probe_sweep(args.out, workers=args.workers)
    if args.preset == "powered":
        from experiments.powered import run_powered_sweep

        return run_powered_sweep(args.out, workers=args.workers)
    if args.preset == "headroom":
        from experiments.headroom import run_headroom_sweep

        return run_headroom_sweep(args.out, workers=args.workers)
    from experiments.sweep import run_sweep

    return run_sweep(args.preset, args.out, workers=args.workers)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(verbose=args.verbose)
    try:
        return args.func(args)
    except ConfigError as err:
        print(f"configuration error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
