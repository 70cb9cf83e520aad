"""The pure evaluator: per-image predictions in, per-test-set metrics and means out. No I/O, no model.

A :class:`TestSetSpec` describes one test set. Mixed sets (``0_real``/``1_fake``) are scored on their own images.
A single-label fake set (AntifakePrompt's SD2, DALLE-3, ...) is scored as the papers do -- accuracy over its own
images, which is its fake acc -- and, when it names real reference sets, real acc, AP and ROC-AUC are computed over its
fakes pooled with those reals. A single-label real set reports accuracy = real acc.

Two summaries over test sets, named so they cannot be confused:

* ``mean`` (and ``held_in_mean`` / ``held_out_mean``): the UNWEIGHTED mean over test sets, as every paper's
  "mean"/"Average" row, with ``nan`` values ignored. Real acc is averaged over distinct real sources, so a real
  reference shared by several fake-only sets (AntifakePrompt's COCO) counts once, not once per fake set;
* ``pooled``: the IMAGE-WEIGHTED value over all images of all sets, each image counted once.

Every row and summary carries ``operating`` (TPR at FPR 1%/5% where there are enough reals, EER, balanced accuracy;
per set also the OPTIMISTIC oracle threshold, never averaged into a mean; see :mod:`fakebench.analysis.operating`)
and, with ``n_boot > 0``, ``ci`` (95% intervals, see :mod:`fakebench.analysis.intervals`: Wilson for accuracies,
DeLong-logit + Newcombe for AUC, BCa + rank-score floor for AP, over the set's images; a Student-t interval over
test sets for the means, none below 5 sets) with ``ci_covers`` saying what each interval is about; readers must
treat all of these as optional (older files lack them).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd

from fakebench.analysis.calibration import brier, ece, ece_if_calibrated, ece_interval, nll
from fakebench.analysis.intervals import (INTERVAL_METHODS, metric_intervals, set_mean_interval)
from fakebench.analysis.operating import OPERATING_KEYS, OPTIMISTIC_KEYS, operating_intervals, operating_points
from fakebench.eval.metrics import binary_metrics

__all__ = ["TestSetSpec", "METRIC_KEYS", "evaluate_predictions"]

#: Metric keys of each per-set row and of the means, in table order.
METRIC_KEYS = ("acc", "real_acc", "fake_acc", "ap", "auc")
#: What a per-set (or pooled) interval is about.
IMAGES_COVER = "new images from the same sources as this set's images (the set's images resampled)"


@dataclass(frozen=True)
class TestSetSpec:
    """One test set to score (named after the field's term; ``labels`` is the manifest's field of the same name).

    Attributes:
        dataset: the ``dataset`` value of its prediction rows.
        generator: display name.
        labels: ``mixed`` (real and fake images), ``real`` or ``fake`` (single-label set, e.g. AntifakePrompt's).
        references: real datasets pooled with a fake-only set for real acc, AP and AUC.
        held_in: whether the set is in the detector's training distribution.
        published: the paper's numbers for this detector on this set (percent), shown beside ours.
        family: generator family (from the manifest), for grouping in reports.
        table_held_in: held-in status as the paper's table counts it for its held-out mean, where that differs
            from ``held_in`` (AntifakePrompt v3 +LaMa: LaMa is in its training data yet averaged as held-out);
            ``None`` = same as ``held_in``.
    """

    __test__ = False  # not a pytest test class

    dataset: str
    generator: str
    labels: str = "mixed"
    references: tuple[str, ...] = ()
    held_in: bool = False
    published: dict[str, Any] = field(default_factory=dict)
    family: str = ""
    table_held_in: bool | None = None


def _columns(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """labels, probabilities, and the logits for ranking when every row has one."""
    logit = frame["logit"] if "logit" in frame else None
    ranking = logit.to_numpy(float) if logit is not None and logit.notna().all() else None
    return frame["label"].to_numpy(int), frame["prob"].to_numpy(float), ranking


def _nanmean(values: Iterable[float]) -> float:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(vals)) if vals else math.nan


def _seed(seed: int, name: str) -> list[int]:
    """Per-set RNG seed: the same test set gets the same resamples whatever the order of the groups."""
    return [int(seed), zlib.crc32(name.encode("utf-8"))]


def _interval(values: Iterable[float]) -> list[float]:
    return [float(v) for v in values]


def _image_stats(y: np.ndarray, p: np.ndarray, rank: np.ndarray | None, *, name: str, continuous: bool,
                 threshold: float | None, n_boot: int, seed: int, level: float) -> dict[str, Any]:
    """``ci`` (per metric, :func:`fakebench.analysis.intervals.metric_intervals`), ``operating`` and (continuous scores)
    ``calibration`` (ECE over 15 equal-width bins, Brier, NLL) dicts of one group of images. ``threshold`` ``None``:
    a score-only detector (no accuracies, no calibration)."""
    out: dict[str, Any] = {}
    if n_boot:
        out["ci"] = metric_intervals(y, p, ranking=rank, threshold=0.5 if threshold is None else threshold,
                                     continuous=continuous, n_boot=n_boot, seed=_seed(seed, name), level=level)
        if threshold is None:  # accuracies need a threshold the detector does not have
            out["ci"].update({k: [math.nan, math.nan] for k in ("acc", "real_acc", "fake_acc")})
        out["ci_method"] = dict(INTERVAL_METHODS)
        out["ci_covers"] = IMAGES_COVER
    operating = operating_points(y, p, threshold=0.0 if threshold is None else threshold)
    if not continuous:  # hard decisions: one ROC point, threshold-free summaries would be artefacts
        operating = {k: (v if k in ("acc_at_threshold", "balanced_acc") else math.nan) for k, v in operating.items()
                     if k in OPERATING_KEYS}
    if threshold is None:  # score-only detector: no decision without a calibrated threshold
        operating.update(acc_at_threshold=math.nan, balanced_acc=math.nan)
    out["operating"] = operating
    if n_boot and continuous:
        # percentile bootstrap (at most 200 resamples: these are secondary numbers) of EER and TPR at FPR
        out["operating_ci"] = operating_intervals(y, p, n_boot=min(n_boot, 200), seed=_seed(seed, name), level=level)
    if continuous and len(y) and threshold is not None:  # a score without a threshold is no probability
        # calibration of the fake probability: ECE (15 equal-width bins) with the ECE a perfectly calibrated
        # detector would show at this n beside it, Brier score, NLL (nats per image)
        out["calibration"] = {"ece": float(ece(y, p)), "brier": float(brier(y, p)), "nll": float(nll(y, p)),
                              "ece_bins": 15,
                              "ece_if_calibrated": ece_if_calibrated(p, n_sim=200, seed=_seed(seed, name))["expected"]}
        if n_boot:
            out["calibration"]["ece_ci"] = list(ece_interval(y, p, n_boot=min(n_boot, 200), seed=_seed(seed, name),
                                                             level=level))
    return out


def evaluate_predictions(predictions: pd.DataFrame, groups: list[TestSetSpec], *, continuous: bool = True,
                         threshold: float | None = 0.5, n_boot: int = 1000, seed: int = 0,
                         level: float = 0.95) -> dict[str, Any]:
    """Score every test set, the unweighted means over sets and the image-weighted pooled value.

    Args:
        predictions: one row per image with at least ``dataset`` (str), ``label`` (0/1) and ``prob`` (float in
            [0, 1]); rows whose ``prob`` is missing (unreadable images) are ignored. When a ``logit`` column is
            filled for every row of a set, AP and AUC rank by it (same ranking, no float32 saturation at 0/1).
        groups: the test sets to report, in order.
        continuous: whether ``prob`` is a continuous score (else AP/AUC and the threshold-free operating points are
            ``nan``).
        threshold: decision threshold (``prob > threshold`` = fake), or ``None`` for a score-only detector
            (``prob`` holds a score without a natural threshold): accuracies, ``acc_at_threshold``, ``balanced_acc``
            and the probability calibration are then ``nan``/absent; AP, AUC, EER and TPR at fixed FPR are computed
            from the score.
        n_boot: bootstrap resamples for the 95% CIs (``0`` disables CIs; see :mod:`fakebench.analysis.bootstrap`).
        seed: bootstrap seed (each test set derives its own stream from it and its name).
        level: CI coverage (default 0.95).

    Returns:
        ``{"per_dataset": [row, ...], "mean": {...}, "held_in_mean": {...}, "held_out_mean": {...},
        "table_held_out_mean": {...} (the held-out mean as the paper's table counts held-out sets),
        "pooled": {...}}``:

        * each **row** has the TestSetSpec fields (``references`` as a list) plus ``n``, ``n_real``, ``n_fake`` and
          the :data:`METRIC_KEYS` as fractions (``nan`` when undefined), ``operating`` (see
          :func:`fakebench.analysis.operating.operating_points`, thresholds in fake-probability units, over the same
          images as AP/AUC: a fake-only set's fakes pooled with its reference reals) and, when ``n_boot > 0``,
          ``ci``: ``{metric: [lo, hi]}`` (Wilson for the accuracies, DeLong-logit + Newcombe for AUC, BCa + rank-score
          floor for AP; :mod:`fakebench.analysis.intervals`), ``ci_method`` and ``ci_covers`` (new images from the
          same sources);
        * **mean** / **held_in_mean** / **held_out_mean**: the UNWEIGHTED mean over test sets (the papers'
          "mean"/"Average" row), ``nan`` values ignored. Real acc is averaged over distinct real sources (each
          mixed set's reals, and each real dataset once, however many fake-only sets use it as their reference),
          so a shared reference is not counted once per fake set. Also ``n_datasets``, ``n_real_sources``,
          ``operating`` (unweighted mean of the per-set values, without the optimistic oracle numbers) and ``ci``, a
          Student-t interval over the TEST SETS (``[nan, nan]`` and a ``ci_note`` below 5 sets; ``ci_covers`` says it
          is about a population of test sets; ``shared_reference`` lists real references that several sets share,
          which makes them dependent and the interval too narrow);
        * **pooled**: the IMAGE-WEIGHTED value over all images of all test sets (each image, including a shared
          reference real, counted once; the documented alternative to the unweighted mean when big sets should
          count more), with ``n``, ``n_real``, ``n_fake``, ``n_datasets``, ``operating`` and a ``ci`` over its
          images (about new images from the same sources, not about other test sets).

    Raises:
        ValueError: a group's dataset has no scored image, or a reference is not among the predictions.
    """
    scored = predictions[predictions["prob"].notna()]
    by_dataset = {name: frame for name, frame in scored.groupby("dataset", sort=False)}
    stats_kw = dict(continuous=continuous, threshold=threshold, n_boot=n_boot, seed=seed, level=level)
    rows = []
    for group in groups:
        if group.dataset not in by_dataset:
            raise ValueError(f"Test set {group.dataset!r} has no scored image in the predictions.")
        own = by_dataset[group.dataset]
        y, p, rank = _columns(own)
        row: dict[str, Any] = {"dataset": group.dataset, "generator": group.generator, "family": group.family,
                               "labels": group.labels, "kind": group.labels, "held_in": group.held_in, "references": list(group.references),
                               "table_held_in": group.held_in if group.table_held_in is None else group.table_held_in}
        if group.labels == "fake" and group.references:
            missing = [r for r in group.references if r not in by_dataset]
            if missing:
                raise ValueError(f"Test set {group.dataset!r}: reference real set(s) {missing} have no predictions.")
            y_ref, p_ref, rank_ref = _columns(pd.concat([by_dataset[r] for r in group.references]))
            pooled_rank = np.r_[rank, rank_ref] if rank is not None and rank_ref is not None else None
            y_all, p_all, rank_all = np.r_[y, y_ref], np.r_[p, p_ref], pooled_rank
            pooled = binary_metrics(y_all, p_all, threshold=threshold, continuous=continuous, ranking=rank_all)
            own_metrics = binary_metrics(y, p, threshold=threshold, continuous=continuous)
            row.update(pooled)
            row.update(n=own_metrics["n"], n_real=0, n_fake=own_metrics["n_fake"], acc=own_metrics["acc"],
                       fake_acc=own_metrics["fake_acc"], n_reference_real=pooled["n_real"])
        else:
            y_all, p_all, rank_all = y, p, rank
            row.update(binary_metrics(y, p, threshold=threshold, continuous=continuous, ranking=rank))
        extra = _image_stats(y_all, p_all, rank_all, name=group.dataset, **stats_kw)
        if "ci" in extra and row["labels"] == "fake" and group.references:
            extra["ci"]["acc"] = list(extra["ci"]["fake_acc"])  # accuracy over its own images = its fake acc
        row.update(extra)
        row["published"] = dict(group.published)
        rows.append(row)

    real_acc_of: dict[str, float] = {}

    def dataset_real_acc(name: str) -> float:
        if name not in real_acc_of:
            y_d, p_d, _ = _columns(by_dataset[name])
            real_acc_of[name] = binary_metrics(y_d, p_d, threshold=threshold, continuous=False)["real_acc"]
        return real_acc_of[name]

    def real_sources(selected: list[dict[str, Any]]) -> list[float]:
        """Real acc of each distinct real source of the selected rows (a shared reference counts once)."""
        units: dict[tuple[str, str], float] = {}
        for r in selected:
            if r["labels"] == "fake" and r["references"]:
                for ref in r["references"]:
                    units[("dataset", ref)] = dataset_real_acc(ref)
            elif r["labels"] == "real":
                units[("dataset", r["dataset"])] = r["real_acc"]
            elif r["n_real"]:
                units[("own", r["dataset"])] = r["real_acc"]
        return [v for v in units.values() if not math.isnan(v)]

    def mean(selected: list[dict[str, Any]], name: str) -> dict[str, Any]:
        values = {k: [r[k] for r in selected] for k in METRIC_KEYS}
        values["real_acc"] = real_sources(selected)
        out: dict[str, Any] = {k: _nanmean(values[k]) for k in METRIC_KEYS}
        out["n_datasets"] = len(selected)
        out["n_real_sources"] = len(values["real_acc"])
        if selected:  # the oracle numbers are optimistic (fitted on the test labels): never averaged into a mean
            out["operating"] = {k: _nanmean(r["operating"][k] for r in selected) for k in OPERATING_KEYS
                                if k not in OPTIMISTIC_KEYS}
        if n_boot and selected:
            intervals = {k: set_mean_interval(values[k], level=level) for k in METRIC_KEYS}
            out["ci"] = {k: _interval(v["ci"]) for k, v in intervals.items()}
            out["ci_method"] = "student-t over test sets"
            out["ci_covers"] = intervals["acc"]["covers"]
            notes = {k: v["note"] for k, v in intervals.items() if v["note"]}
            if notes:
                out["ci_note"] = notes
            shared = [ref for r in selected for ref in r["references"]]
            if len(shared) != len(set(shared)):
                out["shared_reference"] = sorted({ref for ref in shared if shared.count(ref) > 1})
        return out

    def pooled_value(selected: list[dict[str, Any]]) -> dict[str, Any]:
        names = [r["dataset"] for r in selected] + [ref for r in selected for ref in r["references"]]
        names = list(dict.fromkeys(names))  # each image once: a shared reference set is pooled once
        out: dict[str, Any] = {"n_datasets": len(selected)}
        if not names:
            return out
        y_p, p_p, rank_p = _columns(pd.concat([by_dataset[n] for n in names]))
        out.update(binary_metrics(y_p, p_p, threshold=threshold, continuous=continuous, ranking=rank_p))
        out.update(_image_stats(y_p, p_p, rank_p, name="pooled", **stats_kw))
        return out

    return {
        "per_dataset": rows,
        "mean": mean(rows, "mean"),
        "held_in_mean": mean([r for r in rows if r["held_in"]], "held_in_mean"),
        "held_out_mean": mean([r for r in rows if not r["held_in"]], "held_out_mean"),
        "table_held_out_mean": mean([r for r in rows if not r["table_held_in"]], "table_held_out_mean"),
        "pooled": pooled_value(rows),
    }


#: Former name (fakebench 0.1), kept for one release.
GroupSpec = TestSetSpec
