"""Reading what a report needs: run folders (``results.json`` + ``predictions.csv``), robustness and bias-audit files.

A run folder is what :func:`fakebench.eval.harness.run_evaluation` writes. Per test set the report needs the labels,
the fake probabilities and the score that AP and ROC-AUC were ranked by, which :mod:`fakebench.eval.scoring` defines
as the logit when every image of the set has one, else the fake probability. A single-label fake set that names
real reference sets is pooled with those reals for curves, exactly as the scorer pools it for AP and AUC.

Everything read here is checked against ``results.json`` (image counts and ROC-AUC recomputed from
``predictions.csv``): a report built from predictions that do not match their results file is refused.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from fakebench.core.errors import DataError
from fakebench.eval.metrics import roc_auc
from fakebench.eval.predictions import read_predictions
from fakebench.eval.results import SCHEMA_NAME, SCHEMA_VERSION, DetectorRecord, ResultsRecord, display_labels

__all__ = ["SetScores", "RunData", "ReportInputs", "collect_inputs", "run_label", "calibrated_threshold",
           "ROBUSTNESS_SCHEMA", "BIAS_SCHEMA"]

ROBUSTNESS_SCHEMA = "fakebench.robustness/1"  # name/major: any 1.x is read
BIAS_SCHEMA = "fakebench.bias_audit/1"
_AUC_TOLERANCE = 1e-6


@dataclass
class SetScores:
    """The scored images of one test set, as the scorer saw them.

    Attributes:
        name: the test set (``dataset`` column).
        generator: display name.
        kind: ``mixed``, ``real`` or ``fake``.
        row: its ``results.json`` per-set row (fractions; optional ``ci``/``operating``).
        own: its own scored prediction rows (``predictions.csv`` columns), for the gallery and histograms.
        y: ``(N,)`` int64 labels (0 real, 1 fake) of the images its AP/AUC use (own images plus pooled reference
            reals for a fake-only set).
        prob: ``(N,)`` float64 fake probabilities of the same images.
        score: ``(N,)`` float64 ranking score (logit when every image has one, else ``prob``), higher = more fake.
        score_is_logit: whether ``score`` is the logit (then the 0.5 probability threshold is ``score = 0``).
        crop_box: the manifest crop applied before preprocessing, if any (for thumbnails).
    """

    name: str
    generator: str
    kind: str
    row: dict[str, Any]
    own: pd.DataFrame
    y: np.ndarray
    prob: np.ndarray
    score: np.ndarray
    score_is_logit: bool
    crop_box: tuple[int, int, int, int] | None = None

    @property
    def two_classes(self) -> bool:
        """Whether both real and fake images are present (curves need both)."""
        return bool(self.y.size and 0 < self.y.sum() < self.y.size)


@dataclass
class RunData:
    """One run folder: its results, predictions and per-set scores.

    Attributes:
        label: unique display name: the run's ``--label``, else ``detector.weights@preset`` (plus the data label
            when two runs share it; see :func:`fakebench.eval.results.display_labels`).
        results: the parsed ``results.json``.
        results_path: where it was read from.
        predictions: the scored rows of ``predictions.csv`` (unreadable images dropped).
        sets: the test sets in ``results.json`` order.
    """

    label: str
    results: dict[str, Any]
    results_path: Path
    predictions: pd.DataFrame
    sets: list[SetScores] = field(default_factory=list)

    @property
    def run_dir(self) -> Path:
        return self.results_path.parent


@dataclass
class ReportInputs:
    """Everything found for one report: runs, robustness files and bias audits (each a parsed JSON dict with
    ``_path``)."""

    runs: list[RunData]
    robustness: list[dict[str, Any]]
    bias_audits: list[dict[str, Any]]


def run_label(results: dict[str, Any]) -> str:
    """``detector.weights@preset`` as the leaderboard names a run (``file-<sha8>`` for a user weights file, and
    `` [random-init backbone]`` after it for a probe on random features: :attr:`DetectorRecord.label`)."""
    det = results["detector"]
    fields = {k: det[k] for k in DetectorRecord.__dataclass_fields__ if k in det}
    return DetectorRecord(**{"weights": {}, "preset": {}, **fields}).label


def _user_label(results: dict[str, Any]) -> str | None:
    run = results.get("run")
    return str(run["label"]) if isinstance(run, dict) and run.get("label") else None


def calibrated_threshold(results: dict[str, Any]) -> float | None:
    """A calibrated decision threshold on the fake probability recorded in ``results.json``, if any.

    Looked up as ``results["calibrated_threshold"]``, then ``results["calibration"]["threshold"]``, then a
    ``results["threshold"]`` other than 0.5. ``None`` when there is none.
    """
    candidates = [results.get("calibrated_threshold"), (results.get("calibration") or {}).get("threshold")]
    if results.get("threshold") not in (None, 0.5):
        candidates.append(results.get("threshold"))
    for value in candidates:
        if isinstance(value, (int, float)) and math.isfinite(value):
            return float(value)
    return None


def _read_json(path: Path, schema: str) -> dict[str, Any]:
    """Read a JSON file of ``schema`` (``"name/major"``, e.g. ``fakebench.robustness/1``): any minor version of that
    major is accepted; another name, another major version or something that is not a JSON object is refused.

    Raises:
        DataError: unreadable, not JSON, not an object, another schema or an unknown major version (names the file).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: JSONDecodeError and UnicodeDecodeError
        raise DataError(f"{path} cannot be read as JSON ({exc}); re-create it or leave it out of the report.") from exc
    name, _, major = schema.partition("/")
    found = data.get("schema") if isinstance(data, dict) else None
    found_name, _, found_version = str(found).partition("/")
    if not isinstance(data, dict) or found_name != name:
        what = f"its 'schema' is {found!r}" if isinstance(data, dict) else f"it holds a JSON {type(data).__name__}"
        raise DataError(f"{path} is not a {name} file ({what}); pass run folders, results.json, robustness.json or "
                        f"bias_audit.json files.")
    if found_version.split(".")[0] != major:
        raise DataError(f"{path} was written with {name} schema {found_version}, which this fakebench (schema "
                        f"{major}.x) cannot read; upgrade fakebench or re-create the file with this version.")
    if name == SCHEMA_NAME:
        ResultsRecord.from_dict(data, str(path))  # required keys present and typed (SchemaError names the key)
    data["_path"] = str(path)
    return data


def _own_columns(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    y = frame["label"].to_numpy(np.int64)
    prob = frame["prob"].to_numpy(np.float64)
    logit = frame["logit"].to_numpy(np.float64) if "logit" in frame else None
    return y, prob, logit if logit is not None and not np.isnan(logit).any() else None


def _load_run(path: Path) -> RunData:
    results = _read_json(path, f"{SCHEMA_NAME}/{SCHEMA_VERSION[0]}")
    pred_path = path.parent / "predictions.csv"
    if not pred_path.is_file():
        raise DataError(f"{pred_path} is missing: the report needs the per-image predictions beside {path.name}. "
                        f"Re-run `fakebench evaluate` into {path.parent}.")
    frame = read_predictions(pred_path)
    frame = frame[frame["prob"].notna()].copy()
    frame["label"] = frame["label"].astype(np.int64)
    by_set = {name: part for name, part in frame.groupby("dataset", sort=False)}
    entries = {e.get("name"): e for e in (results.get("data") or {}).get("datasets") or [] if isinstance(e, dict)}
    run = RunData(run_label(results), results, path, frame)
    for row in results["metrics"]["per_dataset"]:
        name = row["dataset"]
        if name not in by_set:
            raise DataError(f"{pred_path} has no scored image of test set {name!r} listed in {path}; the two files "
                            f"do not belong together. Re-run the evaluation.")
        own = by_set[name].reset_index(drop=True)
        entry = entries.get(name, {})
        refs = list(entry.get("real_reference") or []) if row.get("kind") == "fake" else []
        parts = [own] + [by_set[r] for r in refs if r in by_set]
        if len(parts) != len(refs) + 1:
            raise DataError(f"{pred_path}: the reference real set(s) {refs} of {name!r} have no predictions.")
        pooled = pd.concat(parts, ignore_index=True)
        y, prob, logit = _own_columns(pooled)
        if len(own) != row.get("n") or int((own["label"] == 1).sum()) != row.get("n_fake"):
            raise DataError(f"{pred_path} holds {len(own)} scored images of {name!r} but {path} reports "
                            f"{row.get('n')}; the two files do not belong together. Re-run the evaluation.")
        reported = row.get("auc")
        score = logit if logit is not None else prob
        if isinstance(reported, float) and math.isfinite(reported) and 0 < y.sum() < y.size:
            ours = roc_auc(y, score)
            if abs(ours - reported) > _AUC_TOLERANCE:
                raise DataError(f"ROC-AUC of {name!r} recomputed from {pred_path} is {ours:.6f} but {path} reports "
                                f"{reported:.6f}; the files do not belong together. Re-run the evaluation.")
        crop = entry.get("crop_box")
        run.sets.append(SetScores(name=name, generator=str(row.get("generator", name)), kind=row.get("kind", "mixed"),
                                  row=row, own=own, y=y, prob=prob, score=score, score_is_logit=logit is not None,
                                  crop_box=tuple(crop) if crop else None))
    return run


def _under_robustness(path: Path, roots: set[Path]) -> bool:
    return any(root in path.parents for root in roots)


def collect_inputs(paths: Iterable[str | os.PathLike], *, bias_audits: Iterable[str | os.PathLike] = ()) \
        -> ReportInputs:
    """Find and read everything a report shows.

    Args:
        paths: run folders, ``results.json`` files, folders holding them (searched recursively),
            ``robustness.json``/``bias_audit.json`` files or folders holding them. The per-severity run folders
            under a robustness folder feed its robustness curves, not the leaderboard. A ``robustness.json`` or
            ``bias_audit.json`` in a run folder or a sibling folder is picked up too.
        bias_audits: extra ``bias_audit.json`` files.

    Returns:
        A :class:`ReportInputs` with the runs in input order (labels made unique by adding the data label).

    Raises:
        DataError: a path does not exist, no run is found, a file is malformed, or predictions and results of a run
            do not match.
    """
    results_files: list[Path] = []
    robust_files: list[Path] = []
    bias_files: list[Path] = [Path(p) for p in bias_audits]
    paths = [Path(p) for p in paths]
    for path in paths:
        if path.is_file():
            name = path.name
            (robust_files if name == "robustness.json" else bias_files if name == "bias_audit.json"
             else results_files).append(path)
        elif path.is_dir():
            robust_here = sorted(path.rglob("robustness.json"))
            robust_files += robust_here
            bias_files += sorted(path.rglob("bias_audit.json"))
            roots = {r.parent for r in robust_here}
            results_files += [r for r in sorted(path.rglob("results.json")) if not _under_robustness(r, roots)
                              and r.parent not in roots]
        else:
            raise DataError(f"{path} does not exist; pass run folders or results.json files.")
    for res in list(results_files):  # robustness / bias files in a run folder or a sibling folder
        for folder in [res.parent, *(p for p in res.parent.parent.iterdir() if p.is_dir())]:
            for name, bucket in (("robustness.json", robust_files), ("bias_audit.json", bias_files)):
                if (folder / name).is_file():
                    bucket.append(folder / name)
    if not results_files:
        raise DataError(f"No results.json found under {', '.join(map(str, paths)) or '(nothing given)'}; run "
                        f"`fakebench evaluate` first.")

    def unique(files: list[Path]) -> list[Path]:
        return list(dict.fromkeys(f.resolve() for f in files))

    runs = [_load_run(p) for p in unique(results_files)]
    shown = display_labels([(run.label, _user_label(run.results)) for run in runs])  # --label, told apart
    for run, name in zip(runs, shown):
        run.label = name
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.label] = counts.get(run.label, 0) + 1
    seen: dict[str, int] = {}
    for run in runs:
        if counts[run.label] > 1:
            base = f"{run.label} [{(run.results.get('data') or {}).get('label', run.run_dir.name)}]"
            seen[base] = seen.get(base, 0) + 1
            run.label = base if seen[base] == 1 else f"{base} #{seen[base]}"
    robustness = [_read_json(p, ROBUSTNESS_SCHEMA) for p in unique(robust_files)]
    audits = [_read_json(p, BIAS_SCHEMA) for p in unique(bias_files)]
    return ReportInputs(runs, robustness, audits)
