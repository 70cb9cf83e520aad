"""The standard normal distribution without scipy: ``statistics.NormalDist`` (the same quantile, cdf and pdf as
``scipy.stats.norm``) and an ``erfc`` survival function. Scoring a run whose predictions all come from the cache uses
these, so it never imports scipy (issue #21)."""

from __future__ import annotations

import math
from statistics import NormalDist

__all__ = ["ppf", "cdf", "pdf", "sf"]

_NORMAL = NormalDist()


def ppf(q: float) -> float:
    """Standard normal quantile of ``q``; ``-inf``/``inf`` at 0/1 and ``nan`` outside [0, 1] (as
    ``scipy.stats.norm.ppf``)."""
    q = float(q)
    if not 0.0 <= q <= 1.0 or math.isnan(q):
        return math.nan
    if q in (0.0, 1.0):
        return -math.inf if q == 0.0 else math.inf
    return _NORMAL.inv_cdf(q)


def cdf(x: float) -> float:
    """Standard normal cumulative distribution function."""
    return _NORMAL.cdf(x)


def pdf(x: float) -> float:
    """Standard normal density."""
    return _NORMAL.pdf(x)


def sf(z: float) -> float:
    """Standard normal survival function ``1 - cdf(z)``, via ``erfc`` (accurate in the upper tail)."""
    return 0.5 * math.erfc(float(z) / math.sqrt(2.0))
