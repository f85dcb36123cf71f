"""The ingest's split and batch judging, without Beam: an impression's split is a pinned function of its id, and a
line the columnar path cannot take only loses itself."""

from __future__ import annotations

import json

import farmhash

from config.settings import IngestConfig, tiny_preset
from ingest.dofns import split_of
from logformat.columnar import judge_lines
from world.encoding import encode_record
from world.simulator import World


def test_a_line_the_columnar_path_cannot_take_only_loses_itself():
    records = list(World(tiny_preset().world).generate_shard(0, 0))[:3]
    lines = [encode_record(r).encode() for r in records]
    lines[1] = json.dumps({**records[1], "user_id": "u\ud800"}).encode()
    verdicts = judge_lines(lines, IngestConfig())
    assert verdicts[1] == ("invalid_utf8:user_id", None, None)
    assert [v[1] for v in verdicts[::2]] == [records[0]["impression_id"], records[2]["impression_id"]]


def test_split_is_stable_and_follows_eval_fraction():
    ids = [f"d0s0r{i}p{i % 8}" for i in range(20_000)]
    # Pinned values (farmhash Fingerprint64 is the same on every machine, process and runner): a change of the hash
    # or of the bucketing would move examples between train and eval of already-ingested days.
    split = {"eval": "e", "train": "t"}
    assert "".join(split[split_of(i, 0.2)] for i in ids[:24]) == "ttttetteetttttettttetttt"
    assert "".join(split[split_of(i, 0.5)] for i in ids[:24]) == "ttteetteeettttetetteeeet"
    assert farmhash.fingerprint64("d0s0r0p0") == 15281082752813039465  # bucket 9465 of 10,000: train
    assert farmhash.fingerprint64("d3s1r77p4") == 13424291280393950178  # bucket 178: eval at 0.2
    assert (split_of("d0s0r0p0", 0.2), split_of("d3s1r77p4", 0.2)) == ("train", "eval")
    assert abs(sum(split_of(i, 0.2) == "eval" for i in ids) / len(ids) - 0.2) < 0.01
    assert abs(sum(split_of(i, 0.5) == "eval" for i in ids) / len(ids) - 0.5) < 0.015
