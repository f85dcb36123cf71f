"""Run as a script (by tests/models/test_distribution.py): single device vs a 2-replica MirroredStrategy, on one CPU.

The host CPU is split into two logical devices before TensorFlow initialises its devices, which is why this runs
in its own process. Prints one JSON object on the last line of stdout:

* ``sigma``: for Clippy and every baseline (Adagrad, GC, AGC, LAMB), the factor σ and the updated weights after
  one step whose two replicas see different gradients, under MirroredStrategy and on one device fed the aggregated
  (summed) gradient, plus σ of replica 0's gradient alone (what a per-replica σ would have been);
* ``fit``: for each optimizer, the largest weight and loss differences between the ranker trained with the
  trainer's own model/optimizer/strategy code on one device and on two replicas, same data, same global batch,
  and how far the SavedModel exported after the mirrored run answers from a plain model with its weights.

Usage: python tests/models/distributed_equivalence.py [--steps N] [--batch B] [--optimizers clippy,adagrad]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_here = os.path.dirname(os.path.abspath(__file__))  # tests/models: the repo root, tests/ (helpers) and this folder
sys.path[:0] = [os.path.dirname(os.path.dirname(_here)), os.path.dirname(_here), _here]

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from distributed_common import MODEL, VOCAB, fake_transformed, train  # noqa: E402

from models import distribution  # noqa: E402
from models.optimizers import make_optimizer  # noqa: E402
from models.ranker import build_ranker, split_labels  # noqa: E402

STEP_PARAMS = {
    "clippy": {"variable_relative_threshold": 0.5, "absolute_threshold": 1e-2},
    "gc": {"clip_norm": 1.0},
    "agc": {"clipping": 0.05},
    "lamb": {"mu": 0.01},
    "adagrad": {},
}
# Replica 0's gradient alone is small (no rule would clip it); the sum is large (every clipping rule clips it).
REPLICA_GRADS = np.array([[0.01, 0.0], [5.0, 0.0]], np.float32)


def sigma_check(name: str, strategy: tf.distribute.Strategy) -> dict[str, object]:
    """One step of optimizer `name` whose two replicas see different gradients: σ (`clipping_factors`) and the
    updated weights must equal those of one device fed the aggregated (summed) gradient."""

    def step(strategy: tf.distribute.Strategy, per_replica: bool) -> tuple[float, list[float]]:
        with strategy.scope():
            weights = tf.Variable([1.0, 1.0], name="dense_kernel")
            optimizer = make_optimizer(name, 1.0, export_clipping_factors=True, **STEP_PARAMS[name])

        @tf.function
        def apply() -> None:
            def replica_fn() -> None:
                replica = tf.distribute.get_replica_context()
                grad = tf.gather(REPLICA_GRADS, replica.replica_id_in_sync_group) if per_replica else None
                optimizer.apply_gradients([(REPLICA_GRADS.sum(0) if grad is None else grad, weights)])

            strategy.run(replica_fn)

        apply()
        return float(optimizer.clipping_factors[0].numpy()), weights.numpy().tolist()

    sigma_mirrored, w_mirrored = step(strategy, per_replica=True)
    sigma_single, w_single = step(distribution.make_strategy("one_device"), per_replica=False)
    with tf.distribute.get_strategy().scope():
        alone = make_optimizer(name, 1.0, export_clipping_factors=True, **STEP_PARAMS[name])
        alone.apply_gradients([(tf.constant(REPLICA_GRADS[0]), tf.Variable([1.0, 1.0]))])
    return {
        "replicas": strategy.num_replicas_in_sync,
        "sigma_mirrored": sigma_mirrored,
        "sigma_single": sigma_single,
        "sigma_replica0_alone": float(alone.clipping_factors[0].numpy()),
        "weights_mirrored": w_mirrored,
        "weights_single": w_single,
    }


def export_check(export_dir: str, weights: list[np.ndarray]) -> float:
    """Largest output difference between the SavedModel exported after mirrored training and a plain model holding
    the same weights."""
    features, _ = split_labels({k: tf.constant(v) for k, v in fake_transformed(16, seed=1).items()})
    plain = build_ranker(MODEL, VOCAB)
    plain.set_weights(weights)
    expected = plain(features, training=False)
    loaded = tf.saved_model.load(export_dir).signatures["serving_default"]
    got = loaded(**features)
    return max(float(np.max(np.abs(expected[t].numpy() - got[t].numpy()))) for t in expected)


def fit_check(optimizer: str, steps: int, batch: int) -> dict[str, object]:
    replicas_1, start, single, loss_single = train("one_device", optimizer, steps, batch, None)
    export_dir = tempfile.mkdtemp(prefix="mirrored-export-")
    replicas_2, _, mirrored, loss_mirrored = train("mirrored", optimizer, steps, batch, start, export_dir)
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(single, start))
    return {
        "max_export_diff": export_check(export_dir, mirrored),
        "replicas": [replicas_1, replicas_2],
        "max_weight_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(single, mirrored)),
        "max_weight_change": moved,
        "max_loss_diff": float(np.max(np.abs(np.array(loss_single) - np.array(loss_mirrored)))),
        "loss_single": loss_single,
        "loss_mirrored": loss_mirrored,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--optimizers", default="clippy")
    args = parser.parse_args()
    mirrored = distribution.make_strategy("mirrored")
    result = {
        "sigma": {name: sigma_check(name, mirrored) for name in STEP_PARAMS},
        "fit": {name: fit_check(name, args.steps, args.batch) for name in args.optimizers.split(",")},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
