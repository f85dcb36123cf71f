"""The Trainer's `tf.distribute` strategy, chosen by `TrainConfig.distribution`.

=================  ==========================================================================================
``one_device``     TensorFlow's default strategy: no replication, one device (the first GPU if any, else CPU).
``mirrored``       ``MirroredStrategy`` over every local GPU, or over every logical CPU device when there is no
                   GPU (how the tests split one host into two replicas). Synchronous data parallelism: each step
                   splits the global batch ``TrainConfig.batch_size`` across the replicas and all-reduces the
                   gradients.
``multi_worker``   ``MultiWorkerMirroredStrategy``: the same on several machines, the cluster read from the
                   ``TF_CONFIG`` environment variable (set by Kubeflow's TFJob, Vertex AI custom training, ...).
``auto``           ``multi_worker`` when ``TF_CONFIG`` names more than one task, else ``mirrored`` when more than
                   one GPU is visible, else ``one_device``.
=================  ==========================================================================================

Clippy and the baselines see the same update under every strategy: Keras scales each replica's loss by
1/num_replicas, the optimizer all-reduces (sums) the replica gradients *before* ``update_step`` runs, and σ_t is
computed inside ``update_step`` from that aggregated gradient (tf-keras ``Optimizer.apply_gradients`` →
``aggregate_gradients`` → ``_distributed_apply_gradients_fn`` → ``update_step``). ``tests/models/test_distribution.py``
checks it: a 2-replica run matches a single-device run with the same global batch.

Under ``multi_worker`` every worker must run the same collective ops, saving included; only the chief writes to the
real destinations (:func:`worker_dir` gives the others a scratch directory).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import tempfile
from typing import Any

import tensorflow as tf

from config.settings import DISTRIBUTIONS, ConfigError

log = logging.getLogger(__name__)


def cluster_size(tf_config: str | None) -> int:
    """Number of tasks (chief + workers) in a ``TF_CONFIG`` JSON string; 0 when absent or empty."""
    if not tf_config:
        return 0
    try:
        cluster = json.loads(tf_config).get("cluster", {})
    except (ValueError, AttributeError) as err:
        raise ConfigError(f"TF_CONFIG is not a JSON object with a 'cluster': {err}") from None
    return sum(len(cluster.get(role, [])) for role in ("chief", "worker"))


def resolve_distribution(name: str, tf_config: str | None = None, num_gpus: int | None = None) -> str:
    """The concrete strategy name for `name` (``auto`` resolved from `tf_config` and the number of GPUs)."""
    if name not in DISTRIBUTIONS:
        raise ConfigError(f"must be one of {list(DISTRIBUTIONS)}, got {name!r}", field="train.distribution")
    if name != "auto":
        return name
    if cluster_size(tf_config) > 1:
        return "multi_worker"
    if num_gpus is None:
        num_gpus = len(tf.config.list_logical_devices("GPU"))
    return "mirrored" if num_gpus > 1 else "one_device"


def local_replica_devices() -> list[str]:
    """Every logical GPU, or every logical CPU device when there is no GPU."""
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return [d.name for d in devices]


@functools.cache
def _mirrored(devices: tuple[str, ...]) -> tf.distribute.MirroredStrategy:
    return tf.distribute.MirroredStrategy(devices=list(devices))


@functools.lru_cache(maxsize=1)
def _multi_worker() -> tf.distribute.MultiWorkerMirroredStrategy:
    if cluster_size(os.environ.get("TF_CONFIG")) == 0:
        log.warning("distribution=multi_worker without TF_CONFIG: training as a cluster of one worker")
    return tf.distribute.MultiWorkerMirroredStrategy()


def make_strategy(name: str) -> tf.distribute.Strategy:
    """Builds the strategy `name` (see the module docstring); `auto` reads ``TF_CONFIG`` and the visible GPUs.

    One instance per device set and process: TensorFlow numbers collective ops per strategy instance, so two
    mirrored strategies over the same devices in one process (e.g. two trainings in one LocalDagRunner process)
    would reuse collective keys and abort with a shape mismatch.
    """
    resolved = resolve_distribution(name, os.environ.get("TF_CONFIG"))
    if resolved == "one_device":
        strategy = tf.distribute.get_strategy()
    elif resolved == "mirrored":
        strategy = _mirrored(tuple(local_replica_devices()))
    else:
        strategy = _multi_worker()
    log.info("distribution %s -> %s with %d replica(s)", name, resolved, strategy.num_replicas_in_sync)
    return strategy


def _task(strategy: tf.distribute.Strategy) -> tuple[str | None, int | None, dict[str, Any]]:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return None, None, {}
    return resolver.task_type, resolver.task_id, resolver.cluster_spec().as_dict()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the task that writes outputs: the only task, the `chief`, or worker 0 of a chief-less cluster."""
    task_type, task_id, cluster = _task(strategy)
    return task_type in (None, "chief") or (task_type == "worker" and task_id == 0 and "chief" not in cluster)


def worker_dir(path: str, strategy: tf.distribute.Strategy) -> str:
    """`path` on the chief; a per-task scratch directory elsewhere (non-chief workers must save too, but not there)."""
    if is_chief(strategy):
        return path
    task_type, task_id, _ = _task(strategy)
    return os.path.join(tempfile.gettempdir(), f"ranker-{task_type}-{task_id}", os.path.basename(path.rstrip("/")))


def dataset_options(strategy: tf.distribute.Strategy) -> tf.data.Options:
    """Sharding across workers by element (DATA): works whatever the number of input files."""
    options = tf.data.Options()
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return options
