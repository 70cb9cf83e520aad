"""Metrics against scikit-learn on seeded random inputs (with ties), plus edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score

from fakebench.eval.metrics import accuracy, average_precision, binary_metrics, fake_accuracy, real_accuracy, roc_auc

# seeded inputs, defined once: (labels, scores) with few distinct values (ties) and with continuous values
_CASES = []
for _seed, _n, _decimals in [(0, 10, 1), (1, 57, 2), (2, 400, 1), (3, 1000, 6), (4, 3, 0)]:
    _rng = np.random.default_rng(_seed)
    _y = _rng.integers(0, 2, _n)
    _y[:2] = [0, 1]
    _s = np.round(np.clip(_rng.normal(0.35 + 0.3 * _y, 0.25), 0, 1), _decimals)
    _CASES.append(pytest.param(_y, _s, id=f"seed{_seed}-n{_n}-d{_decimals}"))


@pytest.mark.parametrize("y,s", _CASES)
def test_against_sklearn(y, s):
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert accuracy(y, s) == pytest.approx(accuracy_score(y, s > 0.5))
    assert real_accuracy(y, s) == pytest.approx(accuracy_score(y[y == 0], s[y == 0] > 0.5))
    assert fake_accuracy(y, s) == pytest.approx(accuracy_score(y[y == 1], s[y == 1] > 0.5))


def test_threshold_is_strict():
    """Official code decides fake by prob > 0.5: exactly 0.5 is real."""
    assert accuracy([0, 1], [0.5, 0.5]) == 0.5
    assert real_accuracy([0], [0.5]) == 1.0


def test_single_class_gives_nan_not_a_number():
    assert math.isnan(average_precision([1, 1], [0.2, 0.9]))
    assert math.isnan(roc_auc([0, 0], [0.2, 0.9]))
    assert math.isnan(fake_accuracy([0, 0], [0.2, 0.9]))


def test_hard_labels_skip_ap_auc():
    m = binary_metrics([0, 1, 1], [0.0, 1.0, 0.0], continuous=False)
    assert math.isnan(m["ap"]) and math.isnan(m["auc"])
    assert m["acc"] == pytest.approx(2 / 3)
    assert (m["n"], m["n_real"], m["n_fake"]) == (3, 1, 2)


@pytest.mark.parametrize("y,s,match", [([0, 2], [0.1, 0.2], "only 0"), ([0, 1], [0.1], "equal length"),
                                       ([0, 1], [0.1, float("nan")], "NaN")])
def test_bad_inputs_raise(y, s, match):
    with pytest.raises(ValueError, match=match):
        binary_metrics(y, s)


@pytest.mark.parametrize("y,s", _CASES)
def test_auc_is_the_pairwise_probability(y, s):
    """ROC-AUC = P(fake scores above real) + P(tie) / 2, counted over every (fake, real) pair."""
    fake, real = s[y == 1], s[y == 0]
    pairs = (fake[:, None] > real[None, :]) + 0.5 * (fake[:, None] == real[None, :])
    assert roc_auc(y, s) == pytest.approx(pairs.mean(), abs=1e-12)


def test_ap_hand_example_with_a_tie():
    # scores 0.9 (fake), 0.8 (real), 0.8 (fake), 0.1 (fake): thresholds 0.9 -> P 1, R 1/3; 0.8 -> P 2/3, R 2/3;
    # 0.1 -> P 3/4, R 1.  AP = 1/3 * 1 + 1/3 * 2/3 + 1/3 * 3/4
    assert average_precision([1, 0, 1, 1], [0.9, 0.8, 0.8, 0.1]) == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)


def test_infinite_logits_rank_like_large_finite_ones():
    y = np.array([1, 0, 1, 0, 1])
    s = np.array([np.inf, 3.0, np.inf, -np.inf, 0.5])
    finite = np.array([10.0, 3.0, 10.0, -10.0, 0.5])
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, finite))
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, finite))


@pytest.mark.parametrize("seed", range(40))
def test_numpy_ap_auc_equal_sklearn_on_many_draws(seed):
    """AP and ROC-AUC are computed in numpy (scoring never imports scikit-learn): equal to scikit-learn on draws of
    every size, balance and tie density, including +-inf logits."""
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(2, 3000))
    y = (rng.random(n) < rng.uniform(0.02, 0.98)).astype(int)
    y[:2] = [0, 1]
    s = rng.normal(y * rng.uniform(0, 2), 1.0)
    s = np.round(s, int(rng.integers(0, 5)))  # 0 decimals: heavy ties
    if seed % 5 == 0:
        s[rng.integers(0, n, 3)] = np.inf
        s[rng.integers(0, n, 3)] = -np.inf
    finite = np.where(np.isposinf(s), np.nanmax(s[np.isfinite(s)]) + 1, np.where(np.isneginf(s), np.nanmin(
        s[np.isfinite(s)]) - 1, s))
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, finite), abs=1e-12)
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, finite), abs=1e-12)
