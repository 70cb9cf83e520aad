"""Statistics of fakebench.analysis: operating points, calibration, bootstrap CIs and paired tests.

Every function is checked against an independent computation written plainly here (brute-force threshold sweeps,
scikit-learn, O(N^2) Mann-Whitney structural components, exact binomial sums) on small seeded inputs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit
from sklearn.metrics import average_precision_score, roc_auc_score

from fakebench.analysis.calibration import (apply_platt, apply_temperature, brier, ece, fit_platt, fit_temperature,
                                            nll, reliability_curve)
from fakebench.analysis.operating import fit_threshold, operating_points


def _scores(seed: int, n_real: int, n_fake: int, *, decimals: int | None = None, shift: float = 1.0):
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n_real, int), np.ones(n_fake, int)]
    s = rng.normal(shift * y, 1.0)
    if decimals is not None:
        s = np.round(s, decimals)
    perm = rng.permutation(y.size)
    return y[perm], s[perm]


# ----------------------------------------------------------------------------------------------- operating points
def _brute_sweep(y, s):
    """Every decision rule ``s > t`` for t in {below min} + unique scores: (t, fpr, tpr), written plainly."""
    ts = np.r_[np.min(s) - 1.0, np.unique(s)]
    out = []
    for t in ts:
        dec = s > t
        out.append((t, dec[y == 0].mean(), dec[y == 1].mean()))
    return out


@pytest.mark.parametrize("seed,decimals", [(0, None), (1, 1), (2, 0)])
def test_operating_points_against_brute_force(seed, decimals):
    y, s = _scores(seed, 1000, 200, decimals=decimals)  # 1,000 reals: enough for TPR at 1% FPR
    op = operating_points(y, s, threshold=0.3)
    sweep = _brute_sweep(y, s)
    for key, x in (("tpr_at_fpr_1", 0.01), ("tpr_at_fpr_5", 0.05)):
        assert op[key] == pytest.approx(max(tpr for _, fpr, tpr in sweep if fpr <= x))
    accs = [((s > t).astype(int) == y).mean() for t, _, _ in sweep]
    assert op["oracle_acc"] == pytest.approx(max(accs))
    assert ((s > op["oracle_threshold"]).astype(int) == y).mean() == pytest.approx(max(accs))
    dec = s > 0.3
    assert op["acc_at_threshold"] == pytest.approx((dec.astype(int) == y).mean())
    assert op["balanced_acc"] == pytest.approx(0.5 * ((~dec)[y == 0].mean() + dec[y == 1].mean()))
    # EER lies between the FPR and FNR of the rule at eer_threshold, and that rule is the most balanced one
    gaps = [abs(fpr - (1 - tpr)) for _, fpr, tpr in sweep]
    d_eer = s > op["eer_threshold"]
    fpr_e, fnr_e = d_eer[y == 0].mean(), 1 - d_eer[y == 1].mean()
    assert abs(fpr_e - fnr_e) == pytest.approx(min(gaps))
    assert min(fpr_e, fnr_e) - 1e-12 <= op["eer"] <= max(fpr_e, fnr_e) + 1e-12


def test_operating_points_known_values():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9])
    op = operating_points(y, s)
    assert op["eer"] == pytest.approx(0.25)  # one real above, one fake below at t in [0.4, 0.6)
    assert op["acc_at_threshold"] == pytest.approx(0.75) and op["balanced_acc"] == pytest.approx(0.75)
    # 4 reals: "TPR at 1% FPR" would be TPR at 0% FPR (issue #16): n/a, with the size it needs
    assert math.isnan(op["tpr_at_fpr_1"]) and op["notes"]["tpr_at_fpr_1"] == "n/a: needs 1000 reals (has 4)"
    assert math.isnan(op["tpr_at_fpr_5"]) and "needs 200 reals" in op["notes"]["tpr_at_fpr_5"]
    assert op["optimistic"] == ["oracle_threshold", "oracle_acc"]
    assert op["oracle_acc"] == pytest.approx(0.875)  # t = 0.3: only the real at 0.6 is wrong
    assert 0.3 <= op["oracle_threshold"] < 0.4
    separable = operating_points([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert separable["eer"] == 0.0 and separable["oracle_acc"] == 1.0
    assert 0.2 <= separable["oracle_threshold"] < 0.8


def test_operating_points_one_class_is_nan():
    op = operating_points([1, 1, 1], [0.2, 0.7, 0.9])
    assert math.isnan(op["eer"]) and math.isnan(op["tpr_at_fpr_5"]) and math.isnan(op["balanced_acc"])
    assert op["acc_at_threshold"] == pytest.approx(2 / 3)


def test_fit_threshold_targets():
    y, s = _scores(3, 500, 500)
    t_fpr = fit_threshold(y, s, target=("fpr", 0.05))
    assert (s[y == 0] > t_fpr).mean() <= 0.05
    # the loosest rule with FPR <= 5%: the next lower candidate threshold breaks the budget
    lower = np.unique(s)[np.unique(s) < t_fpr]
    assert (s[y == 0] > lower.max()).mean() > 0.05
    t_bal = fit_threshold(y, s, target="balanced_acc")
    bal = lambda t: 0.5 * ((s[y == 0] <= t).mean() + (s[y == 1] > t).mean())  # noqa: E731
    assert bal(t_bal) == pytest.approx(max(bal(t) for t, _, _ in _brute_sweep(y, s)))
    assert fit_threshold(y, s, target="eer") == operating_points(y, s)["eer_threshold"]
    with pytest.raises(ValueError, match="target"):
        fit_threshold(y, s, target="f1")
    with pytest.raises(ValueError, match="both"):
        fit_threshold(np.ones(4, int), s[:4])


# ----------------------------------------------------------------------------------------------- calibration
def test_reliability_curve_and_ece_by_hand():
    y = np.array([0, 1, 1, 0, 1])
    p = np.array([0.05, 0.05, 0.5, 0.96, 1.0])
    curve = reliability_curve(y, p, n_bins=2)
    assert list(curve.columns) == ["bin_lo", "bin_hi", "mean_prob", "frac_fake", "count"]
    assert curve["count"].tolist() == [2, 3]  # 0.5 falls in the upper bin [0.5, 1.0], 1.0 too
    assert curve["mean_prob"].tolist() == pytest.approx([0.05, (0.5 + 0.96 + 1.0) / 3])
    assert curve["frac_fake"].tolist() == pytest.approx([0.5, 2 / 3])
    expected = 2 / 5 * abs(0.5 - 0.05) + 3 / 5 * abs(2 / 3 - (0.5 + 0.96 + 1.0) / 3)
    assert ece(y, p, n_bins=2) == pytest.approx(expected)
    assert len(reliability_curve(y, p)) == 15  # default: 15 equal-width bins, empty ones kept with count 0
    assert reliability_curve(y, p)["count"].sum() == 5


def test_brier_nll_against_formula():
    y, s = _scores(4, 50, 50)
    p = expit(s)
    assert brier(y, p) == pytest.approx(np.mean((p - y) ** 2))
    assert nll(y, p) == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    assert math.isfinite(nll([1, 0], [0.0, 1.0]))  # clipped, not inf
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        brier([0, 1], [0.2, 1.5])


def test_temperature_and_platt_recover_the_truth():
    rng = np.random.default_rng(5)
    z = rng.normal(0, 3, 20000)
    y = (rng.random(z.size) < expit(z / 2.5)).astype(int)  # true temperature 2.5
    temp = fit_temperature(y, z)
    assert temp == pytest.approx(2.5, rel=0.08)
    assert nll(y, apply_temperature(z, temp)) < nll(y, expit(z))
    y2 = (rng.random(z.size) < expit(0.5 * z - 1.0)).astype(int)
    a, b = fit_platt(y2, z)
    assert a == pytest.approx(0.5, abs=0.05) and b == pytest.approx(-1.0, abs=0.1)
    assert apply_platt(z, a, b) == pytest.approx(expit(a * z + b))


# ----------------------------------------------------------------------------------------------- bootstrap
from fakebench.analysis.bootstrap import (bootstrap_ci, bootstrap_replicates, bootstrap_set_mean,  # noqa: E402
                                          percentile_interval, resample_counts, weighted_metrics)


@pytest.mark.parametrize("seed,decimals", [(0, None), (1, 1), (2, 0)])
def test_weighted_metrics_on_full_sample_equal_sklearn(seed, decimals):
    y, s = _scores(seed, 137, 90, decimals=decimals)
    p = expit(s)
    m = weighted_metrics(np.ones((1, y.size)), y, p, ranking=s)
    assert m["ap"][0] == pytest.approx(average_precision_score(y, s), abs=1e-9)
    assert m["auc"][0] == pytest.approx(roc_auc_score(y, s), abs=1e-9)
    dec = (p > 0.5).astype(int)
    assert m["acc"][0] == pytest.approx((dec == y).mean(), abs=1e-12)
    assert m["real_acc"][0] == pytest.approx((dec[y == 0] == 0).mean(), abs=1e-12)
    assert m["fake_acc"][0] == pytest.approx((dec[y == 1] == 1).mean(), abs=1e-12)


def test_resamples_equal_sklearn_on_the_repeated_sample():
    y, s = _scores(6, 40, 25, decimals=1)  # heavy ties
    w = next(resample_counts(y, n_boot=5, seed=1))
    m = weighted_metrics(w, y, expit(s), ranking=s)
    for r, row in enumerate(w.astype(int)):
        idx = np.repeat(np.arange(y.size), row)
        assert m["ap"][r] == pytest.approx(average_precision_score(y[idx], s[idx]), abs=1e-9)
        assert m["auc"][r] == pytest.approx(roc_auc_score(y[idx], s[idx]), abs=1e-9)
        assert m["acc"][r] == pytest.approx(((expit(s[idx]) > 0.5) == y[idx]).mean(), abs=1e-12)


def test_resample_counts_stratified_seeded_and_chunked():
    y = np.r_[np.zeros(30, int), np.ones(12, int)]
    chunks = list(resample_counts(y, n_boot=25, seed=3, chunk=10))
    assert [c.shape for c in chunks] == [(10, 42), (10, 42), (5, 42)]
    w = np.vstack(chunks)
    assert (w[:, y == 0].sum(1) == 30).all() and (w[:, y == 1].sum(1) == 12).all()
    again = np.vstack(list(resample_counts(y, n_boot=25, seed=3, chunk=10)))
    assert np.array_equal(w, again)
    assert not np.array_equal(w, np.vstack(list(resample_counts(y, n_boot=25, seed=4, chunk=10))))
    free = np.vstack(list(resample_counts(y, n_boot=200, seed=3, stratified=False)))
    assert (free.sum(1) == 42).all() and np.unique(free[:, y == 1].sum(1)).size > 1


def test_callable_metric_uses_the_same_resamples():
    y, s = _scores(7, 60, 40)
    fast = bootstrap_ci(y, s, "auc", n_boot=50, seed=2)
    slow = bootstrap_ci(y, s, roc_auc_score, n_boot=50, seed=2)
    assert fast == pytest.approx(slow, abs=1e-12)
    lo, hi = fast
    assert lo < roc_auc_score(y, s) < hi


def test_bootstrap_coverage_by_simulation():
    """200 simulated test sets with known true accuracy and AUC: the 95% interval covers the truth 88-99% of the
    time."""
    from scipy.stats import norm

    rng = np.random.default_rng(11)
    n_real, n_fake, shift = 120, 80, 1.2
    true_auc = norm.cdf(shift / math.sqrt(2))
    true_real_acc, true_fake_acc = norm.cdf(0.6), 1 - norm.cdf(0.6 - shift)  # threshold 0.6 on N(0,1)/N(shift,1)
    true_acc = (n_real * true_real_acc + n_fake * true_fake_acc) / (n_real + n_fake)
    y = np.r_[np.zeros(n_real, int), np.ones(n_fake, int)]
    hits = {"acc": 0, "auc": 0}
    for k in range(200):
        s = rng.normal(shift * y, 1.0)
        reps = bootstrap_replicates(y, s, threshold=0.6, metrics=("acc", "auc"), n_boot=400, seed=k)
        for key, truth in (("acc", true_acc), ("auc", true_auc)):
            lo, hi = percentile_interval(reps[key])
            hits[key] += lo <= truth <= hi
    assert 0.88 <= hits["acc"] / 200 <= 0.99, hits
    assert 0.88 <= hits["auc"] / 200 <= 0.99, hits


def test_set_mean_and_interval_edge_cases():
    assert bootstrap_set_mean([0.7, 0.7, 0.7]) == pytest.approx((0.7, 0.7))
    assert all(math.isnan(v) for v in bootstrap_set_mean([0.7, float("nan")]))
    lo, hi = bootstrap_set_mean([0.5, 0.6, 0.9, 0.8], n_boot=2000, seed=0)
    assert 0.5 <= lo < 0.7 < hi <= 0.9
    assert all(math.isnan(v) for v in percentile_interval([np.nan] * 6 + [0.1] * 4))
    with pytest.raises(ValueError, match="level"):
        percentile_interval([0.1, 0.2], level=95)
    one_class = bootstrap_ci([1, 1, 1], [0.2, 0.7, 0.9], "auc", n_boot=20)
    assert all(math.isnan(v) for v in one_class)


# ----------------------------------------------------------------------------------------------- paired tests
from fakebench.analysis.paired import delong_ci, delong_test, mcnemar_test, paired_bootstrap  # noqa: E402


def _delong_plain(y, sa, sb):
    """DeLong et al. (1988) written out with the O(N^2) Mann-Whitney kernel psi and its structural components."""
    out = []
    for s in (sa, sb):
        x, r = s[y == 1], s[y == 0]
        psi = (x[:, None] > r[None, :]) + 0.5 * (x[:, None] == r[None, :])
        out.append((psi.mean(), psi.mean(axis=1), psi.mean(axis=0)))  # AUC, V10 (per fake), V01 (per real)
    m, n = int(y.sum()), int((y == 0).sum())
    s10 = np.cov(np.vstack([out[0][1], out[1][1]]))
    s01 = np.cov(np.vstack([out[0][2], out[1][2]]))
    cov = s10 / m + s01 / n
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    diff = out[0][0] - out[1][0]
    z = diff / math.sqrt(var)
    from scipy.stats import norm
    return out[0][0], out[1][0], math.sqrt(var), 2 * norm.sf(abs(z)), math.sqrt(cov[0, 0])


@pytest.mark.parametrize("seed,decimals", [(0, None), (1, 1)])
def test_delong_against_quadratic_formula(seed, decimals):
    y, sa = _scores(seed, 70, 50, decimals=decimals)
    rng = np.random.default_rng(seed + 100)
    sb = sa + rng.normal(0, 0.8, y.size)
    if decimals is not None:
        sb = np.round(sb, decimals)
    res = delong_test(y, sa, sb)
    auc_a, auc_b, se, p, se_a = _delong_plain(y, sa, sb)
    assert res["auc_a"] == pytest.approx(auc_a, abs=1e-12) and res["auc_b"] == pytest.approx(auc_b, abs=1e-12)
    assert res["auc_a"] == pytest.approx(roc_auc_score(y, sa), abs=1e-12)
    assert res["se"] == pytest.approx(se, rel=1e-9) and res["p_value"] == pytest.approx(p, rel=1e-9)
    assert res["ci"][0] < res["diff"] < res["ci"][1]
    assert delong_ci(y, sa)["se"] == pytest.approx(se_a, rel=1e-9)


def test_delong_identical_scores_and_too_few_images():
    y, s = _scores(2, 20, 20)
    res = delong_test(y, s, s * 3 + 1)  # same ranking: zero variance, no test (issue #16: not p = 1 or p = 0)
    assert res["diff"] == 0 and math.isnan(res["p_value"]) and "zero variance" in res["note"]
    with pytest.raises(ValueError, match="at least 2"):
        delong_test([0, 1, 1], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])


def _exact_mcnemar_p(b, c):
    n = b + c
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


@pytest.mark.parametrize("b,c", [(3, 9), (0, 5), (7, 7), (30, 12)])
def test_mcnemar(b, c):
    # a_right/b_right pattern: b images only A right, c only B right, 10 both right, 4 both wrong
    right_a = np.r_[np.ones(b), np.zeros(c), np.ones(10), np.zeros(4)].astype(bool)
    right_b = np.r_[np.zeros(b), np.ones(c), np.ones(10), np.zeros(4)].astype(bool)
    y = np.random.default_rng(b * 100 + c).integers(0, 2, right_a.size)
    dec_a, dec_b = np.where(right_a, y, 1 - y), np.where(right_b, y, 1 - y)
    res = mcnemar_test(y, dec_a, dec_b)
    assert (res["a_only"], res["b_only"]) == (b, c)
    if b + c < 25:
        assert res["method"] == "exact" and res["p_value"] == pytest.approx(_exact_mcnemar_p(b, c), rel=1e-9)
    else:
        chi2 = (abs(b - c) - 1) ** 2 / (b + c)
        from scipy.stats import chi2 as chi2_dist
        assert res["method"] == "chi2_cc" and res["statistic"] == pytest.approx(chi2)
        assert res["p_value"] == pytest.approx(chi2_dist.sf(chi2, 1))
        assert mcnemar_test(y, dec_a, dec_b, exact=True)["p_value"] == pytest.approx(_exact_mcnemar_p(b, c))
    assert mcnemar_test(y, dec_a, dec_a)["p_value"] == 1.0


def test_paired_bootstrap_detects_a_real_difference_only():
    rng = np.random.default_rng(9)
    y = np.r_[np.zeros(300, int), np.ones(300, int)]
    good = rng.normal(2.0 * y, 1.0)
    bad = rng.normal(0.5 * y, 1.0)
    twin = good + rng.normal(0, 1e-3, y.size)
    for metric in ("ap", "acc", "auc"):
        res = paired_bootstrap(y, expit(good), expit(bad), metric=metric, n_boot=300, seed=1)
        assert res["diff"] > 0 and res["ci"][0] > 0 and res["p_value"] < 0.01, res
        same = paired_bootstrap(y, expit(good), expit(twin), metric=metric, n_boot=300, seed=1)
        assert same["ci"][0] <= 0 <= same["ci"][1] and same["p_value"] > 0.05, same
    ap = paired_bootstrap(y, expit(good), expit(bad), metric="ap", n_boot=10, seed=1)
    assert ap["a"] == pytest.approx(average_precision_score(y, good), abs=1e-9)
    assert ap["b"] == pytest.approx(average_precision_score(y, bad), abs=1e-9)


def test_weighted_metrics_group_infinite_ties():
    y = np.array([1, 0, 1, 0, 1])
    s = np.array([np.inf, np.inf, 2.0, -np.inf, 0.5])
    finite = np.array([10.0, 10.0, 2.0, -10.0, 0.5])
    m = weighted_metrics(np.ones((1, 5)), y, expit(finite), ranking=s)
    assert m["auc"][0] == pytest.approx(roc_auc_score(y, finite)) and m["ap"][0] == pytest.approx(
        average_precision_score(y, finite))


def test_one_image_per_class_gives_no_interval_and_no_p_value():
    """A stratified bootstrap of 1 real + 1 fake redraws the same two images every time: a zero-width CI and a
    p-value of 0.002 would be artefacts, so both are undefined (nan)."""
    import math

    from fakebench.analysis.bootstrap import bootstrap_replicates, percentile_interval
    from fakebench.analysis.paired import paired_bootstrap

    y = np.array([0, 1])
    reps = bootstrap_replicates(y, np.array([0.2, 0.9]), n_boot=50)
    assert all(math.isnan(v) for v in percentile_interval(reps["acc"]))
    out = paired_bootstrap(y, np.array([0.2, 0.9]), np.array([0.9, 0.2]), metric="ap", n_boot=50)
    assert out["diff"] == 0.5 and math.isnan(out["p_value"]) and all(math.isnan(v) for v in out["ci"])
    # two images per class are enough to vary
    y4 = np.array([0, 0, 1, 1])
    reps4 = bootstrap_replicates(y4, np.array([0.2, 0.6, 0.4, 0.9]), n_boot=200)
    lo, hi = percentile_interval(reps4["acc"])
    assert lo < hi
