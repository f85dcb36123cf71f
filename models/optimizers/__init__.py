"""The paper's optimizer family: one Adagrad core, pluggable per-variable scaling rules, Clippy.

Tang et al., "Improving Training Stability for Multitask Ranking Models in Recommender Systems", KDD 2023
(arXiv:2302.09178). Section 4.3.1 writes every method as Adagrad times a per-layer factor σ_t
(w ← w − η_t σ_t g_t G_t^{-1/2}); this package builds exactly that: :class:`ScaledAdagrad` with the rules of
:mod:`models.optimizers.rules` (naive, GC, AGC, LAMB, Clippy; a frozen σ as a control), :class:`ClippyAdagrad`
(Algorithm 1, TFRS keyword names, paper defaults), Clippy on Adam (:class:`ClippyAdam`), linear warm-up
(:class:`LinearWarmup`), a split dense/embedding optimizer (:func:`split_optimizer`) and the telemetry callback
(:class:`OptimizerTelemetry`).

Keras 2 (tf-keras) is required: ``TF_USE_LEGACY_KERAS=1`` must be set before TensorFlow is imported (the Makefile
exports it; config/runtime.py's `select_keras2` sets it for the command line).
"""

from models.optimizers.clippy_adagrad import ClippyAdagrad
from models.optimizers.clippy_adam import ClippyAdam, ScaledAdam
from models.optimizers.composite import SplitOptimizer, split_optimizer
from models.optimizers.core import ScaledAdagrad, ScaledUpdateOptimizer
from models.optimizers.factory import OPTIMIZER_NAMES, make_optimizer, make_paper_optimizer, optimizer_parameters
from models.optimizers.rules import (
    AdaptiveGradientClipRule,
    ClippyRule,
    FrozenSigmaRule,
    GradientClipRule,
    LambRule,
    NaiveRule,
    ScalingRule,
    UpdateContext,
    shrink_by_references,
)
from models.optimizers.schedules import LinearWarmup
from models.optimizers.telemetry import STAT_FIELDS, OptimizerTelemetry

__all__ = [
    "OPTIMIZER_NAMES",
    "STAT_FIELDS",
    "AdaptiveGradientClipRule",
    "ClippyAdagrad",
    "ClippyAdam",
    "ClippyRule",
    "FrozenSigmaRule",
    "GradientClipRule",
    "LambRule",
    "LinearWarmup",
    "NaiveRule",
    "OptimizerTelemetry",
    "ScaledAdagrad",
    "ScaledAdam",
    "ScaledUpdateOptimizer",
    "ScalingRule",
    "SplitOptimizer",
    "UpdateContext",
    "make_optimizer",
    "make_paper_optimizer",
    "optimizer_parameters",
    "shrink_by_references",
    "split_optimizer",
]
