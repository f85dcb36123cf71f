"""Seeds TFMA's jackknife: the same models and examples give the same confidence intervals, run after run.

TFMA 0.47's `evaluators.jackknife.ComputeWithConfidenceIntervals` deals the examples of each slice into 20 buckets
with `numpy.random.RandomState(random_seed_for_testing).randint`, and its evaluator passes no seed (the argument
exists for TFMA's own tests). So each run deals the examples anew, and the interval's bounds move from run to run:
on the tiny preset's day 1 two analyses of the same two models (AUC on 1,000 thresholds) gave a click-AUC lift
interval of [-0.0118, -0.0029] and, seeded, [-0.0157, +0.0010]. The simple-model gate (`gates.lift_interval`)
decides on those bounds, and a push decision must not depend on the toss of a fresh random state.

The patch passes `JACKKNIFE_SEED` where the caller passes no seed. Nothing else changes: the same partition function
and estimator, with a fixed deal of examples to buckets (the n-th example of a bundle goes to the same bucket in every
run, which on Beam's in-memory runner makes the whole deal the same). A caller's own seed is kept.

Installed by compat.install.install_patches() and by the Evaluator's executor itself (components/evaluator.py), so
it also holds where that executor runs in the pipeline's image on Kubeflow.
"""

from __future__ import annotations

from typing import Any

from tensorflow_model_analysis.evaluators import jackknife

from compat.versions import set_if_written_for

NAME = "TFMA's seeded jackknife"
WRITTEN_FOR = {"tensorflow-model-analysis": "0.47"}
JACKKNIFE_SEED = 20230806  # any fixed value; this one is the day the paper was presented at KDD
ORIGINAL = jackknife.ComputeWithConfidenceIntervals


def seeded_compute_with_confidence_intervals(*args: Any, random_seed_for_testing: int | None = None, **kwargs: Any):
    """TFMA's `ComputeWithConfidenceIntervals` with `JACKKNIFE_SEED` where no seed is given."""
    seed = JACKKNIFE_SEED if random_seed_for_testing is None else random_seed_for_testing
    return ORIGINAL(*args, random_seed_for_testing=seed, **kwargs)


def install() -> bool:
    """Installs the seeded jackknife for this process (idempotent); False on a TFMA it is not written for."""
    return set_if_written_for(
        NAME, WRITTEN_FOR, jackknife, "ComputeWithConfidenceIntervals", seeded_compute_with_confidence_intervals
    )


def installed() -> bool:
    return jackknife.ComputeWithConfidenceIntervals is seeded_compute_with_confidence_intervals
