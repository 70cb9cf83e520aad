"""The pure evaluator: per-set rows, fake-only sets paired with real references, held-in/held-out means."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from fakebench.eval.scoring import TestSetSpec, evaluate_predictions


def _frame():
    rows = []
    for dataset, label, probs in [("coco", 0, [0.1, 0.2, 0.7]), ("sd2", 1, [0.9, 0.8, 0.4, 0.6]),
                                  ("mixed", 0, [0.3, 0.6]), ("mixed", 1, [0.7, 0.2])]:
        rows += [{"dataset": dataset, "generator": dataset, "label": label, "prob": p} for p in probs]
    rows.append({"dataset": "sd2", "generator": "sd2", "label": 1, "prob": np.nan})  # an unreadable image
    return pd.DataFrame(rows)


def test_per_set_rows_and_means():
    groups = [TestSetSpec("coco", "COCO", labels="real", held_in=True),
              TestSetSpec("sd2", "SD2", labels="fake", references=("coco",)),
              TestSetSpec("mixed", "Mixed")]
    out = evaluate_predictions(_frame(), groups)
    coco, sd2, mixed = out["per_dataset"]
    assert coco["acc"] == pytest.approx(2 / 3) and coco["real_acc"] == pytest.approx(2 / 3)
    assert math.isnan(coco["ap"])
    # fake-only set: accuracy over its own 4 scored images (the NaN row is ignored) ...
    assert sd2["n"] == 4 and sd2["acc"] == pytest.approx(0.75) and sd2["fake_acc"] == pytest.approx(0.75)
    # ... and AP/real acc over its fakes pooled with the COCO reals
    assert sd2["ap"] == pytest.approx(average_precision_score([1, 1, 1, 1, 0, 0, 0], [.9, .8, .4, .6, .1, .2, .7]))
    assert sd2["real_acc"] == pytest.approx(2 / 3) and sd2["n_reference_real"] == 3
    assert mixed["acc"] == pytest.approx(0.5)
    assert out["mean"]["acc"] == pytest.approx((2 / 3 + 0.75 + 0.5) / 3)
    assert out["held_in_mean"]["n_datasets"] == 1 and out["held_in_mean"]["acc"] == pytest.approx(2 / 3)
    assert out["held_out_mean"]["acc"] == pytest.approx((0.75 + 0.5) / 2)


def test_missing_set_is_an_error():
    with pytest.raises(ValueError, match="no scored image"):
        evaluate_predictions(_frame(), [TestSetSpec("nope", "Nope")])


def test_ap_ranks_by_logit_when_probabilities_saturate():
    """Two fakes with logits 20 and 30 both have float32 prob 1.0; the logits still rank them above a real at 25."""
    frame = pd.DataFrame({"dataset": ["s"] * 3, "generator": ["s"] * 3, "label": [1, 0, 1],
                          "logit": [30.0, 25.0, 20.0], "prob": [1.0, 1.0, 1.0]})
    row = evaluate_predictions(frame, [TestSetSpec("s", "s")])["per_dataset"][0]
    assert row["ap"] == pytest.approx(average_precision_score([1, 0, 1], [30.0, 25.0, 20.0]))
    assert row["auc"] == pytest.approx(0.5)
    no_logit = evaluate_predictions(frame.drop(columns="logit"), [TestSetSpec("s", "s")])["per_dataset"][0]
    assert no_logit["auc"] == pytest.approx(0.5) and no_logit["ap"] == pytest.approx(2 / 3)


# ------------------------------------------------------------------ confidence intervals, operating points, pooling
def _afp_frame():
    """AntifakePrompt layout: one real reference set (coco) shared by two fake-only sets, plus a mixed set."""
    rng = np.random.default_rng(0)
    rows = []
    for dataset, label, n, loc in [("coco", 0, 40, 0.35), ("sd2", 1, 30, 0.7), ("dalle", 1, 20, 0.55),
                                   ("mixed", 0, 25, 0.45), ("mixed", 1, 25, 0.6)]:
        probs = np.clip(rng.normal(loc, 0.2, n), 0.001, 0.999)
        rows += [{"dataset": dataset, "generator": dataset, "label": label, "prob": p,
                  "logit": math.log(p / (1 - p)), "sha256": f"{dataset}-{label}-{i}"} for i, p in enumerate(probs)]
    return pd.DataFrame(rows)


_AFP_GROUPS = [TestSetSpec("coco", "COCO", labels="real"),
               TestSetSpec("sd2", "SD2", labels="fake", references=("coco",)),
               TestSetSpec("dalle", "DALLE", labels="fake", references=("coco",), held_in=True),
               TestSetSpec("mixed", "Mixed")]


def test_mean_real_acc_counts_a_shared_reference_once():
    frame = _afp_frame()
    out = evaluate_predictions(frame, _AFP_GROUPS, n_boot=0)
    rows = {r["dataset"]: r for r in out["per_dataset"]}
    coco_real = (frame.loc[frame.dataset == "coco", "prob"] <= 0.5).mean()
    mixed = frame[frame.dataset == "mixed"]
    mixed_real = (mixed.loc[mixed.label == 0, "prob"] <= 0.5).mean()
    assert rows["sd2"]["real_acc"] == pytest.approx(coco_real) and rows["dalle"]["real_acc"] == pytest.approx(coco_real)
    # coco's reals appear in three rows (coco, sd2, dalle) but are one real source
    assert out["mean"]["real_acc"] == pytest.approx((coco_real + mixed_real) / 2)
    assert out["mean"]["n_real_sources"] == 2
    assert out["held_in_mean"]["real_acc"] == pytest.approx(coco_real)  # dalle's reference
    assert out["mean"]["acc"] == pytest.approx(np.mean([rows[d]["acc"] for d in rows]))  # unweighted over sets
    assert out["mean"]["fake_acc"] == pytest.approx(np.mean([rows[d]["fake_acc"] for d in ("sd2", "dalle", "mixed")]))
    assert "ci" not in rows["sd2"] and "ci" not in out["mean"]  # n_boot=0 disables CIs
    assert rows["sd2"]["references"] == ["coco"]


def test_pooled_is_image_weighted_with_references_once():
    frame = _afp_frame()
    out = evaluate_predictions(frame, _AFP_GROUPS, n_boot=0)
    pooled = out["pooled"]
    y, p = frame["label"].to_numpy(), frame["prob"].to_numpy()  # every image exactly once
    assert pooled["n"] == len(frame) and pooled["n_real"] == int((y == 0).sum())
    assert pooled["acc"] == pytest.approx(((p > 0.5).astype(int) == y).mean())
    assert pooled["ap"] == pytest.approx(average_precision_score(y, frame["logit"]))
    assert pooled["n_datasets"] == 4


def test_confidence_intervals_and_operating_points():
    frame = _afp_frame()
    out = evaluate_predictions(frame, _AFP_GROUPS, n_boot=300, seed=1)
    again = evaluate_predictions(frame, _AFP_GROUPS, n_boot=300, seed=1)
    assert out["per_dataset"][1]["ci"] == again["per_dataset"][1]["ci"]  # seeded
    for row in out["per_dataset"]:
        for key in ("acc", "real_acc", "fake_acc", "ap", "auc"):
            lo, hi = row["ci"][key]
            if math.isnan(row[key]):
                assert math.isnan(lo) and math.isnan(hi)
            else:
                assert lo <= row[key] <= hi and hi - lo < 0.6, (row["dataset"], key, lo, hi)
        assert set(row["operating"]) >= {"tpr_at_fpr_1", "tpr_at_fpr_5", "eer", "balanced_acc", "oracle_acc"}
    sd2 = out["per_dataset"][1]
    assert sd2["ci"]["acc"] == sd2["ci"]["fake_acc"]  # a fake-only set's accuracy is its fake acc
    assert 0 <= sd2["operating"]["eer"] <= 1 and sd2["operating"]["oracle_acc"] >= sd2["operating"]["acc_at_threshold"]
    lo, hi = out["pooled"]["ci"]["acc"]
    assert lo <= out["pooled"]["acc"] <= hi
    assert isinstance(out["mean"]["ci"]["acc"], list) and len(out["mean"]["ci"]["acc"]) == 2
    # 4 sets: too few for an interval of their mean (issue #16: [min, max] covered ~50-80%), said so in the JSON
    assert all(math.isnan(v) for v in out["mean"]["ci"]["acc"])
    assert "too few sets for an interval" in out["mean"]["ci_note"]["acc"]
    assert "population of test sets" in out["mean"]["ci_covers"]
    assert "oracle_acc" not in out["mean"]["operating"]  # optimistic numbers never averaged into a mean
    assert all(math.isnan(v) for v in out["held_in_mean"]["ci"]["acc"])  # one set: no set-to-set spread


def test_table_held_out_mean_counts_a_training_set_as_the_paper_table_does():
    """AntifakePrompt v3 +LaMa: LaMa is held-in (in the training data) but the paper's table averages it with the
    held-out sets; ``table_held_out_mean`` follows the table, ``held_out_mean`` the training data."""
    import pandas as pd

    from fakebench.eval.scoring import TestSetSpec, evaluate_predictions

    rows = []
    for name, correct in (("a", 4), ("b", 2), ("lama", 0)):
        for i in range(4):
            rows.append({"dataset": name, "label": 1, "prob": 0.9 if i < correct else 0.1, "logit": None})
    frame = pd.DataFrame(rows)
    groups = [TestSetSpec("a", "A", labels="fake"), TestSetSpec("b", "B", labels="fake"),
              TestSetSpec("lama", "LaMa", labels="fake", held_in=True, table_held_in=False)]
    metrics = evaluate_predictions(frame, groups, continuous=False, n_boot=0)
    assert metrics["held_out_mean"]["acc"] == 0.75 and metrics["held_out_mean"]["n_datasets"] == 2
    assert metrics["table_held_out_mean"]["acc"] == 0.5 and metrics["table_held_out_mean"]["n_datasets"] == 3
