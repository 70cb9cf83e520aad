"""Accuracy at a threshold fitted on a named calibration split, beside accuracy at the fixed 0.5.

A detector's 0.5 threshold is often miscalibrated for new data (CNNSpot on the local samples: real acc 59.6 vs fake
acc 36.3). The honest fix is a threshold fitted on images that are **not** test images: a named calibration split,
e.g. a held-in validation set, or a real-only set with a target false-positive rate. The sets of the calibration
split are scored like any other but left out of the calibrated numbers, and the split is recorded by name.

Targets (see :func:`fakebench.analysis.operating.fit_threshold`):

* ``eer`` -- FPR = FNR on the split (needs real and fake images);
* ``balanced_acc`` -- the highest balanced accuracy on the split (needs both);
* ``fpr:X`` -- the highest TPR with FPR <= X (e.g. ``fpr:0.05``); on a real-only split, the (1 - X) quantile rule of
  the real scores.

The threshold is in fake-probability units (the decision is ``prob > t``), as is the fixed 0.5.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from fakebench.core.errors import DataError

__all__ = ["parse_target", "calibrate"]


def parse_target(text: str) -> Any:
    """``"eer"`` / ``"balanced_acc"`` / ``"fpr:0.05"`` -> the ``fit_threshold`` target.

    Raises:
        DataError: an unknown target or an FPR outside [0, 1].

    >>> parse_target("fpr:0.05")
    ('fpr', 0.05)
    >>> parse_target("eer")
    'eer'
    """
    text = str(text).strip().lower()
    if text in ("eer", "balanced_acc"):
        return text
    if text.startswith("fpr:"):
        try:
            value = float(text[4:])
        except ValueError:
            value = -1.0
        if 0.0 <= value <= 1.0:
            return ("fpr", value)
    raise DataError(f"Unknown calibration target {text!r}; use eer, balanced_acc or fpr:X with X a fraction "
                    f"(e.g. fpr:0.05).")


def _fit(y: np.ndarray, prob: np.ndarray, target: Any) -> float:
    from fakebench.analysis.operating import fit_threshold

    if (y == 1).any() and (y == 0).any():
        return float(fit_threshold(y, prob, target=target))
    if isinstance(target, tuple) and (y == 0).all():
        # real-only split: the lowest threshold whose FPR on these reals is <= X
        reals = np.sort(prob)
        allowed = int(np.floor(target[1] * len(reals)))  # at most this many reals may exceed t
        return float(reals[len(reals) - allowed - 1]) if allowed < len(reals) else float(reals[0]) - 1e-12
    raise DataError(f"The calibration split holds only {'fake' if (y == 1).all() else 'real'} images; target "
                    f"{target!r} needs real and fake images (a real-only split works with fpr:X).")


def calibrate(predictions: pd.DataFrame, metrics: dict[str, Any], calibration_sets: Sequence[str], *,
              target: str = "eer") -> dict[str, Any]:
    """Fit a threshold on the calibration sets and score every other test set at it.

    Args:
        predictions: one row per image with ``dataset``, ``label`` (0 real / 1 fake) and ``prob`` (fake probability
            in [0, 1]); rows without ``prob`` (unreadable images) are ignored.
        metrics: the scorer's output (its ``per_dataset`` rows give each set's kind and real references).
        calibration_sets: names of the test sets that form the calibration split.
        target: ``eer``, ``balanced_acc`` or ``fpr:X`` (see the module docstring).

    Returns:
        ``{"split": [...], "target": str, "threshold": t, "n_calibration": n, "per_dataset": [{"dataset", "acc",
        "real_acc", "fake_acc", "n"}], "mean": {...}, "temperature": {"T", "per_dataset": [{"dataset", "ece_before",
        "ece_after"}]} or None}`` with fractions in [0, 1]; the calibration sets themselves are not in
        ``per_dataset`` or the mean (their images are not test images). Temperature scaling is fitted on the split's
        logits when every split image has one and both classes are present.

    Raises:
        DataError: an unknown calibration set, an empty split, or a split the target cannot be fitted on.
    """
    goal = parse_target(target)
    scored = predictions[predictions["prob"].notna()]
    known = set(scored["dataset"])
    unknown = [s for s in calibration_sets if s not in known]
    if unknown or not calibration_sets:
        raise DataError(f"Calibration set(s) {unknown or '(none)'} have no scored image in this run; name test sets "
                        f"of the run (its sets: {', '.join(sorted(known))}).")
    split = scored[scored["dataset"].isin(list(calibration_sets))]
    threshold = _fit(split["label"].to_numpy(int), split["prob"].to_numpy(float), goal)
    by_set = {name: frame for name, frame in scored.groupby("dataset", sort=False)}
    rows = []
    for row in metrics["per_dataset"]:
        name = row["dataset"]
        if name in calibration_sets:
            continue
        own = by_set[name]
        y, p = own["label"].to_numpy(int), own["prob"].to_numpy(float)
        decision = p > threshold
        out = {"dataset": name, "n": int(len(y)), "acc": float((decision == (y == 1)).mean())}
        reals = y == 0
        if row.get("kind") == "fake" and row.get("references"):
            refs = [r for r in row["references"] if r not in calibration_sets]
            ref = scored[scored["dataset"].isin(refs)]
            reals_p = ref["prob"].to_numpy(float)
            out["real_acc"] = float((reals_p <= threshold).mean()) if len(reals_p) else float("nan")
        else:
            out["real_acc"] = float((~decision[reals]).mean()) if reals.any() else float("nan")
        out["fake_acc"] = float(decision[~reals].mean()) if (~reals).any() else float("nan")
        rows.append(out)
    mean = {k: float(np.nanmean([r[k] for r in rows])) if rows and not all(np.isnan(r[k]) for r in rows)
            else float("nan") for k in ("acc", "real_acc", "fake_acc")}
    mean["n_datasets"] = len(rows)
    out = {"split": list(calibration_sets), "target": str(target), "threshold": threshold,
           "n_calibration": int(len(split)), "per_dataset": rows, "mean": mean}
    if isinstance(goal, tuple):  # fpr:X -- the FPR new reals will see is larger than X at small n (order statistic)
        from fakebench.analysis.operating import fitted_fpr_interval

        n_cal_real = int((split["label"].to_numpy(int) == 0).sum())
        if n_cal_real:
            out["expected_fpr"] = fitted_fpr_interval(n_cal_real, goal[1])
    out["temperature"] = _temperature(split, scored, rows)
    return out


def _temperature(split: pd.DataFrame, scored: pd.DataFrame, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Temperature scaling (Guo et al. 2017) fitted on the split's logits: ``T`` and each test set's ECE before and
    after (15 equal-width bins); ``None`` without logits for every image or without both classes in the split."""
    from fakebench.analysis.calibration import apply_temperature, ece, fit_temperature

    if "logit" not in split or split["logit"].isna().any() or split["label"].nunique() < 2:
        return None
    temperature = float(fit_temperature(split["label"].to_numpy(int), split["logit"].to_numpy(float)))
    per_set = []
    for row in rows:
        own = scored[scored["dataset"] == row["dataset"]]
        if own["logit"].isna().any() or own["label"].nunique() < 2:
            continue
        y, logit = own["label"].to_numpy(int), own["logit"].to_numpy(float)
        per_set.append({"dataset": row["dataset"], "ece_before": float(ece(y, own["prob"].to_numpy(float))),
                        "ece_after": float(ece(y, apply_temperature(logit, temperature)))})
    return {"T": temperature, "per_dataset": per_set, "ece_bins": 15}
