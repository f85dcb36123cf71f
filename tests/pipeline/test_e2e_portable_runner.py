"""The tiny pipeline through Beam's portable Job API, the API the Flink and Spark runners implement.

The session's shared tiny run (tests/conftest.py's `tiny_pipeline`) is this run: Beam's own local job service
(`apache_beam.runners.portability.local_job_service_main`) takes the jobs and an external SDK worker pool in
another process (Beam's `BeamFnExternalWorkerPoolServicer`, its SDK harnesses as threads of that process) runs them
(tests/helpers/beam_services.py): every Beam component (LogGen, LogIngest, StatisticsGen x2,
Transform, Evaluator) goes through PortableRunner exactly as with `ranker run --beam-runner portable --job-endpoint
HOST:PORT --environment-type EXTERNAL --environment-config HOST:PORT`. The run must push a model, and LogIngest's
examples must equal those the DirectRunner makes of the same logs (the ingest run again on LogGen's output, in
process).
"""

from __future__ import annotations

import glob
import gzip
import json
import os

import pytest
import tensorflow as tf

from ingest.run import run_ingest
from serving import in_process, log_records, signature
from serving.export import LABEL_FEATURES

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def examples(examples_uri: str) -> dict[str, list[bytes]]:
    """Examples per split under an Examples artifact directory, as a sorted list of serialized tf.Examples."""
    out = {}
    for split in ("train", "eval"):
        files = sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*")))
        assert files, f"no {split} split under {examples_uri}"
        out[split] = sorted(r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP"))
    return out


def test_tiny_pipeline_through_the_portable_job_api(tiny_pipeline, tmp_path):
    config, paths, summary = tiny_pipeline.config, tiny_pipeline.paths, tiny_pipeline.summary
    assert config.beam.runner == "PortableRunner" and config.beam.environment_type == "EXTERNAL"
    assert summary.pushed and summary.stability_blessed and summary.evaluator_blessed, summary.render()
    versions = [d for d in os.listdir(os.path.join(paths.serving_root, config.model_name)) if d.isdigit()]
    assert len(versions) == 1

    # `ranker predict`'s records carry every feature serving_default parses, the world's generated ones included:
    # a feature is absent from a record only where its log line has no value for it.
    version_dir = os.path.join(paths.serving_root, config.model_name, versions[0])
    taken = signature.signature_features(version_dir)
    assert {"f_dense_000", "f_cat_000", "user_language"} <= taken and not taken & set(LABEL_FEATURES)
    [log_file, *_] = sorted(glob.glob(os.path.join(paths.pipeline_root, "LogGen", "logs", "*", "day=*", "*.jsonl*")))
    records = log_records.read_log_records(log_file, limit=200)
    with gzip.open(log_file, "rb") as f:
        raw = f.read().split(b"\n")
    for number, serialized in zip(records.line_numbers, records.examples):
        line = json.loads(raw[number - 1])  # a valid record's line is valid JSON
        sent = set(tf.train.Example.FromString(serialized).features.feature)
        unsent = {f for f in taken - sent if line.get(f) is not None}
        assert not unsent, (number, unsent)
    assert in_process.predict_local(version_dir, records.examples)["score"].shape == (len(records.examples),)

    # The same ingest with the DirectRunner, on the logs LogGen wrote through the portable runner.
    [logs] = glob.glob(os.path.join(paths.pipeline_root, "LogGen", "logs", "*"))
    [portable] = glob.glob(os.path.join(paths.pipeline_root, "LogIngest", "examples", "*"))
    direct = str(tmp_path / "direct" / "examples")
    run_ingest(config, logs, direct, str(tmp_path / "direct" / "quarantine"), ["--runner=DirectRunner"])
    assert examples(portable) == examples(direct)
