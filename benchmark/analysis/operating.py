"""Operating points of a real/fake detector: TPR at a fixed FPR, EER, balanced accuracy, fitted and oracle thresholds.

Fake is the positive class. A decision rule is ``score > t`` = fake (strict, as the official CNNDetection/NPR/UnivFD
``validate.py`` uses ``prob > 0.5``), so

* **FPR** = fraction of real images called fake, **TPR** = fraction of fake images called fake, **FNR** = 1 - TPR;
* the rules that can be told apart on a sample are ``t`` = each distinct score, plus one ``t`` below the smallest
  score (everything fake). All functions here sweep exactly these candidate thresholds (the points of the empirical ROC
  curve, as ``sklearn.metrics.roc_curve`` with ``drop_intermediate=False``);
* thresholds are returned in the units of ``score`` (fake probability or logit, whichever was given).

A threshold chosen on the test images themselves (the **oracle** threshold) is optimistic: it peeks at the labels
it is scored on. For an honest number fit the threshold on a separate calibration split with :func:`fit_threshold`
and score the test images at it (``operating_points(y_test, s_test, threshold=t)["acc_at_threshold"]``).

References: Fawcett, "An introduction to ROC analysis", Pattern Recognition Letters 27 (2006) (ROC points, TPR at
FPR); the EER is the point where the ROC curve crosses FPR = FNR, linearly interpolated between the two neighbouring
ROC points (as in speaker verification and face anti-spoofing reports).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fakebench.analysis._arrays import labels_and_scores

__all__ = ["OPERATING_KEYS", "OPTIMISTIC_KEYS", "operating_points", "fit_threshold", "threshold_sweep",
           "min_reals_for_fpr", "fitted_fpr_interval", "operating_intervals"]

#: Keys of :func:`operating_points`, in report order.
OPERATING_KEYS = ("tpr_at_fpr_1", "tpr_at_fpr_5", "eer", "eer_threshold", "balanced_acc", "acc_at_threshold",
                  "oracle_threshold", "oracle_acc")
#: Keys fitted on the test labels themselves: optimistic upper bounds, never averaged into a mean or a headline.
OPTIMISTIC_KEYS = ("oracle_threshold", "oracle_acc")
_TPR_AT = (("tpr_at_fpr_1", 0.01), ("tpr_at_fpr_5", 0.05))


def min_reals_for_fpr(fpr: float) -> int:
    """Fewest real images for a TPR at this FPR: ``ceil(10 / fpr)`` (10 false positives allowed at the target).

    With fewer reals the FPR can only take values ``0, 1/n, 2/n, ...``; below ``1/fpr`` reals "TPR at 1% FPR" is in
    fact TPR at 0% FPR, and with fewer than 10 allowed false positives its FPR on new images varies by more than
    +-60% of the target (binomial). Stated as ``"n/a: needs N reals"``.

    >>> min_reals_for_fpr(0.01), min_reals_for_fpr(0.05)
    (1000, 200)
    """
    return int(math.ceil(10.0 / float(fpr) - 1e-9))


def fitted_fpr_interval(n_real: int, fpr_target: float, *, level: float = 0.95) -> dict[str, float]:
    """Out-of-sample FPR of a threshold fitted on ``n_real`` calibration reals to allow at most ``fpr_target``.

    The fitted rule lets ``k = floor(fpr_target * n_real)`` calibration reals above the threshold, i.e. the threshold
    is the ``(n_real - k)``-th order statistic of the real scores. For continuous scores the share of NEW reals
    above it is ``Beta(k + 1, n_real - k)`` distributed (order statistics of the uniform), whatever the score
    distribution: expected ``(k + 1) / (n_real + 1)``, which exceeds the target at small ``n_real``
    (40 reals at 5%: 7.3%).

    Returns:
        ``{"target", "n_real", "expected_fpr", "lo", "hi"}`` (fractions; ``lo``/``hi`` the central ``level``
        interval of the Beta).
    """
    from scipy import stats

    n_real = int(n_real)
    if n_real < 1:
        raise ValueError(f"Expected at least 1 calibration real, got {n_real}.")
    k = int(math.floor(float(fpr_target) * n_real + 1e-12))
    if k >= n_real:
        return {"target": float(fpr_target), "n_real": n_real, "expected_fpr": 1.0, "lo": 1.0, "hi": 1.0}
    dist = stats.beta(k + 1, n_real - k)
    lo, hi = dist.ppf([(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return {"target": float(fpr_target), "n_real": n_real, "expected_fpr": float(dist.mean()), "lo": float(lo),
            "hi": float(hi)}


def _validate(y, score) -> tuple[np.ndarray, np.ndarray]:
    return labels_and_scores(y, score, name="score")


def threshold_sweep(y, score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every distinguishable decision rule ``score > t`` on this sample.

    Args:
        y: ``(N,)`` int labels, 0 real / 1 fake; both classes must be present.
        score: ``(N,)`` float, higher = more likely fake (fake probability or logit), finite.

    Returns:
        ``(thresholds, fpr, tpr)``, each ``(M + 1,)`` float64 for ``M`` distinct scores: ``thresholds`` ascending
        (the first is just below the smallest score, i.e. everything fake), ``fpr``/``tpr`` the fractions of
        real/fake images with ``score > t`` (both non-increasing).

    Raises:
        ValueError: bad shapes or labels, non-finite scores, or a class is missing.
    """
    y, s = _validate(y, score)
    n_fake = int(y.sum())
    n_real = y.size - n_fake
    if n_fake == 0 or n_real == 0:
        raise ValueError(f"Need both real and fake images for a threshold sweep, but got {n_real} real and {n_fake} "
                         f"fake.")
    uniq = np.unique(s)
    thresholds = np.r_[np.nextafter(uniq[0], -np.inf), uniq]
    real_sorted, fake_sorted = np.sort(s[y == 0]), np.sort(s[y == 1])
    fpr = 1.0 - np.searchsorted(real_sorted, thresholds, side="right") / n_real
    tpr = 1.0 - np.searchsorted(fake_sorted, thresholds, side="right") / n_fake
    return thresholds, fpr, tpr


def _eer(thresholds: np.ndarray, fpr: np.ndarray, tpr: np.ndarray) -> tuple[float, float]:
    """(EER interpolated at the FPR = FNR crossing, candidate threshold with the smallest |FPR - FNR|)."""
    fnr = 1.0 - tpr
    gap = fpr - fnr  # non-increasing in t: +1 at the first rule (all fake), -1 at the last (all real)
    best = int(np.argmin(np.abs(gap)))
    zero = np.flatnonzero(gap == 0)
    if zero.size:
        return float(fpr[zero[0]]), float(thresholds[best])
    k = int(np.argmax(gap < 0))  # first rule past the crossing; k >= 1 because gap[0] = 1
    a, b = gap[k - 1], gap[k]  # a > 0 > b
    w = a / (a - b)
    return float(fpr[k - 1] + w * (fpr[k] - fpr[k - 1])), float(thresholds[best])


def fit_threshold(y_cal, score_cal, *, target: Any = "eer") -> float:
    """A decision threshold fitted on a calibration split (images disjoint from the test images).

    Args:
        y_cal: ``(N,)`` int labels of the calibration images, 0 real / 1 fake; both classes needed.
        score_cal: ``(N,)`` float scores (fake probability or logit; higher = more fake).
        target: ``"eer"`` -- the rule with the smallest |FPR - FNR|; ``"balanced_acc"`` -- the rule with the
            highest balanced accuracy (mean of real acc and fake acc); ``("fpr", x)`` -- the rule with the highest TPR
            among those with FPR <= x (x a fraction, e.g. 0.05), i.e. the lowest such threshold. Ties go to the
            lowest threshold.

    Returns:
        The threshold ``t`` (units of ``score_cal``); decide fake when ``score > t``.

    Raises:
        ValueError: unknown target, bad input, or a class missing from the calibration split.
    """
    try:
        thresholds, fpr, tpr = threshold_sweep(y_cal, score_cal)
    except ValueError as exc:
        if "Need both" in str(exc):
            raise ValueError(f"fit_threshold needs both real and fake calibration images: {exc}") from exc
        raise
    if target == "eer":
        return _eer(thresholds, fpr, tpr)[1]
    if target == "balanced_acc":
        return float(thresholds[int(np.argmax(0.5 * ((1.0 - fpr) + tpr)))])
    if isinstance(target, (tuple, list)) and len(target) == 2 and target[0] == "fpr":
        x = float(target[1])
        if not 0.0 <= x <= 1.0:
            raise ValueError(f"Expected the FPR target in [0, 1] (a fraction), got {x}.")
        ok = np.flatnonzero(fpr <= x + 1e-12)  # fpr is non-increasing: the first admissible rule has the top TPR
        return float(thresholds[ok[0]])
    raise ValueError(f"Unknown target {target!r}; use 'eer', 'balanced_acc' or ('fpr', 0.05).")


def operating_points(y, score, *, threshold: float = 0.5) -> dict[str, Any]:
    """Threshold-free and threshold-dependent operating points of one set of images.

    Args:
        y: ``(N,)`` int labels, 0 real / 1 fake.
        score: ``(N,)`` float scores, higher = more fake (fake probability or logit), finite.
        threshold: decision threshold in the units of ``score`` for ``acc_at_threshold`` and ``balanced_acc``
            (``score > threshold`` = fake). Pass one fitted on a calibration split with :func:`fit_threshold` for an
            honest accuracy.

    Returns:
        Float dict with the :data:`OPERATING_KEYS` (rates are fractions in [0, 1], thresholds in ``score`` units):

        * ``tpr_at_fpr_1`` / ``tpr_at_fpr_5``: the highest TPR of a rule whose FPR is at most 1% / 5% (no
          interpolation: a conservative ROC step); ``nan`` with fewer than :func:`min_reals_for_fpr` reals (1,000 /
          200), with ``notes[key] = "n/a: needs N reals"``;
        * ``eer``: equal error rate, FPR = FNR, interpolated between neighbouring ROC points; ``eer_threshold``: the
          candidate threshold with the smallest |FPR - FNR|;
        * ``balanced_acc``: (real acc + fake acc) / 2 at ``threshold``; ``acc_at_threshold``: accuracy at
          ``threshold``;
        * ``oracle_threshold`` / ``oracle_acc``: the threshold with the best accuracy ON THESE SAME IMAGES and that
          accuracy. OPTIMISTIC (it is fitted on the test labels); report it only as an upper bound, never in a mean
          (:data:`OPTIMISTIC_KEYS`; the dict also carries ``"optimistic": list(OPTIMISTIC_KEYS)``).

        ``notes`` (a dict, only when something is n/a for size) and ``optimistic`` are not floats. Everything
        except ``acc_at_threshold`` is ``nan`` when one class is missing (and all are for empty input).

    Raises:
        ValueError: bad shapes, labels other than 0/1, non-finite scores.
    """
    y, s = _validate(y, score)
    out = {k: math.nan for k in OPERATING_KEYS}
    if y.size:
        out["acc_at_threshold"] = float(np.mean((s > threshold).astype(np.int64) == y))
    n_fake = int(y.sum())
    if n_fake == 0 or n_fake == y.size:
        return out
    thresholds, fpr, tpr = threshold_sweep(y, s)
    decision = s > threshold
    out["balanced_acc"] = float(0.5 * (np.mean(~decision[y == 0]) + np.mean(decision[y == 1])))
    n_real = y.size - n_fake
    notes = {}
    for key, x in _TPR_AT:
        if n_real >= min_reals_for_fpr(x):
            out[key] = float(tpr[fpr <= x + 1e-12].max())
        else:
            notes[key] = f"n/a: needs {min_reals_for_fpr(x)} reals (has {n_real})"
    out["eer"], out["eer_threshold"] = _eer(thresholds, fpr, tpr)
    acc = ((1.0 - fpr) * n_real + tpr * n_fake) / y.size
    best = int(np.argmax(acc))
    out["oracle_threshold"], out["oracle_acc"] = float(thresholds[best]), float(acc[best])
    out["optimistic"] = list(OPTIMISTIC_KEYS)
    if notes:
        out["notes"] = notes
    return out


def operating_intervals(y, score, *, n_boot: int = 200, seed=0, level: float = 0.95) -> dict[str, list[float]]:
    """Percentile bootstrap intervals (images resampled, stratified by label) of the EER and of the TPR at 1% / 5%
    FPR where the set has enough reals for them (:func:`min_reals_for_fpr`).

    Args:
        y: ``(N,)`` int labels, 0 real / 1 fake. score: ``(N,)`` float scores, finite. n_boot, seed: resampling.
        level: coverage.

    Returns:
        ``{"eer", "tpr_at_fpr_1", "tpr_at_fpr_5": [lo, hi]}`` fractions, each widened to contain the point value;
        ``[nan, nan]`` where the point value is n/a (one class, too few reals) or a class has one image.
    """
    from fakebench.analysis.bootstrap import informative, percentile_interval, resample_counts

    y, s = _validate(y, score)
    point = operating_points(y, s)
    keys = ("eer", "tpr_at_fpr_1", "tpr_at_fpr_5")
    out = {k: [math.nan, math.nan] for k in keys}
    wanted = [k for k in keys if not math.isnan(point[k])]
    if not wanted or not informative(y):
        return out
    reps: dict[str, list[float]] = {k: [] for k in wanted}
    idx = np.arange(y.size)
    for w in resample_counts(y, n_boot=n_boot, seed=seed):
        for row in w.astype(np.int64):
            take = np.repeat(idx, row)
            thresholds, fpr, tpr = threshold_sweep(y[take], s[take])
            for key in wanted:
                if key == "eer":
                    reps[key].append(_eer(thresholds, fpr, tpr)[0])
                else:
                    x = dict(_TPR_AT)[key]
                    reps[key].append(float(tpr[fpr <= x + 1e-12].max()))
    for key in wanted:
        lo, hi = percentile_interval(np.asarray(reps[key]), level)
        out[key] = [float(min(lo, point[key])), float(max(hi, point[key]))]
    return out
