"""Confidence intervals the lab's claims quote: exact binomial (Clopper-Pearson) for rates."""

from __future__ import annotations

import math


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact two-sided interval of a binomial rate k/n (NaN, NaN when n = 0)."""
    from scipy.stats import beta

    if n == 0:
        return math.nan, math.nan
    tail = (1.0 - confidence) / 2.0
    low = 0.0 if k == 0 else float(beta.ppf(tail, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1.0 - tail, k + 1, n - k))
    return low, high


def rate_text(k: int, n: int, confidence: float = 0.95) -> str:
    """'3/40 = 7.5 % (95 % CI 1.6-20.4 %)'."""
    if n == 0:
        return "0/0"
    low, high = clopper_pearson(k, n, confidence)
    return f"{k}/{n} = {100 * k / n:.1f} % ({100 * confidence:.0f} % CI {100 * low:.1f}-{100 * high:.1f} %)"
