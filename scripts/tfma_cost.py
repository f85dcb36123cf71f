"""What TFMA costs per example and per model, on a finished run's own models and next-day examples.

The pipeline's BaselineEvaluator and Evaluator are TFX's Evaluator: TFMA over every example of day d + 1. This
script runs the same TFMA analysis outside TFX (`tfma.run_model_analysis`, the BaselineEvaluator's metrics without
its thresholds) on the newest run under `--pipeline-root`: the ranker alone, the ranker and the simple model, the
same pair with TFMA's jackknife confidence intervals (what `gates.lift_interval` adds), and, for contrast, the
same examples through the ranker's own `serving_default` signature in batches (the quality report's scorer). It
prints one Markdown table:

    python scripts/tfma_cost.py --pipeline-root runs/default

TFMA's cost grows with examples x models (its metrics and unbatching run per example in Python); the signature's
cost is the model's arithmetic alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.pipeline_bench import newest_output  # noqa: E402
from config.settings import GateConfig  # noqa: E402
from pipeline.eval_config import build_baseline_eval_config  # noqa: E402
from pipeline.quality.examples import read_examples  # noqa: E402
from pipeline.quality.scoring import SCORE_BATCH, SavedModelScorer, serving_dir  # noqa: E402


def _eval_config(names: list[str], intervals: bool = False):
    """The BaselineEvaluator's EvalConfig for models `names` (the last is the baseline when there are two), with no
    thresholds: this measures cost, not verdicts. `intervals`: with the jackknife options `gates.lift_interval`
    sets."""
    import tensorflow_model_analysis as tfma

    config = build_baseline_eval_config(GateConfig(min_lift_over_baseline=0.0, lift_interval=intervals))
    template = config.model_specs[0]
    specs = []
    for i, name in enumerate(names):
        spec = tfma.ModelSpec()
        spec.CopyFrom(template)
        spec.name = name
        spec.is_baseline = len(names) > 1 and i == len(names) - 1
        specs.append(spec)
    del config.model_specs[:]
    config.model_specs.extend(specs)
    for metrics_spec in config.metrics_specs:
        for metric in metrics_spec.metrics:
            del metric.per_slice_thresholds[:]
    return config


def tfma_seconds(models: dict[str, str], examples: str, intervals: bool = False) -> tuple[float, float]:
    """Wall and CPU seconds of one TFMA analysis of `models` ({name: SavedModel dir}) over the files `examples`
    (in this process: Beam's in-memory runner)."""
    import tensorflow_model_analysis as tfma

    config = _eval_config(list(models), intervals)
    shared = [
        tfma.default_eval_shared_model(path, model_name=name, eval_config=config) for name, path in models.items()
    ]
    with tempfile.TemporaryDirectory() as out:
        started, cpu = time.perf_counter(), time.process_time()
        tfma.run_model_analysis(
            eval_shared_model=shared if len(shared) > 1 else shared[0],
            eval_config=config,
            data_location=examples,
            output_path=out,
            file_format="tfrecords",
        )
        return time.perf_counter() - started, time.process_time() - cpu


def signature_seconds(model_uri: str, serialized: list[bytes]) -> tuple[float, float]:
    """Wall and CPU seconds of the model's `serving_default` over `serialized`, in the quality report's batches."""
    scorer = SavedModelScorer(model_uri)
    scorer.score(serialized[:SCORE_BATCH])  # loading and the first call's tracing are not the per-example cost
    started, cpu = time.perf_counter(), time.process_time()
    scorer.score(serialized)
    return time.perf_counter() - started, time.process_time() - cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline-root", default="runs/default")
    args = parser.parse_args(argv)

    from compat.install import install_patches

    install_patches()  # as the pipeline's Beam components run
    root = os.path.abspath(args.pipeline_root)
    ranker = serving_dir(newest_output(root, "Trainer", "model"))
    simple = serving_dir(newest_output(root, "BaselineTrainer", "model"))
    examples_uri = newest_output(root, "NextDayLogIngest", "examples")
    examples = os.path.join(examples_uri, "Split-*", "*")  # every split, as pipeline.quality.examples reads them
    serialized = read_examples(examples_uri).serialized
    count = len(serialized)
    rows = [(f"the ranker's `serving_default`, batches of {SCORE_BATCH:,}", 1, signature_seconds(ranker, serialized))]
    rows.append(("TFMA: the ranker", 1, tfma_seconds({"candidate": ranker}, examples)))
    pair = {"candidate": ranker, "simple": simple}
    rows.append(("TFMA: the ranker and the simple model", 2, tfma_seconds(pair, examples)))
    rows.append(("TFMA: the same, with jackknife intervals", 2, tfma_seconds(pair, examples, intervals=True)))
    print(f"{count:,} examples of day d + 1 ({examples})\n")
    print("| what | models | seconds | CPU seconds | ms per example per model |")
    print("|---|---|---|---|---|")
    for what, models, (spent, cpu) in rows:
        print(f"| {what} | {models} | {spent:.1f} | {cpu:.1f} | {1000 * spent / count / models:.3f} |")


if __name__ == "__main__":
    main()
