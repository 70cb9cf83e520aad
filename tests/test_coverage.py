"""Seeded coverage and type-I-error simulations of the reported intervals and paired tests (issue #16).

Fast subset (about 15 s on 2 cores) of ``tools/coverage_sim.py``, which runs the same functions with 5-10x the
replicates. Binormal scores (reals N(0, 1), fakes N(d, 1)) with known AUC, accuracy and AP; nominal level 95%; the bar
is >= 90% coverage (and for the paired tests a type-I error in [2%, 8%] at alpha 0.05 with 50 + 50 images).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from fakebench.analysis.intervals import proportion_interval
from fakebench.analysis.simulate import coverage_set_mean, coverage_single_set, paired_type1

GRID = [(n, auc) for n in (20, 50) for auc in (0.8, 0.95, 0.99)]


def _exact_coverage(n: int, p: float) -> float:
    """Exact coverage of the Wilson interval for Binomial(n, p): sum of P(k) over the k whose interval holds p."""
    return sum(stats.binom.pmf(k, n, p) for k in range(n + 1) if proportion_interval(k, n)[0] <= p <=
               proportion_interval(k, n)[1])


@pytest.mark.parametrize("n,auc", GRID)
def test_proportion_intervals_cover_exactly(n, auc):
    """Real acc / fake acc (n images) and acc (2n images) at the rate Phi(d / 2) each AUC gives: exact binomial
    coverage >= 90% (the percentile bootstrap gave 64% at n = 20, rate 0.95)."""
    rate = stats.norm.cdf(math.sqrt(2) * stats.norm.ppf(auc) / 2)
    assert _exact_coverage(n, rate) >= 0.90
    assert _exact_coverage(2 * n, rate) >= 0.90


@pytest.mark.parametrize("n,auc", GRID)
def test_per_set_intervals_cover_by_simulation(n, auc):
    out = coverage_single_set(n, n, auc, reps=200, seed=16, with_ap=False)
    for key in ("acc", "real_acc", "fake_acc", "auc"):
        assert out[key]["coverage"] >= 0.90, (key, out[key])
        assert out[key]["zero_width"] == 0.0, (key, out[key])  # 34% zero-width fake-acc CIs before (AUC 0.99)


@pytest.mark.parametrize("n,auc", GRID)
def test_ap_interval_covers_by_simulation(n, auc):
    out = coverage_single_set(n, n, auc, reps=80, n_boot=200, seed=16)
    assert out["ap"]["coverage"] >= 0.90 and out["ap"]["zero_width"] == 0.0, out["ap"]


@pytest.mark.parametrize("k", [5, 10, 20])
def test_mean_over_sets_interval_covers(k):
    """A skewed population of per-set accuracies (Beta(6, 2), each seen through 100 images): the t-interval over K
    sets covers the population mean >= 90% (the bootstrap over sets: 82% at K = 5)."""
    out = coverage_set_mean(k, reps=1500, seed=16)
    assert out["coverage"] >= 0.90 and out["no_interval"] == 0.0, out
    assert coverage_set_mean(4, reps=5, seed=0)["no_interval"] == 1.0  # K < 5: no interval at all


def test_paired_tests_hold_their_level_at_50_50():
    out = paired_type1(50, 50, reps=150, n_boot=150, seed=16)
    for test in ("delong", "ap_bootstrap", "mcnemar"):
        assert out[test]["suppressed"] == 0.0
        assert 0.02 <= out[test]["reject"] <= 0.08, (test, out[test])


def test_paired_tests_are_suppressed_below_their_minimum_size():
    """4 fakes vs 148 reals: DeLong rejected a true null 11.5% of the time and the bootstrap 18.3%; now neither gives
    a p-value there. McNemar's exact test is valid at any size and keeps its level."""
    out = paired_type1(148, 4, reps=100, n_boot=20, seed=16)
    assert out["delong"]["suppressed"] == 1.0 and out["ap_bootstrap"]["suppressed"] == 1.0
    assert out["mcnemar"]["suppressed"] == 0.0 and out["mcnemar"]["reject"] <= 0.08
