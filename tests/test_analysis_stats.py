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


# ------------------------------------------------------------------- issue #16: honest statistics at small n
from fakebench.analysis.intervals import (TOO_FEW_SETS, ap_interval, auc_interval, metric_intervals,  # noqa: E402
                                          newcombe_auc_interval, proportion_interval, set_mean_interval)


def test_wilson_matches_statsmodels_and_never_collapses():
    from statsmodels.stats.proportion import proportion_confint

    for k, n in [(0, 20), (1, 20), (19, 20), (20, 20), (7, 13), (0, 1), (50, 100)]:
        lo, hi = proportion_interval(k, n)
        ref = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert (lo, hi) == pytest.approx((max(ref[0], 0.0), min(ref[1], 1.0)), abs=1e-12)
        assert hi - lo > 0.0 and lo <= k / n <= hi
        cp = proportion_interval(k, n, method="clopper-pearson")
        assert cp[0] <= lo + 1e-12 and cp[1] >= hi - 1e-12  # Clopper-Pearson is the wider, conservative one
    assert all(math.isnan(v) for v in proportion_interval(0, 0))
    with pytest.raises(ValueError, match="method"):
        proportion_interval(1, 2, method="wald")


def test_fake_acc_of_zero_out_of_twenty_is_not_a_zero_width_interval():
    """Reproduction: ``bootstrap_ci([0]*20+[1]*20, [.1]*20+[.4]*20, 'fake_acc')`` gave (0.0, 0.0)."""
    y, s = np.r_[np.zeros(20, int), np.ones(20, int)], np.r_[np.full(20, 0.1), np.full(20, 0.4)]
    ci = metric_intervals(y, s)
    assert ci["fake_acc"][0] == 0.0 and ci["fake_acc"][1] == pytest.approx(0.1611, abs=1e-4)  # 0/20: [0, 16.1%]
    assert ci["real_acc"][0] == pytest.approx(0.8389, abs=1e-4) and ci["real_acc"][1] == 1.0


def test_auc_and_ap_intervals_contain_their_estimate_and_have_width():
    """Reproduction: a report showed ``AP 34.02 [34.07, 40.42]`` (the estimate outside its own interval)."""
    for seed in range(25):
        rng = np.random.default_rng(seed)
        n_real, n_fake = rng.integers(2, 40, 2)
        y = np.r_[np.zeros(n_real, int), np.ones(n_fake, int)]
        s = np.round(rng.normal(rng.uniform(-1, 4) * y, 1.0), int(rng.integers(0, 3)))
        auc = auc_interval(y, s)
        ap = ap_interval(y, s, n_boot=100, seed=seed)
        assert auc["ci"][0] <= auc["auc"] <= auc["ci"][1] and auc["ci"][1] > auc["ci"][0]
        assert auc["auc"] == pytest.approx(roc_auc_score(y, s))
        assert ap["ci"][0] <= ap["ap"] <= ap["ci"][1] and ap["ci"][1] > ap["ci"][0]
        assert ap["ap"] == pytest.approx(average_precision_score(y, s))
        assert 0.0 <= auc["ci"][0] and auc["ci"][1] <= 1.0 and 0.0 <= ap["ci"][0] and ap["ci"][1] <= 1.0


def test_separable_sample_gets_an_informative_auc_and_ap_interval():
    """A perfect ranking of 20 + 20 images: DeLong's variance is 0 and every bootstrap resample has AUC = AP = 1;
    the intervals still say how low the population value could be (Newcombe's score interval: about [0.90, 1])."""
    y = np.r_[np.zeros(20, int), np.ones(20, int)]
    s = np.arange(40.0)
    auc = auc_interval(y, s)
    assert auc["auc"] == 1.0 and auc["ci"][1] == 1.0 and 0.85 < auc["ci"][0] < 0.95
    assert auc["ci"] == pytest.approx(newcombe_auc_interval(1.0, 20, 20))
    ap = ap_interval(y, s, n_boot=50)
    assert ap["ap"] == 1.0 and ap["ci"][1] == 1.0 and 0.85 < ap["ci"][0] < 0.95 and "cannot vary" in ap["method"]


def test_mean_over_two_sets_is_too_few_for_an_interval():
    """Reproduction: ``bootstrap_set_mean([0.6, 0.9])`` gave (0.6, 0.9) -- [min, max], covering the mean ~49%."""
    two = set_mean_interval([0.6, 0.9])
    assert two["mean"] == pytest.approx(0.75) and all(math.isnan(v) for v in two["ci"])
    assert two["note"].startswith(TOO_FEW_SETS) and "population of test sets" in two["covers"]
    five = set_mean_interval([0.6, 0.9, 0.7, 0.8, 0.75])
    half = stats_t_half([0.6, 0.9, 0.7, 0.8, 0.75])
    assert five["ci"] == pytest.approx((0.75 - half, 0.75 + half)) and not five["note"]
    assert set_mean_interval([0.99, 1.0, 1.0, 0.98, 1.0])["ci"][1] == 1.0  # clipped to the metric's range


@pytest.mark.parametrize("q", [0.9, 0.95, 0.975, 0.995])
def test_student_t_quantile_matches_scipy_without_importing_it(q):
    """The scipy-free t quantile of set-mean intervals (A&S 26.7.3/4) against ``scipy.stats.t.ppf``, df 1..200."""
    from scipy import stats

    from fakebench.analysis import _student_t

    for df in range(1, 201):
        expected = stats.t.ppf(q, df)
        assert _student_t.ppf(q, df) == pytest.approx(expected, rel=1e-9, abs=1e-9), df
        assert _student_t.ppf(1 - q, df) == pytest.approx(-expected, rel=1e-9, abs=1e-9), df
    assert _student_t.ppf(0.5, 7) == 0.0
    assert (_student_t.ppf(0.0, 3), _student_t.ppf(1.0, 3)) == (-math.inf, math.inf)
    assert math.isnan(_student_t.ppf(1.5, 3)) and math.isnan(_student_t.ppf(math.nan, 3))
    for bad in (0, 2.5, -1):
        with pytest.raises(ValueError, match="integer df"):
            _student_t.ppf(0.975, bad)


def stats_t_half(values) -> float:
    from scipy import stats

    v = np.asarray(values)
    return stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)


def test_tiny_sets_get_no_confident_p_value():
    """Reproduction: 4 images gave a paired-bootstrap CI (1.0, 1.0) and p = 0.002, where exact McNemar on the same
    decisions gives 0.125; DeLong on 2 + 2 images with zero variance gave p = 0."""
    y = np.array([0, 0, 1, 1])
    a, b = np.array([0.1, 0.2, 0.9, 0.8]), np.array([0.9, 0.8, 0.1, 0.2])
    boot = paired_bootstrap(y, a, b, metric="acc", n_boot=200)
    assert math.isnan(boot["p_value"]) and all(math.isnan(v) for v in boot["ci"]) and "< 10" in boot["note"]
    assert mcnemar_test(y, (a > 0.5).astype(int), (b > 0.5).astype(int))["p_value"] == pytest.approx(0.125)
    from fakebench.analysis.paired import paired_accuracy_ci

    lo, hi = paired_accuracy_ci(y, (a > 0.5).astype(int), (b > 0.5).astype(int))
    assert hi == 1.0 and 0.0 < lo < 0.6  # +100 points on 4 images: a wide interval, not (1.0, 1.0)
    dl = delong_test(y, a, b)
    assert math.isnan(dl["p_value"]) and "< 10" in dl["note"]
    # 4 fakes vs 148 reals: no DeLong p-value (type-I error 11.5% at nominal 5%)
    rng = np.random.default_rng(0)
    y2 = np.r_[np.zeros(148, int), np.ones(4, int)]
    dl2 = delong_test(y2, rng.normal(y2, 1.0), rng.normal(y2, 1.0))
    assert math.isnan(dl2["p_value"])
    assert dl2["note"] == "no p-value: 4 fake images < 10 (the test is not valid that small)"


def test_zero_variance_delong_is_undefined_and_differences_stay_in_range():
    y = np.r_[np.zeros(12, int), np.ones(12, int)]
    sep = np.arange(24.0)
    res = delong_test(y, sep, sep * 2)  # both separable: variance 0
    assert math.isnan(res["p_value"]) and math.isnan(res["z"]) and "zero variance" in res["note"]
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(10, int), np.ones(10, int)]
    res = delong_test(y, y * 2.5 + rng.normal(0, 1, 20), -y * 2.5 + rng.normal(0, 1, 20))
    assert res["diff"] > 0.9 and res["diff"] + 1.96 * res["se"] > 1.0  # the plain Wald interval would pass +100
    assert -1.0 <= res["ci"][0] <= res["diff"] <= res["ci"][1] <= 1.0  # AUC-difference CIs reached +105 points


def test_bootstrap_p_values_can_survive_a_correction_over_many_sets():
    """With 1,000 resamples a tail-count p cannot go below 0.002, so Holm over 25+ sets could never reject; the
    paired AP test's p comes from the bootstrap standard error and can."""
    rng = np.random.default_rng(9)
    y = np.r_[np.zeros(200, int), np.ones(200, int)]
    good, bad = rng.normal(2.0 * y, 1.0), rng.normal(0.5 * y, 1.0)
    res = paired_bootstrap(y, expit(good), expit(bad), metric="ap", n_boot=1000, seed=0)
    assert res["p_value"] < 0.05 / 49


def test_holm_and_bh_columns():
    from statsmodels.stats.multitest import multipletests

    from fakebench.analysis.compare import adjust_p_values

    p = [0.01, float("nan"), 0.04, 0.03, 0.2]
    out = adjust_p_values(p)
    finite = [0.01, 0.04, 0.03, 0.2]
    holm = multipletests(finite, method="holm")[1]
    bh = multipletests(finite, method="fdr_bh")[1]
    assert math.isnan(out["holm"][1]) and math.isnan(out["bh"][1])
    assert [out["holm"][i] for i in (0, 2, 3, 4)] == pytest.approx(list(holm))
    assert [out["bh"][i] for i in (0, 2, 3, 4)] == pytest.approx(list(bh))
    assert out["holm"][0] == pytest.approx(0.04)  # 4 tests: 0.01 * 4 by hand


def test_ece_under_perfect_calibration_and_its_interval():
    """Reproduction: the ECE of a perfectly calibrated model is about 0.18 at n = 40 and nothing said so."""
    from fakebench.analysis.calibration import ece_if_calibrated, ece_interval

    rng = np.random.default_rng(1)
    p = rng.uniform(size=40)
    ref = ece_if_calibrated(p, n_sim=2000, seed=0)
    assert 0.12 < ref["expected"] < 0.22 and ref["q95"] > ref["expected"]
    big = ece_if_calibrated(rng.uniform(size=4000), n_sim=200, seed=0)
    assert big["expected"] < 0.03  # binning noise shrinks like 1/sqrt(n)
    y = (rng.uniform(size=40) < p).astype(int)
    lo, hi = ece_interval(y, p, n_boot=300, seed=0)
    assert lo <= ece(y, p) <= hi and hi > lo


def test_fitted_threshold_reports_its_out_of_sample_fpr():
    """Reproduction: a threshold fitted at 5% FPR on 40 reals has an expected 7.3% FPR on new images."""
    from fakebench.analysis.operating import fitted_fpr_interval, min_reals_for_fpr

    out = fitted_fpr_interval(40, 0.05)
    assert out["expected_fpr"] == pytest.approx(3 / 41) and out["lo"] < 0.05 < out["hi"]
    # check the Beta(k + 1, n - k) law by simulation: fit on 40 reals, measure on the population
    rng = np.random.default_rng(0)
    fprs = []
    for _ in range(3000):
        reals = np.sort(rng.normal(size=40))
        t = reals[40 - 2 - 1]  # 2 = floor(0.05 * 40) reals may exceed t
        fprs.append(1 - stats_norm_cdf(t))
    assert np.mean(fprs) == pytest.approx(3 / 41, abs=0.004)
    assert min_reals_for_fpr(0.01) == 1000 and min_reals_for_fpr(0.05) == 200


def stats_norm_cdf(x: float) -> float:
    from scipy.stats import norm

    return float(norm.cdf(x))


def test_platt_warns_on_separable_data():
    from fakebench.analysis.calibration import SeparableWarning

    with pytest.warns(SeparableWarning, match="perfectly separated"):
        fit_platt([0, 0, 0, 1, 1, 1], [-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", SeparableWarning)
        fit_platt([0, 0, 1, 1], [-1.0, 1.5, 1.0, 2.0])  # overlapping: no warning


def test_operating_intervals():
    from fakebench.analysis.operating import operating_intervals

    rng = np.random.default_rng(4)
    y = np.r_[np.zeros(250, int), np.ones(100, int)]
    s = rng.normal(1.5 * y, 1.0)
    op = operating_points(y, s)
    ci = operating_intervals(y, s, n_boot=100, seed=0)
    assert ci["eer"][0] <= op["eer"] <= ci["eer"][1] and ci["eer"][1] - ci["eer"][0] > 0.02
    assert ci["tpr_at_fpr_5"][0] <= op["tpr_at_fpr_5"] <= ci["tpr_at_fpr_5"][1]
    assert all(math.isnan(v) for v in ci["tpr_at_fpr_1"])  # 250 reals < 1,000: n/a, so no interval either
