"""The convenience layer: resolve test sets, run the runner, score, and write the result files.

Output folder layout (``<output>/<detector>.<weights>@<preset>/<data>/``):

* ``predictions.csv`` -- one row per image (see :data:`fakebench.eval.runner.PRED_COLUMNS`), written incrementally;
* ``results.json`` -- metrics with provenance (versions, git commit, detector card, weights sha256, preset, manifest
  entries and digests, date, unreadable files), written atomically;
* ``metrics.csv`` / ``metrics.md`` -- the per-test-set table (percent), held-in and held-out means.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from fakebench.eval.cache import PredictionCache
from fakebench.data.images import ImageRecord, discover_data_dir, discover_folder, records_for_entry
from fakebench.core.env import cache_root, data_root as default_data_root
from fakebench.core.errors import DataError
from fakebench.eval.scoring import METRIC_KEYS, GroupSpec, evaluate_predictions
from fakebench.core.files import atomic_write_json, atomic_write_text
from fakebench.data.manifest import DatasetEntry, Manifest
from fakebench.core.provenance import environment, git_commit, now_iso
from fakebench.eval.runner import collect_predictions
from fakebench.eval.tables import to_markdown

__all__ = ["EvalSet", "sets_from_manifest", "sets_from_data_dir", "sets_from_real_fake_dirs", "run_evaluation",
           "metrics_table", "RESULTS_SCHEMA"]

RESULTS_SCHEMA = "fakebench.results/1"


@dataclass
class EvalSet:
    """One test set to run: its images, how to score it, and its manifest record (if any)."""

    group: GroupSpec
    records: list[ImageRecord]
    entry: dict[str, Any] | None = None
    expected_count: dict[str, int | None] = field(default_factory=dict)


def _limit(records: list[ImageRecord], limit: int | None) -> list[ImageRecord]:
    """The first ``limit`` images per label, in sorted path order (deterministic subsample)."""
    if not limit:
        return records
    out, seen = [], {0: 0, 1: 0}
    for record in records:
        if seen[record.label] < limit:
            seen[record.label] += 1
            out.append(record)
    return out


def sets_from_manifest(manifest: Manifest, entries: Sequence[DatasetEntry], *, detector: str, weights_tag: str | None,
                       preset: str | None, data_root: str | os.PathLike | None = None,
                       limit: int | None = None) -> list[EvalSet]:
    """Eval sets for manifest entries (plus the real sets their ``real_reference`` names).

    Held-in status and published numbers are looked up for ``detector.weights_tag@preset``.

    Raises:
        DataError: a dataset folder is missing or empty (the message gives the download command).
    """
    root = Path(data_root) if data_root else default_data_root()
    sets = []
    for entry in manifest.with_references(list(entries)):
        group = GroupSpec(dataset=entry.name, generator=entry.generator, family=entry.family,
                          kind=entry.labels,
                          references=entry.real_reference, held_in=entry.is_held_in(detector, weights_tag),
                          published=entry.published_for(detector, weights_tag, preset))
        records = _limit(records_for_entry(entry, root), limit)
        sets.append(EvalSet(group, records, entry.to_dict(), dict(entry.expected_count)))
    return sets


def sets_from_data_dir(root: str | os.PathLike, *, crop_box: tuple[int, int, int, int] | None = None,
                       limit: int | None = None) -> list[EvalSet]:
    """One eval set per generator folder of a ``0_real``/``1_fake`` test root (see
    :func:`fakebench.data.images.discover_data_dir`)."""
    records = discover_data_dir(root, crop_box=crop_box)
    by_set: dict[str, list[ImageRecord]] = {}
    for record in records:
        by_set.setdefault(record.dataset, []).append(record)
    return [EvalSet(GroupSpec(dataset=name, generator=recs[0].generator), _limit(recs, limit))
            for name, recs in by_set.items()]


def sets_from_real_fake_dirs(real_dir: str | os.PathLike | None, fake_dir: str | os.PathLike | None, *,
                             name: str = "custom", crop_box: tuple[int, int, int, int] | None = None,
                             limit: int | None = None) -> list[EvalSet]:
    """AntifakePrompt-style ``--real_dir``/``--fake_dir`` (either may be omitted; labels come from which folder an
    image is in, never from a default, unlike the official test.py)."""
    if real_dir is None and fake_dir is None:
        raise DataError("Give --real-dir, --fake-dir or both.")
    records: list[ImageRecord] = []
    if real_dir is not None:
        records += discover_folder(real_dir, 0, dataset=name, generator=name, crop_box=crop_box)
    if fake_dir is not None:
        records += discover_folder(fake_dir, 1, dataset=name, generator=name, crop_box=crop_box)
    kind = "mixed" if real_dir is not None and fake_dir is not None else ("real" if fake_dir is None else "fake")
    return [EvalSet(GroupSpec(dataset=name, generator=name, kind=kind), _limit(records, limit))]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@+-]+", "_", text).strip("_") or "run"


def _pct(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(100 * value, 2)


def metrics_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """Per-test-set metrics in percent, plus the mean rows, as a DataFrame (one row per set)."""
    rows = []
    for row in metrics["per_dataset"]:
        out = {"dataset": row["dataset"], "generator": row["generator"], "held_in": row["held_in"],
               "n_real": row["n_real"], "n_fake": row["n_fake"]}
        out.update({k: _pct(row[k]) for k in METRIC_KEYS})
        out.update({f"paper_{k}": row["published"].get(k) for k in METRIC_KEYS if k in row["published"]})
        rows.append(out)
    for label, key in (("mean", "mean"), ("held-in mean", "held_in_mean"), ("held-out mean", "held_out_mean")):
        if metrics[key]["n_datasets"]:
            out = {"dataset": label, "generator": f"{metrics[key]['n_datasets']} sets"}
            out.update({k: _pct(metrics[key][k]) for k in METRIC_KEYS})
            rows.append(out)
    frame = pd.DataFrame(rows)
    return frame.astype({"n_real": "Int64", "n_fake": "Int64"})


def run_evaluation(detector: Any, sets: Sequence[EvalSet], *, output: str | os.PathLike, data_label: str,
                   manifest: Manifest | None = None, data_root: str | os.PathLike | None = None,
                   batch_size: int = 32, num_workers: int | None = None, use_cache: bool = True,
                   progress: bool = True, limit: int | None = None) -> tuple[Path, dict[str, Any]]:
    """Run ``detector`` over ``sets``, score them and write the result files.

    Args:
        detector: a loaded :class:`~fakebench.detectors.base.Detector`.
        sets: the eval sets.
        output: root output folder; files go to ``<output>/<detector>.<tag>@<preset>/<data_label>/``.
        data_label: short name of what was evaluated (a suite, a folder name).
        manifest: the manifest the sets came from (its digests go into the provenance).
        data_root: the data root used (recorded).
        batch_size, num_workers, progress: see :func:`fakebench.eval.runner.collect_predictions`.
        use_cache: read and fill the prediction cache under ``<cache root>/predictions.sqlite``.
        limit: per-label image limit that was applied (recorded; results with a limit are flagged).

    Returns:
        ``(run_dir, results)``: the folder written and the results dict (as in ``results.json``).
    """
    label = f"{detector.name}.{detector.weights.label}@{detector.preset.name}"
    run_dir = Path(output) / _slug(label) / _slug(data_label)
    records = [r for s in sets for r in s.records]
    cache = PredictionCache(cache_root() / "predictions.sqlite") if use_cache else None
    try:
        predictions, stats = collect_predictions(detector, records, run_dir / "predictions.csv", batch_size=batch_size,
                                                 num_workers=num_workers, cache=cache, progress=progress)
    finally:
        if cache is not None:
            cache.close()
    scored_sets = {s.group.dataset for s in sets} & set(predictions.loc[predictions["prob"].notna(), "dataset"])
    groups = [s.group for s in sets if s.group.dataset in scored_sets]
    metrics = evaluate_predictions(predictions, groups, continuous=detector.continuous_scores)
    unreadable = predictions[predictions["error"].fillna("") != ""]
    warnings = []
    for s in sets:
        found = {"real": sum(r.label == 0 for r in s.records), "fake": sum(r.label == 1 for r in s.records)}
        for label, expected in (s.expected_count or {}).items():
            if expected is not None and not limit and found[label] != expected:
                warnings.append(f"{s.group.dataset}: found {found[label]} {label} images, manifest expects {expected}")
    padded = int(predictions["note"].fillna("").str.contains("zero-padded").sum())
    if padded:
        warnings.append(f"{padded} images were smaller than the {detector.preset.crop}px crop and were zero-padded "
                        f"(as the official code does); pick a resizing preset to avoid it")
    results = {
        "schema": RESULTS_SCHEMA,
        "date": now_iso(),
        "git_commit": git_commit(),
        "environment": environment(),
        "detector": {"name": detector.name, "title": detector.card.title, "paper": detector.card.paper,
                     "repo": detector.card.repo, "weights": detector.weights.to_dict(),
                     "preset": detector.preset.to_dict(), "fingerprint": detector.fingerprint(),
                     "identity": detector.identity(), "continuous_scores": detector.continuous_scores},
        "data": {"label": data_label, "data_root": str(data_root) if data_root else None,
                 "manifest": {"paths": [str(p) for p in manifest.paths], "sha256": manifest.digests}
                 if manifest else None,
                 "datasets": [s.entry for s in sets if s.entry is not None], "limit_per_label": limit},
        "threshold": 0.5,
        "run": stats.to_dict(),
        "warnings": warnings,
        "unreadable": [{"image": r.image, "error": r.error} for r in unreadable.itertuples()],
        "metrics": metrics,
    }
    table = metrics_table(metrics)
    atomic_write_text(run_dir / "metrics.csv", table.to_csv(index=False))
    title = (f"# {detector.name} ({detector.weights.tag}, preset {detector.preset.name}) on {data_label}\n\n"
             f"Percent; accuracy at prob > 0.5. paper_* = published numbers from the manifest.\n\n")
    atomic_write_text(run_dir / "metrics.md", title + to_markdown(table, numeric=METRIC_KEYS))
    atomic_write_json(run_dir / "results.json", results)
    return run_dir, results
