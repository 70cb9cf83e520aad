"""Calibration of the fake probability: reliability curve, ECE, Brier score, NLL, temperature and Platt scaling.

All functions look at the **fake probability** ``p = P(fake | image)`` of a binary real/fake detector (fake = class
1), not at the top-label confidence: the reliability curve plots the fraction of fakes against the mean fake
probability in each bin.

* **Binning**: ``n_bins`` (default 15, as Guo et al. 2017) equal-width bins on [0, 1]; bin ``i`` is
  ``[i/n, (i+1)/n)`` and the last bin is closed, ``[1 - 1/n, 1]``.
* **ECE** (expected calibration error, Naeini et al. AAAI 2015; Guo et al., "On Calibration of Modern Neural
  Networks", ICML 2017): ``sum_b (n_b / N) |frac_fake_b - mean_prob_b|`` over non-empty bins, a fraction in [0, 1].
* **ECE at small n** is large even for a perfectly calibrated detector (binning noise: about 0.18 at n = 40):
  :func:`ece_if_calibrated` gives the ECE expected, at the same n and the same probabilities, when the labels are
  drawn from those probabilities (and its 95th percentile); an observed ECE is only evidence of miscalibration above
  that. :func:`ece_interval` is a percentile bootstrap interval of the ECE.
* **Brier score** (Brier 1950): ``mean (p - y)^2``, in [0, 1].
* **NLL** (log loss, nats per image): ``-mean(y log p + (1 - y) log(1 - p))`` with ``p`` clipped to
  ``[1e-15, 1 - 1e-15]`` so saturated float32 probabilities give a large finite value, not ``inf``.
* **Temperature scaling** (Guo et al. 2017): ``p = sigmoid(logit / T)``, one parameter ``T > 0`` fitted by minimum
  NLL on a calibration split; it does not change the ranking (AP/AUC) nor decisions at logit 0.
* **Platt scaling** (Platt 1999): ``p = sigmoid(a * logit + b)`` fitted by unregularised maximum likelihood (plain
  0/1 targets, without Platt's target smoothing); it can move the 0.5 decision point.

Fit the scalings on images disjoint from the test images, then apply them to the test logits.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


from fakebench.analysis._arrays import labels_and_scores

__all__ = ["reliability_curve", "ece", "ece_if_calibrated", "ece_interval", "brier", "nll", "fit_temperature",
           "apply_temperature", "fit_platt", "apply_platt", "SeparableWarning"]


class SeparableWarning(UserWarning):
    """The calibration split is perfectly separated by the score: Platt's maximum-likelihood slope does not exist."""

_EPS = 1e-15


def _validate(y, prob, *, name: str = "prob") -> tuple[np.ndarray, np.ndarray]:
    y, p = labels_and_scores(y, prob, name=name)
    if name == "prob" and p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError(f"Expected fake probabilities in [0, 1], but got values in [{p.min()}, {p.max()}]; pass "
                         f"probabilities, not logits.")
    return y, p


def reliability_curve(y, prob, *, n_bins: int = 15) -> pd.DataFrame:
    """Reliability diagram data of the fake probability.

    Args:
        y: ``(N,)`` int labels, 0 real / 1 fake.
        prob: ``(N,)`` float fake probabilities in [0, 1].
        n_bins: number of equal-width bins on [0, 1] (last bin closed at 1).

    Returns:
        DataFrame with ``n_bins`` rows (empty bins kept) and columns ``bin_lo``, ``bin_hi`` (bin edges),
        ``mean_prob`` (mean fake probability in the bin, ``nan`` if empty), ``frac_fake`` (fraction of fake images,
        ``nan`` if empty), ``count`` (int images).

    Raises:
        ValueError: bad shapes or labels, probabilities outside [0, 1], ``n_bins < 1``.
    """
    if int(n_bins) < 1:
        raise ValueError(f"Expected n_bins >= 1, got {n_bins}.")
    y, p = _validate(y, prob)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.floor(p * n_bins).astype(np.int64), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    sum_p = np.bincount(which, weights=p, minlength=n_bins)
    sum_y = np.bincount(which, weights=y.astype(np.float64), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_prob = np.where(count > 0, sum_p / count, np.nan)
        frac_fake = np.where(count > 0, sum_y / count, np.nan)
    return pd.DataFrame({"bin_lo": edges[:-1], "bin_hi": edges[1:], "mean_prob": mean_prob, "frac_fake": frac_fake,
                         "count": count.astype(np.int64)})


def ece(y, prob, *, n_bins: int = 15) -> float:
    """Expected calibration error of the fake probability (equal-width bins, see the module docstring).

    Args:
        y: ``(N,)`` int labels, 0 real / 1 fake.
        prob: ``(N,)`` float fake probabilities in [0, 1].
        n_bins: equal-width bins on [0, 1] (default 15).

    Returns:
        ECE as a fraction in [0, 1]; ``nan`` for empty input.
    """
    curve = reliability_curve(y, prob, n_bins=n_bins)
    total = int(curve["count"].sum())
    if total == 0:
        return math.nan
    full = curve[curve["count"] > 0]
    return float(np.sum(full["count"] / total * np.abs(full["frac_fake"] - full["mean_prob"])))


def _ece_rows(y: np.ndarray, p: np.ndarray, n_bins: int) -> np.ndarray:
    """ECE of each row of the ``(R, N)`` label matrix ``y`` (0/1 floats) against the same ``(N,)`` probabilities."""
    which = np.clip(np.floor(p * n_bins).astype(np.int64), 0, n_bins - 1)
    onehot = np.zeros((p.size, n_bins))
    onehot[np.arange(p.size), which] = 1.0
    sum_p = p @ onehot  # (n_bins,)
    sum_y = y @ onehot  # (R, n_bins)
    return np.abs(sum_y - sum_p[None, :]).sum(axis=1) / p.size


def ece_if_calibrated(prob, *, n_bins: int = 15, n_sim: int = 500, seed=0) -> dict[str, float]:
    """The ECE a PERFECTLY calibrated detector would show with these fake probabilities at this n.

    Labels are drawn as ``Bernoulli(prob)`` ``n_sim`` times (seeded) and the ECE of each draw computed with the same
    bins: ``sum_b |sum_{i in b} (y_i - p_i)| / N``, i.e. :func:`ece`.

    Args:
        prob: ``(N,)`` fake probabilities in [0, 1]. n_bins: as :func:`ece`. n_sim: draws. seed: RNG seed.

    Returns:
        ``{"expected": mean ECE, "q95": its 95th percentile, "n": N}`` (fractions); ``nan`` for empty input.
    """
    p = np.asarray(prob, dtype=np.float64)
    if p.ndim != 1 or np.isnan(p).any() or (p.size and (p.min() < 0 or p.max() > 1)):
        raise ValueError("Expected (N,) fake probabilities in [0, 1] without NaN.")
    if p.size == 0:
        return {"expected": math.nan, "q95": math.nan, "n": 0}
    rng = np.random.default_rng(seed)
    vals = []
    step = max(1, 4_000_000 // p.size)
    for start in range(0, n_sim, step):
        draws = (rng.random((min(step, n_sim - start), p.size)) < p[None, :]).astype(np.float64)
        vals.append(_ece_rows(draws, p, n_bins))
    v = np.concatenate(vals)
    return {"expected": float(v.mean()), "q95": float(np.quantile(v, 0.95)), "n": int(p.size)}


def ece_interval(y, prob, *, n_bins: int = 15, n_boot: int = 500, seed=0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the ECE (images resampled, stratified by label), widened to contain the
    ECE; ``(nan, nan)`` for empty input."""
    from fakebench.analysis.bootstrap import percentile_interval, resample_counts

    y, p = _validate(y, prob)
    if not y.size:
        return math.nan, math.nan
    value = ece(y, p, n_bins=n_bins)
    which = np.clip(np.floor(p * n_bins).astype(np.int64), 0, n_bins - 1)
    onehot = np.zeros((p.size, n_bins))
    onehot[np.arange(p.size), which] = 1.0
    reps = []
    for w in resample_counts(y, n_boot=n_boot, seed=seed, stratified=bool(0 < y.sum() < y.size)):
        gap = (w * (y - p)[None, :]) @ onehot
        reps.append(np.abs(gap).sum(axis=1) / w.sum(axis=1))
    lo, hi = percentile_interval(np.concatenate(reps), level)
    return float(min(lo, value)), float(max(hi, value))


def brier(y, prob) -> float:
    """Brier score ``mean (prob - y)^2`` in [0, 1] (lower is better); ``nan`` for empty input.

    Args:
        y: ``(N,)`` int labels, 0 real / 1 fake.
        prob: ``(N,)`` float fake probabilities in [0, 1].
    """
    y, p = _validate(y, prob)
    return float(np.mean((p - y) ** 2)) if y.size else math.nan


def nll(y, prob) -> float:
    """Mean negative log-likelihood (log loss, nats per image) of the labels under ``prob``; ``nan`` if empty.

    Args:
        y: ``(N,)`` int labels, 0 real / 1 fake.
        prob: ``(N,)`` float fake probabilities in [0, 1], clipped to ``[1e-15, 1 - 1e-15]``.
    """
    y, p = _validate(y, prob)
    if not y.size:
        return math.nan
    p = np.clip(p, _EPS, 1.0 - _EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def _logit_nll(y: np.ndarray, z: np.ndarray) -> float:
    """Mean NLL of labels under ``sigmoid(z)``, computed stably from logits."""
    from scipy.special import log_expit  # scipy only where a fit needs it: scoring alone never imports it

    return float(-np.mean(y * log_expit(z) + (1 - y) * log_expit(-z)))


def _both_classes(y: np.ndarray, what: str) -> None:
    n_fake = int(y.sum())
    if n_fake == 0 or n_fake == y.size:
        raise ValueError(f"{what} needs both real and fake calibration images, but got {y.size - n_fake} real and "
                         f"{n_fake} fake.")


def fit_temperature(y, logit) -> float:
    """Temperature ``T`` minimising the NLL of ``sigmoid(logit / T)`` on a calibration split (Guo et al. 2017).

    Args:
        y: ``(N,)`` int labels of the calibration images, 0 real / 1 fake (both classes needed).
        logit: ``(N,)`` float logits (fake = positive), finite.

    Returns:
        ``T`` in [1e-3, 1e3] (``T > 1`` softens over-confident probabilities).

    Raises:
        ValueError: bad input or a class missing.
    """
    y, z = _validate(y, logit, name="logit")
    _both_classes(y, "fit_temperature")
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(lambda log_t: _logit_nll(y, z / math.exp(log_t)), bounds=(math.log(1e-3), math.log(1e3)),
                          method="bounded", options={"xatol": 1e-8})
    return float(math.exp(res.x))


def apply_temperature(logit, temperature: float) -> np.ndarray:
    """Fake probabilities ``sigmoid(logit / T)``, ``(N,)`` float64."""
    if not temperature > 0:
        raise ValueError(f"Expected a temperature > 0, got {temperature}.")
    from scipy.special import expit

    return expit(np.asarray(logit, dtype=np.float64) / temperature)


def fit_platt(y, logit) -> tuple[float, float]:
    """Platt scaling ``p = sigmoid(a * logit + b)`` fitted by maximum likelihood on a calibration split.

    Args:
        y: ``(N,)`` int labels of the calibration images, 0 real / 1 fake (both classes needed).
        logit: ``(N,)`` float logits or any score (fake = positive), finite.

    Returns:
        ``(a, b)`` floats: slope and intercept (unregularised MLE, BFGS from ``(1, 0)``).

    Warns:
        SeparableWarning: the logits separate the classes perfectly (every fake above every real, or the reverse):
            the likelihood has no maximum, the slope grows until the optimiser stops, so ``a`` is arbitrary. Fit on
            more (and harder) calibration images, or use temperature scaling.

    Raises:
        ValueError: bad input or a class missing.
    """
    import warnings

    y, z = _validate(y, logit, name="logit")
    _both_classes(y, "fit_platt")
    real, fake = z[y == 0], z[y == 1]
    if real.max() < fake.min() or fake.max() < real.min():
        warnings.warn(f"fit_platt: the {real.size} real and {fake.size} fake calibration logits are perfectly "
                      f"separated, so Platt scaling has no maximum-likelihood fit and the slope is arbitrary; fit on "
                      f"more calibration images or use fit_temperature.", SeparableWarning, stacklevel=2)
    from scipy.optimize import minimize
    from scipy.special import expit

    def loss_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        u = theta[0] * z + theta[1]
        r = expit(u) - y  # d NLL / d u per image
        return _logit_nll(y, u), np.array([np.mean(r * z), np.mean(r)])

    res = minimize(loss_grad, np.array([1.0, 0.0]), jac=True, method="BFGS")
    return float(res.x[0]), float(res.x[1])


def apply_platt(logit, a: float, b: float) -> np.ndarray:
    """Fake probabilities ``sigmoid(a * logit + b)``, ``(N,)`` float64."""
    from scipy.special import expit

    return expit(a * np.asarray(logit, dtype=np.float64) + b)
