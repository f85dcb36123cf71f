"""The outcome model: how an impression's latent quantities become its click, watch, like, share, dismiss and rating.

One place for the coefficients, used twice: `draw_outcomes` draws the outcomes the simulator logs (world/simulator.py,
whose docstring states the model), and the oracle (world/oracle.py) integrates the same per-impression noise out to
get each outcome's expectation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from world.streams import sigmoid

CLICK_NOISE_SD = 0.3  # per-impression noise of the click logit
SATISFACTION_NOISE_SD = 0.5
FRACTION_NOISE_SD = 1.0  # noise of the watch-fraction logit given satisfaction
RATING_NOISE_SD = 0.5
LIKE_COEFFICIENTS = (-4.7, 3.0, 0.5)  # intercept, watch fraction, satisfaction (after a click)
SHARE_COEFFICIENTS = (-6.0, 3.0, 0.5)


@dataclass(frozen=True)
class Latents:
    """Everything an impression's outcomes depend on, known before it happens ([requests, candidates] arrays)."""

    affinity: np.ndarray  # aff = log(T (θ_u·m_v) + 0.1)
    quality_z: np.ndarray  # 4 (quality - 0.5)
    clickbait: np.ndarray  # cb - 0.25
    subscribed: np.ndarray  # bool
    position: np.ndarray
    surface_bias: np.ndarray  # [requests, 1]
    duration_ds: np.ndarray  # the video's duration in deciseconds

    def satisfaction_mean(self) -> np.ndarray:
        return 0.6 * self.affinity + 0.8 * self.quality_z - 2.0 * self.clickbait + 0.3 * self.subscribed

    def click_logit_mean(self) -> np.ndarray:
        return (
            -2.3
            + 0.55 * self.affinity
            + 0.35 * self.quality_z
            + 2.2 * self.clickbait
            + 0.5 * self.subscribed
            - 0.18 * self.position
            + self.surface_bias
        )

    def dismiss_logit(self) -> np.ndarray:
        return -2.8 - 0.7 * self.affinity - 0.2 * self.quality_z


def fraction_logit_mean(satisfaction: np.ndarray) -> np.ndarray:
    """The watch-fraction logit given satisfaction, before its own noise."""
    return 0.2 + 0.8 * satisfaction


def after_click_logit(coefficients: tuple[float, float, float], fraction: np.ndarray, satisfaction: np.ndarray):
    """The like (or share) logit of a clicked impression."""
    intercept, on_fraction, on_satisfaction = coefficients
    return intercept + on_fraction * fraction + on_satisfaction * satisfaction


def rating_mean(satisfaction: np.ndarray) -> np.ndarray:
    """The survey rating before its noise, rounding and clipping to 1..5."""
    return 3.0 + 0.8 * satisfaction


@dataclass(frozen=True)
class Outcomes:
    """One draw of the outcomes of `Latents` (before label noise)."""

    click: np.ndarray
    fraction: np.ndarray  # watch fraction given a click
    like: np.ndarray
    share: np.ndarray
    dismiss: np.ndarray
    surveyed: np.ndarray
    rating: np.ndarray


def draw_outcomes(rng: np.random.Generator, latents: Latents, survey_rate: float) -> Outcomes:
    """Draws every outcome of `latents` from `rng` (the order of the draws is part of the world's random stream)."""
    shape = latents.affinity.shape
    satisfaction = latents.satisfaction_mean() + rng.normal(0.0, SATISFACTION_NOISE_SD, shape)
    click_logit = latents.click_logit_mean() + rng.normal(0.0, CLICK_NOISE_SD, shape)
    click = rng.random(shape) < sigmoid(click_logit)
    fraction = sigmoid(fraction_logit_mean(satisfaction) + rng.normal(0.0, FRACTION_NOISE_SD, shape))
    like = click & (rng.random(shape) < sigmoid(after_click_logit(LIKE_COEFFICIENTS, fraction, satisfaction)))
    share = click & (rng.random(shape) < sigmoid(after_click_logit(SHARE_COEFFICIENTS, fraction, satisfaction)))
    dismiss = ~click & (rng.random(shape) < sigmoid(latents.dismiss_logit()))
    surveyed = rng.random(shape) < survey_rate
    rating = np.clip(np.rint(rating_mean(satisfaction) + rng.normal(0.0, RATING_NOISE_SD, shape)), 1, 5)
    return Outcomes(click, fraction, like, share, dismiss, surveyed, rating)
