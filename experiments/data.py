"""The lab's data: generated days, transformed once with tf.Transform, cached as numpy arrays.

The same pieces as the pipeline, without TFX: `world.simulator.World` generates each day's impressions,
`logformat.parser.encode_examples` turns them into the ingest's tf.Examples, and the Transform
`preprocessing_fn` (`models.preprocessing.build_preprocessing_fn`) is analysed once with tf.Transform's Beam
implementation (`tft_beam.AnalyzeDataset` on the in-process DirectRunner) over the *training* days only. The
resulting transform graph (`TFTransformOutput`) then maps every day, the evaluation day included, exactly as the
pipeline's Transform would. Each day's transformed tensors are cached as `DIR/data/day_XX.npz` so every run of a
sweep reuses them; a cache whose `meta.json` does not match the requested world is rebuilt.

Bitwise reproducible: by default Beam's `BatchElements` sizes the analyzers' record batches adaptively
from *timings*, so the z-score statistics were float sums over machine-load-dependent batch boundaries and differed
by ~1e-7 between two preparations of the same logs (enough to flip 23 of 161 verdicts near the stability edge).
The lab analyses all training examples as **one** record batch (`BeamSource(batch_size=n)` and
`tft_beam.Context(desired_batch_size=n)`): one deterministic pass per statistic, the same bits on every run
(tests/experiments/test_lab_data_reproducible.py). The pipeline's Transform keeps Beam's batching (it must scale
past memory).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from dataclasses import dataclass

import numpy as np

from config.settings import PipelineConfig, TransformConfig, WorldConfig
from models.stability import write_text

DATA_DIR = "data"
META_FILE = "meta.json"
TRANSFORM_DIR = "transform_fn"


@dataclass
class LabData:
    """Transformed days: `train_days[i]` is the i-th training day (in order), `eval_day` the held-out day N."""

    train_days: list[dict[str, np.ndarray]]
    eval_day: dict[str, np.ndarray]
    vocab_sizes: dict[str, int]
    transform_dir: str
    day_numbers: list[int]

    @property
    def num_train_examples(self) -> int:
        return sum(len(next(iter(day.values()))) for day in self.train_days)


def _day_examples(world: WorldConfig, day: int) -> list[bytes]:
    """Serialized tf.Examples of every shard of `day`, as the ingest writes them."""
    from logformat.parser import encode_examples
    from world.simulator import World

    generator = World(world)
    records = [r for shard in range(world.num_shards) for r in generator.generate_shard(day, shard)]
    return encode_examples(records)


def _analyze(examples: list[bytes], world: WorldConfig, transform: TransformConfig, out_dir: str) -> None:
    """Runs the preprocessing_fn's analyzers with tf.Transform's Beam impl and writes the transform graph."""
    import apache_beam as beam
    import tensorflow as tf
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io
    from tfx_bsl.public import tfxio

    from compat.install import install_patches
    from logformat.tf_schema import world_schema

    options = beam.options.pipeline_options.PipelineOptions(
        ["--runner=DirectRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1"]
    )
    install_patches()  # Beam's per-bundle DoFn introspection, once per class (compat/beam_dofn_specs.py)
    one_batch = max(1, len(examples))  # fixed batch boundaries: the same float sums on every run (module docstring)
    with tempfile.TemporaryDirectory() as tmp:
        # The examples reach Beam through a file: `beam.Create` would pickle and bz2-compress all of them into the
        # pipeline (~12 s for the quick preset's 18,000).
        records = os.path.join(tmp, "examples.tfrecord")
        with tf.io.TFRecordWriter(records) as writer:
            for example in examples:
                writer.write(example)
        source = tfxio.TFExampleRecord(records, telemetry_descriptors=["lab"], schema=world_schema(world))
        with (
            beam.Pipeline(options=options) as pipeline,
            tft_beam.Context(temp_dir=tmp, force_tf_compat_v1=transform.tf_compat_v1, desired_batch_size=one_batch),
        ):
            _write_transform_fn(pipeline, source, one_batch, transform, out_dir)
    raw_metadata = dataset_metadata.DatasetMetadata(world_schema(world))
    metadata_io.write_metadata(raw_metadata, os.path.join(out_dir, tft.TFTransformOutput.RAW_METADATA_DIR))


def _write_transform_fn(pipeline, source, one_batch: int, transform: TransformConfig, out_dir: str) -> None:
    """Analyses `source`'s examples as one record batch and writes the transform graph to `out_dir`."""
    import tensorflow_transform.beam as tft_beam

    from models.preprocessing import build_preprocessing_fn

    raw = pipeline | "Decode" >> source.BeamSource(batch_size=one_batch)
    transform_fn = (raw, source.TensorAdapterConfig()) | tft_beam.AnalyzeDataset(build_preprocessing_fn(transform))
    _ = transform_fn | tft_beam.WriteTransformFn(out_dir)


def _transform(
    examples: list[bytes], transform_dir: str, world: WorldConfig, chunk: int = 8192
) -> dict[str, np.ndarray]:
    """Applies the written transform graph to serialized examples; returns numpy columns."""
    import tensorflow as tf
    import tensorflow_transform as tft
    from tensorflow_transform.tf_metadata import schema_utils

    from logformat.tf_schema import world_schema

    output = tft.TFTransformOutput(transform_dir)
    layer = output.transform_features_layer()  # eager, for a TF1 (transform.tf_compat_v1) or a TF2 transform graph
    spec = schema_utils.schema_as_feature_spec(world_schema(world)).feature_spec
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, len(examples), chunk):
        parsed = tf.io.parse_example(tf.constant(examples[start : start + chunk]), spec)
        out = layer(parsed)
        parts.append(
            {k: np.asarray(v).reshape(len(examples[start : start + chunk]), -1).squeeze(-1) for k, v in out.items()}
        )
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _meta(world: WorldConfig, transform: TransformConfig, days: list[int]) -> dict:
    return {
        "world": json.loads(PipelineConfig(world=world).to_json())["world"],
        "transform": dataclasses.asdict(transform),
        "days": days,
    }


def prepare_data(out_dir: str, world: WorldConfig, transform: TransformConfig, log=print) -> LabData:
    """Generates days `world.start_day .. start_day + num_days - 1`, trains-analyses on all but the last, caches.

    Returns the cached data when `out_dir/data/meta.json` matches `world` and `transform`.
    """
    days = list(range(world.start_day, world.start_day + world.num_days))
    if len(days) < 2:
        raise ValueError("the lab needs at least two days: training days 1..N-1 and the evaluation day N")
    data_dir = os.path.join(out_dir, DATA_DIR)
    meta = _meta(world, transform, days)
    meta_path = os.path.join(data_dir, META_FILE)
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            cached = json.load(f)
        if {k: cached.get(k) for k in meta} == meta:
            return _load(data_dir, cached)
        log(f"data cache in {data_dir} is for another world: rebuilding")
    shutil.rmtree(data_dir, ignore_errors=True)  # a stale or half-written cache
    os.makedirs(data_dir, exist_ok=True)
    examples = {}
    for day in days:
        examples[day] = _day_examples(world, day)
        log(f"generated day {day}: {len(examples[day])} impressions")
    transform_dir = os.path.join(data_dir, TRANSFORM_DIR)
    _analyze([e for d in days[:-1] for e in examples[d]], world, transform, transform_dir)
    log("analysed the training days with tf.Transform (Beam DirectRunner)")
    for day in days:
        np.savez(os.path.join(data_dir, f"day_{day:02d}.npz"), **_transform(examples[day], transform_dir, world))
    meta["vocab_sizes"] = _vocab_sizes(transform_dir, world, transform)
    write_text(meta_path, json.dumps(meta, indent=1, sort_keys=True))
    return _load(data_dir, meta)


def _vocab_sizes(transform_dir: str, world: WorldConfig, transform: TransformConfig) -> dict[str, int]:
    import tensorflow_transform as tft

    from models import features as F
    from models.trainer import vocab_sizes

    output = tft.TFTransformOutput(transform_dir)
    features = F.feature_set_from_spec(output.raw_feature_spec())
    return vocab_sizes(output, PipelineConfig(world=world, transform=transform), features)


def _load(data_dir: str, meta: dict) -> LabData:
    days = list(meta["days"])
    loaded = []
    for day in days:
        with np.load(os.path.join(data_dir, f"day_{day:02d}.npz")) as npz:
            loaded.append({k: npz[k] for k in npz.files})
    return LabData(
        train_days=loaded[:-1],
        eval_day=loaded[-1],
        vocab_sizes={k: int(v) for k, v in meta["vocab_sizes"].items()},
        transform_dir=os.path.join(data_dir, TRANSFORM_DIR),
        day_numbers=days,
    )


def feature_set(data: LabData):
    """The model's FeatureSet, read off the transform graph's raw schema (as the Trainer does)."""
    import tensorflow_transform as tft

    from models import features as F

    return F.feature_set_from_spec(tft.TFTransformOutput(data.transform_dir).raw_feature_spec())
