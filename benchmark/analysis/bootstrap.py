"""Vectorised percentile-bootstrap confidence intervals for accuracy, real acc, fake acc, AP and ROC-AUC.

Method (Efron & Tibshirani, "An Introduction to the Bootstrap", 1993, ch. 13 percentile interval): draw ``n_boot``
resamples of the images with replacement, recompute the metric on each, and report the ``(1 - level) / 2`` and
``(1 + level) / 2`` quantiles of the replicates (numpy's default linear interpolation). Resampling is **stratified by
label** by default: the real images and the fake images are resampled separately, so every resample keeps the test
set's real/fake counts (the design of a benchmark set is fixed; only which images were drawn is random).

Vectorisation: a resample is represented by a count matrix ``W`` of shape ``(B, N)`` (how often each image was
drawn), built from numpy index matrices with one ``bincount``. All metrics are then weighted sums:

* accuracy / real acc / fake acc: ``W @ correct / W.sum(1)`` restricted to the class;
* ROC-AUC: images sorted by score once, tied scores grouped, the weighted Mann-Whitney U
  ``sum_groups fakes_g * (reals below g + reals in g / 2)`` divided by ``n_real * n_fake`` (ties count 1/2, as
  ``sklearn.metrics.roc_auc_score``);
* AP: the step-wise ``sum_n (R_n - R_{n-1}) P_n`` over distinct scores in decreasing order (as
  ``sklearn.metrics.average_precision_score``) with weighted true/false positive counts. A resample with repeated
  images gives exactly the value scikit-learn gives on the repeated sample (tested).

Work is done in chunks of rows of ``W`` (about 4 million entries each), so memory stays near 100 MB for any ``B``.
On the full sample (``W`` all ones) the functions equal scikit-learn to 1e-9 (tested).

Small samples: the percentile interval of a proportion has zero width at 0/n and n/n and undercovers at n = 20
(64% at a true rate of 0.95), and a percentile bootstrap over K test sets is ``[min, max]`` at K = 2 (49% coverage).
The numbers fakebench reports therefore use :mod:`fakebench.analysis.intervals` (Wilson, DeLong-logit + Newcombe,
BCa for AP, Student t over sets); this module supplies the resamples (AP's BCa, the paired tests, ``compare``) and
keeps :func:`bootstrap_ci` / :func:`bootstrap_set_mean` for callers that want the plain percentile method.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator, Sequence

import numpy as np

from fakebench.analysis._arrays import labels_and_scores

__all__ = ["BOOT_METRICS", "resample_counts", "weighted_metrics", "bootstrap_replicates", "percentile_interval",
           "bootstrap_ci", "bootstrap_set_mean", "informative"]

#: Metrics the vectorised bootstrap computes (fractions in [0, 1]).
BOOT_METRICS = ("acc", "real_acc", "fake_acc", "ap", "auc")

_CHUNK_ENTRIES = 4_000_000


def _validate(y, score, name: str = "score") -> tuple[np.ndarray, np.ndarray]:
    return labels_and_scores(y, score, name=name, allow_inf=True)


def resample_counts(y, *, n_boot: int = 1000, seed: int | np.random.Generator | Sequence[int] = 0,
                    stratified: bool = True, chunk: int | None = None, strata=None) -> Iterator[np.ndarray]:
    """Bootstrap resamples of ``N`` images as count matrices, in chunks of rows.

    Args:
        y: ``(N,)`` int labels, 0 real / 1 fake (only used to stratify).
        n_boot: number of resamples ``B`` (>= 1).
        seed: int, int sequence or ``numpy.random.Generator``; the same seed gives the same resamples.
        stratified: resample the reals and the fakes separately (each resample has the original class counts);
            otherwise resample all ``N`` images together.
        chunk: rows per yielded matrix (default: about 4 million entries per matrix).
        strata: optional ``(N,)`` stratum ids (any hashable numpy values) replacing the labels as strata, e.g.
            (test set, label) codes so that several test sets are resampled jointly, each keeping its counts.

    Yields:
        ``(b, N)`` float64 matrices, ``b <= chunk``, summing to ``B`` rows in total; entry ``[r, i]`` is how many times
        image ``i`` (original order) was drawn in resample ``r``; each row sums to ``N``.
    """
    y = np.asarray(y).astype(np.int64)
    n = y.size
    if n_boot < 1:
        raise ValueError(f"Expected n_boot >= 1, got {n_boot}.")
    if n == 0:
        raise ValueError("Cannot bootstrap an empty set of images.")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    chunk = int(chunk or max(1, _CHUNK_ENTRIES // n))
    if strata is not None:
        codes = np.unique(np.asarray(strata), return_inverse=True)[1].reshape(-1)
        if codes.size != n:
            raise ValueError(f"Expected strata of length {n}, got {codes.size}.")
    else:
        codes = y if stratified else np.zeros(n, dtype=np.int64)
    groups = [np.flatnonzero(codes == c) for c in np.unique(codes)]
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        offsets = (np.arange(b, dtype=np.int64) * n)[:, None]
        flat = np.concatenate([(members[rng.integers(0, members.size, (b, members.size))] + offsets).ravel()
                               for members in groups])
        yield np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)
        done += b


def _group_sums(w: np.ndarray, y: np.ndarray, ranking: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted fake and real counts per group of tied ``ranking`` values, groups in increasing score order."""
    order = np.argsort(ranking, kind="mergesort")
    r_sorted = ranking[order]
    starts = np.r_[0, np.flatnonzero(r_sorted[1:] != r_sorted[:-1]) + 1]  # inf == inf stays one group
    ws = w[:, order]
    fake = ws * y[order]
    fake_g = np.add.reduceat(fake, starts, axis=1)
    real_g = np.add.reduceat(ws, starts, axis=1) - fake_g
    return fake_g, real_g


def _auc_from_groups(fake_g: np.ndarray, real_g: np.ndarray) -> np.ndarray:
    n_fake, n_real = fake_g.sum(1), real_g.sum(1)
    below = np.cumsum(real_g, axis=1) - real_g
    u = np.sum(fake_g * (below + 0.5 * real_g), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_fake > 0) & (n_real > 0), u / (n_fake * n_real), np.nan)


def _ap_from_groups(fake_g: np.ndarray, real_g: np.ndarray) -> np.ndarray:
    fake_d, real_d = fake_g[:, ::-1], real_g[:, ::-1]  # decreasing score
    tp = np.cumsum(fake_d, axis=1)
    total = tp + np.cumsum(real_d, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(total > 0, tp / np.where(total > 0, total, 1.0), 0.0)
        n_fake, n_real = tp[:, -1], total[:, -1] - tp[:, -1]
        return np.where((n_fake > 0) & (n_real > 0), np.sum(fake_d * precision, axis=1) / n_fake, np.nan)


def weighted_metrics(w, y, score, *, ranking=None, threshold: float | None = 0.5,
                     metrics: Sequence[str] = BOOT_METRICS,
                     continuous: bool = True) -> dict[str, np.ndarray]:
    """Metrics of weighted samples, one per row of ``w`` (vectorised).

    Args:
        w: ``(B, N)`` non-negative weights (resample counts, see :func:`resample_counts`; a row of ones = the
            sample itself).
        y: ``(N,)`` int labels, 0 real / 1 fake.
        score: ``(N,)`` float fake probabilities (or any score) for the decisions ``score > threshold``.
        ranking: optional ``(N,)`` float scores (e.g. logits) used for AP/AUC instead of ``score``.
        threshold: decision threshold in ``score`` units (strict ``>``, as the official code); ``None`` for a
            score-only detector (the accuracies are then ``nan``).
        metrics: subset of :data:`BOOT_METRICS`.
        continuous: ``False`` for hard 0/1 scores: AP and AUC are then ``nan``.

    Returns:
        ``{metric: (B,) float64}`` fractions in [0, 1]; ``nan`` where undefined for a row (no real or no fake weight).
    """
    y, s = _validate(y, score)
    r = s if ranking is None else _validate(y, ranking, "ranking")[1]
    w = np.atleast_2d(np.asarray(w, dtype=np.float64))
    if w.shape[1] != y.size:
        raise ValueError(f"Expected weights with {y.size} columns, got shape {w.shape}.")
    unknown = set(metrics) - set(BOOT_METRICS)
    if unknown:
        raise ValueError(f"Unknown metric(s) {sorted(unknown)}; choose from {BOOT_METRICS}.")
    out: dict[str, np.ndarray] = {}
    correct = (((s > threshold).astype(np.int64) == y).astype(np.float64) if threshold is not None
               else np.full(y.size, np.nan))
    yf = y.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        if "acc" in metrics:
            out["acc"] = (w @ correct) / w.sum(1)
        if "real_acc" in metrics:
            out["real_acc"] = (w @ (correct * (1 - yf))) / (w @ (1 - yf))
        if "fake_acc" in metrics:
            out["fake_acc"] = (w @ (correct * yf)) / (w @ yf)
    if "ap" in metrics or "auc" in metrics:
        if continuous:
            fake_g, real_g = _group_sums(w, y, r)
        for key, fn in (("ap", _ap_from_groups), ("auc", _auc_from_groups)):
            if key in metrics:
                out[key] = fn(fake_g, real_g) if continuous else np.full(w.shape[0], np.nan)
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def informative(y, *, stratified: bool = True) -> bool:
    """Whether resampling ``y`` can vary at all: with stratification every class present needs >= 2 images (a
    stratum of one image is redrawn identically every time, so a bootstrap over 1 real + 1 fake would give a
    zero-width interval and a spurious p-value); without it, >= 2 images.

    >>> informative([0, 1]), informative([0, 0, 1, 1]), informative([0, 1], stratified=False)
    (False, True, True)
    """
    y = np.asarray(y)
    if not stratified:
        return y.size >= 2
    counts = [int(np.sum(y == c)) for c in (0, 1) if np.any(y == c)]
    return bool(counts) and min(counts) >= 2


def bootstrap_replicates(y, score, *, ranking=None, threshold: float | None = 0.5, metrics: Sequence[str] = BOOT_METRICS,
                         n_boot: int = 1000, seed=0, stratified: bool = True,
                         continuous: bool = True) -> dict[str, np.ndarray]:
    """Bootstrap replicates of several metrics, all computed on the same resamples.

    Args:
        y, score, ranking, threshold, metrics, continuous: as :func:`weighted_metrics`.
        n_boot, seed, stratified: as :func:`resample_counts`.

    Returns:
        ``{metric: (n_boot,) float64}`` replicate values (``nan`` where a resample leaves the metric undefined).
    """
    y, s = _validate(y, score)
    if not informative(y, stratified=stratified):  # every resample would be the sample itself: no interval
        return {m: np.full(int(n_boot), np.nan) for m in metrics}
    parts: dict[str, list[np.ndarray]] = {m: [] for m in metrics}
    for w in resample_counts(y, n_boot=n_boot, seed=seed, stratified=stratified):
        for key, vals in weighted_metrics(w, y, s, ranking=ranking, threshold=threshold, metrics=metrics,
                                          continuous=continuous).items():
            parts[key].append(vals)
    return {k: np.concatenate(v) for k, v in parts.items()}


def percentile_interval(replicates, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval ``(q_{(1-level)/2}, q_{(1+level)/2})`` of bootstrap replicates.

    Args:
        replicates: ``(B,)`` float values; ``nan`` replicates (metric undefined in that resample) are dropped.
        level: coverage in (0, 1), e.g. 0.95.

    Returns:
        ``(lo, hi)`` floats; ``(nan, nan)`` when more than half the replicates are ``nan`` (the interval would
        describe a different population than the point estimate).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"Expected level in (0, 1), got {level}.")
    vals = np.asarray(replicates, dtype=np.float64)
    finite = vals[~np.isnan(vals)]
    if finite.size == 0 or finite.size < 0.5 * vals.size:
        return math.nan, math.nan
    lo, hi = np.quantile(finite, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(lo), float(hi)


def bootstrap_ci(y, score, metric: str | Callable[[np.ndarray, np.ndarray], float], *, n_boot: int = 1000,
                 seed=0, level: float = 0.95, stratified: bool = True, threshold: float = 0.5,
                 ranking=None) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of one metric of one test set.

    Args:
        y: ``(N,)`` int labels, 0 real / 1 fake.
        score: ``(N,)`` float fake probabilities (decisions ``score > threshold``; also ranks AP/AUC unless
            ``ranking`` is given).
        metric: one of :data:`BOOT_METRICS` (vectorised), or a callable ``metric(y, score) -> float`` evaluated on
            each resample (slow path, a Python loop).
        n_boot: resamples (default 1000). seed: RNG seed. level: coverage (default 0.95).
        stratified: resample reals and fakes separately (default).
        threshold: decision threshold for the accuracies. ranking: optional ``(N,)`` scores for AP/AUC.

    Returns:
        ``(lo, hi)`` fractions (``nan`` if undefined, e.g. AUC with one class).
    """
    y, s = _validate(y, score)
    if callable(metric):
        reps = []
        for w in resample_counts(y, n_boot=n_boot, seed=seed, stratified=stratified):
            for row in w.astype(np.int64):
                idx = np.repeat(np.arange(y.size), row)
                reps.append(metric(y[idx], s[idx]))
        return percentile_interval(np.asarray(reps, dtype=np.float64), level)
    reps = bootstrap_replicates(y, s, ranking=ranking, threshold=threshold, metrics=(metric,), n_boot=n_boot,
                                seed=seed, stratified=stratified)[metric]
    return percentile_interval(reps, level)


def bootstrap_set_mean(values, *, n_boot: int = 1000, seed=0, level: float = 0.95) -> tuple[float, float]:
    """Percentile CI of the unweighted mean over test sets, resampling the test sets with replacement.

    Not honest at small K (``[min, max]`` for 2 sets, ~82% coverage at K = 5): reported means use
    :func:`fakebench.analysis.intervals.set_mean_interval` instead.

    Args:
        values: ``(K,)`` per-set metric values (``nan`` = undefined for that set, ignored as in the mean).
        n_boot, seed, level: as :func:`bootstrap_ci`.

    Returns:
        ``(lo, hi)``; ``(nan, nan)`` with fewer than 2 defined sets (one set says nothing about set-to-set spread).
    """
    vals = np.asarray(values, dtype=np.float64)
    vals = vals[~np.isnan(vals)]
    if vals.size < 2:
        return math.nan, math.nan
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    means = vals[rng.integers(0, vals.size, (n_boot, vals.size))].mean(axis=1)
    return percentile_interval(means, level)
