"""LogGen and LogIngest for real: Beam pipelines on a tiny world in tmp_path, executors called directly,
and once through LocalDagRunner with ML Metadata."""

from __future__ import annotations

import collections
import dataclasses
import glob
import gzip
import json
import os

import pytest
import tensorflow as tf
from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
from tfx.orchestration import metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.types import artifact_utils, standard_artifacts

from components.log_generator import LogGen, LogGenExecutor
from components.log_ingest import LogIngest, LogIngestExecutor
from components.types import QuarantinedRecords, RawLogs
from config.settings import IngestConfig, PipelineConfig, section_json, tiny_preset
from generation.run import read_generation_summary, run_generation
from ingest.counts import read_counts
from ingest.dofns import split_of
from ingest.errors import BadRecordsError, IngestError
from ingest.layout import shard_path
from logformat.parser import parse_line
from world.encoding import encode_line
from world.simulator import World

BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
DAY = 1


def _config(**ingest_changes) -> PipelineConfig:
    base = tiny_preset()
    world = dataclasses.replace(base.world, impressions_per_day=2_000, malformed_rate=0.03, num_shards=2)
    ingest = dataclasses.replace(IngestConfig(max_bad_fraction=0.2), **ingest_changes)
    return base.replace(world=world, ingest=ingest)


def _context() -> BaseBeamExecutor.Context:
    return BaseBeamExecutor.Context(beam_pipeline_args=BEAM_ARGS)


def _artifact(cls, uri: str):
    artifact = cls()
    artifact.uri = uri
    return artifact


def _ingest(config: PipelineConfig, logs: RawLogs, root: str):
    examples = _artifact(standard_artifacts.Examples, os.path.join(root, "examples"))
    quarantine = _artifact(QuarantinedRecords, os.path.join(root, "quarantine"))
    outputs = {"examples": [examples], "quarantine": [quarantine]}
    LogIngestExecutor(_context()).Do({"logs": [logs]}, outputs, {"ingest_json": section_json(config.ingest)})
    return examples, quarantine


def _read_examples(examples_uri: str, split: str) -> list[tf.train.Example]:
    files = sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "data_tfrecord-*.gz")))
    assert files, f"no files for split {split}"
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return [tf.train.Example.FromString(record.numpy()) for record in dataset]


def _read_quarantine(quarantine_uri: str) -> list[dict]:
    records = []
    for path in sorted(glob.glob(os.path.join(quarantine_uri, "quarantined-*.jsonl.gz"))):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            records += [json.loads(line) for line in handle if line.strip()]
    return records


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """LogGen then LogIngest, executors called directly (real Beam, DirectRunner)."""
    root = str(tmp_path_factory.mktemp("loggen"))
    config = _config()
    logs = _artifact(RawLogs, os.path.join(root, "logs"))
    LogGenExecutor(_context()).Do({}, {"logs": [logs]}, {"world_json": section_json(config.world), "day": DAY})
    examples, quarantine = _ingest(config, logs, root)
    return config, root, logs, examples, quarantine


def _expected_lines(config: PipelineConfig, shard: int) -> list[bytes]:
    return [encode_line(line) for line in World(config.world).generate_lines(DAY, shard)]


def test_loggen_writes_one_gzipped_jsonl_file_per_shard(run):
    config, _, logs, _, _ = run
    for shard in range(config.world.num_shards):
        with gzip.open(shard_path(logs.uri, DAY, shard, config.world.num_shards), "rb") as handle:
            assert handle.read().split(b"\n")[:-1] == _expected_lines(config, shard)
    files = glob.glob(os.path.join(logs.uri, "**", "*"), recursive=True)
    assert sorted(os.path.relpath(f, logs.uri) for f in files if os.path.isfile(f)) == [
        "day=00001/logs-00000-of-00002.jsonl.gz",
        "day=00001/logs-00001-of-00002.jsonl.gz",
        "generation.json",
    ]
    summary = read_generation_summary(logs.uri)
    assert summary["lines"] == 2_000 and summary["files"] == 2 and summary["days"] == [DAY]
    assert summary["num_corrupted"] == sum(summary["corrupted"].values()) > 0
    assert logs.span == DAY
    assert logs.get_int_custom_property("num_lines") == 2_000
    assert logs.get_int_custom_property("num_corrupted") == summary["num_corrupted"]


def test_generation_is_byte_identical_across_runs(run, tmp_path):
    config, _, logs, _, _ = run
    summary = run_generation(config, str(tmp_path), BEAM_ARGS, days=[DAY])
    assert summary == read_generation_summary(logs.uri)
    for shard in range(config.world.num_shards):
        first = shard_path(logs.uri, DAY, shard, config.world.num_shards)
        again = shard_path(str(tmp_path), DAY, shard, config.world.num_shards)
        with open(first, "rb") as a, open(again, "rb") as b:
            assert a.read() == b.read()


def test_ingest_counts_add_up_and_match_the_parser(run):
    config, _, _logs, examples, quarantine = run
    lines = [line for shard in range(config.world.num_shards) for line in _expected_lines(config, shard)]
    expected = collections.Counter(parse_line(line, config.ingest).reason for line in lines)
    counts = read_counts(quarantine.uri)
    assert counts["total"] == len(lines) == counts["good"] + counts["quarantined"]
    assert counts["good"] == expected[None] == sum(counts["splits"].values())
    assert counts["reasons"] == {reason: n for reason, n in expected.items() if reason is not None}
    assert counts["bad_fraction"] == pytest.approx(counts["quarantined"] / counts["total"])
    for split in ("train", "eval"):
        assert len(_read_examples(examples.uri, split)) == counts["splits"][split]
    kept = _read_quarantine(quarantine.uri)
    assert collections.Counter(r["reason"] for r in kept) == collections.Counter(counts["reasons"])
    assert {r["source"] for r in kept} <= {f"day=00001/logs-0000{s}-of-00002.jsonl.gz" for s in (0, 1)}
    oversized = [r for r in kept if r["reason"] == "oversized_line"]
    assert all(r["truncated"] and r["line_bytes"] > config.ingest.max_line_bytes for r in oversized)


def test_ingest_artifacts_are_annotated_for_stock_components(run):
    _, _, logs, examples, quarantine = run
    counts = read_counts(quarantine.uri)
    assert artifact_utils.decode_split_names(examples.split_names) == ["train", "eval"]
    assert examples.span == quarantine.span == logs.span == DAY
    assert examples.get_string_custom_property("payload_format") == "FORMAT_TF_EXAMPLE"
    assert examples.get_string_custom_property("file_format") == "tfrecords_gzip"
    for artifact in (examples, quarantine):
        assert artifact.get_int_custom_property("num_total") == counts["total"]
        assert artifact.get_int_custom_property("num_quarantined") == counts["quarantined"]
    assert examples.get_int_custom_property("num_eval") == counts["splits"]["eval"]
    for reason, count in counts["reasons"].items():
        assert quarantine.get_int_custom_property(f"reason:{reason}") == count


def test_examples_are_exact_and_split_by_impression_hash(run):
    config, _, _, examples, _ = run
    expected = {}
    for shard in range(config.world.num_shards):
        for line in _expected_lines(config, shard):
            result = parse_line(line, config.ingest)
            if result.ok:
                expected[result.impression_id] = result.example
    seen = {}
    for split in ("train", "eval"):
        for example in _read_examples(examples.uri, split):
            impression_id = example.features.feature["impression_id"].bytes_list.value[0].decode()
            assert split_of(impression_id, config.ingest.eval_fraction) == split
            seen[impression_id] = example
    assert seen == expected
    eval_share = sum(split_of(i, 0.2) == "eval" for i in seen) / len(seen)
    assert 0.15 <= eval_share <= 0.25


def _handmade_logs(root: str, lines: list[bytes]) -> RawLogs:
    logs = _artifact(RawLogs, os.path.join(root, "logs"))
    logs.span = 4
    os.makedirs(os.path.join(logs.uri, "day=00004"))
    with gzip.open(shard_path(logs.uri, 4, 0, 2), "wb") as handle:
        handle.write(b"\n".join(lines) + b"\n")
    with open(os.path.join(logs.uri, "day=00004", "logs-00001-of-00002.jsonl"), "wb"):
        pass  # an empty (uncompressed) shard: quarantined as `empty_file`, the run goes on
    return logs


def test_bad_fraction_above_threshold_fails_naming_worst_reasons(tmp_path):
    good = [encode_line(line) for line in World(tiny_preset().world).generate_lines(0, 0)][:6]
    record = json.loads(good[0])
    bad = [b'{"truncated', b"not json", b"{"]
    bad += [json.dumps({k: v for k, v in record.items() if k != "video_id"}).encode()] * 2
    bad += [json.dumps({**record, "device": "smart_fridge"}).encode()]
    logs = _handmade_logs(str(tmp_path), good + bad)
    with pytest.raises(BadRecordsError) as error:
        _ingest(_config(max_bad_fraction=0.1), logs, str(tmp_path))
    message = str(error.value)
    # 6 bad lines + the empty shard (one file-level record) among 12 lines + 1 file.
    assert "7 of 13 log records (53.85%)" in message and "max_bad_fraction=10.00%" in message
    assert (
        "invalid_json (3, 43%), missing_field:video_id (2, 29%), empty_file (1, 14%), unknown_enum:device (1, 14%)"
        in message
    )
    counts = read_counts(os.path.join(str(tmp_path), "quarantine"))  # written before failing
    assert counts["quarantined"] == len(_read_quarantine(os.path.join(str(tmp_path), "quarantine"))) == 7
    assert counts["good"] == 6


def test_below_threshold_passes_and_empty_or_missing_logs_fail(tmp_path):
    good = [encode_line(line) for line in World(tiny_preset().world).generate_lines(0, 0)][:20]
    logs = _handmade_logs(str(tmp_path / "ok"), [*good, b"garbage"])
    examples, quarantine = _ingest(_config(max_bad_fraction=0.1), logs, str(tmp_path / "ok"))
    assert quarantine.get_int_custom_property("reason:invalid_json") == 1
    assert examples.get_int_custom_property("num_good") == 20

    empty = _handmade_logs(str(tmp_path / "empty"), [])
    os.remove(shard_path(empty.uri, 4, 0, 2))
    with pytest.raises(BadRecordsError, match="no lines"):
        _ingest(_config(), empty, str(tmp_path / "empty"))

    missing = _artifact(RawLogs, str(tmp_path / "missing"))
    with pytest.raises(IngestError, match="no log files"):
        _ingest(_config(), missing, str(tmp_path / "missing"))


def test_component_interfaces():
    config = _config()
    gen = LogGen(world=config.world, day=3).with_beam_pipeline_args(["--direct_num_workers=1"])
    assert set(gen.outputs) == {"logs"} and gen.outputs["logs"].type is RawLogs
    assert gen.exec_properties["day"] == 3 and gen.exec_properties["world_json"] == section_json(config.world)
    ingest = LogIngest(logs=gen.outputs["logs"], ingest=config.ingest)
    assert set(ingest.inputs) == {"logs"}
    assert ingest.outputs["examples"].type is standard_artifacts.Examples
    assert ingest.outputs["quarantine"].type is QuarantinedRecords


def test_components_run_in_local_dag_runner(tmp_path):
    config = _config()
    gen = LogGen(world=config.world, day=2)
    ingest = LogIngest(logs=gen.outputs["logs"], ingest=config.ingest)
    connection = metadata.sqlite_metadata_connection_config(str(tmp_path / "mlmd.db"))
    pipeline = tfx_pipeline.Pipeline(
        pipeline_name="loggen-ingest",
        pipeline_root=str(tmp_path / "root"),
        components=[gen, ingest],
        metadata_connection_config=connection,
        beam_pipeline_args=BEAM_ARGS,
    )
    LocalDagRunner().run(pipeline)

    import ml_metadata as mlmd

    store = mlmd.MetadataStore(connection)
    by_type = {t.id: t.name for t in store.get_artifact_types()}
    artifacts = {by_type[a.type_id]: a for a in store.get_artifacts()}
    assert set(artifacts) >= {RawLogs.TYPE_NAME, "Examples", QuarantinedRecords.TYPE_NAME}
    assert artifacts[RawLogs.TYPE_NAME].custom_properties["span"].int_value == 2
    assert artifacts["Examples"].properties["span"].int_value == 2
    assert json.loads(artifacts["Examples"].properties["split_names"].string_value) == ["train", "eval"]
    good = artifacts["Examples"].custom_properties["num_good"].int_value
    bad = artifacts[QuarantinedRecords.TYPE_NAME].custom_properties["num_quarantined"].int_value
    assert good + bad == 2_000 and bad > 0
