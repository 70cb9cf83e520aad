"""``fakebench compare RUN_A RUN_B``: paired differences of two runs on the same images, and the refusal when the
image sets differ. Run folders are written here by hand (predictions.csv + results.json)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from fakebench.analysis.compare import RunMismatchError, compare_runs
from fakebench.core.errors import DataError
from fakebench.analysis.paired import delong_test, mcnemar_test
from fakebench.cli.compare import compare
from fakebench.eval.scoring import TestSetSpec, evaluate_predictions

_GROUPS = [TestSetSpec("gen_a", "GenA"), TestSetSpec("coco", "COCO", labels="real"),
           TestSetSpec("sd2", "SD2", labels="fake", references=("coco",))]


def _images(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for dataset, label, n in [("gen_a", 0, 60), ("gen_a", 1, 60), ("coco", 0, 50), ("sd2", 1, 40)]:
        for i in range(n):
            rows.append({"image": f"/data/{dataset}/{label}/{i}.png", "sha256": f"{dataset}{label}{i:04d}" + "0" * 52,
                         "dataset": dataset, "generator": dataset, "label": label})
    frame = pd.DataFrame(rows)
    frame["signal"] = rng.normal(frame["label"] * 2.0, 1.0)
    return frame


def _write_run(root, name: str, images: pd.DataFrame, noise: float, seed: int):
    rng = np.random.default_rng(seed)
    pred = images[["image", "sha256", "dataset", "generator", "label"]].copy()
    pred["logit"] = images["signal"] + rng.normal(0, noise, len(images)) - 0.3
    pred["prob"] = 1 / (1 + np.exp(-pred["logit"]))
    pred["decision"] = (pred["prob"] > 0.5).astype(int)
    pred["error"] = ""
    pred["note"] = ""
    folder = root / name
    folder.mkdir()
    pred.to_csv(folder / "predictions.csv", index=False)
    metrics = evaluate_predictions(pred, _GROUPS, n_boot=0)
    results = {"schema": "fakebench.results/1.1", "date": "2026-01-01", "threshold": 0.5,
               "detector": {"name": name, "weights": {"tag": "w"}, "preset": {"name": "native"}},
               "data": {"label": "toy"}, "metrics": metrics}
    (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return folder, pred


@pytest.fixture()
def runs(tmp_path):
    images = _images()
    a, pred_a = _write_run(tmp_path, "good", images, noise=0.3, seed=1)
    b, pred_b = _write_run(tmp_path, "bad", images.sample(frac=1.0, random_state=3), noise=2.5, seed=2)  # shuffled
    return a, b, pred_a, pred_b


def test_compare_differences_match_independent_tests(runs, tmp_path):
    a, b, pred_a, pred_b = runs
    out = compare_runs(a, b, n_boot=300, seed=0)
    rows = {r["dataset"]: r for r in out["per_dataset"]}
    assert list(rows) == ["gen_a", "coco", "sd2"]
    joined = pred_a.merge(pred_b, on="sha256", suffixes=("_a", "_b"))
    g = joined[joined["dataset_a"] == "gen_a"]
    acc_a = ((g["prob_a"] > 0.5).astype(int) == g["label_a"]).mean()
    acc_b = ((g["prob_b"] > 0.5).astype(int) == g["label_a"]).mean()
    assert rows["gen_a"]["acc"]["diff"] == pytest.approx(acc_a - acc_b)
    lo, hi = rows["gen_a"]["acc"]["ci"]
    assert lo <= acc_a - acc_b <= hi
    dl = delong_test(g["label_a"].to_numpy(), g["logit_a"].to_numpy(), g["logit_b"].to_numpy())
    assert rows["gen_a"]["auc"]["diff"] == pytest.approx(dl["diff"]) and rows["gen_a"]["auc"]["p_value"] == \
        pytest.approx(dl["p_value"])
    mc = mcnemar_test(g["label_a"].to_numpy(), (g["prob_a"] > 0.5).astype(int), (g["prob_b"] > 0.5).astype(int))
    assert rows["gen_a"]["mcnemar"]["p_value"] == pytest.approx(mc["p_value"])
    # fake-only set: AP/AUC over its fakes pooled with the coco reference reals, as in results.json
    sd2_pool = joined[joined["dataset_a"].isin(["sd2", "coco"])]
    dl_sd2 = delong_test(sd2_pool["label_a"].to_numpy(), sd2_pool["logit_a"].to_numpy(),
                         sd2_pool["logit_b"].to_numpy())
    assert rows["sd2"]["auc"]["diff"] == pytest.approx(dl_sd2["diff"])
    assert math.isnan(rows["coco"]["ap"]["diff"])  # real-only set: no AP
    # the mean is unweighted over sets, its CI from resampling images jointly in every set
    accs = [rows[d]["acc"]["diff"] for d in rows]
    assert out["mean"]["acc"]["diff"] == pytest.approx(np.mean(accs))
    assert out["mean"]["acc"]["ci"][0] <= out["mean"]["acc"]["diff"] <= out["mean"]["acc"]["ci"][1]
    assert out["mean"]["auc"]["diff"] > 0 and out["mean"]["auc"]["p_value"] < 0.05  # A is clearly better


def test_cli_prints_table_and_writes_json(runs, tmp_path):
    a, b, _, _ = runs
    json_out = tmp_path / "cmp" / "compare.json"
    result = CliRunner().invoke(compare, [str(a), str(b), "--n-boot", "200", "--seed", "1", "--json", str(json_out)])
    assert result.exit_code == 0, result.output
    assert "good" in result.output and "bad" in result.output
    for name in ("gen_a", "coco", "sd2", "mean"):
        assert name in result.output
    assert "DeLong" in result.output and "McNemar" in result.output
    data = json.loads(json_out.read_text(encoding="utf-8"))
    assert data["n_boot"] == 200 and data["seed"] == 1 and len(data["per_dataset"]) == 3
    again = compare_runs(a, b, n_boot=200, seed=1)
    assert data["mean"]["ap"]["ci"] == pytest.approx(list(again["mean"]["ap"]["ci"]))


def test_refuses_when_the_image_sets_differ(runs, tmp_path):
    a, b, _, pred_b = runs
    dropped = pred_b[pred_b["dataset"] == "sd2"].iloc[:3]
    kept = pred_b.drop(dropped.index)
    kept.to_csv(b / "predictions.csv", index=False)
    results = json.loads((b / "results.json").read_text())  # B was scored on fewer images (not a damaged file)
    results["metrics"] = evaluate_predictions(kept, _GROUPS, n_boot=0)
    (b / "results.json").write_text(json.dumps(results))
    with pytest.raises(RunMismatchError) as info:
        compare_runs(a, b, n_boot=10)
    message = str(info.value)
    assert str(a) in message and str(b) in message and "sd2" in message
    assert dropped["sha256"].iloc[0][:16] in message and "3" in message
    result = CliRunner().invoke(compare, [str(a), str(b), "--n-boot", "10"])
    assert result.exit_code != 0 and "sd2" in result.output and "Traceback" not in result.output


def test_refuses_when_labels_disagree(runs):
    a, b, _, pred_b = runs
    flipped = pred_b.copy()
    flipped.loc[flipped.index[0], "label"] = 1 - flipped.loc[flipped.index[0], "label"]
    flipped.to_csv(b / "predictions.csv", index=False)
    with pytest.raises(RunMismatchError, match="label"):
        compare_runs(a, b, n_boot=10)


def test_missing_files_are_clear_errors(tmp_path, runs):
    a, _, _, _ = runs
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(compare, [str(a), str(empty)])
    assert result.exit_code != 0 and "predictions.csv" in result.output


def test_a_set_with_one_image_per_class_gets_no_interval_or_p_value(tmp_path):
    """1 real + 1 fake: a paired bootstrap redraws the same pair every time; a zero-width CI with p = 0.002 would be
    an artefact, so the set's CI and p-value are undefined while its difference is still reported."""
    import math

    import pandas as pd

    from fakebench.analysis.compare import compare_runs
    from fakebench.eval.scoring import evaluate_predictions

    def run(folder, probs):
        frame = pd.DataFrame({"image": ["r.png", "f.png"], "sha256": ["a" * 64, "b" * 64], "dataset": ["s", "s"],
                              "generator": ["g", "g"], "label": [0, 1], "logit": [None, None], "prob": probs,
                              "decision": [int(p > 0.5) for p in probs], "error": ["", ""], "note": ["", ""]})
        folder.mkdir()
        frame.to_csv(folder / "predictions.csv", index=False)
        metrics = evaluate_predictions(frame, [TestSetSpec("s", "g")], n_boot=0)
        (folder / "results.json").write_text(json.dumps({
            "schema": "fakebench.results/1.1", "date": "2026-01-01", "detector": {
                "name": folder.name, "weights": {"tag": "t"}, "preset": {"name": "p"}},
            "data": {"label": "d"}, "metrics": metrics}, default=float))
        return folder

    out = compare_runs(run(tmp_path / "a", [0.2, 0.9]), run(tmp_path / "b", [0.9, 0.2]), n_boot=50)
    (row,) = out["per_dataset"]
    assert row["ap"]["diff"] == 0.5
    assert math.isnan(row["ap"]["p_value"]) and all(math.isnan(v) for v in row["ap"]["ci"])


def test_a_cut_predictions_csv_is_named_as_damaged(runs):
    """Issue #20 item 7: a predictions.csv cut short (a copy interrupted mid-row) holds fewer scored images than
    its results.json reports: the error names that file as damaged, not "not the same images"."""
    a, b, _, _ = runs
    data = (b / "predictions.csv").read_bytes()
    (b / "predictions.csv").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(DataError) as info:
        compare_runs(a, b, n_boot=10)
    message = str(info.value)
    assert not isinstance(info.value, RunMismatchError)
    assert str(b / "predictions.csv") in message and "damaged" in message and "results.json" in message
    result = CliRunner().invoke(compare, [str(a), str(b), "--n-boot", "10"])
    assert result.exit_code == 1 and "damaged" in result.output and "not the same images" not in result.output
