"""The pure evaluator: per-set rows, fake-only sets paired with real references, held-in/held-out means."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from fakebench.eval.scoring import GroupSpec, evaluate_predictions


def _frame():
    rows = []
    for dataset, label, probs in [("coco", 0, [0.1, 0.2, 0.7]), ("sd2", 1, [0.9, 0.8, 0.4, 0.6]),
                                  ("mixed", 0, [0.3, 0.6]), ("mixed", 1, [0.7, 0.2])]:
        rows += [{"dataset": dataset, "generator": dataset, "label": label, "prob": p} for p in probs]
    rows.append({"dataset": "sd2", "generator": "sd2", "label": 1, "prob": np.nan})  # an unreadable image
    return pd.DataFrame(rows)


def test_per_set_rows_and_means():
    groups = [GroupSpec("coco", "COCO", kind="real", held_in=True),
              GroupSpec("sd2", "SD2", kind="fake", references=("coco",)),
              GroupSpec("mixed", "Mixed")]
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
        evaluate_predictions(_frame(), [GroupSpec("nope", "Nope")])


def test_ap_ranks_by_logit_when_probabilities_saturate():
    """Two fakes with logits 20 and 30 both have float32 prob 1.0; the logits still rank them above a real at 25."""
    frame = pd.DataFrame({"dataset": ["s"] * 3, "generator": ["s"] * 3, "label": [1, 0, 1],
                          "logit": [30.0, 25.0, 20.0], "prob": [1.0, 1.0, 1.0]})
    row = evaluate_predictions(frame, [GroupSpec("s", "s")])["per_dataset"][0]
    assert row["ap"] == pytest.approx(average_precision_score([1, 0, 1], [30.0, 25.0, 20.0]))
    assert row["auc"] == pytest.approx(0.5)
    no_logit = evaluate_predictions(frame.drop(columns="logit"), [GroupSpec("s", "s")])["per_dataset"][0]
    assert no_logit["auc"] == pytest.approx(0.5) and no_logit["ap"] == pytest.approx(2 / 3)
