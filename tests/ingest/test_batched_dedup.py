"""The ingest's batched steps give what the per-record rules give: the split and bucket of a batch are `split_of` and
`dedup_bucket` of each id, the duplicate check keeps the first record of each id in log order whatever the order of
the packs, and the examples written do not depend on the batch size."""

from __future__ import annotations

import dataclasses
import gzip
import os

import pytest

from config.settings import tiny_preset
from ingest import dofns
from ingest.dofns import _KeepFirstFn  # noqa: PLC2701 - the DoFn under test
from ingest.layout import day_dir
from ingest.run import run_ingest
from ingest.sink import FRAME_BYTES, tfrecord_bytes
from logformat import columnar
from world.simulator import World

CONFIG = tiny_preset()
BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def test_the_batch_split_and_bucket_are_those_of_each_id():
    ids = [f"d0s0r{i}p{i % 8}" for i in range(2_000)] + ["é", "日本", "a\x00b", "\x00", "x" * 256]
    prints = dofns.fingerprints(ids)
    assert dofns.dedup_buckets(prints).tolist() == [dofns.dedup_bucket(i) for i in ids]
    for fraction in (0.0, 0.2, 0.5, 1.0):
        evals = dofns.eval_mask(prints, fraction).tolist()
        assert evals == [dofns.split_of(i, fraction) == "eval" for i in ids], fraction


def framed(example: bytes) -> bytes:
    return tfrecord_bytes([example])


def framed_records(data: bytes) -> list[bytes]:
    """The TFRecord-framed records of a concatenation of them, one by one."""
    records, at = [], 0
    while at < len(data):
        length = int.from_bytes(data[at : at + 8], "little") + FRAME_BYTES
        records.append(data[at : at + length])
        at += length
    return records


def pack(source: str, ids: list[str], numbers: list[int], evals: list[int]) -> dofns.Packed:
    examples = [f"{source}:{n}".encode() for n in numbers]
    lengths = [len(e) + FRAME_BYTES for e in examples]
    return source, ids, numbers, dofns.squeeze(tfrecord_bytes(examples)), lengths, bytes(evals)


def keep_first(packs: list[dofns.Packed]) -> dict[str, list]:
    out: dict[str, list] = {"train": [], "eval": [], "duplicates": [], "counts": []}
    for item in _KeepFirstFn(CONFIG.ingest).process((0, packs)):
        out[item.tag].append(item.value)
    return out


def test_keep_first_keeps_the_first_record_of_each_id_in_log_order_whatever_the_pack_order():
    packs = [
        pack("day=00001/b", ["x", "y", "x", "w"], [5, 6, 9, 10], [0, 1, 0, 1]),
        pack("day=00000/a", ["y", "z"], [10, 11], [1, 0]),
    ]
    for ordered in (packs, packs[::-1]):
        out = keep_first(ordered)
        assert sorted(out["duplicates"]) == [
            ("day=00001/b", (6, "day=00000/a:10")),
            ("day=00001/b", (9, "day=00001/b:5")),
        ]
        assert out["counts"] == [{"reason:duplicate_impression_id": 2, "split:train": 2, "split:eval": 2}]
        assert sorted(framed_records(b"".join(out["train"]))) == sorted(
            map(framed, [b"day=00000/a:11", b"day=00001/b:5"])
        )
        assert sorted(framed_records(b"".join(out["eval"]))) == sorted(
            map(framed, [b"day=00000/a:10", b"day=00001/b:10"])
        )


def test_keep_first_passes_whole_packs_without_duplicates_in_elements_of_about_a_batch(monkeypatch):
    monkeypatch.setattr(dofns, "BATCH_SIZE", 3)
    packs = [pack("f", [f"id{n}" for n in range(k, k + 2)], [k, k + 1], [0, 0]) for k in range(0, 8, 2)]
    out = keep_first(packs)
    assert out["duplicates"] == [] and out["eval"] == []
    assert [len(chunk) for chunk in out["train"]] == [sum(packs[0][4]) * 2] * 2
    assert b"".join(out["train"]) == b"".join(dofns.unsqueeze(p[3], sum(p[4])) for p in packs)


def write_logs(root: str) -> None:
    """Two files of the tiny world with corrupt lines, the second repeating lines of the first (duplicates)."""
    world = World(dataclasses.replace(CONFIG.world, malformed_rate=0.05))
    lines = [line for line, _ in world.generate_encoded_lines(0, 0)][:240]
    for shard, chunk in enumerate((lines[:150], lines[140:] + lines[:5])):
        path = os.path.join(day_dir(root, 0), f"logs-{shard:05d}-of-00002.jsonl.gz")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with gzip.open(path, "wb") as f:
            f.write(b"".join(line if line.endswith(b"\n") else line + b"\n" for line in chunk))


def written(root: str) -> dict[str, list[bytes]]:
    """Each split's framed examples (sorted), counts.json and the quarantined lines (sorted)."""
    out: dict[str, list[bytes]] = {}
    for split in ("train", "eval"):
        folder = os.path.join(root, "ex", f"Split-{split}")
        records: list[bytes] = []
        for name in sorted(os.listdir(folder)):
            with gzip.open(os.path.join(folder, name), "rb") as f:
                records += framed_records(f.read())
        out[split] = sorted(records)
    quarantine = os.path.join(root, "q")
    out["quarantine"] = []
    for name in os.listdir(quarantine):
        if name.endswith(".jsonl.gz"):
            with gzip.open(os.path.join(quarantine, name), "rb") as f:
                out["quarantine"] += f.read().splitlines()
    out["quarantine"].sort()
    with open(os.path.join(quarantine, "counts.json"), "rb") as f:
        out["counts"] = [f.read()]
    return out


@pytest.mark.parametrize("batch_size, parse_rows", [(7, 3), (64, 1_024)])
def test_the_examples_do_not_depend_on_the_batch_size(tmp_path, monkeypatch, batch_size, parse_rows):
    logs = str(tmp_path / "logs")
    write_logs(logs)
    run_ingest(CONFIG, logs, str(tmp_path / "a" / "ex"), str(tmp_path / "a" / "q"), BEAM_ARGS)
    monkeypatch.setattr(dofns, "BATCH_SIZE", batch_size)
    monkeypatch.setattr(columnar, "PARSE_ROWS", parse_rows)
    counts = run_ingest(CONFIG, logs, str(tmp_path / "b" / "ex"), str(tmp_path / "b" / "q"), BEAM_ARGS)
    assert counts["reasons"]["duplicate_impression_id"] > 10 and counts["good"] > 150
    assert written(str(tmp_path / "a")) == written(str(tmp_path / "b"))
