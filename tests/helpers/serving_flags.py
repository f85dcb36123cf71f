"""The TF Serving flags the push relies on, as literals (not recomputed by serving/server.py).

`--enable_model_warmup=true` makes TF Serving replay `assets.extra/tf_serving_warmup_requests` that the pusher
writes; `--model_config_file` points at the `models.config` it maintains; the poll flags make a newly pushed
version and a rewritten config visible without a restart. If any of these vanishes from the launchers, the tests
that compare against this list fail.
"""

from __future__ import annotations


def expected_server_flags(config_file: str, cpus: int | None = None) -> list[str]:
    """`cpus` (a container's CPU limit) sizes TensorFlow's thread pools to it (the Kubernetes Deployment)."""
    flags = [
        "--port=8500",
        "--rest_api_port=8501",
        f"--model_config_file={config_file}",
        "--model_config_file_poll_wait_seconds=60",
        "--file_system_poll_wait_seconds=30",
        "--enable_model_warmup=true",
    ]
    if cpus:
        flags += [f"--tensorflow_intra_op_parallelism={cpus}", f"--tensorflow_inter_op_parallelism={cpus}"]
    return flags
