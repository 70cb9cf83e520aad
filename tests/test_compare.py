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
    result = CliRunner().invoke(compare, [str(a), str(b), "--n-boot", "200"])
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


def _many_sets(tmp_path, n_sets: int = 6, per_class: int = 30, seed: int = 0):
    """Two runs over ``n_sets`` mixed sets where A's advantage changes sign from set to set."""
    rng = np.random.default_rng(seed)
    groups = [TestSetSpec(f"g{i}", f"G{i}") for i in range(n_sets)]
    rows = []
    for i in range(n_sets):
        for label in (0, 1):
            for j in range(per_class):
                rows.append({"image": f"/d/g{i}/{label}/{j}.png", "sha256": f"g{i}{label}{j:04d}".ljust(64, "0"),
                             "dataset": f"g{i}", "generator": f"g{i}", "label": label})
    images = pd.DataFrame(rows)
    signal = rng.normal(images["label"] * 1.5, 1.0)
    folders = []
    for name, sign in (("a", 1.0), ("b", -1.0)):
        pred = images.copy()
        # per-set shift of A relative to B: +-0.8 logits, alternating, so set differences vary in sign
        shift = np.array([0.8 * sign * (1 if int(d[1:]) % 2 else -1) for d in images["dataset"]])
        pred["logit"] = signal + rng.normal(0, 0.7, len(images)) + shift * (2 * images["label"] - 1) * 0.5
        pred["prob"] = 1 / (1 + np.exp(-pred["logit"]))
        pred["decision"] = (pred["prob"] > 0.5).astype(int)
        pred["error"], pred["note"] = "", ""
        folder = tmp_path / name
        folder.mkdir()
        pred.to_csv(folder / "predictions.csv", index=False)
        metrics = evaluate_predictions(pred, groups, n_boot=0)
        (folder / "results.json").write_text(json.dumps({
            "schema": "fakebench.results/1.1", "date": "2026-01-01", "threshold": 0.5,
            "detector": {"name": name, "weights": {"tag": "w"}, "preset": {"name": "native"}},
            "data": {"label": "toy"}, "metrics": metrics}), encoding="utf-8")
        folders.append(folder)
    return folders


def test_mean_is_answered_for_both_questions_and_p_values_are_adjusted(tmp_path):
    """Reproduction: ``compare`` resampled images over fixed sets and said nothing; for a mean difference that
    varies from set to set, resampling the sets gives a much wider interval. Both are reported, each saying what it
    covers; every per-set p-value column has Holm and BH columns."""
    from statsmodels.stats.multitest import multipletests

    from fakebench.analysis.compare import QUESTIONS, comparison_table, format_comparison

    a, b = _many_sets(tmp_path)
    out = compare_runs(a, b, n_boot=300, seed=0)
    acc = out["mean"]["acc"]
    assert acc["question"] == "images" and acc["covers"] == QUESTIONS["images"]
    sets = acc["sets"]
    diffs = [r["acc"]["diff"] for r in out["per_dataset"]]
    assert sets["k"] == 6 and not sets["note"]
    assert sets["ci"][0] <= np.mean(diffs) <= sets["ci"][1]
    assert sets["ci"][1] - sets["ci"][0] > 1.5 * (acc["ci"][1] - acc["ci"][0])  # set-to-set spread dominates
    from scipy import stats

    assert sets["p_value"] == pytest.approx(stats.ttest_1samp(diffs, 0.0).pvalue)
    for test in ("acc", "ap", "auc", "mcnemar"):
        raw = [r[test]["p_value"] for r in out["per_dataset"]]
        assert [r[test]["p_holm"] for r in out["per_dataset"]] == pytest.approx(
            list(multipletests(raw, method="holm")[1]))
        assert [r[test]["p_bh"] for r in out["per_dataset"]] == pytest.approx(
            list(multipletests(raw, method="fdr_bh")[1]))
    text = format_comparison(out)
    assert "Holm" in text and "BH" in text and "mean (images)" in text and "mean (sets)" in text
    table = comparison_table(out)
    assert {"dataset", "test", "diff", "ci_lo", "ci_hi", "p_value", "p_holm", "p_bh", "note"} <= set(table.columns)
    assert set(table["dataset"]) == {f"g{i}" for i in range(6)} | {"mean (images)", "mean (sets)"}
    result = CliRunner().invoke(compare, [str(a), str(b), "--n-boot", "200"])
    assert result.exit_code == 0 and "Holm" in result.output and "BH" in result.output
    assert "mean (sets)" in result.output and "population of test sets" in result.output


def test_tiny_sets_print_exact_mcnemar_not_a_bootstrap_p(tmp_path):
    """Reproduction: for two 4-image (2 + 2) sets ``compare`` printed a paired-bootstrap CI (1.0, 1.0) and p = 0.002;
    exact McNemar on the same decisions gives 0.125, and AP/AUC get no p-value below 10 images of a class."""
    a, b = _many_sets(tmp_path, n_sets=2, per_class=2, seed=1)
    out = compare_runs(a, b, n_boot=200, seed=0)
    for row in out["per_dataset"]:
        mc = mcnemar_test(*_decisions(a, b, row["dataset"]))
        assert row["acc"]["p_value"] == pytest.approx(mc["p_value"]) and row["acc"]["test"] == "McNemar (exact)"
        assert row["acc"]["p_value"] >= 0.125 or row["acc"]["diff"] == 0
        lo, hi = row["acc"]["ci"]
        assert lo <= row["acc"]["diff"] <= hi and hi - lo > 0.3  # Newcombe: wide on 4 images, never (1.0, 1.0)
        for k in ("ap", "auc"):
            assert math.isnan(row[k]["p_value"]) and "< 10" in row[k]["note"]
    assert "too few sets for an interval" in out["mean"]["acc"]["sets"]["note"]


def _decisions(a, b, dataset):
    pa, pb = (pd.read_csv(f / "predictions.csv") for f in (a, b))
    pa, pb = pa[pa["dataset"] == dataset], pb[pb["dataset"] == dataset]
    both = pa.merge(pb, on="sha256", suffixes=("_a", "_b"))
    return (both["label_a"].to_numpy(), (both["prob_a"] > 0.5).astype(int).to_numpy(),
            (both["prob_b"] > 0.5).astype(int).to_numpy())


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
    result = CliRunner().invoke(compare, [str(a), str(b), "--n-boot", "200"])
    assert result.exit_code == 1 and "damaged" in result.output and "not the same images" not in result.output
