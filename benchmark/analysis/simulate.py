"""Seeded simulations that check the intervals and tests of :mod:`fakebench.analysis.intervals` and
:mod:`fakebench.analysis.paired` where it matters: small test sets with known truth.

* **Single-set coverage** (:func:`coverage_single_set`): equal-variance binormal scores, reals ~ N(0, 1), fakes ~
  N(d, 1) with ``d = sqrt(2) Phi^-1(AUC)``, decisions ``score > d / 2`` (so the true real acc = fake acc = acc =
  ``Phi(d / 2)``), true AP = :func:`fakebench.analysis.intervals.binormal_ap` at the set's prevalence. Reports how
  often each 95% interval covers the truth, its mean width and how often it has zero width.
* **Mean over sets** (:func:`coverage_set_mean`): K per-set true values drawn from a Beta distribution (skewed, like
  accuracies or AUCs of a detector over generators), each observed through a binomial test set of ``n`` images;
  the target is the population mean of the Beta.
* **Paired type-I error** (:func:`paired_type1`): two detectors with the SAME score distribution (scores share a
  latent part with correlation ``rho``), so every null hypothesis (equal AUC, equal AP, equal accuracy) is true;
  reports the rejection rate at ``alpha`` of DeLong's test, the paired AP test and McNemar's test, and how often
  each was suppressed for too few images.

``tools/coverage_sim.py`` runs the full grid with more replicates; ``tests/test_coverage.py`` a fast seeded subset.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["binormal_scores", "coverage_single_set", "coverage_set_mean", "paired_type1"]


def binormal_scores(rng: np.random.Generator, n_real: int, n_fake: int, auc: float) -> tuple[np.ndarray, np.ndarray]:
    """``(y, score)``: ``n_real`` zeros then ``n_fake`` ones; scores N(0, 1) / N(d, 1), ``d = sqrt(2) Phi^-1(auc)``."""
    d = math.sqrt(2.0) * stats.norm.ppf(auc)
    y = np.r_[np.zeros(n_real, np.int64), np.ones(n_fake, np.int64)]
    return y, rng.normal(d * y, 1.0)


def coverage_single_set(n_real: int, n_fake: int, auc: float, *, reps: int = 200, n_boot: int = 500,
                        seed: int = 0, level: float = 0.95, with_ap: bool = True) -> dict[str, dict[str, float]]:
    """Coverage of the per-set intervals (:func:`fakebench.analysis.intervals.metric_intervals`) by simulation.

    Args:
        n_real, n_fake: images per simulated set. auc: the population AUC. reps: simulated sets. n_boot: AP
        bootstrap resamples. seed: RNG seed. level: nominal coverage. with_ap: also the AP interval (the slow one).

    Returns:
        ``{metric: {"coverage", "mean_width", "zero_width", "truth"}}`` for acc, real_acc, fake_acc, auc and (with
        ``with_ap``) ap (fractions), and then ``"ap_bias": {"mean_sample_ap", "truth", "bias"}``.
    """
    from fakebench.analysis.bootstrap import weighted_metrics
    from fakebench.analysis.intervals import binormal_ap, metric_intervals

    d = math.sqrt(2.0) * stats.norm.ppf(auc)
    rate = float(stats.norm.cdf(d / 2.0))
    truth = {"acc": rate, "real_acc": rate, "fake_acc": rate, "auc": float(auc),
             "ap": binormal_ap(auc, n_fake / (n_fake + n_real))}
    if not with_ap:
        del truth["ap"]
    rng = np.random.default_rng(seed)
    hits = {k: 0 for k in truth}
    width = {k: 0.0 for k in truth}
    zero = {k: 0 for k in truth}
    ap_sum = 0.0
    for i in range(reps):
        y, s = binormal_scores(rng, n_real, n_fake, auc)
        ci = metric_intervals(y, s, threshold=d / 2.0, n_boot=n_boot if with_ap else 0, seed=[seed, i], level=level)
        if with_ap:  # the sample AP (equals sklearn's average_precision_score, tested in test_analysis_stats)
            ap_sum += float(weighted_metrics(np.ones((1, y.size)), y, s, metrics=("ap",))["ap"][0])
        for k in truth:
            lo, hi = ci[k]
            hits[k] += lo <= truth[k] <= hi
            width[k] += hi - lo
            zero[k] += hi - lo <= 0
    out = {k: {"coverage": hits[k] / reps, "mean_width": width[k] / reps, "zero_width": zero[k] / reps,
               "truth": truth[k]} for k in truth}
    if with_ap:
        out["ap_bias"] = {"mean_sample_ap": ap_sum / reps, "truth": truth["ap"], "bias": ap_sum / reps - truth["ap"]}
    return out


def coverage_set_mean(k: int, *, reps: int = 2000, n_images: int = 100, a: float = 6.0, b: float = 2.0,
                      seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """Coverage of :func:`fakebench.analysis.intervals.set_mean_interval` for K sets (per-set truth ~ Beta(a, b),
    observed as ``Binomial(n_images, truth) / n_images``); target: the Beta mean ``a / (a + b)``.

    Returns:
        ``{"coverage", "mean_width", "k", "target", "no_interval"}`` (``no_interval``: fraction without an interval).
    """
    from fakebench.analysis.intervals import set_mean_interval

    rng = np.random.default_rng(seed)
    target = a / (a + b)
    hits, width, missing = 0, 0.0, 0
    for _ in range(reps):
        truth = rng.beta(a, b, size=k)
        values = rng.binomial(n_images, truth) / n_images
        lo, hi = set_mean_interval(values, level=level)["ci"]
        if math.isnan(lo):
            missing += 1
            continue
        hits += lo <= target <= hi
        width += hi - lo
    done = max(reps - missing, 1)
    return {"coverage": hits / done, "mean_width": width / done, "k": k, "target": target,
            "no_interval": missing / reps}


def paired_type1(n_real: int, n_fake: int, *, auc: float = 0.85, rho: float = 0.5, reps: int = 400,
                 n_boot: int = 300, alpha: float = 0.05, seed: int = 0) -> dict[str, dict[str, float]]:
    """Type-I error of the paired tests when both detectors have the same score distribution.

    Returns:
        ``{test: {"reject", "suppressed", "tested"}}`` for ``delong``, ``ap_bootstrap`` and ``mcnemar``: the
        rejection rate at ``alpha`` among the replicates where a p-value was given, the fraction suppressed (too few
        images) and the number tested.
    """
    from fakebench.analysis.paired import delong_test, mcnemar_test, paired_bootstrap

    d = math.sqrt(2.0) * stats.norm.ppf(auc)
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n_real, np.int64), np.ones(n_fake, np.int64)]
    counts = {t: {"reject": 0, "suppressed": 0, "tested": 0} for t in ("delong", "ap_bootstrap", "mcnemar")}
    for i in range(reps):
        shared = rng.normal(size=y.size)
        sa = d * y + math.sqrt(rho) * shared + math.sqrt(1 - rho) * rng.normal(size=y.size)
        sb = d * y + math.sqrt(rho) * shared + math.sqrt(1 - rho) * rng.normal(size=y.size)
        results = {"delong": delong_test(y, sa, sb)["p_value"],
                   "ap_bootstrap": paired_bootstrap(y, sa, sb, metric="ap", n_boot=n_boot, seed=[seed, i])["p_value"],
                   "mcnemar": mcnemar_test(y, (sa > d / 2).astype(int), (sb > d / 2).astype(int))["p_value"]}
        for test, p in results.items():
            if p is None or math.isnan(p):
                counts[test]["suppressed"] += 1
            else:
                counts[test]["tested"] += 1
                counts[test]["reject"] += p < alpha
    return {t: {"reject": c["reject"] / max(c["tested"], 1), "suppressed": c["suppressed"] / reps,
                "tested": c["tested"]} for t, c in counts.items()}
