"""The pipeline scale benchmark's pure parts: samples to nodes, slopes, the report, the `large` configuration."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import common, run_all
from benchmarks import pipeline_scale_bench as bench
from config.overrides import apply_overrides
from config.settings import default_preset
from config.validation import validate_config

REPO = Path(__file__).resolve().parents[2]
S = bench.Sample


def _samples() -> list[bench.Sample]:
    # Every second: RSS in MB as listed, CPU one second per second (one busy core).
    rss = [100, 120, 300, 250, 260, 500, 400]
    return [S(t=float(t), rss=mb * 2**20, cpu=float(t)) for t, mb in enumerate(rss)]


def test_value_at_interpolates_between_samples_and_clamps_at_the_ends() -> None:
    samples = _samples()
    assert bench.value_at(samples, 1.5, "cpu") == pytest.approx(1.5)
    assert bench.value_at(samples, 1.25, "rss") == pytest.approx(165 * 2**20)
    assert bench.value_at(samples, -3.0, "rss") == 100 * 2**20
    assert bench.value_at(samples, 99.0, "cpu") == 6.0
    with pytest.raises(ValueError, match="no samples"):
        bench.value_at([], 0.0, "cpu")


def test_assign_samples_gives_each_node_its_window() -> None:
    windows = {"LogGen": (0.5, 2.5), "Transform": (3.0, 5.0), "Pusher": (5.9, 5.95)}
    usage = bench.assign_samples(list(reversed(_samples())), windows)  # order of the samples does not matter
    log_gen, transform, pusher = usage["LogGen"], usage["Transform"], usage["Pusher"]
    assert log_gen.wall_s == pytest.approx(2.0) and log_gen.cpu_s == pytest.approx(2.0)
    assert log_gen.peak_rss == 300 * 2**20 and log_gen.samples == 2  # samples at t=1 and t=2
    assert log_gen.rss_rise == (300 - 110) * 2**20  # 110 MB interpolated at t=0.5
    assert transform.peak_rss == 500 * 2**20 and transform.samples == 3
    assert transform.rss_rise == 250 * 2**20
    # No sample inside a short window: the RSS interpolated at its end.
    assert pusher.samples == 0 and pusher.peak_rss == int(bench.value_at(_samples(), 5.95, "rss"))
    assert pusher.cpu_s == pytest.approx(0.05)
    as_json = log_gen.to_json()
    assert as_json["peak_rss_mb"] == 300.0 and as_json["rss_rise_mb"] == 190.0


def test_overlapping_windows_are_named() -> None:
    assert bench.overlapping({"a": (0.0, 1.0), "b": (1.0, 2.0), "c": (2.5, 3.0)}) == []
    assert bench.overlapping({"a": (0.0, 2.0), "b": (1.0, 3.0), "c": (2.5, 4.0)}) == [("a", "b"), ("b", "c")]


def _run(k: int, cpu: dict[str, float], fields: int = 50, preset: str = "default") -> dict:
    nodes = {
        n: {"wall_s": 2 * c, "cpu_s": c, "peak_rss_mb": 1000.0 * k, "rss_rise_mb": 10.0, "samples": 3}
        for n, c in cpu.items()
    }
    return {
        "label": f"{preset} {k}x",
        "preset": preset,
        "multiplier": k,
        "impressions": 60_000 * k,
        "fields_per_record": fields,
        "wall_s": 100.0 * k,
        "cpu_s": 90.0 * k,
        "peak_rss_mb": 2000.0,
        "load_average_before": 1.0,
        "load_average_after": 2.0,
        "nodes": nodes,
    }


def test_component_slopes_fit_each_node_and_skip_the_small_ones() -> None:
    runs = [
        _run(k, {"Transform": 10.0 * k, "Trainer": 20.0, "Evaluator": 5.0 * k**1.5, "Pusher": 0.1}) for k in (1, 4, 10)
    ]
    del runs[1]["nodes"]["Trainer"]  # a node missing from one run gets no slope
    slopes = bench.component_slopes(list(reversed(runs)))
    assert slopes == {"Transform": pytest.approx(1.0), "Evaluator": pytest.approx(1.5)}
    assert bench.component_slopes(runs[:1]) == {}


def test_width_slopes_use_the_fields_per_record() -> None:
    narrow, wide = _run(1, {"Transform": 10.0, "Pusher": 0.1}), _run(1, {"Transform": 40.0, "Pusher": 0.4}, fields=200)
    assert bench.width_slopes(narrow, wide) == {"Transform": pytest.approx(1.0)}
    assert bench.width_slopes(narrow, narrow) == {}


def _summary() -> dict:
    scaled = [_run(k, {"Transform": 10.0 * k, "Evaluator": 5.0 * k**1.5}) for k in (1, 4, 10)]
    wide = _run(1, {"Transform": 40.0, "Evaluator": 6.0}, fields=200, preset="wide")
    summary = {
        "command": "python -m benchmarks.pipeline_scale_bench",
        "preset": "default",
        "base_impressions": 60_000,
        "base_shards": 4,
        "overrides": {"gates": {"eval_splits": ["eval"]}},
        "interval_s": 0.2,
        "machine": {"cpu_count": 2},
        "scaled": scaled,
        "wide": wide,
        "seconds": 1800.0,
        "plot": "benchmarks/pipeline_scale.png",
    }
    summary["slopes"] = bench.component_slopes(scaled)
    summary["width_slopes"] = bench.width_slopes(scaled[0], wide)
    return summary


def test_markdown_tabulates_components_by_size_with_slopes_and_width() -> None:
    text = bench.markdown(_summary())
    assert text.startswith(bench.SECTION_HEADING + "\n")
    assert '`{"gates": {"eval_splits": ["eval"]}}`' in text
    assert "| default 10x | 600,000 | 50 | 1,000 | 900 | 2,000 | 1.0 / 2.0 |" in text
    assert "| Evaluator | 10.0 / 5.0 / 1,000 | 80.0 / 40.0 / 4,000 | 316.2 / 158.1 / 10,000 | **1.50** |" in text
    assert "| Transform | 20.0 / 10.0 / 1,000 | 80.0 / 40.0 / 4,000 | 200.0 / 100.0 / 10,000 | 1.00 |" in text
    assert "| Transform | 20.0 / 10.0 / 1,000 | 80.0 / 40.0 / 1,000 | 4.00x | 1.00 |" in text  # 50 -> 200 fields
    assert "Slopes above 1.1: Evaluator." in text and "Total 30.0 min." in text
    assert text.rstrip().endswith("Command: `python -m benchmarks.pipeline_scale_bench`")
    noted = bench.markdown({**_summary(), "note": "(two runs)"})
    assert noted.rstrip().endswith("Command: `python -m benchmarks.pipeline_scale_bench` (two runs)")


def test_plot_writes_a_png(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    path = bench.plot(_summary(), tmp_path / "scale.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_its_section_goes_into_the_kept_part_of_the_report_and_replaces_its_old_one() -> None:
    new = bench.SECTION_HEADING + "\n\nnew table\n"
    page = f"# Benchmarks\n\nnumbers\n\n{run_all.HAND_RUN_MARKER}\n\n## Other\n\nkept\n"
    once = run_all.with_kept_section(page, new)
    assert once == page + "\n" + new
    twice = run_all.with_kept_section(once + "\n## After\n\nalso kept\n", new + "more\n")
    assert "new table\nmore\n" in twice and "## Other\n\nkept\n" in twice and twice.endswith("## After\n\nalso kept\n")
    assert twice.count(bench.SECTION_HEADING) == 1
    bare = run_all.with_kept_section("# Benchmarks\n\nnumbers\n", new)  # no kept part yet: the marker comes first
    assert bare.index(run_all.HAND_RUN_MARKER) < bare.index(bench.SECTION_HEADING)
    assert run_all.with_hand_run_sections("# Benchmarks\n\nfresh\n", twice).count("new table") == 1


def test_run_all_adds_the_scale_step_only_when_asked() -> None:
    for quick in (False, True):
        step = run_all.scale_step(quick)
        assert step.module == "benchmarks.pipeline_scale_bench" and step.kept_section and not step.reads_run
    assert json.loads(run_all.SCALE_OVERRIDES) == {"gates": {"eval_splits": ["eval"]}}
    assert "benchmarks.pipeline_scale_bench" not in [step.module for step in run_all.steps(False)]


def test_the_large_config_is_the_benchmarks_10x_day_and_validates() -> None:
    large = json.loads((REPO / "config" / "large.json").read_text())
    base = default_preset()
    assert large == bench.scaled_overrides(base, 10, {"gates": {"eval_splits": ["eval"]}})
    config = validate_config(apply_overrides(base, large))
    assert config.world.impressions_per_day == 10 * base.world.impressions_per_day
    impressions_per_shard = config.world.impressions_per_day / config.world.num_shards
    assert math.isclose(impressions_per_shard, base.world.impressions_per_day / base.world.num_shards)


def test_tree_sampler_counts_the_children() -> None:
    psutil = pytest.importorskip("psutil")
    code = "import time; x = b'1' * (64 * 2**20); print(1, flush=True); time.sleep(5)"  # 64 MB, every page written
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"1"  # the child holds 64 MB now
        sample = bench.TreeSampler(os.getpid()).read()
        own = psutil.Process().memory_info().rss
        assert sample is not None and sample.rss > own + 60 * 2**20
        assert sample.cpu >= sum(psutil.Process().cpu_times()[:2])
    finally:
        child.kill()
        child.wait()


def test_the_command_line_quotes_arguments_for_a_shell() -> None:
    command = common.command_line("benchmarks.pipeline_scale_bench", ["--overrides", '{"gates": {}}', "--sizes", "1,4"])
    assert command == "python -m benchmarks.pipeline_scale_bench --overrides '{\"gates\": {}}' --sizes 1,4"
