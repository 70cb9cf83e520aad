"""The pure evaluator: per-image predictions in, per-test-set metrics and means out. No I/O, no model.

A :class:`GroupSpec` describes one test set. Mixed sets (``0_real``/``1_fake``) are scored on their own images.
A single-label fake set (AntifakePrompt's SD2, DALLE-3, ...) is scored as the papers do -- accuracy over its own
images, which is its fake acc -- and, when it names real reference sets, real acc, AP and ROC-AUC are computed over its
fakes pooled with those reals. A single-label real set reports accuracy = real acc.

Means are unweighted over test sets (as every paper's "mean"/"Average" row), with ``nan`` values ignored; held-in and
held-out sets get separate means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd

from fakebench.eval.metrics import binary_metrics

__all__ = ["GroupSpec", "METRIC_KEYS", "evaluate_predictions"]

#: Metric keys of each per-set row and of the means, in table order.
METRIC_KEYS = ("acc", "real_acc", "fake_acc", "ap", "auc")


@dataclass(frozen=True)
class GroupSpec:
    """One test set to score.

    Attributes:
        dataset: the ``dataset`` value of its prediction rows.
        generator: display name.
        kind: ``mixed``, ``real`` or ``fake``.
        references: real datasets pooled with a fake-only set for real acc, AP and AUC.
        held_in: whether the set is in the detector's training distribution.
        published: the paper's numbers for this detector on this set (percent), shown beside ours.
        family: generator family (from the manifest), for grouping in reports.
    """

    dataset: str
    generator: str
    kind: str = "mixed"
    references: tuple[str, ...] = ()
    held_in: bool = False
    published: dict[str, Any] = field(default_factory=dict)
    family: str = ""


def _columns(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """labels, probabilities, and the logits for ranking when every row has one."""
    logit = frame["logit"] if "logit" in frame else None
    ranking = logit.to_numpy(float) if logit is not None and logit.notna().all() else None
    return frame["label"].to_numpy(int), frame["prob"].to_numpy(float), ranking


def _nanmean(values: Iterable[float]) -> float:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(vals)) if vals else math.nan


def evaluate_predictions(predictions: pd.DataFrame, groups: list[GroupSpec], *, continuous: bool = True,
                         threshold: float = 0.5) -> dict[str, Any]:
    """Score every test set and the means.

    Args:
        predictions: one row per image with at least ``dataset`` (str), ``label`` (0/1) and ``prob`` (float in
            [0, 1]); rows whose ``prob`` is missing (unreadable images) are ignored. When a ``logit`` column is
            filled for every row of a set, AP and AUC rank by it (same ranking, no float32 saturation at 0/1).
        groups: the test sets to report, in order.
        continuous: whether ``prob`` is a continuous score (else AP/AUC are ``nan``).
        threshold: decision threshold (``prob > threshold`` = fake).

    Returns:
        ``{"per_dataset": [row, ...], "mean": {...}, "held_in_mean": {...}, "held_out_mean": {...}}``. Each row has
        the GroupSpec fields plus ``n``, ``n_real``, ``n_fake`` and the :data:`METRIC_KEYS` as fractions (``nan`` when
        undefined); each mean has the metric keys plus ``n_datasets``.

    Raises:
        ValueError: a group's dataset has no scored image, or a reference is not among the predictions.
    """
    scored = predictions[predictions["prob"].notna()]
    by_dataset = {name: frame for name, frame in scored.groupby("dataset", sort=False)}
    rows = []
    for group in groups:
        if group.dataset not in by_dataset:
            raise ValueError(f"Test set {group.dataset!r} has no scored image in the predictions.")
        own = by_dataset[group.dataset]
        y, p, rank = _columns(own)
        row: dict[str, Any] = {"dataset": group.dataset, "generator": group.generator, "family": group.family,
                               "kind": group.kind, "held_in": group.held_in}
        if group.kind == "fake" and group.references:
            missing = [r for r in group.references if r not in by_dataset]
            if missing:
                raise ValueError(f"Test set {group.dataset!r}: reference real set(s) {missing} have no predictions.")
            y_ref, p_ref, rank_ref = _columns(pd.concat([by_dataset[r] for r in group.references]))
            pooled_rank = np.r_[rank, rank_ref] if rank is not None and rank_ref is not None else None
            pooled = binary_metrics(np.r_[y, y_ref], np.r_[p, p_ref], threshold=threshold, continuous=continuous,
                                    ranking=pooled_rank)
            own_metrics = binary_metrics(y, p, threshold=threshold, continuous=continuous)
            row.update(pooled)
            row.update(n=own_metrics["n"], n_real=0, n_fake=own_metrics["n_fake"], acc=own_metrics["acc"],
                       fake_acc=own_metrics["fake_acc"], n_reference_real=pooled["n_real"])
        else:
            row.update(binary_metrics(y, p, threshold=threshold, continuous=continuous, ranking=rank))
        row["published"] = dict(group.published)
        rows.append(row)

    def mean(selected: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {k: _nanmean(r[k] for r in selected) for k in METRIC_KEYS}
        out["n_datasets"] = len(selected)
        return out

    return {
        "per_dataset": rows,
        "mean": mean(rows),
        "held_in_mean": mean([r for r in rows if r["held_in"]]),
        "held_out_mean": mean([r for r in rows if not r["held_in"]]),
    }
