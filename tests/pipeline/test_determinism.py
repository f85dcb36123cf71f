"""Same seed and configuration -> the same data, whatever the Beam execution mode.

test_log_components checks that two LogGen runs in the same mode write byte-identical files; here the runs differ
in how Beam executes them (one in-memory worker vs two threads), which reorders bundles and elements:
the logs must still be byte-identical, and the ingest must produce the same examples, the same quarantine and a
byte-identical counts.json. Training determinism (same seed -> same weights and metrics) is checked at the
Trainer level in test_reliability_training.py; docs/reliability.md states the tolerances.
"""

from __future__ import annotations

import dataclasses
import glob
import gzip
import os

import pytest
import tensorflow as tf

from config.settings import PipelineConfig, tiny_preset
from generation.run import run_generation
from ingest.run import run_ingest

pytestmark = pytest.mark.slow

MODES = {
    "in_memory": ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
    "multi_threading": ["--direct_running_mode=multi_threading", "--direct_num_workers=2"],
}


def config() -> PipelineConfig:
    base = tiny_preset()
    world = dataclasses.replace(base.world, impressions_per_day=2_000, num_shards=3, num_days=2, malformed_rate=0.02)
    return base.replace(world=world)


def read_bytes(root: str, pattern: str) -> dict[str, bytes]:
    out = {}
    for path in sorted(glob.glob(os.path.join(root, pattern), recursive=True)):
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as handle:
            out[os.path.relpath(path, root)] = handle.read()
    return out


def sorted_lines(root: str, pattern: str) -> list[bytes]:
    """Every line of the gzipped JSON-lines files matching `pattern`, sorted (order is a runner detail)."""
    lines: list[bytes] = []
    for path in glob.glob(os.path.join(root, pattern)):
        with gzip.open(path, "rb") as handle:
            lines += [line for line in handle.read().split(b"\n") if line]
    return sorted(lines)


def examples_by_id(root: str, pattern: str) -> dict[str, tf.train.Example]:
    """The tf.Examples of the TFRecord files matching `pattern`, by impression id.

    Compared as decoded protos (field for field), which holds whatever encoder wrote them; the ingest's encoder
    is deterministic, so the bytes agree too (tests/logformat/test_ingest_fast_path.py checks the encoder
    byte for byte).
    """
    out = {}
    for path in glob.glob(os.path.join(root, pattern)):
        for raw in tf.data.TFRecordDataset(path, compression_type="GZIP"):
            example = tf.train.Example.FromString(raw.numpy())
            out[example.features.feature["impression_id"].bytes_list.value[0].decode()] = example
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, str]:
    """LogGen then LogIngest of the same configuration in each Beam mode."""
    roots = {}
    for mode, args in MODES.items():
        root = str(tmp_path_factory.mktemp(mode))
        run_generation(config(), f"{root}/logs", args)
        run_ingest(config(), f"{root}/logs", f"{root}/examples", f"{root}/quarantine", args)
        roots[mode] = root
    return roots


def test_logs_are_byte_identical_across_beam_modes(runs):
    first, second = (read_bytes(runs[m], "logs/**/*") for m in MODES)
    assert len(first) == 1 + 2 * 3  # generation.json and one file per (day, shard)
    assert first == second


def test_ingest_output_is_identical_across_beam_modes(runs):
    a, b = runs["in_memory"], runs["multi_threading"]
    assert read_bytes(a, "quarantine/counts.json") == read_bytes(b, "quarantine/counts.json")
    for split in ("train", "eval"):
        examples = examples_by_id(a, f"examples/Split-{split}/*.gz")
        assert examples and examples == examples_by_id(b, f"examples/Split-{split}/*.gz"), split
    quarantined = sorted_lines(a, "quarantine/quarantined-*.jsonl.gz")
    assert quarantined and quarantined == sorted_lines(b, "quarantine/quarantined-*.jsonl.gz")
