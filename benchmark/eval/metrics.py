"""Pure metric functions for binary real/fake detection (fake = positive class 1).

Definitions follow the official evaluation code of CNNDetection/NPR/UnivFD (``validate.py``):

* **accuracy**: fraction of images whose decision ``prob > threshold`` (strict, threshold 0.5) equals the label;
* **real acc** / **fake acc**: the same accuracy restricted to real (label 0) / fake (label 1) images;
* **AP** (average precision): ``sum_n (R_n - R_{n-1}) P_n`` over the distinct score thresholds in decreasing order,
  the step-wise definition scikit-learn's ``average_precision_score`` uses (no interpolation);
* **ROC-AUC**: the probability that a random fake scores above a random real, ties counting one half
  (Mann-Whitney U / (n_real * n_fake)).

Every function takes 1-D arrays ``y_true`` (int {0, 1}, shape (N,)) and ``scores`` (float, shape (N,), higher = more
likely fake) and returns a Python float; values are fractions in [0, 1] (multiply by 100 for the papers' percent).
Undefined values (AP or AUC with one class only, accuracy of an empty subset) are ``nan``. AP and ROC-AUC are
computed here in numpy from the definitions above (so scoring never imports scikit-learn, which costs about 0.7 s and
tens of MB per process); the tests check them against ``sklearn.metrics.average_precision_score`` /
``roc_auc_score`` to 1e-12 on seeded random inputs with ties, and against the definitions written out (pair counts, a
hand example).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["accuracy", "real_accuracy", "fake_accuracy", "average_precision", "roc_auc", "binary_metrics"]


def _validate(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1 or y.shape != s.shape:
        raise ValueError(f"Expected y_true and scores to be 1-D arrays of equal length, but got shapes {y.shape} and "
                         f"{s.shape}.")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError(f"Expected y_true to hold only 0 (real) and 1 (fake), but got values {np.unique(y)[:5]}.")
    if np.isnan(s).any():
        raise ValueError("Expected scores without NaN; drop unreadable images before scoring.")
    return y.astype(np.int64), s


def accuracy(y_true, scores, threshold: float = 0.5) -> float:
    """Fraction of correct decisions ``scores > threshold``; ``nan`` for empty input."""
    y, s = _validate(y_true, scores)
    return float(np.mean((s > threshold).astype(np.int64) == y)) if y.size else math.nan


def real_accuracy(y_true, scores, threshold: float = 0.5) -> float:
    """Accuracy on real images (label 0) only; ``nan`` when there are none."""
    y, s = _validate(y_true, scores)
    return accuracy(y[y == 0], s[y == 0], threshold)


def fake_accuracy(y_true, scores, threshold: float = 0.5) -> float:
    """Accuracy on fake images (label 1) only; ``nan`` when there are none."""
    y, s = _validate(y_true, scores)
    return accuracy(y[y == 1], s[y == 1], threshold)


def _finite_ranking(s: np.ndarray) -> np.ndarray:
    """Same order, finite values: +-inf (a saturated logit) become just above/below the finite range, so
    scikit-learn's ranking metrics accept them; AP and AUC only depend on the order."""
    if np.isfinite(s).all():
        return s
    finite = s[np.isfinite(s)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    return np.where(s == np.inf, hi + 1.0, np.where(s == -np.inf, lo - 1.0, s))


def average_precision(y_true, scores) -> float:
    """Step-wise average precision with fake as the positive class, ``sum_n (R_n - R_{n-1}) P_n`` over the distinct
    scores in decreasing order (the definition of ``sklearn.metrics.average_precision_score``, equal to it within
    1e-12); ``nan`` without both classes."""
    y, s = _validate(y_true, scores)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        return math.nan
    s = _finite_ranking(s)
    order = np.argsort(-s, kind="stable")
    ranked, hits = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(ranked)), y.size - 1]  # last image of each group of tied scores
    tps = np.cumsum(hits)[last].astype(np.float64)  # fakes at or above each distinct threshold
    precision = tps / (last + 1)
    return float(np.sum(np.diff(np.r_[0.0, tps]) / n_pos * precision))


def roc_auc(y_true, scores) -> float:
    """Area under the ROC curve: the Mann-Whitney U over ``n_real * n_fake``, ties counting 1/2 (equal to
    ``sklearn.metrics.roc_auc_score`` within 1e-12); ``nan`` without both classes."""
    y, s = _validate(y_true, scores)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        return math.nan
    _, inverse, counts = np.unique(_finite_ranking(s), return_inverse=True, return_counts=True)
    mid_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based average rank of each distinct score
    n_neg = y.size - n_pos
    u = float(mid_rank[inverse.reshape(-1)][y == 1].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def binary_metrics(y_true, scores, *, threshold: float | None = 0.5, continuous: bool = True,
                   ranking=None) -> dict[str, float]:
    """All metrics of one group of images.

    Args:
        y_true: ``(N,)`` labels (0 real, 1 fake).
        scores: ``(N,)`` fake probabilities.
        threshold: decision threshold (``>``), or ``None`` for a score-only detector (no natural threshold): the
            accuracies are then ``nan``, AP and AUC are computed from the scores as usual.
        continuous: whether ``scores`` are continuous; when ``False`` (hard 0/1 labels) AP and AUC are ``nan``
            rather than numbers that would only reflect one operating point.
        ranking: optional ``(N,)`` scores in the same order as ``scores`` (e.g. logits) used for AP and AUC instead
            of ``scores``: both metrics only depend on the ranking, and logits keep it where float32 probabilities
            saturate at 0 or 1.

    Returns:
        ``{"n", "n_real", "n_fake", "acc", "real_acc", "fake_acc", "ap", "auc"}``; counts are ints, the rest
        fractions in [0, 1] or ``nan``.
    """
    y, s = _validate(y_true, scores)
    r = s if ranking is None else _validate(y_true, ranking)[1]
    no_threshold = threshold is None
    return {
        "n": int(y.size), "n_real": int((y == 0).sum()), "n_fake": int((y == 1).sum()),
        "acc": math.nan if no_threshold else accuracy(y, s, threshold),
        "real_acc": math.nan if no_threshold else real_accuracy(y, s, threshold),
        "fake_acc": math.nan if no_threshold else fake_accuracy(y, s, threshold),
        "ap": average_precision(y, r) if continuous else math.nan,
        "auc": roc_auc(y, r) if continuous else math.nan,
    }
