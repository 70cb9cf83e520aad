"""Accuracy at a threshold fitted on a named calibration split (disjoint from the test images)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fakebench.analysis.calibrate import calibrate, parse_target
from fakebench.core.errors import DataError
from fakebench.eval.scoring import TestSetSpec, evaluate_predictions


def _frame(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    # a detector whose scores are shifted up: reals around 0.6, fakes around 0.8 -> 0.5 calls everything fake
    for name, label, centre in (("cal-real", 0, 0.6), ("cal-fake", 1, 0.8), ("test", 0, 0.6), ("test", 1, 0.8)):
        for p in np.clip(rng.normal(centre, 0.03, 200), 0, 1):
            rows.append({"dataset": name, "label": label, "prob": float(p), "logit": None})
    return pd.DataFrame(rows)


def test_threshold_from_a_mixed_split_fixes_a_shifted_detector():
    frame = _frame(np.random.default_rng(0))
    groups = [TestSetSpec("cal-real", "R", labels="real"), TestSetSpec("cal-fake", "F", labels="fake", references=("cal-real",)),
              TestSetSpec("test", "T")]
    metrics = evaluate_predictions(frame, groups, n_boot=0)
    test_row = next(r for r in metrics["per_dataset"] if r["dataset"] == "test")
    assert test_row["acc"] == pytest.approx(0.5, abs=0.01)  # at 0.5 every real is called fake
    out = calibrate(frame, metrics, ["cal-real", "cal-fake"], target="eer")
    assert 0.6 < out["threshold"] < 0.8
    assert [r["dataset"] for r in out["per_dataset"]] == ["test"]  # the split is not scored as a test set
    assert out["per_dataset"][0]["acc"] > 0.98 and out["n_calibration"] == 400


def test_real_only_split_with_a_false_positive_target():
    rng = np.random.default_rng(1)
    frame = _frame(rng)
    metrics = evaluate_predictions(frame, [TestSetSpec("cal-real", "R", labels="real"), TestSetSpec("test", "T")], n_boot=0)
    out = calibrate(frame, metrics, ["cal-real"], target="fpr:0.05")
    reals = frame.loc[frame["dataset"] == "cal-real", "prob"].to_numpy()
    assert (reals > out["threshold"]).mean() <= 0.05 < (reals >= out["threshold"]).mean() + 0.01
    test = out["per_dataset"][0]
    assert test["real_acc"] == pytest.approx(0.95, abs=0.05) and test["fake_acc"] > 0.99
    # the FPR to expect on new reals (issue #16): k = floor(0.05 n) reals above t -> Beta(k + 1, n - k) law
    n = len(reals)
    exp = out["expected_fpr"]
    assert exp["n_real"] == n and exp["expected_fpr"] == pytest.approx((int(0.05 * n) + 1) / (n + 1))
    assert exp["lo"] < 0.05 < exp["hi"]
    from fakebench.eval.harness import _expected_fpr_text

    assert "FPR to expect on new reals" in _expected_fpr_text(out)
    with pytest.raises(DataError, match="needs real and fake"):
        calibrate(frame, metrics, ["cal-real"], target="eer")


def test_bad_requests_are_refused():
    frame = _frame(np.random.default_rng(2))
    metrics = evaluate_predictions(frame, [TestSetSpec("test", "T")], n_boot=0)
    with pytest.raises(DataError, match="no scored image"):
        calibrate(frame, metrics, ["nope"])
    with pytest.raises(DataError, match="Unknown calibration target"):
        parse_target("fpr:5")


def test_run_evaluation_records_the_calibration(image_tree, tmp_path):
    import json

    from fakebench.eval.harness import run_evaluation, sets_from_data_dir
    from _toy import ToyHF

    det = ToyHF.load()
    run_dir, results = run_evaluation(det, sets_from_data_dir(image_tree), output=tmp_path, data_label="t",
                                      num_workers=0, progress=False, calibrate_on=["gen_a"], n_boot=50)
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["calibration"]["split"] == ["gen_a"] and saved["calibrated_threshold"] == results["calibrated_threshold"]
    assert [r["dataset"] for r in saved["calibration"]["per_dataset"]] == ["gen_b"]
    assert "At a calibrated threshold" in (run_dir / "metrics.md").read_text()
    assert saved["metrics"]["per_dataset"][0]["ci"]["acc"][0] <= saved["metrics"]["per_dataset"][0]["acc"]


def test_temperature_scaling_fitted_on_the_split_lowers_ece_of_an_overconfident_detector():
    rng = np.random.default_rng(3)
    rows = []
    for name in ("cal", "test"):
        # true log-odds z, labels drawn from sigmoid(z); the detector reports 4 z (overconfident: the right T is 4)
        z = rng.normal(0.0, 2.0, 1500)
        labels = (rng.random(1500) < 1 / (1 + np.exp(-z))).astype(int)
        for label, logit in zip(labels, 4 * z):
            rows.append({"dataset": name, "label": int(label), "logit": float(logit),
                         "prob": float(1 / (1 + np.exp(-logit)))})
    frame = pd.DataFrame(rows)
    metrics = evaluate_predictions(frame, [TestSetSpec("cal", "C"), TestSetSpec("test", "T")], n_boot=0)
    out = calibrate(frame, metrics, ["cal"], target="eer")
    temp = out["temperature"]
    assert temp["T"] == pytest.approx(4.0, rel=0.25)  # recovers the overconfidence factor
    (row,) = temp["per_dataset"]
    assert row["dataset"] == "test" and row["ece_after"] < row["ece_before"] / 2
    test_row = next(r for r in metrics["per_dataset"] if r["dataset"] == "test")
    assert test_row["calibration"]["ece"] == pytest.approx(row["ece_before"])
