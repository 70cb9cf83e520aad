"""Input checks shared by the analysis modules: labels and scores as 1-D arrays of equal length."""

from __future__ import annotations

import numpy as np

__all__ = ["labels_and_scores"]


def labels_and_scores(y, score, *, name: str = "score", allow_inf: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(y, score)`` as ``(N,)`` int64 labels (0 real / 1 fake) and ``(N,)`` float64 scores.

    Args:
        y: labels, 0 real / 1 fake.
        score: one score per label (fake probability or logit; higher = more fake).
        name: what the scores are called in messages.
        allow_inf: accept +-inf (ranking-only uses); NaN is always refused.

    Raises:
        ValueError: not 1-D of equal length, labels other than 0/1, or NaN (or inf, unless allowed) scores.
    """
    y = np.asarray(y)
    s = np.asarray(score, dtype=np.float64)
    if y.ndim != 1 or s.shape != y.shape:
        raise ValueError(f"Expected y and {name} to be 1-D arrays of equal length, but got shapes {y.shape} and "
                         f"{s.shape}.")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError(f"Expected y to hold only 0 (real) and 1 (fake), but got values {np.unique(y)[:5]}.")
    bad = np.isnan(s) if allow_inf else ~np.isfinite(s)
    if bad.any():
        raise ValueError(f"Expected {'' if allow_inf else 'finite '}{name} values (no NaN"
                         f"{'' if allow_inf else '/inf'}); drop unreadable images first.")
    return y.astype(np.int64), s
