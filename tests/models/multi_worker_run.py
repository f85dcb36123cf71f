"""Run as a script, once per worker, with TF_CONFIG set (by test_distribution.py): MultiWorkerMirroredStrategy.

Two such processes on 127.0.0.1 form a 2-worker cluster. Each resolves `distribution="auto"` from TF_CONFIG (which
must give multi_worker) and trains the ranker with the trainer's model/optimizer/strategy code; the chief then
trains it again on one device from the same initial weights. Each prints one JSON object on the last line of
stdout: the resolved strategy, replicas, whether it is the chief, where `worker_dir` would write, and (chief) the
largest weight and loss differences between the two runs.

Usage: TF_CONFIG='{"cluster": {"worker": ["127.0.0.1:P0", "127.0.0.1:P1"]}, "task": {...}}' \
       python tests/models/multi_worker_run.py [--steps N] [--batch B]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(os.path.dirname(here)), os.path.dirname(here), here]  # repo, tests/, tests/models

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from distributed_common import train  # noqa: E402

from models import distribution  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    resolved = distribution.resolve_distribution("auto", os.environ.get("TF_CONFIG"))
    strategy = distribution.make_strategy("auto")  # first: collective ops are configured at program start
    replicas, start, distributed, loss_distributed = train("auto", "clippy", args.steps, args.batch, None)
    result = {
        "resolved": resolved,
        "replicas": replicas,
        "is_chief": distribution.is_chief(strategy),
        "worker_dir": distribution.worker_dir("/out/model", strategy),
    }
    if result["is_chief"]:  # the one-device reference, once (workers hold the same mirrored weights)
        _, _, single, loss_single = train("one_device", "clippy", args.steps, args.batch, start)
        result["max_weight_diff"] = max(float(np.max(np.abs(a - b))) for a, b in zip(single, distributed))
        result["max_weight_change"] = max(float(np.max(np.abs(a - b))) for a, b in zip(single, start))
        result["max_loss_diff"] = float(np.max(np.abs(np.array(loss_single) - np.array(loss_distributed))))
    # Keep every worker alive until the chief's reference run is done: a worker that exits early fails the
    # coordination service's heartbeat check on the others.
    strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.constant(1.0)), axis=None)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
