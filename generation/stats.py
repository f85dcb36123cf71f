"""Merges the per-shard stats of a generation job into its summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import apache_beam as beam


class MergeShardStats(beam.CombineFn):
    """Merges per-shard stats into the generation summary (lines per day, corruptions per kind)."""

    def create_accumulator(self) -> dict[str, Any]:
        return {"lines": 0, "files": 0, "lines_per_day": Counter(), "corrupted": Counter()}

    def add_input(self, acc: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
        acc["lines"] += stats["lines"]
        acc["files"] += 1
        acc["lines_per_day"][str(stats["day"])] += stats["lines"]
        acc["corrupted"].update(stats["corrupted"])
        return acc

    def merge_accumulators(self, accumulators: Iterable[dict[str, Any]]) -> dict[str, Any]:
        merged = self.create_accumulator()
        for acc in accumulators:
            merged["lines"] += acc["lines"]
            merged["files"] += acc["files"]
            merged["lines_per_day"].update(acc["lines_per_day"])
            merged["corrupted"].update(acc["corrupted"])
        return merged

    def extract_output(self, acc: dict[str, Any]) -> dict[str, Any]:
        return {
            "lines": acc["lines"],
            "files": acc["files"],
            "lines_per_day": dict(sorted(acc["lines_per_day"].items())),
            "corrupted": dict(sorted(acc["corrupted"].items())),
            "num_corrupted": sum(acc["corrupted"].values()),
        }
