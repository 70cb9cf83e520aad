"""The numbers behind the report's figures: ROC, precision-recall and DET curves with operating points, reliability
bins, and the most confident errors. Pure functions of arrays and frames; no plotting.

Curves come from scikit-learn (``roc_curve``, ``precision_recall_curve``, ``det_curve``) on the score AP/AUC were
ranked by (see :mod:`fakebench.report.data`); fake is the positive class. The ROC curve keeps sklearn's
``drop_intermediate=True`` points, which leave its trapezoidal area unchanged, so the area under the plotted curve is
the reported ROC-AUC. Curves longer than ``max_points`` are thinned (evenly by index, end points kept) for plotting
and embedding, and coordinates are rounded to 9 decimals; the reported area is computed before thinning.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import det_curve, precision_recall_curve, roc_curve

__all__ = ["curve_data", "reliability_data", "confident_errors", "MAX_POINTS"]

#: At most this many points per plotted (and embedded) curve; ROC areas are computed before thinning.
MAX_POINTS = 400


def _thin(*arrays: np.ndarray, max_points: int) -> list[np.ndarray]:
    n = arrays[0].size
    if n <= max_points:
        return list(arrays)
    keep = np.unique(np.r_[np.linspace(0, n - 1, max_points).round().astype(int), 0, n - 1])
    return [a[keep] for a in arrays]


def _floats(values: np.ndarray) -> list[float]:
    return [round(float(v), 9) for v in values]


def curve_data(y: np.ndarray, prob: np.ndarray, score: np.ndarray, *, score_is_logit: bool,
               calibrated: float | None = None, max_points: int = MAX_POINTS, natural_threshold: bool = True) -> dict[str, Any]:
    """ROC, precision-recall and DET curves of one group of images, with operating points.

    Args:
        y: ``(N,)`` int labels, 0 real / 1 fake, both classes present.
        prob: ``(N,)`` fake probabilities in [0, 1] (the operating points are decisions ``prob > t``).
        score: ``(N,)`` ranking score (logit or probability), higher = more fake.
        score_is_logit: whether ``score`` is a logit (recorded; thresholds of the EER point are in its units).
        calibrated: a calibrated threshold on ``prob``, marked when given.
        natural_threshold: whether ``prob`` is a fake probability with the 0.5 decision (marked as the point
            ``threshold 0.5``); ``False`` for a score-only detector (``prob`` is then a score: no such point).
        max_points: thin longer curves to this many points for plotting.

    Returns:
        ``{"n_real", "n_fake", "auc", "roc": {"fpr", "tpr"}, "pr": {"recall", "precision"},
        "det": {"fpr", "fnr"}, "points": {name: {"fpr", "tpr", "threshold"}}, "operating": {...}}`` (fractions;
        ``auc`` is the trapezoidal area under the full ROC curve; ``operating`` is
        :func:`fakebench.analysis.operating.operating_points` of ``score``).

    Raises:
        ValueError: one class is missing, or arrays differ in shape.
    """
    from fakebench.analysis.operating import operating_points

    y = np.asarray(y, dtype=np.int64)
    prob = np.asarray(prob, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    if not (y.shape == prob.shape == score.shape) or not 0 < y.sum() < y.size:
        raise ValueError(f"curve_data needs equal-length arrays with both classes; got shapes {y.shape}, "
                         f"{prob.shape}, {score.shape} and {int(y.sum())} fake of {y.size}.")
    fpr, tpr, _ = roc_curve(y, score, drop_intermediate=True)
    auc = float(np.trapezoid(tpr, fpr)) if hasattr(np, "trapezoid") else float(np.trapz(tpr, fpr))
    precision, recall, _ = precision_recall_curve(y, score)
    det_fpr, det_fnr, _ = det_curve(y, score)
    op = operating_points(y, score, threshold=0.0 if score_is_logit else 0.5)
    real, fake = prob[y == 0], prob[y == 1]
    points = {"threshold 0.5": {"fpr": float(np.mean(real > 0.5)), "tpr": float(np.mean(fake > 0.5)),
                                "threshold": 0.5}} if natural_threshold else {}
    points["EER"] = {"fpr": float(op["eer"]), "tpr": float(1 - op["eer"]), "threshold": float(op["eer_threshold"])}
    if calibrated is not None:
        points["calibrated"] = {"fpr": float(np.mean(real > calibrated)), "tpr": float(np.mean(fake > calibrated)),
                                "threshold": float(calibrated)}
    fpr, tpr = _thin(fpr, tpr, max_points=max_points)
    recall, precision = _thin(recall, precision, max_points=max_points)
    det_fpr, det_fnr = _thin(det_fpr, det_fnr, max_points=max_points)
    return {"n_real": int(real.size), "n_fake": int(fake.size), "auc": auc, "score": "logit" if score_is_logit
            else "prob", "roc": {"fpr": _floats(fpr), "tpr": _floats(tpr)},
            "pr": {"recall": _floats(recall), "precision": _floats(precision)},
            "det": {"fpr": _floats(det_fpr), "fnr": _floats(det_fnr)}, "points": points,
            "operating": {k: (float(v) if isinstance(v, (int, float)) else v) for k, v in op.items()}}


def reliability_data(y: np.ndarray, prob: np.ndarray, *, n_bins: int = 15) -> dict[str, Any]:
    """Reliability diagram bins and ECE of fake probabilities.

    Uses :func:`fakebench.analysis.calibration.reliability_curve` (equal-width bins on [0, 1]) and
    :func:`~fakebench.analysis.calibration.ece`.

    Returns:
        ``{"bins": [{"bin_lo", "bin_hi", "mean_prob", "frac_fake", "count"}, ...], "ece": float,
        "ece_if_calibrated": float}`` (empty bins dropped; the last is the ECE a perfectly calibrated detector would
        show with these probabilities at this n, :func:`~fakebench.analysis.calibration.ece_if_calibrated`).
    """
    from fakebench.analysis.calibration import ece, ece_if_calibrated, reliability_curve

    frame = reliability_curve(y, prob, n_bins=n_bins)
    frame = frame[frame["count"] > 0]
    bins = [{"bin_lo": float(r.bin_lo), "bin_hi": float(r.bin_hi), "mean_prob": float(r.mean_prob),
             "frac_fake": float(r.frac_fake), "count": int(r.count)} for r in frame.itertuples()]
    return {"bins": bins, "ece": float(ece(y, prob, n_bins=n_bins)),
            "ece_if_calibrated": float(ece_if_calibrated(prob, n_bins=n_bins, n_sim=200, seed=0)["expected"])}


def confident_errors(own: pd.DataFrame, *, n: int, threshold: float = 0.5) -> dict[str, list[dict[str, Any]]]:
    """The most confident errors of one test set.

    Real images called fake (``prob > threshold``) with the highest fake probability, and fake images called real
    with the lowest, ranked by the logit when every row has one (probabilities saturate at 0/1 in float32), else by
    the probability; ties broken by image path.

    Args:
        own: prediction rows of one set (``image``, ``label``, ``prob``, optional ``logit``).
        n: at most this many per class.
        threshold: decision threshold on ``prob``.

    Returns:
        ``{"real": [{"image", "prob", "logit"}, ...], "fake": [...]}``, most confident first.
    """
    frame = own.copy()
    rank_col = "logit" if "logit" in frame and frame["logit"].notna().all() else "prob"
    out: dict[str, list[dict[str, Any]]] = {}
    for cls, label, wrong, ascending in (("real", 0, frame["prob"] > threshold, False),
                                         ("fake", 1, ~(frame["prob"] > threshold), True)):
        errors = frame[(frame["label"] == label) & wrong]
        errors = errors.sort_values([rank_col, "image"], ascending=[ascending, True], kind="mergesort").head(n)
        out[cls] = [{"image": str(r.image), "prob": float(r.prob),
                     "logit": None if "logit" not in frame or pd.isna(r.logit) else float(r.logit)}
                    for r in errors.itertuples()]
    return out


def finite(value: Any) -> bool:
    """Whether ``value`` is a finite number."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
