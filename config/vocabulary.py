"""The fixed vocabularies that configuration is checked against, declared once at the ground.

The domain packages take them from here (the log format's countries, the world's rescalable counters, the optimizer
family's parameter table), so a rule in config/validation.py and the code it protects can never disagree.
"""

from __future__ import annotations

import re
from typing import Any

# The log format's country universe (logformat/schema.py re-exports it with the other enumerations).
COUNTRIES: tuple[str, ...] = ("US", "IN", "BR", "JP", "DE", "GB", "FR", "MX", "ID", "KR", "NG", "EG")
MAX_EXTRA_FEATURES = 1000  # generated feature names have three digits: f_dense_000 .. f_dense_999
MAX_TOPICS = 100  # topics are 't00'..'t99'
# Logged int counters a `counter_rescale` shock may multiply (world/simulator.py logs them).
RESCALABLE_COUNTERS: tuple[str, ...] = (
    "video_views",
    "creator_subscribers",
    "user_watch_count",
    "user_num_subscriptions",
)
SPLITS: tuple[str, ...] = ("train", "eval")
DIRECT_RUNNING_MODES: tuple[str, ...] = ("in_memory", "multi_threading", "multi_processing")
# Where Beam's portable runner starts SDK workers (--environment_type).
PORTABLE_ENVIRONMENTS: tuple[str, ...] = ("EXTERNAL", "PROCESS", "LOOPBACK", "DOCKER")

# A Kubeflow V2 pipeline name; a model name becomes a directory of the serving root.
PIPELINE_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")
MODEL_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")

# ----------------------------------------------------------------------------------------------------------------
# The optimizer family (models/optimizers/factory.py builds them; its parameter lists come from here).
# Each parameter has a kind: "pos" finite > 0, "nonneg" finite >= 0, "beta" finite in [0, 1), "bool", "steps"
# integer >= 0.

_ADAGRAD = {
    "initial_accumulator_value": "nonneg",
    "epsilon": "nonneg",
    "use_standard_accumulator_update": "bool",
    "clip_accumulator_update": "bool",
}
_ADAM = {"beta_1": "beta", "beta_2": "beta", "epsilon": "nonneg"}
_CLIPPY = {"variable_relative_threshold": "nonneg", "absolute_threshold": "nonneg"}
_COMMON = {"export_clipping_factors": "bool", "warmup_steps": "steps"}

OPTIMIZER_PARAMETERS: dict[str, dict[str, str]] = {
    "adagrad": {**_ADAGRAD, **_COMMON},
    "gc": {**_ADAGRAD, "clip_norm": "pos", **_COMMON},
    "agc": {**_ADAGRAD, "clipping": "pos", "eps": "nonneg", "unitwise": "bool", **_COMMON},
    "lamb": {**_ADAGRAD, "mu": "pos", **_COMMON},
    "clippy": {**_ADAGRAD, **_CLIPPY, "accumulator_relative_threshold": "nonneg", **_COMMON},
    "clippy_adam": {**_ADAM, **_CLIPPY, **_COMMON},
    "adam": {**_ADAM, **_COMMON},
}
OPTIMIZER_NAMES: tuple[str, ...] = tuple(OPTIMIZER_PARAMETERS)

# The parameters a run starts from when it selects an optimizer without giving `train.optimizer_params`: the paper's
# Clippy settings (λ_rel = 0.5, λ_abs = 1e-2) for the Clippy family; the optimizers' own defaults elsewhere.
PAPER_CLIPPY_PARAMS: dict[str, Any] = {"variable_relative_threshold": 0.5, "absolute_threshold": 1e-2}
OPTIMIZER_DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    name: dict(PAPER_CLIPPY_PARAMS) if name.startswith("clippy") else {} for name in OPTIMIZER_NAMES
}
