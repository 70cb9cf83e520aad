"""Confidence intervals that stay honest at the sample sizes benchmarks have (20 images of a class, 5 test sets).

Each method was chosen for coverage at small ``n`` (checked by the seeded simulations in ``tests/test_coverage.py``
and ``tools/coverage_sim.py``: >= 90% at nominal 95% for 20+20 and 50+50 images with AUC 0.8, 0.95, 0.99), for never
giving a zero-width interval, and for always containing its own point estimate:

* **Proportions** (accuracy, real acc, fake acc, TPR/TNR at a threshold): the **Wilson score interval** (Wilson,
  JASA 22, 1927; recommended by Brown, Cai & DasGupta, Statistical Science 16, 2001), equal to
  ``statsmodels.stats.proportion.proportion_confint(method="wilson")`` (tested; written out for speed). Wilson
  rather than Clopper-Pearson because Clopper-Pearson's guaranteed >= 95% costs 5-14% more width at n = 20-50 and
  over-covers (~98%), while Wilson's exact coverage averages 95% over true rates in [0.5, 1] at n = 20 and 50 and is
  >= 90% for 99% of them; it dips to 84% only at some true rates within about 1/n of 0 or 1 (n = 20: above 0.97).
  It is never zero-width (5/5 -> [0.57, 1.00]). ``method="clopper-pearson"`` is available where a guaranteed level
  is wanted. Accuracy over reals and fakes is treated as one binomial proportion; with fixed class counts the true
  variance is at most the binomial one, so the interval is slightly conservative.
* **ROC-AUC**: DeLong's variance (DeLong et al., Biometrics 44, 1988) on the **logit scale**
  (``logit(AUC) +- z * se / (AUC (1 - AUC))``, back-transformed; Pepe, "The Statistical Evaluation of Medical Tests",
  2003, sec. 5.2), hulled with **Newcombe's score interval** (Newcombe, Stat. Med. 25, 2006, method 5: the Hanley &
  McNeil variance with ``N* = (m + n) / 2 - 1``, solved for the AUC like a Wilson interval). The score interval
  needs no sample variance, so it stays informative when DeLong's degenerates (a perfectly separated sample: AUC 1,
  DeLong se 0); the hull keeps the coverage of the better of the two near AUC 1.
* **AP** (average precision): the **BCa bootstrap** (Efron, JASA 82, 1987; Efron & Tibshirani 1993 ch. 14) on
  resamples stratified by label (the bias correction ``z0`` pulls the interval down where the sample AP is biased
  upward; the acceleration comes from the jackknife up to 2,000 images, above it ``a = 0``), hulled with a
  **rank-score floor**: Newcombe's score interval evaluated at the AP with the set's class counts, i.e. the
  interval a Mann-Whitney-type rank statistic of that value would have. Alone, BCa covers 89-92% at 20+20 and
  50+50 (the bootstrap cannot see worse-than-observed orderings of a nearly separable sample, and every resample of
  a separable one gives AP = 1); with the floor 93-98% (``tools/coverage_sim.py``). The floor is a heuristic
  validated by that simulation, not a derived variance of AP.
* **Mean over test sets**: Student's **t-interval** over the per-set values (K - 1 degrees of freedom), clipped to
  [0, 1]. It covers the mean over a POPULATION of test sets of which these are a random sample (e.g. "generators
  like these"), not the uncertainty from the images within these fixed sets. With K < 5 sets no interval is given
  (:data:`MIN_SETS`): "too few sets for an interval" (at K = 2 a t-interval spans +-12.7 standard errors, a
  bootstrap over sets gives [min, max] with ~50% coverage). Sets that share a real reference (fake-only sets pooled
  with the same reals) are not independent; their interval is marked ``shared_reference`` and is too narrow to an
  unknown degree.

**AP bias**: the step-wise sample AP is biased upward at small n, most where the detector is mediocre (binormal,
equal classes, measured with 400 replicates by :func:`fakebench.analysis.simulate.coverage_single_set`: +1.4 points
at AUC 0.8 and 20+20, +1.0 at 50+50; +0.3 / +0.2 at AUC 0.95; +0.1 / 0.0 at AUC 0.99), because the top scores of a
small sample are more extreme than the population's. Compare APs only between sets of similar size and class
balance; a difference of AP between two detectors on the SAME images carries the bias on both sides.

All values are fractions in [0, 1]; intervals are ``(lo, hi)`` floats with ``lo <= estimate <= hi``, ``nan`` when
the metric is undefined.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from fakebench.analysis import _normal as normal
from fakebench.analysis import _student_t
from fakebench.analysis._arrays import labels_and_scores

__all__ = ["MIN_SETS", "TOO_FEW_SETS", "proportion_interval", "auc_interval", "newcombe_auc_interval",
           "binormal_ap", "bca_interval", "ap_interval", "metric_intervals", "set_mean_interval", "INTERVAL_METHODS"]

#: Fewest test sets for an interval of their mean.
MIN_SETS = 5
#: What is recorded instead of an interval of a mean over fewer than :data:`MIN_SETS` sets.
TOO_FEW_SETS = "too few sets for an interval"
#: Method names recorded with the intervals of one test set, per metric.
INTERVAL_METHODS = {"acc": "wilson", "real_acc": "wilson", "fake_acc": "wilson", "auc": "delong-logit+newcombe",
                    "ap": "bca+rank-score floor"}
#: Above this many images the BCa acceleration is taken as 0 (the jackknife would need N evaluations of N images).
_JACKKNIFE_MAX = 2000


def _root(f, lo: float, hi: float, *, xtol: float = 1e-12) -> float:
    """The root of a continuous ``f`` with a sign change on ``[lo, hi]`` by bisection, to within ``xtol`` (what
    ``scipy.optimize.brentq`` returns to that tolerance; bisection needs no scipy import)."""
    f_lo = f(lo)
    if f_lo == 0:
        return lo
    while hi - lo > xtol:
        mid = 0.5 * (lo + hi)
        f_mid = f(mid)
        if f_mid == 0:
            return mid
        if (f_mid > 0) == (f_lo > 0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    return 0.5 * (lo + hi)

@functools.lru_cache(maxsize=64)
def _z(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"Expected level in (0, 1), got {level}.")
    return float(normal.ppf(0.5 + level / 2.0))


def proportion_interval(k, n, *, level: float = 0.95, method: str = "wilson") -> tuple[float, float]:
    """Confidence interval of a binomial proportion ``k / n`` (accuracy, real acc, fake acc, TPR, TNR).

    Args:
        k: successes (correct decisions), int in ``[0, n]``.
        n: trials (images), int >= 0.
        level: coverage in (0, 1).
        method: ``"wilson"`` (default, see the module docstring; the closed form, equal to ``statsmodels``'
            ``proportion_confint(method="wilson")``, tested) or ``"clopper-pearson"`` (exact, conservative; Beta
            quantiles via statsmodels).

    Returns:
        ``(lo, hi)`` fractions, ``lo <= k / n <= hi`` and ``hi > lo`` for every ``n >= 1``; ``(nan, nan)`` for
        ``n == 0``.

    Raises:
        ValueError: ``k`` outside ``[0, n]`` or an unknown method.

    >>> [round(v, 3) for v in proportion_interval(20, 20)]
    [0.839, 1.0]
    """
    k, n = int(round(float(k))), int(n)
    if method not in ("wilson", "clopper-pearson"):
        raise ValueError(f"Unknown method {method!r}; use 'wilson' or 'clopper-pearson'.")
    z = _z(float(level))
    if n == 0:
        return math.nan, math.nan
    if not 0 <= k <= n:
        raise ValueError(f"Expected 0 <= k <= n, got k={k}, n={n}.")
    p = k / n
    if method == "wilson":
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2.0 * n)) / denom
        half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denom
        lo, hi = centre - half, centre + half
    else:
        from statsmodels.stats.proportion import proportion_confint

        lo, hi = proportion_confint(k, n, alpha=1.0 - level, method="beta")
    return float(min(max(lo, 0.0), p)), float(max(min(hi, 1.0), p))


def _hanley_mcneil_var(theta: float, m: int, n: int) -> float:
    """Newcombe's (2006) variance of the AUC at ``theta``: Hanley & McNeil's with ``N* = (m + n) / 2 - 1``."""
    n_star = (m + n) / 2.0 - 1.0
    return theta * (1.0 - theta) / (m * n) * (1.0 + (n_star - 1.0) * ((1.0 - theta) / (2.0 - theta)
                                                                   + theta / (1.0 + theta)))


def newcombe_auc_interval(auc: float, n_fake: int, n_real: int, *, level: float = 0.95) -> tuple[float, float]:
    """Newcombe's (Stat. Med. 25, 2006, method 5) score interval of the AUC: the ``theta`` in [0, 1] with
    ``(auc - theta)^2 <= z^2 V(theta)``, ``V`` Hanley & McNeil's variance with ``N* = (n_fake + n_real) / 2 - 1``.

    Args:
        auc: the sample AUC in [0, 1]. n_fake, n_real: class counts (>= 1 each). level: coverage.

    Returns:
        ``(lo, hi)`` with ``lo <= auc <= hi``; never zero-width (AUC 1 on 20+20 images -> about [0.91, 1]).
    """
    z = _z(level)
    if math.isnan(auc) or n_fake < 1 or n_real < 1:
        return math.nan, math.nan

    def gap(theta: float) -> float:
        return (auc - theta) ** 2 - z * z * _hanley_mcneil_var(theta, n_fake, n_real)

    # gap(auc) = -z^2 V(auc) <= 0 (0 at auc 0 or 1, where the root sits just inside): bracket from a hair inside
    inner = min(auc, 1.0 - 1e-12)
    lo = 0.0 if auc <= 0.0 or gap(0.0) <= 0 else _root(gap, 0.0, inner, xtol=1e-12)
    inner = max(auc, 1e-12)
    hi = 1.0 if auc >= 1.0 or gap(1.0) <= 0 else _root(gap, inner, 1.0, xtol=1e-12)
    return float(min(lo, auc)), float(max(hi, auc))


def auc_interval(y, score, *, level: float = 0.95) -> dict[str, Any]:
    """ROC-AUC of one set with the hull of DeLong's logit-scale interval and Newcombe's score interval.

    Args:
        y: ``(N,)`` int labels, 0 real / 1 fake. score: ``(N,)`` float scores (higher = more fake; +-inf allowed).
        level: coverage.

    Returns:
        ``{"auc", "se" (DeLong, fraction), "ci": (lo, hi), "method"}``; ``ci`` contains ``auc`` and has positive
        width; all ``nan`` without both classes.
    """
    from fakebench.analysis.paired import _delong_components

    y, s = labels_and_scores(y, score, allow_inf=True)
    m, n = int(y.sum()), int((y == 0).sum())
    if m == 0 or n == 0:
        return {"auc": math.nan, "se": math.nan, "ci": (math.nan, math.nan), "method": "undefined: one class"}
    s = np.where(np.isinf(s), np.sign(s) * np.finfo(np.float64).max, s)
    auc_arr, v10, v01 = _delong_components(y, s[None, :])
    auc = float(auc_arr[0])
    var = (float(np.var(v10, ddof=1)) / m if m > 1 else 0.0) + (float(np.var(v01, ddof=1)) / n if n > 1 else 0.0)
    se = math.sqrt(max(var, 0.0))
    lo, hi = newcombe_auc_interval(auc, m, n, level=level)
    method = "newcombe"
    if se > 0 and 0.0 < auc < 1.0 and m > 1 and n > 1:
        z = _z(level)
        centre, half = math.log(auc / (1.0 - auc)), z * se / (auc * (1.0 - auc))
        dl_lo, dl_hi = 1.0 / (1.0 + math.exp(-(centre - half))), 1.0 / (1.0 + math.exp(-(centre + half)))
        lo, hi = min(lo, dl_lo), max(hi, dl_hi)
        method = "delong-logit+newcombe"
    return {"auc": auc, "se": se, "ci": (float(lo), float(hi)), "method": method}


def binormal_ap(auc: float, prevalence: float) -> float:
    """Population AP of the equal-variance binormal model with this AUC at this fake prevalence.

    Reals ~ N(0, 1), fakes ~ N(d, 1) with ``d = sqrt(2) * Phi^-1(auc)``; AP = integral of the precision
    ``pi TPR / (pi TPR + (1 - pi) FPR)`` over the recall (TPR). The truth of the coverage simulations.

    Args:
        auc: in [0, 1]. prevalence: fraction of fakes in (0, 1].

    Returns:
        AP in [prevalence, 1].
    """
    from scipy.integrate import quad

    if auc >= 1.0:
        return 1.0
    if auc <= 0.0:
        return float(prevalence)
    d = math.sqrt(2.0) * normal.ppf(auc)

    def integrand(t: float) -> float:
        tpr, fpr = (1.0 - normal.cdf(t - d)), (1.0 - normal.cdf(t))
        denom = prevalence * tpr + (1.0 - prevalence) * fpr
        return (prevalence * tpr / denom if denom > 0 else 1.0) * normal.pdf(t - d)

    val, _ = quad(integrand, d - 12.0, d + 12.0, limit=200)
    return float(min(1.0, max(prevalence, val)))


def bca_interval(replicates, estimate: float, jackknife=None, *, level: float = 0.95) -> tuple[float, float]:
    """Bias-corrected and accelerated (BCa) bootstrap interval (Efron 1987; Efron & Tibshirani 1993, ch. 14.3).

    Args:
        replicates: ``(B,)`` bootstrap values (``nan`` dropped). estimate: the statistic on the sample.
        jackknife: optional ``(N,)`` leave-one-out values for the acceleration ``a`` (``a = 0`` without).
        level: coverage.

    Returns:
        ``(lo, hi)``, widened to contain ``estimate``; ``(nan, nan)`` when more than half the replicates are ``nan``
        or all finite replicates are equal (the bootstrap cannot vary: the caller must fall back).
    """
    z = _z(level)
    vals = np.asarray(replicates, dtype=np.float64)
    finite = vals[~np.isnan(vals)]
    if finite.size == 0 or finite.size < 0.5 * vals.size or math.isnan(estimate) or np.ptp(finite) == 0:
        return math.nan, math.nan
    below = (np.sum(finite < estimate) + 0.5 * np.sum(finite == estimate)) / finite.size
    z0 = float(normal.ppf(min(max(below, 0.5 / finite.size), 1.0 - 0.5 / finite.size)))
    a = 0.0
    if jackknife is not None:
        jk = np.asarray(jackknife, dtype=np.float64)
        jk = jk[~np.isnan(jk)]
        if jk.size > 2:
            dev = jk.mean() - jk
            den = 6.0 * float(np.sum(dev ** 2)) ** 1.5
            a = float(np.sum(dev ** 3)) / den if den > 0 else 0.0
    qs = []
    for zq in (-z, z):
        shifted = z0 + zq
        qs.append(float(normal.cdf(z0 + shifted / (1.0 - a * shifted))))
    lo, hi = np.quantile(finite, qs)
    return float(min(lo, estimate)), float(max(hi, estimate))


def _jackknife(y: np.ndarray, s: np.ndarray, r: np.ndarray, metric: str) -> np.ndarray | None:
    """Leave-one-out values of a ranking metric (rows of ``1 - I`` as weights), or ``None`` for large N."""
    from fakebench.analysis.bootstrap import weighted_metrics

    n = y.size
    if n > _JACKKNIFE_MAX:
        return None
    out = []
    step = max(1, 2_000_000 // max(n, 1))
    for start in range(0, n, step):
        w = np.ones((min(step, n - start), n))
        w[np.arange(w.shape[0]), start + np.arange(w.shape[0])] = 0.0
        out.append(weighted_metrics(w, y, s, ranking=r, metrics=(metric,))[metric])
    return np.concatenate(out)


def ap_interval(y, score, *, ranking=None, replicates=None, n_boot: int = 1000, seed=0,
                level: float = 0.95) -> dict[str, Any]:
    """AP of one set: the BCa bootstrap interval hulled with a rank-score floor (see the module docstring).

    Args:
        y: ``(N,)`` int labels, 0 real / 1 fake. score: ``(N,)`` float scores; ``ranking`` replaces them if given.
        replicates: optional ``(B,)`` AP bootstrap replicates already computed on stratified resamples (else drawn
            here with ``n_boot`` and ``seed``).
        level: coverage.

    Returns:
        ``{"ap", "ci": (lo, hi), "method"}``; ``ci`` contains ``ap`` and has positive width; ``method`` is
        ``"bca+rank-score floor"`` or, where every resample gave the same AP (a separable sample), the floor alone;
        ``nan`` without both classes.
    """
    from fakebench.analysis.bootstrap import bootstrap_replicates, weighted_metrics

    y, s = labels_and_scores(y, score, allow_inf=True)
    r = s if ranking is None else labels_and_scores(y, ranking, name="ranking", allow_inf=True)[1]
    m, n = int(y.sum()), int((y == 0).sum())
    if m == 0 or n == 0:
        return {"ap": math.nan, "ci": (math.nan, math.nan), "method": "undefined: one class"}
    ap = float(weighted_metrics(np.ones((1, y.size)), y, s, ranking=r, metrics=("ap",))["ap"][0])
    if replicates is None:
        replicates = bootstrap_replicates(y, s, ranking=r, metrics=("ap",), n_boot=n_boot, seed=seed)["ap"]
    floor_lo, floor_hi = newcombe_auc_interval(ap, m, n, level=level)
    lo, hi = bca_interval(replicates, ap, _jackknife(y, s, r, "ap"), level=level)
    if math.isnan(lo):  # every resample gave the same AP (e.g. a separable sample): the score interval alone
        return {"ap": ap, "ci": (floor_lo, floor_hi), "method": "rank-score floor (bootstrap cannot vary)"}
    return {"ap": ap, "ci": (float(min(lo, floor_lo)), float(max(hi, floor_hi))), "method": "bca+rank-score floor"}


def metric_intervals(y, prob, *, ranking=None, threshold: float = 0.5, continuous: bool = True,
                     n_boot: int = 1000, seed=0, level: float = 0.95) -> dict[str, list[float]]:
    """The intervals of one set's accuracy, real acc, fake acc (Wilson), AUC (DeLong-logit + Newcombe) and AP (BCa).

    Args:
        y: ``(N,)`` int labels. prob: ``(N,)`` fake probabilities (decisions ``prob > threshold``).
        ranking: optional ``(N,)`` scores for AP/AUC (e.g. logits). continuous: ``False`` -> AP/AUC intervals ``nan``.
        n_boot, seed: AP bootstrap. level: coverage.

    Returns:
        ``{"acc", "real_acc", "fake_acc", "ap", "auc": [lo, hi]}`` fractions (``nan`` where undefined).
    """
    y, p = labels_and_scores(y, prob, name="prob", allow_inf=True)
    r = p if ranking is None else labels_and_scores(y, ranking, name="ranking", allow_inf=True)[1]
    correct = (p > threshold).astype(np.int64) == y
    out: dict[str, list[float]] = {}
    for key, mask in (("acc", np.ones(y.size, bool)), ("real_acc", y == 0), ("fake_acc", y == 1)):
        out[key] = list(proportion_interval(int(correct[mask].sum()), int(mask.sum()), level=level))
    nan2 = [math.nan, math.nan]
    if continuous and 0 < y.sum() < y.size:
        auc = auc_interval(y, r, level=level)
        out["auc"] = list(auc["ci"])
        if n_boot:
            out["ap"] = list(ap_interval(y, p, ranking=r, n_boot=n_boot, seed=seed, level=level)["ci"])
        else:
            out["ap"] = nan2
    else:
        out["auc"], out["ap"] = nan2, list(nan2)
    return out


def set_mean_interval(values, *, level: float = 0.95, min_sets: int = MIN_SETS,
                      bounds: tuple[float, float] = (0.0, 1.0)) -> dict[str, Any]:
    """Student-t interval of the unweighted mean over test sets (the population of test sets, see module docstring).

    Args:
        values: ``(K,)`` per-set values (``nan`` ignored). level: coverage.
        min_sets: fewest defined sets for an interval (default :data:`MIN_SETS` = 5).
        bounds: the metric's range; the interval is clipped to it (``(-1, 1)`` for differences).

    Returns:
        ``{"mean", "ci": (lo, hi), "k", "covers", "note"}``: ``ci`` is ``(nan, nan)`` and ``note`` is
        :data:`TOO_FEW_SETS` below ``min_sets``; ``covers`` says what the interval is about.
    """
    vals = np.asarray(values, dtype=np.float64)
    vals = vals[~np.isnan(vals)]
    k = int(vals.size)
    mean = float(vals.mean()) if k else math.nan
    out: dict[str, Any] = {"mean": mean, "ci": (math.nan, math.nan), "k": k,
                           "covers": "the mean over a population of test sets like these (sets resampled)",
                           "note": ""}
    if k < max(2, int(min_sets)):
        out["note"] = f"{TOO_FEW_SETS} (K={k} < {max(2, int(min_sets))})"
        return out
    _z(level)
    t = _student_t.ppf(0.5 + level / 2.0, k - 1)  # scipy-free (A&S 26.7.3/4), as scipy.stats.t.ppf
    half = t * float(vals.std(ddof=1)) / math.sqrt(k)
    lo, hi = max(bounds[0], mean - half), min(bounds[1], mean + half)
    out["ci"] = (float(min(lo, mean)), float(max(hi, mean)))
    return out
