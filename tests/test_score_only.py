"""The score-only detector contract (``natural_threshold=None``): a detector whose output is a score with no natural
threshold (training-free AEROBLADE) gets AP/AUC from the score, no 0.5 accuracy anywhere ("n/a: no threshold"), and
accuracies only at a threshold fitted on a calibration split, in score units. Classifiers keep their 0.5 behaviour.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from fakebench.detectors.base import Detector, DetectorOutput, WeightsInfo
from fakebench.detectors.card import DetectorCard, Preset

SCORE_CARD = DetectorCard(
    name="toy-score", title="Toy score-only detector", paper="(test fixture)", paper_url="", repo="", licence="MIT",
    architecture="minus the mean absolute 2x2 difference, minus 10", score="score only, no natural threshold",
    weights=(), presets=(Preset("native"),), default_preset="native", natural_threshold=None)


class ToyScore(Detector):
    """Score = 10 * high-frequency energy - 10: higher for the synthetic fakes, far outside [0, 1]."""

    name = "toy-score"
    card = SCORE_CARD

    @classmethod
    def load(cls, weights=None, *, preset=None, device="cpu", cache_dir=None):
        return cls(preset=preset, weights=WeightsInfo(tag="none"), device=device)

    def predict(self, batch: torch.Tensor) -> DetectorOutput:
        hf = (batch[..., 1:, :] - batch[..., :-1, :]).abs().mean(dim=(1, 2, 3))
        return DetectorOutput(prob=10.0 * hf - 10.0, logit=None)


def test_card_and_detector_say_score_only():
    from fakebench.detectors import REGISTRY
    from fakebench.detectors.catalog import NPR_CARD

    assert ToyScore.load().natural_threshold is None and SCORE_CARD.score_only
    assert NPR_CARD.natural_threshold == 0.5 and not NPR_CARD.score_only  # classifiers keep the 0.5 rule
    assert REGISTRY.card("aeroblade").natural_threshold is None
    assert SCORE_CARD.to_dict()["natural_threshold"] is None


def test_binary_metrics_without_threshold_give_ap_auc_and_no_accuracy():
    from fakebench.eval.metrics import binary_metrics

    y = np.array([0, 0, 1, 1])
    s = np.array([-3.0, -2.0, -1.5, -0.1])  # scores, not probabilities: every one would be "real" at 0.5
    out = binary_metrics(y, s, threshold=None)
    assert math.isnan(out["acc"]) and math.isnan(out["real_acc"]) and math.isnan(out["fake_acc"])
    assert out["ap"] == 1.0 and out["auc"] == 1.0
    assert binary_metrics(y, s)["acc"] == 0.5  # the 0.5 rule would have given a meaningless number


def test_evaluate_predictions_score_only_has_no_accuracy_and_no_probability_calibration():
    from fakebench.eval.scoring import TestSetSpec
    from fakebench.eval.scoring import evaluate_predictions

    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(20, int), np.ones(20, int)]
    score = np.r_[rng.normal(-5, 1, 20), rng.normal(-3, 1, 20)]
    frame = pd.DataFrame({"dataset": "s", "label": y, "prob": score, "logit": np.nan})
    m = evaluate_predictions(frame, [TestSetSpec(dataset="s", generator="g")], threshold=None, n_boot=50)
    row = m["per_dataset"][0]
    assert all(math.isnan(row[k]) for k in ("acc", "real_acc", "fake_acc"))
    assert 0.8 < row["auc"] <= 1.0 and 0.8 < row["ap"] <= 1.0
    assert "calibration" not in row  # ECE/Brier/NLL need probabilities
    assert math.isnan(row["operating"]["acc_at_threshold"]) and math.isnan(row["operating"]["balanced_acc"])
    assert row["operating"]["eer_threshold"] < 0  # operating points in score units
    assert all(math.isnan(v) for v in row["ci"]["acc"]) and row["ci"]["auc"][0] <= row["auc"]
    assert math.isnan(m["mean"]["acc"]) and m["mean"]["auc"] == row["auc"]


def test_runner_row_has_no_decision_without_threshold():
    from fakebench.data.images import ImageRecord
    from fakebench.eval.runner import _row

    record = ImageRecord(path="a.png", label=1, dataset="d", generator="g")
    assert _row(record, "0" * 64, None, -0.02, threshold=None)["decision"] == ""
    assert _row(record, "0" * 64, None, 0.7)["decision"] == 1


@pytest.fixture
def score_run(image_tree, tmp_path):
    from fakebench.eval.harness import run_evaluation, sets_from_data_dir

    det = ToyScore.load()
    run_dir, results = run_evaluation(det, sets_from_data_dir(image_tree), output=tmp_path / "runs", data_label="t",
                                      num_workers=0, progress=False, calibrate_on=["gen_a"], n_boot=50)
    return run_dir, results


def test_run_records_null_threshold_and_a_calibrated_threshold_in_score_units(score_run):
    from fakebench.eval.results import read_results

    run_dir, results = score_run
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["threshold"] is None and saved["detector"]["natural_threshold"] is None
    pred = pd.read_csv(run_dir / "predictions.csv")
    assert pred["decision"].isna().all() and (pred["prob"] < 0).all()  # scores kept as they are
    row = saved["metrics"]["per_dataset"][0]
    assert row["acc"] is None or math.isnan(row["acc"])
    assert row["auc"] == 1.0  # the toy separates the synthetic fakes
    cal = saved["calibration"]
    assert cal["threshold"] < 0 and cal["temperature"] is None  # score units; no logits to temperature-scale
    assert [r["dataset"] for r in cal["per_dataset"]] == ["gen_b"] and cal["per_dataset"][0]["acc"] == 1.0
    md = (run_dir / "metrics.md").read_text()
    assert "n/a: no threshold" in md and "score units" in md and "fake probability > 0.5" not in md
    assert read_results(run_dir).threshold is None


def test_leaderboard_and_report_say_no_threshold(score_run, image_tree, tmp_path):
    from fakebench.eval.harness import run_evaluation, sets_from_data_dir
    from fakebench.eval.leaderboard import load_results, write_leaderboard
    from fakebench.report import write_report
    from _toy import ToyHF

    score_dir, _ = score_run
    prob_dir, _ = run_evaluation(ToyHF.load(), sets_from_data_dir(image_tree), output=tmp_path / "runs",
                                 data_label="t", num_workers=0, progress=False, n_boot=0)
    write_leaderboard(load_results([score_dir, prob_dir]), tmp_path / "board")
    md = (tmp_path / "board" / "leaderboard.md").read_text()
    accuracy = md.split("## accuracy")[1].split("## ")[0]
    score_col = [line for line in accuracy.splitlines() if line.startswith("| gen_a")][0]
    assert "n/a: no threshold" in score_col and "toy-score" in md.split("n/a: no threshold:")[1].split("\n")[0]
    auc = md.split("## ROC-AUC")[1].split("## ")[0]
    assert "n/a: no threshold" not in auc
    html = write_report([score_dir, prob_dir], tmp_path / "report").read_text()
    assert "n/a: no threshold" in html and "score-only detector" in html
    assert "No histogram for toy-score" in html


def test_predict_cli_prints_no_decision_for_a_score_only_detector(image_tree, monkeypatch):
    from click.testing import CliRunner

    from fakebench.cli import main as cli
    from fakebench.detectors import REGISTRY

    REGISTRY.register("toy-score", ToyScore, card=SCORE_CARD, origin="test")
    try:
        image = next(image_tree.glob("gen_a/1_fake/*.png"))
        res = CliRunner().invoke(cli, ["predict", "--detector", "toy-score", str(image)])
    finally:
        REGISTRY.unregister("toy-score")
    assert res.exit_code == 0, res.output
    assert "\tscore\t" in res.output.splitlines()[0] and "n/a: no threshold" in res.output
