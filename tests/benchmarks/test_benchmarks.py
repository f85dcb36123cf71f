"""The benchmarks' statistics and reports (fast), and one smoke run of the training and serving benchmarks (e2e)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from helpers.cli_runs import run_paths

from benchmarks import common, pipeline_bench, run_all, scaling_bench, serving_bench, training_bench

REPO = Path(__file__).resolve().parents[2]


# -- statistics ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, q, expected",
    [
        ([3.0], 50, 3.0),
        ([1.0, 2.0, 3.0, 4.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 100, 4.0),
        ([4.0, 1.0, 3.0, 2.0], 50, 2.5),  # unsorted input; midway between 2 and 3
        ([0.0, 10.0], 99, 9.9),
        (list(range(101)), 99, 99.0),
    ],
)
def test_percentile_interpolates_linearly_between_order_statistics(values, q, expected) -> None:
    assert common.percentile(values, q) == pytest.approx(expected)


def test_percentile_agrees_with_numpy_and_rejects_bad_input() -> None:
    np = pytest.importorskip("numpy")
    values = [0.3, 1.7, 0.2, 5.0, 2.2, 2.2, 9.1]
    for q in (1, 25, 50, 90, 99):
        assert common.percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    with pytest.raises(ValueError, match="no values"):
        common.percentile([], 50)
    with pytest.raises(ValueError, match=r"must be in \[0, 100\]"):
        common.percentile([1.0], 101)


def test_paired_ratio_is_the_median_of_per_round_ratios() -> None:
    # Round 3 is disturbed for both contenders alike: the paired ratio ignores it, a ratio of medians would not.
    samples = {"new": [1.0, 1.0, 10.0, 1.0, 1.0], "base": [2.0, 2.0, 20.0, 2.0, 4.0]}
    assert common.paired_ratio(samples, "new", "base") == pytest.approx(0.5)
    assert common.paired_ratio(samples, "base", "new") == pytest.approx(2.0)


def test_time_and_latency_summaries_in_milliseconds() -> None:
    summary = common.time_summary([0.001, 0.002, 0.003])
    assert summary["median_ms"] == pytest.approx(2.0)
    assert summary["min_ms"] == pytest.approx(1.0)
    assert summary["p25_ms"] <= summary["median_ms"] <= summary["p75_ms"]
    assert summary["samples"] == 3
    latency = common.latency_summary([0.001] * 99 + [0.1])
    assert latency["p50_ms"] == pytest.approx(1.0)
    assert latency["p99_ms"] == pytest.approx(1.0 + 0.01 * 99)  # 1% of the way to the outlier
    assert latency["max_ms"] == pytest.approx(100.0)
    assert latency["mean_ms"] == pytest.approx(1.99)


def test_interleaved_rotates_the_order_and_times_every_contender() -> None:
    calls: list[str] = []
    steps = {name: (lambda name=name: calls.append(name)) for name in ("a", "b", "c")}
    samples = common.interleaved(steps, rounds=3, per_round=2, warmup=1, lead_in=1)
    assert {name: len(values) for name, values in samples.items()} == {"a": 1 * 3, "b": 3, "c": 3}
    assert all(value >= 0 for values in samples.values() for value in values)
    timed = calls[3:]  # after one warm-up call each; then blocks of 1 lead-in + 2 timed calls
    firsts = [timed[i] for i in range(0, len(timed), 3)]
    assert firsts == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]


def test_loglog_slope_recovers_the_exponent() -> None:
    xs = [1, 4, 16]
    assert scaling_bench.loglog_slope(xs, [2.0 * x for x in xs]) == pytest.approx(1.0)
    assert scaling_bench.loglog_slope(xs, [5.0 * x**0.5 for x in xs]) == pytest.approx(0.5)
    assert scaling_bench.loglog_slope(xs, [7.0, 7.0, 7.0]) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="at least two"):
        scaling_bench.loglog_slope([1], [1.0])


def test_machine_facts_name_cores_load_and_versions() -> None:
    facts = common.machine_facts()
    assert {"cpu_count", "load_average", "python", "tensorflow", "apache_beam", "tfx", "date"} <= set(facts)
    assert facts["tensorflow"] == metadata.version("tensorflow") and facts["tfx"] == metadata.version("tfx")


def test_write_json_round_trips(tmp_path) -> None:
    path = common.write_json(tmp_path / "deep" / "x.json", {"a": [1, 2.5]})
    assert common.read_json(path) == {"a": [1, 2.5]}


# -- reports ------------------------------------------------------------------------------------------------------

MACHINE = {
    "cpu_count": 2,
    "load_average": 1.5,
    "platform": "Linux",
    "python": "3.10",
    "tensorflow": "2.16.2",
    "apache_beam": "2.59.0",
    "tfx": "1.16.0",
    "date": "2026-01-01 00:00 UTC",
}


def _timing(ms: float, batch: int = 512) -> dict:
    return {"median_ms": ms, "min_ms": ms, "p25_ms": ms, "p75_ms": ms, "samples": 3, "examples_per_s": batch / ms * 1e3}


def test_pipeline_markdown_shows_wall_time_target_and_nodes() -> None:
    summary = {
        "preset": "default",
        "wall_seconds": 300.0,
        "target_seconds": 480.0,
        "node_seconds": {"Trainer": 100.0, "Transform": 60.0, "NextDayLogIngest": 20.0},
        "nodes_total_seconds": 180.0,
        "pushed": True,
        "stability_blessed": True,
        "evaluator_blessed": True,
        "load_average_before": 1.0,
        "load_average_after": 2.0,
        "plot": "benchmarks/pipeline.png",
        "command": "python -m benchmarks.pipeline_bench",
        "machine": MACHINE,
    }
    text = pipeline_bench.markdown(summary)
    assert "| wall time | 300 s | ≤ 480 s (8 min) | yes |" in text
    assert "| Trainer | 100.0 | 33% |" in text and "| NextDayLogIngest | 20.0 | 7% |" in text
    assert "120.0" in text  # outside nodes: 300 - 180
    assert "(benchmarks/pipeline.png)" in text
    assert "**no**" in pipeline_bench.markdown({**summary, "wall_seconds": 600.0})


def test_training_markdown_shows_ratios_and_flags_a_missed_target() -> None:
    size = {
        "model": {"hidden_units": [256, 128], "use_dcn": False, "embedding_dim": 16},
        "contenders": {
            "input": _timing(12.0),
            "input_streaming": _timing(20.0),
            "cached": _timing(11.0),
            "cached_jit_flipped": _timing(16.0),
            "input_only": _timing(1.0),
        },
        "input_vs_cached": 0.93,
        "streaming_vs_cached": 0.55,
        "xla_speedup": 0.7,
        "input_only_vs_cached_step": 11.0,
        "input_setup_seconds": 1.2,
        "seconds": 50.0,
    }
    dcn = {**size, "model": {"hidden_units": [256] * 4, "use_dcn": True, "embedding_dim": 8}, "input_vs_cached": 0.8}
    summary = {
        "command": "python -m benchmarks.training_bench --pipeline-root R",
        "batch_size": 512,
        "trainer_jit_compile": False,
        "op_determinism": True,
        "config": {
            "rounds": 8,
            "steps_per_round": 15,
            "lead_in": 3,
            "pause_s": 0.1,
            "cached_batches": 16,
            "width": 64,
            "embedding_dim": 8,
        },
        "target_input_vs_cached": 0.9,
        "sizes": {"default": size, "large_dcn": dcn},
    }
    text = training_bench.markdown(summary)
    rows = [line for line in text.splitlines() if line.startswith("| default") or line.startswith("| large_dcn")]
    assert len(rows) == 2
    assert "256×128, emb 16" in rows[0] and "0.93×" in rows[0] and "not met" not in rows[0]
    assert "42,667" in rows[0]  # 512 examples / 12 ms
    assert "+ DCN" in rows[1] and "0.80× (**not met**)" in rows[1]
    assert "XLA on: speedup" in text and "0.70×" in rows[0]


def test_serving_markdown_lists_every_batch_size() -> None:
    entry = {"p50_ms": 1.0, "p90_ms": 2.0, "p99_ms": 5.0, "max_ms": 9.0, "mean_ms": 1.5, "examples_per_s": 666.7}
    summary = {
        "command": "python -m benchmarks.serving_bench --pipeline-root R",
        "load_seconds": 3.0,
        "config": {"requests": 100},
        "batches": {"1": entry, "32": {**entry, "examples_per_s": 21333.3}, "256": entry},
    }
    text = serving_bench.markdown(summary)
    assert "| 1 | 1.00 | 2.00 | 5.00 | 9.0 | 667 |" in text
    assert "| 32 |" in text and "21,333" in text and "| 256 |" in text


def test_scaling_markdown_shows_each_multiplier_and_the_slopes() -> None:
    gen = [{"multiplier": k, "seconds": 2.0 * k, "records": 1000 * k} for k in (1, 4, 16)]
    train = [{"multiplier": k, "seconds": 10.0 + k, "startup_seconds": 10.0, "examples": 800 * k} for k in (1, 4, 16)]
    for row in train:
        row["steady_examples_per_s"] = 800
    summary = {
        "command": "python -m benchmarks.scaling_bench --pipeline-root R",
        "preset": "default",
        "base_impressions": 1000,
        "process_warmup_seconds": 20.0,
        "generation": gen,
        "training": train,
        "slopes": {"generation": 1.0, "training": 0.2},
        "plot": "benchmarks/scaling.png",
    }
    text = scaling_bench.markdown(summary)
    assert "| 1x | 2.0 | 500 | 11.0 | 10.0 | 73 | 800 |" in text
    assert "| 16x | 32.0 |" in text
    assert "generation 1.00, training 0.20" in text and "(benchmarks/scaling.png)" in text


def test_run_all_demotes_standalone_reports_and_plans_every_benchmark() -> None:
    assert run_all.demote("# Title\n\ntext\n## Sub\n") == "## Title\n\ntext\n### Sub\n"
    assert run_all.demote("## Already a section\n") == "## Already a section\n"
    for quick in (False, True):
        modules = [step.module for step in run_all.steps(quick)]
        assert modules == [
            "benchmarks.generation_bench",
            "benchmarks.pipeline_bench",
            "benchmarks.training_bench",
            "benchmarks.serving_bench",
            "benchmarks.optimizer_bench",
            "benchmarks.scaling_bench",
        ]
        for step in run_all.steps(quick):
            assert step.reads_run == ("{root}" in step.args and step.module != "benchmarks.pipeline_bench")
    assert "1000000" in run_all.steps(False)[0].args


def test_run_all_page_names_the_command_machine_and_each_run(tmp_path) -> None:
    runs = [{"module": "benchmarks.serving_bench", "what": "40 requests", "args": ["--requests", "40"], "seconds": 9.4}]
    runs[0]["exit"] = 0
    text = run_all.page("python -m benchmarks.run_all --quick", MACHINE, runs, ["## Serving\n\nrow\n"], 90.0, True)
    assert text.startswith("# Benchmarks\n")
    assert "`python -m benchmarks.run_all --quick` (--quick: smoke-test sizes" in text
    assert "2 CPU cores" in text and "load average 1.5 at the start" in text and "Total: 1.5 min" in text
    assert "| benchmarks.serving_bench | 40 requests | `--requests 40` | 9 | 0 |" in text
    assert text.endswith("## Serving\n\nrow\n")
    step = run_all.steps(True)[3]
    assert "No result" in run_all.section(step, str(tmp_path))  # a missing JSON is said, never invented


def test_find_artifacts_picks_the_newest_execution_of_each_output(tmp_path) -> None:
    for rel in (
        "Transform/transform_graph/7",
        "Transform/transform_graph/12",
        "Transform/transformed_examples/12/Split-train",
        "LogIngest/examples/5/Split-eval",
        "LogGen/logs/2",
        "serving/ranker/100",
        "serving/ranker/200",
        "serving/ranker/.tmp-300",
    ):
        (tmp_path / rel).mkdir(parents=True)
    found = pipeline_bench.find_artifacts(str(tmp_path))
    assert found.transform_graph.endswith("transform_graph/12")
    assert found.transformed_train.endswith("transformed_examples/12/Split-train")
    assert found.pushed_model.endswith("ranker/200")
    assert pipeline_bench.find_artifacts(str(tmp_path), str(tmp_path / "elsewhere")).pushed_model is None
    with pytest.raises(FileNotFoundError, match="Trainer"):
        pipeline_bench.newest_output(str(tmp_path), "Trainer", "model")


# -- smoke run on a finished tiny pipeline -------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.slow
def test_training_and_serving_benchmarks_run_on_a_tiny_pipeline(crashed_run, tmp_path) -> None:
    """On the session's crashed-then-rerun tiny run (tests/helpers/cli_runs.py): a finished run that pushed."""
    paths = run_paths(crashed_run.root)
    root, serving = paths.pipeline_root, paths.serving_root
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1"}
    commands = {
        "training": [
            *("-m", "benchmarks.training_bench", "--pipeline-root", root, "--preset", "tiny"),
            *("--sizes", "default", "--rounds", "2", "--steps-per-round", "2", "--out", str(tmp_path)),
        ],
        "serving": [
            *("-m", "benchmarks.serving_bench", "--pipeline-root", root, "--serving-root", serving),
            *("--requests", "4", "--out", str(tmp_path)),
        ],
    }
    for args in commands.values():  # subprocesses: the benchmarks set process-wide TensorFlow options
        done = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    training = json.loads((tmp_path / "training.json").read_text())
    default = training["sizes"]["default"]
    assert set(default["contenders"]) == {"input", "input_streaming", "cached", "cached_jit_flipped", "input_only"}
    assert default["input_vs_cached"] > 0 and default["contenders"]["input"]["examples_per_s"] > 0
    assert "| default |" in training_bench.markdown(training)

    serving_summary = json.loads((tmp_path / "serving.json").read_text())
    assert set(serving_summary["batches"]) == {"1", "32", "256"}
    assert all(entry["p50_ms"] > 0 and entry["samples"] == 4 for entry in serving_summary["batches"].values())
    assert "| 256 |" in serving_bench.markdown(serving_summary)


# -- the report keeps the hand-run sections ------------------------------------------------------------------------


def test_make_bench_keeps_the_hand_run_sections_of_the_report() -> None:
    hand_run = f"{run_all.HAND_RUN_MARKER}\n\n## Ingest integrity (hand-run)\n\nlost 0 of 200,000\n"
    old = "# Benchmarks\n\nold numbers\n\n" + hand_run
    new = "# Benchmarks\n\nnew numbers\n"
    assert run_all.with_hand_run_sections(new, old) == "# Benchmarks\n\nnew numbers\n\n" + hand_run
    assert run_all.with_hand_run_sections(new, "# Benchmarks\n\nold numbers\n") == new  # nothing hand-run to keep
    assert run_all.with_hand_run_sections(new, None) == new  # no report yet
    committed = (REPO / "docs" / "benchmarks.md").read_text()
    assert committed.count(run_all.HAND_RUN_MARKER) == 1  # the committed report has hand-run sections to keep
