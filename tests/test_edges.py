"""Edge paths of the scorer, ``--limit`` smoke runs, and mixed-size batching with a native-size preset."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import make_image
from fakebench.eval.scoring import TestSetSpec, evaluate_predictions


def _rows(dataset, labels, probs):
    return [{"dataset": dataset, "label": y, "prob": p, "logit": None} for y, p in zip(labels, probs)]


def test_single_class_set_has_undefined_ap_auc_and_real_acc():
    frame = pd.DataFrame(_rows("fakes", [1, 1, 1], [0.9, 0.2, 0.7]))
    (row,) = evaluate_predictions(frame, [TestSetSpec("fakes", "F", labels="fake")], n_boot=0)["per_dataset"]
    assert row["acc"] == pytest.approx(2 / 3) and row["fake_acc"] == pytest.approx(2 / 3)
    assert math.isnan(row["ap"]) and math.isnan(row["auc"]) and math.isnan(row["real_acc"])


def test_hard_decisions_give_no_threshold_free_metrics():
    frame = pd.DataFrame(_rows("s", [0, 0, 1, 1], [0.0, 1.0, 1.0, 1.0]))
    (row,) = evaluate_predictions(frame, [TestSetSpec("s", "S")], continuous=False, n_boot=0)["per_dataset"]
    assert row["acc"] == 0.75 and math.isnan(row["ap"]) and math.isnan(row["auc"])
    assert math.isnan(row["operating"]["eer"]) and row["operating"]["balanced_acc"] == 0.75


def test_unreadable_rows_are_ignored_and_a_missing_reference_is_an_error():
    frame = pd.DataFrame(_rows("s", [0, 1, 1], [0.1, 0.9, None]))
    (row,) = evaluate_predictions(frame, [TestSetSpec("s", "S")], n_boot=0)["per_dataset"]
    assert row["n"] == 2 and row["acc"] == 1.0
    with pytest.raises(ValueError, match="reference real set"):
        evaluate_predictions(frame, [TestSetSpec("s", "S", labels="fake", references=("coco",))], n_boot=0)


def test_threshold_is_strict():
    frame = pd.DataFrame(_rows("s", [0, 1], [0.5, 0.5000001]))
    (row,) = evaluate_predictions(frame, [TestSetSpec("s", "S")], n_boot=0)["per_dataset"]
    assert row["real_acc"] == 1.0 and row["fake_acc"] == 1.0  # 0.5 itself is real (prob > 0.5 = fake)


def test_limit_takes_the_first_images_per_label_and_is_recorded(image_tree, npr_checkpoint, tmp_path):
    from fakebench.cli import main

    res = CliRunner().invoke(main, ["evaluate", "--detector", "npr", "--weights", str(npr_checkpoint), "--preset",
                                    "native", "--data-dir", str(image_tree), "--limit", "2", "--output",
                                    str(tmp_path / "runs"), "--workers", "0", "--quiet", "--n-boot", "0"])
    assert res.exit_code == 0, res.output
    (results,) = (tmp_path / "runs").rglob("results.json")
    data = json.loads(results.read_text())
    assert data["data"]["limit_per_label"] == 2
    predictions = pd.read_csv(results.parent / "predictions.csv")
    for name in ("gen_a", "gen_b"):
        own = predictions[predictions["dataset"] == name]
        assert sorted(own["label"]) == [0, 0, 1, 1]
        # the first two in sorted path order of each label (a deterministic subsample)
        assert sorted(own.loc[own["label"] == 0, "image"].map(lambda p: p.rsplit("/", 1)[-1])) == ["r0.png", "r1.png"]


def test_mixed_size_batches_with_a_native_preset_equal_one_image_at_a_time(npr_checkpoint, tmp_path):
    from fakebench import load_detector
    from fakebench.eval.harness import run_evaluation, sets_from_data_dir

    root = tmp_path / "mixed"
    for i, size in enumerate((32, 48, 32, 64, 48, 32)):
        make_image(root / "g" / ("0_real" if i % 2 else "1_fake") / f"{i}.png", "fake" if i % 2 == 0 else "real",
                   size=size, seed=i)
    det = load_detector("npr", npr_checkpoint, preset="native")
    sets = sets_from_data_dir(root)
    _, batched = run_evaluation(det, sets, output=tmp_path / "a", data_label="m", batch_size=8, num_workers=0,
                                use_cache=False, progress=False, n_boot=0)
    _, single = run_evaluation(det, sets, output=tmp_path / "b", data_label="m", batch_size=1, num_workers=0,
                               use_cache=False, progress=False, n_boot=0)
    a = pd.read_csv(next((tmp_path / "a").rglob("predictions.csv")))
    b = pd.read_csv(next((tmp_path / "b").rglob("predictions.csv")))
    assert list(a["image"]) == list(b["image"])
    np.testing.assert_allclose(a["logit"], b["logit"], rtol=0, atol=1e-5)
    assert batched["metrics"]["per_dataset"][0]["acc"] == single["metrics"]["per_dataset"][0]["acc"]
