"""Training throughput of the ranker per model size: the real input pipeline against the same batches in memory.

    python -m benchmarks.training_bench --pipeline-root ROOT [--preset default] [--out docs/benchmarks]

Reads a finished pipeline run's Transform output (`pipeline_bench.find_artifacts`). For each model size -- the
preset's own model (`default`) and the stability lab's `small`, `large` and `large_dcn`
(`experiments.presets.model_config`) -- these contenders are timed as interleaved rounds in one process (the order
rotates each round; medians reported):

* ``input``: the Trainer's compiled Keras train step fed by `models.inputs.make_dataset` over Transform's gzipped
  TFRecords, exactly as `models/trainer.py` builds it (small data: parsed once and served from memory);
* ``input_streaming``: the same with make_dataset's streaming path forced (read, shuffle and parse every epoch),
  the path taken when the records exceed `in_memory_max_bytes`;
* ``cached``: the same train step fed the first `cached_batches` batches of the input pipeline, held in memory;
* ``cached_jit_flipped``: ``cached`` on a second model compiled with ``jit_compile`` flipped (XLA on when the
  Trainer's default is off), which decides whether the Trainer should compile with XLA on this machine;
* ``input_only``: the input pipeline iterated without training (its own ceiling).

The first three share one model and its traced train function. Reported: ms per step, examples per second and
per-round paired ratios: ``input_vs_cached`` = time(cached) / time(input), the input pipeline's throughput as a
fraction of the in-memory one (target >= 0.9; ``streaming_vs_cached`` likewise), and ``xla_speedup`` =
time(cached) / time(cached_jit_flipped). Training runs under the Trainer's settings (op determinism, the preset's
batch size, Clippy + Adagrad split optimizer).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.common import (
    Samples,
    command_line,
    interleaved,
    machine_facts,
    paired_ratio,
    time_summary,
    write_json,
)

TARGET_INPUT_VS_CACHED = 0.9
#: models/trainer.py compiles without XLA: on this project's CPU machine XLA made every size slower (xla_speedup < 1).
TRAINER_JIT_COMPILE = False
SIZES: tuple[str, ...] = ("default", "small", "large", "large_dcn")


@dataclasses.dataclass(frozen=True)
class TrainingBenchConfig:
    sizes: tuple[str, ...] = SIZES
    rounds: int = 8
    steps_per_round: int = 15
    lead_in: int = 3  # untimed steps at the start of each block (common.interleaved)
    pause_s: float = 0.1
    cached_batches: int = 16
    width: int = 64  # the lab's LabPreset default: small = 2 x 64, large = 4 x 256
    embedding_dim: int = 8
    seed: int = 0


@dataclasses.dataclass
class TrainingSetup:
    """What every model size shares: the configuration, the transformed data and the Transform output."""

    config: Any  # PipelineConfig
    tf_transform_output: Any
    feature_spec: dict
    features: Any  # models.features.FeatureSet
    vocab_sizes: dict[str, int]
    train_files: str  # glob of the transformed training TFRecords


def load_setup(pipeline_root: str, preset: str) -> TrainingSetup:
    """The Transform output of the newest run in `pipeline_root`, read as the Trainer reads it."""
    import tensorflow as tf
    import tensorflow_transform as tft

    from benchmarks.pipeline_bench import find_artifacts
    from config.settings import get_preset
    from models import features as F
    from models.trainer import vocab_sizes

    config = get_preset(preset)
    artifacts = find_artifacts(pipeline_root)
    output = tft.TFTransformOutput(artifacts.transform_graph)
    features = F.feature_set_from_spec(output.raw_feature_spec())
    if config.train.op_determinism:
        tf.config.experimental.enable_op_determinism()
    return TrainingSetup(
        config=config,
        tf_transform_output=output,
        feature_spec=output.transformed_feature_spec(),
        features=features,
        vocab_sizes=vocab_sizes(output, config, features),
        train_files=os.path.join(artifacts.transformed_train, "*"),
    )


def model_config_for(size: str, setup: TrainingSetup, bench: TrainingBenchConfig) -> Any:
    """`default`: the preset's ModelConfig; otherwise the lab's size at the bench's width and embedding dim."""
    from experiments.presets import model_config

    if size == "default":
        return setup.config.model
    return model_config(size, bench.embedding_dim, bench.width)


def compiled_model(setup: TrainingSetup, model_config: Any, jit_compile: bool, seed: int) -> Any:
    """The ranker compiled as the Trainer compiles it (split Clippy / Adagrad optimizer), XLA on or off."""
    import tensorflow as tf

    from models.ranker import build_ranker, compile_ranker
    from models.trainer import build_optimizer

    tf.keras.utils.set_random_seed(seed)
    model = build_ranker(model_config, setup.vocab_sizes, setup.features)
    compile_ranker(model, build_optimizer(setup.config.train), model_config)
    model.jit_compile = jit_compile
    return model


def input_dataset(setup: TrainingSetup, seed: int, streaming: bool = False) -> Any:
    """The Trainer's training dataset (models.inputs.make_dataset, shuffled and repeated); `streaming` forces the
    path that re-reads and re-parses the files every epoch (the path of data too large to hold in memory)."""
    from models.inputs import IN_MEMORY_MAX_BYTES, make_dataset

    train = setup.config.train
    return make_dataset(
        setup.train_files,
        setup.feature_spec,
        train.batch_size,
        shuffle=True,
        repeat=True,
        seed=seed,
        in_memory_max_bytes=0 if streaming else IN_MEMORY_MAX_BYTES,
    )


def cached_dataset(setup: TrainingSetup, batches: int, seed: int) -> Any:
    """The first `batches` batches of the input pipeline, materialised in memory, repeated."""
    dataset = input_dataset(setup, seed).take(batches).cache()
    for _ in dataset:  # fill the cache now, outside any timing
        pass
    return dataset.repeat()


def train_steps(model: Any, *datasets: Any) -> list[Callable[[], Any]]:
    """One compiled Keras train step (what `fit` runs per step) per dataset, each on a persistent iterator.

    The steps share the model and its traced train function (datasets of one element spec do not retrace it).
    """
    function = model.make_train_function()
    iterators = [iter(dataset) for dataset in datasets]
    return [lambda iterator=iterator: function(iterator)["loss"] for iterator in iterators]


def bench_size(size: str, setup: TrainingSetup, bench: TrainingBenchConfig, trainer_jit: bool) -> dict[str, Any]:
    """Interleaved rounds of every contender for one model size (module docstring)."""
    model_config = model_config_for(size, setup, bench)
    started = time.perf_counter()
    pipeline = input_dataset(setup, bench.seed)
    input_setup_seconds = time.perf_counter() - started
    streaming = input_dataset(setup, bench.seed, streaming=True)
    cached = cached_dataset(setup, bench.cached_batches, bench.seed)
    only = iter(input_dataset(setup, bench.seed + 1))
    model = compiled_model(setup, model_config, trainer_jit, bench.seed)
    input_step, streaming_step, cached_step = train_steps(model, pipeline, streaming, cached)
    (flipped_step,) = train_steps(compiled_model(setup, model_config, not trainer_jit, bench.seed), cached)
    steps = {
        "input": input_step,
        "input_streaming": streaming_step,
        "cached": cached_step,
        "cached_jit_flipped": flipped_step,
        "input_only": lambda: next(only),
    }
    samples = interleaved(steps, bench.rounds, bench.steps_per_round, lead_in=bench.lead_in, pause_s=bench.pause_s)
    result = summarise(samples, setup.config.train.batch_size, model_config, time.perf_counter() - started)
    result["input_setup_seconds"] = round(input_setup_seconds, 2)
    return result


def summarise(samples: Samples, batch_size: int, model_config: Any, seconds: float) -> dict[str, Any]:
    contenders = {}
    for name, values in samples.items():
        entry = time_summary(values)
        entry["examples_per_s"] = batch_size / (entry["median_ms"] / 1e3)
        contenders[name] = entry
    return {
        "model": {
            "hidden_units": list(model_config.hidden_units),
            "use_dcn": model_config.use_dcn,
            "embedding_dim": model_config.embedding_dim,
        },
        "contenders": contenders,
        "input_vs_cached": paired_ratio(samples, "cached", "input"),
        "streaming_vs_cached": paired_ratio(samples, "cached", "input_streaming"),
        "xla_speedup": paired_ratio(samples, "cached", "cached_jit_flipped"),
        "input_only_vs_cached_step": paired_ratio(samples, "cached", "input_only"),
        "seconds": round(seconds, 1),
    }


def run(pipeline_root: str, preset: str, bench: TrainingBenchConfig, out: str, command: str) -> dict[str, Any]:
    setup = load_setup(pipeline_root, preset)
    trainer_jit = TRAINER_JIT_COMPILE
    summary: dict[str, Any] = {
        "command": command,
        "preset": preset,
        "pipeline_root": os.path.abspath(pipeline_root),
        "batch_size": setup.config.train.batch_size,
        "trainer_jit_compile": trainer_jit,
        "op_determinism": setup.config.train.op_determinism,
        "config": dataclasses.asdict(bench),
        "target_input_vs_cached": TARGET_INPUT_VS_CACHED,
        "machine": machine_facts(),
        "sizes": {},
    }
    for size in bench.sizes:
        print(f"training bench: {size} ...", file=sys.stderr, flush=True)
        summary["sizes"][size] = bench_size(size, setup, bench, trainer_jit)
    summary["machine"]["load_average_after"] = machine_facts()["load_average"]
    write_json(Path(out) / "training.json", summary)
    return summary


def _throughput(entry: dict[str, Any]) -> str:
    return f"{entry['examples_per_s']:,.0f} [{entry['p25_ms']:.1f}–{entry['p75_ms']:.1f} ms]"


def markdown(summary: dict[str, Any]) -> str:
    config, target = summary["config"], summary["target_input_vs_cached"]
    xla, flipped = ("on", "off") if summary["trainer_jit_compile"] else ("off", "on")
    lines = [
        "## Training throughput: input pipeline vs batches in memory",
        "",
        f"Batch {summary['batch_size']}; the Trainer's compiled Keras train step (Clippy on dense variables, Adagrad "
        f"on embeddings, op determinism {'on' if summary['op_determinism'] else 'off'}, XLA {xla}); "
        f"{config['rounds']} interleaved rounds of {config['steps_per_round']} timed steps per contender (after "
        f"{config['lead_in']} untimed ones and a {config['pause_s']} s pause); examples/s from "
        "the median step, p25–p75 step times in brackets. `input`: `models.inputs.make_dataset` as the Trainer calls "
        "it (this data fits its in-memory path: parsed once, each epoch a permutation gathered from memory); "
        "`streaming`: make_dataset's file-streaming path (read, shuffle, parse every epoch; the only path before); "
        f"`cached`: {config['cached_batches']} of the input's batches replayed from memory; `XLA {flipped}`: `cached` "
        f"with `jit_compile` {flipped}; `input only`: the pipeline without training. Lab sizes at width "
        f"{config['width']}, embedding dim {config['embedding_dim']}.",
        "",
        f"| size | model | input ex/s | cached ex/s | input / cached (≥ {target}) | streaming ex/s | "
        f"streaming / cached | XLA {flipped}: speedup | input only ex/s | input set-up s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size, result in summary["sizes"].items():
        c, model = result["contenders"], result["model"]
        shape = "×".join(str(u) for u in model["hidden_units"]) + (" + DCN" if model["use_dcn"] else "")
        met = "" if result["input_vs_cached"] >= target else " (**not met**)"
        lines.append(
            f"| {size} | {shape}, emb {model['embedding_dim']} | {_throughput(c['input'])} | "
            f"{_throughput(c['cached'])} | {result['input_vs_cached']:.2f}×{met} | {_throughput(c['input_streaming'])} "
            f"| {result['streaming_vs_cached']:.2f}× | {result['xla_speedup']:.2f}× | "
            f"{c['input_only']['examples_per_s']:,.0f} | {result['input_setup_seconds']:.1f} |"
        )
    lines += ["", f"Command: `{summary['command']}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline-root", required=True, help="a finished run's pipeline root (pipeline_bench)")
    parser.add_argument("--preset", default="default", help="the preset that run used")
    parser.add_argument("--sizes", default=",".join(SIZES))
    parser.add_argument("--rounds", type=int, default=TrainingBenchConfig.rounds)
    parser.add_argument("--steps-per-round", type=int, default=TrainingBenchConfig.steps_per_round)
    parser.add_argument("--out", default=os.path.join("docs", "benchmarks"))
    args = parser.parse_args(argv)
    bench = TrainingBenchConfig(
        sizes=tuple(s.strip() for s in args.sizes.split(",") if s.strip()),
        rounds=args.rounds,
        steps_per_round=args.steps_per_round,
    )
    summary = run(args.pipeline_root, args.preset, bench, args.out, command_line("benchmarks.training_bench", argv))
    print(markdown(summary))
    return summary


if __name__ == "__main__":
    main()
