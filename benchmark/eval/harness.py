"""The convenience layer: resolve test sets, run the runner, score, and write the result files.

Output folder layout (``<output>/<detector>.<weights>@<preset>/<data>-<key>/``, or ``.../<name>/`` with a name of
the user's): ``<key>`` is a short hash of what determines the run -- the detector fingerprint (name, code revision,
weights sha256, preset, and anything else in its identity such as UnivFD's backbone) and the resolved data selection
(the sorted (path, label, test set, crop box) list). ``run.json`` records both; a folder whose record differs is
refused, never merged into.

* ``run.json`` -- the run's key, fingerprint and data selection hash;

* ``predictions.csv`` -- one row per image (see :data:`fakebench.eval.runner.PRED_COLUMNS`), written incrementally;
* ``results.json`` -- metrics with provenance (versions, git commit, detector card, weights sha256, preset, manifest
  entries and digests, date, unreadable files), written atomically;
* ``metrics.csv`` / ``metrics.md`` -- the per-test-set table (percent), held-in and held-out means.
"""

from __future__ import annotations

import hashlib
import json
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
from fakebench.eval.scoring import METRIC_KEYS, TestSetSpec, evaluate_predictions
from fakebench.core.files import atomic_write_json, atomic_write_text, remove_stale_temp_files
from fakebench.data.manifest import DatasetEntry, Manifest
from fakebench.core.provenance import environment, git_commit, now_iso
from fakebench.eval.results import RESULTS_SCHEMA, run_label
from fakebench.eval.runner import collect_predictions
from fakebench.eval.tables import percent, to_markdown

__all__ = ["TestSet", "align_sets", "sets_from_manifest", "sets_from_data_dir", "sets_from_real_fake_dirs", "run_evaluation",
           "metrics_table", "check_data_folders", "published_numbers", "refuse_overlaps", "selection_hash",
           "run_folder", "claim_run_dir", "limit_records", "RESULTS_SCHEMA"]



@dataclass
class TestSet:
    """One test set to run: its images, how to score it, its manifest record (if any), and the files found in its
    folders but left out, as ``(path, reason)``."""

    __test__ = False  # not a pytest test class

    group: TestSetSpec
    records: list[ImageRecord]
    entry: dict[str, Any] | None = None
    expected_count: dict[str, int | None] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def check_data_folders(manifest: Manifest, entries: Sequence[DatasetEntry],
                       data_root: str | os.PathLike | None = None) -> None:
    """Fail fast, before any model is loaded: every folder of ``entries`` (and of the real sets they reference) must
    exist under ``data_root``.

    Raises:
        DataError: one or more folders are missing; the message lists all of them with their download commands.
    """
    root = Path(data_root).expanduser() if data_root else default_data_root()
    missing = [e for e in manifest.with_references(list(entries)) if not (root / e.path).is_dir()]
    if missing:
        raise DataError(_missing_folders_message(root, missing))


def _holding_folder(root: Path, missing: Sequence[DatasetEntry]) -> Path | None:
    """A folder next to ``root`` (one of its children, or its parent) under which every missing set exists: the
    data root the user most likely meant (``../shared`` given where ``../shared/data`` holds the sets)."""
    candidates: list[Path] = []
    try:
        candidates = sorted(p for p in root.iterdir() if p.is_dir())[:200] if root.is_dir() else []
    except OSError:
        pass
    candidates.append(root.parent)
    for folder in candidates:
        if folder != root and all((folder / e.path).is_dir() for e in missing):
            return folder
    return None


def _missing_folders_message(root: Path, missing: Sequence[DatasetEntry]) -> str:
    """A few short lines: how many sets are missing, the first names, one command to fetch them, where to look."""
    names, shown = [e.name for e in missing], ""
    for k, name in enumerate(names):
        if len(shown) + len(name) > 90:
            shown += f"and {len(names) - k} more"
            break
        shown += name + (", " if k < len(names) - 1 else "")
    head = f"{len(missing)} dataset folder(s) missing under {root}\n  {shown}"
    holder = _holding_folder(root, missing)
    if holder is not None:
        return f"{head}\nThey are under {holder}: did you mean --data-root {holder}?"
    suites = list(dict.fromkeys(e.suite for e in missing))
    fetch = (" ".join(f"--suite {s}" for s in suites) if len(suites) <= 3 else
             " ".join(f"--dataset {e.name}" for e in missing[:3]) + " ...")
    return (f"{head}\nFetch them: fakebench download {fetch} --data-root {root}\n"
            f"What is on disk: fakebench list datasets --data-root {root}\n"
            f"Or point --data-root (or FAKEBENCH_DATA) at the folder that holds them.")


def published_numbers(entry: DatasetEntry, detector: str, weights_tag: str | None, preset: str | None,
                      card: Any = None) -> dict[str, Any]:
    """The published record of ``entry`` for exactly these weights and this protocol (empty dict when none).

    ``detector.tag@preset`` is used as is; ``detector.tag`` only when ``preset`` is the preset the card gives for
    those weights (the protocol their numbers were published with); a bare ``detector`` key only for the card's
    default weights at that preset, or, for a detector without weights (zero-shot), at the card's default preset.
    A user checkpoint (tag ``file``) or another preset never gets another model's numbers.
    """
    published = entry.published
    if weights_tag and preset and f"{detector}.{weights_tag}@{preset}" in published:
        return dict(published[f"{detector}.{weights_tag}@{preset}"])
    if card is not None and not card.weights:  # a detector without weights (zero-shot): name + preset determine it
        return dict(published[detector]) if detector in published and preset == card.default_preset else {}
    if card is None or not weights_tag or not card.has_weights(weights_tag):
        return {}
    spec = card.get_weights(weights_tag)
    if preset != (spec.preset or card.default_preset):
        return {}
    if f"{detector}.{weights_tag}" in published:
        return dict(published[f"{detector}.{weights_tag}"])
    default = card.default_weights
    if default is not None and default.tag == weights_tag and detector in published:
        return dict(published[detector])
    return {}


def refuse_overlaps(records: Sequence[ImageRecord]) -> None:
    """Refuse a selection that scores one file (same real path, links resolved) as both real and fake.

    Raises:
        DataError: naming up to 5 shared files.
    """
    labels: dict[str, set[int]] = {}
    for record in records:
        labels.setdefault(os.path.realpath(record.path), set()).add(record.label)
    shared = sorted(path for path, found in labels.items() if len(found) > 1)
    if shared:
        more = f" and {len(shared) - 5} more" if len(shared) > 5 else ""
        raise DataError(f"{len(shared)} file(s) are in both the real and the fake images: {', '.join(shared[:5])}"
                        f"{more}. The real and fake folders must not overlap; pass separate folders.")


def align_sets(sets: Sequence[TestSet], align_format: str | None) -> list[TestSet]:
    """The test sets with every image re-encoded in ``align_format`` (``jpeg96``/``png``, real and fake alike;
    :mod:`fakebench.data.formats`) before scoring; ``None``/``""`` returns them unchanged.

    Raises:
        ValueError: unknown alignment name.
    """
    from dataclasses import replace

    from fakebench.data.formats import check_align_format

    fmt = check_align_format(align_format)
    if not fmt:
        return list(sets)
    return [replace(s, records=[replace(r, encode=fmt) for r in s.records]) for s in sets]


def limit_records(records: list[ImageRecord], limit: int | None) -> list[ImageRecord]:
    """The first ``limit`` images per label, in sorted path order (deterministic subsample)."""
    if not limit:
        return records
    out, seen = [], {0: 0, 1: 0}
    for record in records:
        if seen[record.label] < limit:
            seen[record.label] += 1
            out.append(record)
    return out


def _registered_card(detector: str) -> Any:
    """The registered card of ``detector`` (``None`` when unknown): published numbers keyed without a preset need it."""
    from fakebench.core.errors import UnknownNameError
    from fakebench.detectors import REGISTRY

    try:
        return REGISTRY.card(detector)
    except UnknownNameError:
        return None


def sets_from_manifest(manifest: Manifest, entries: Sequence[DatasetEntry], *, detector: str, weights_tag: str | None,
                       preset: str | None, data_root: str | os.PathLike | None = None,
                       limit: int | None = None, card: Any = None) -> list[TestSet]:
    """Eval sets for manifest entries (plus the real sets their ``real_reference`` names).

    Held-in status is looked up for ``detector.weights_tag``; published numbers only for exactly these weights and
    preset (see :func:`published_numbers`; ``card`` defaults to the registered card of ``detector``).

    Raises:
        DataError: dataset folders are missing (all listed, with their download commands) or empty.
    """
    root = Path(data_root) if data_root else default_data_root()
    check_data_folders(manifest, entries, root)
    if card is None:
        card = _registered_card(detector)
    sets = []
    for entry in manifest.with_references(list(entries)):
        group = TestSetSpec(dataset=entry.name, generator=entry.generator, family=entry.family,
                          labels=entry.labels,
                          references=entry.real_reference, held_in=entry.is_held_in(detector, weights_tag),
                          published=published_numbers(entry, detector, weights_tag, preset, card))
        skipped: list[tuple[str, str]] = []
        records = limit_records(records_for_entry(entry, root, skipped=skipped), limit)
        sets.append(TestSet(group, records, entry.to_dict(), dict(entry.expected_count), skipped))
    return sets


def sets_from_data_dir(root: str | os.PathLike, *, crop_box: tuple[int, int, int, int] | None = None,
                       limit: int | None = None) -> list[TestSet]:
    """One eval set per generator folder of a ``0_real``/``1_fake`` test root (see
    :func:`fakebench.data.images.discover_data_dir`)."""
    skipped: list[tuple[str, str]] = []
    records = discover_data_dir(root, crop_box=crop_box, skipped=skipped)
    refuse_overlaps(records)
    by_set: dict[str, list[ImageRecord]] = {}
    for record in records:
        by_set.setdefault(record.dataset, []).append(record)
    return [TestSet(TestSetSpec(dataset=name, generator=recs[0].generator), limit_records(recs, limit),
                    skipped=skipped if k == 0 else [])
            for k, (name, recs) in enumerate(by_set.items())]


def sets_from_real_fake_dirs(real_dir: str | os.PathLike | None, fake_dir: str | os.PathLike | None, *,
                             name: str = "custom", crop_box: tuple[int, int, int, int] | None = None,
                             limit: int | None = None) -> list[TestSet]:
    """AntifakePrompt-style ``--real_dir``/``--fake_dir`` (either may be omitted; labels come from which folder an
    image is in, never from a default, unlike the official test.py).

    Raises:
        DataError: neither folder given, a folder missing or empty, or the two trees share files.
    """
    if real_dir is None and fake_dir is None:
        raise DataError("Give --real-dir, --fake-dir or both.")
    records: list[ImageRecord] = []
    skipped: list[tuple[str, str]] = []
    if real_dir is not None:
        records += discover_folder(real_dir, 0, dataset=name, generator=name, crop_box=crop_box, skipped=skipped)
    if fake_dir is not None:
        records += discover_folder(fake_dir, 1, dataset=name, generator=name, crop_box=crop_box, skipped=skipped)
    refuse_overlaps(records)
    kind = "mixed" if real_dir is not None and fake_dir is not None else ("real" if fake_dir is None else "fake")
    return [TestSet(TestSetSpec(dataset=name, generator=name, labels=kind), limit_records(records, limit), skipped=skipped)]


def selection_hash(records: Sequence[ImageRecord]) -> str:
    """Hex sha256 of the resolved data selection: the sorted ``(path, label, test set, crop box)`` list, with the
    format alignment appended to the items of format-aligned images (so earlier selections keep their hash)."""
    items = sorted((r.path, r.label, r.dataset, list(r.crop_box) if r.crop_box else None)
                   + ((r.encode,) if getattr(r, "encode", "") else ()) for r in records)
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()


def claim_run_dir(run_dir: Path, record: dict[str, Any]) -> None:
    """Refuse ``run_dir`` when its ``run.json`` records another detector or data selection; else record ours.

    Raises:
        DataError: the folder holds another run (or results without a ``run.json``).
    """
    remove_stale_temp_files(run_dir)  # left by a kill between an atomic write and its rename
    path = run_dir / "run.json"
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            old = {}
        diff = [k for k in ("fingerprint", "selection") if old.get(k) != record[k]]
        if diff:
            what = " and ".join({"fingerprint": "another detector (fingerprint)",
                                 "selection": "other images (data selection)"}[k] for k in diff)
            raise DataError(f"Run folder {run_dir} holds a run of {what}; runs are never merged. Pass another "
                            f"--name or --output, or delete {run_dir}.")
        return
    if (run_dir / "predictions.csv").exists():
        raise DataError(f"Run folder {run_dir} holds predictions without a run.json record; pass another --name or "
                        f"--output, or delete {run_dir}.")
    atomic_write_json(path, record)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@+-]+", "_", text).strip("_") or "run"


def _expected_fpr_text(calibration: dict[str, Any]) -> str:
    """For an ``fpr:X`` threshold: the FPR to expect on new reals (it exceeds X at small n; see
    :func:`fakebench.analysis.operating.fitted_fpr_interval`)."""
    exp = calibration.get("expected_fpr")
    if not exp:
        return ""
    return (f" Fitted for FPR <= {100 * exp['target']:.2f}% on {exp['n_real']} reals, the FPR to expect on new reals "
            f"is {100 * exp['expected_fpr']:.2f}% (95% interval {100 * exp['lo']:.2f}-{100 * exp['hi']:.2f}%).")


def _ci_text(value: Any, ci: Any) -> Any:
    """``95.12 [93.40, 96.70]`` (percent) when a CI is present, else the plain percent value."""
    pct = percent(value)
    if pct is None or not ci or any(percent(v) is None for v in ci):
        return pct
    return f"{pct:.2f} [{percent(ci[0]):.2f}, {percent(ci[1]):.2f}]"


#: The mean rows of the table: (label, key in the scorer's output).
MEAN_ROWS = (("mean", "mean"), ("held-in mean", "held_in_mean"), ("held-out mean", "held_out_mean"),
             ("held-out mean (paper's table)", "table_held_out_mean"), ("pooled (image-weighted)", "pooled"))


def metrics_table(metrics: dict[str, Any], *, with_ci: bool = False) -> pd.DataFrame:
    """Per-test-set metrics in percent, plus the mean rows, as a DataFrame (one row per set).

    Rows: each test set; ``mean`` / ``held-in mean`` / ``held-out mean`` (unweighted over test sets, the papers'
    convention); ``held-out mean (paper's table)`` only where the paper's table counts held-out sets differently;
    ``pooled (image-weighted)`` (every image once).

    Args:
        metrics: the scorer's output (:func:`fakebench.eval.scoring.evaluate_predictions`).
        with_ci: metric cells become ``"value [lo, hi]"`` strings (95% CI) where a ``ci`` is present
            (for ``metrics.md``); otherwise numbers (for ``metrics.csv``).
    """
    def cells(entry: dict[str, Any]) -> dict[str, Any]:
        ci = entry.get("ci") or {}
        return {k: (_ci_text(entry.get(k), ci.get(k)) if with_ci else percent(entry.get(k))) for k in METRIC_KEYS}

    rows = []
    for row in metrics["per_dataset"]:
        out = {"dataset": row["dataset"], "generator": row["generator"], "held_in": row["held_in"],
               "n_real": row["n_real"], "n_fake": row["n_fake"]}
        out.update(cells(row))
        out.update({f"paper_{k}": row["published"].get(k) for k in METRIC_KEYS if k in row["published"]})
        rows.append(out)
    for label, key in MEAN_ROWS:
        entry = metrics.get(key) or {}
        if not entry.get("n_datasets"):
            continue
        if key == "table_held_out_mean" and [r["dataset"] for r in metrics["per_dataset"] if not r.get(
                "table_held_in", r["held_in"])] == [r["dataset"] for r in metrics["per_dataset"] if not r["held_in"]]:
            continue  # the paper's table counts held-out sets as the training data does: nothing to add
        out = {"dataset": label, "generator": f"{entry['n_datasets']} sets"}
        if key == "pooled":
            out.update(n_real=entry.get("n_real"), n_fake=entry.get("n_fake"))
        out.update(cells(entry))
        rows.append(out)
    frame = pd.DataFrame(rows)
    return frame.astype({"n_real": "Int64", "n_fake": "Int64"})


def run_folder(detector: Any, sets: Sequence[TestSet], *, output: str | os.PathLike, data_label: str,
               name: str | None = None) -> tuple[Path, dict[str, Any]]:
    """Where a run goes and what keys it (see the module docstring).

    Returns:
        ``(run_dir, record)``: ``<output>/<detector>.<tag>@<preset>/<data_label>-<key>`` (or ``.../<name>``) and the
        ``run.json`` record ``{"schema", "key", "fingerprint", "selection", "data_label", "images"}``.
    """
    records = [r for s in sets for r in s.records]
    fingerprint = detector.fingerprint()
    selection = selection_hash(records)
    key = hashlib.sha256(f"{fingerprint}|{selection}".encode()).hexdigest()[:10]
    label = run_label(detector.name, detector.weights.label, detector.preset.name)
    folder = _slug(name) if name else f"{_slug(data_label)}-{key}"
    record = {"schema": "fakebench.run/1", "key": key, "fingerprint": fingerprint, "selection": selection,
              "data_label": data_label, "name": name, "images": len(records)}
    return Path(output) / _slug(label) / folder, record


def _no_image_scored(predictions: pd.DataFrame, run_dir: Path) -> DataError:
    errors = [e for e in predictions["error"].fillna("") if e]
    detector_failed = any("non-finite" in e or "failed on this image" in e for e in errors)
    reasons: dict[str, int] = {}
    for error in errors:
        reason = error.split(": ", 1)[-1]
        reasons[reason] = reasons.get(reason, 0) + 1
    top = "; ".join(f"{n} x {reason}" for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:3])
    example = errors[0].split(": ", 1)[0] if errors else ""
    return DataError(f"no image could be {'scored' if detector_failed else 'read'}: all {len(predictions)} failed "
                     f"({top}; e.g. {example}). Every row is in {run_dir / 'predictions.csv'}.")


def run_evaluation(detector: Any, sets: Sequence[TestSet], *, output: str | os.PathLike, data_label: str,
                   manifest: Manifest | None = None, data_root: str | os.PathLike | None = None,
                   batch_size: int = 32, num_workers: int | None = None, use_cache: bool = True,
                   progress: bool = True, limit: int | None = None, name: str | None = None,
                   max_pixels_per_batch: int | None = None, calibrate_on: Sequence[str] = (),
                   calibration_target: str = "eer", n_boot: int = 1000, seed: int = 0,
                   label: str | None = None) -> tuple[Path, dict[str, Any]]:
    """Run ``detector`` over ``sets``, score them and write the result files.

    Args:
        detector: a loaded :class:`~fakebench.detectors.base.Detector`.
        sets: the eval sets.
        output: root output folder; files go to :func:`run_folder`.
        data_label: short name of what was evaluated (a suite, a folder name).
        manifest: the manifest the sets came from (its digests go into the provenance).
        data_root: the data root used (recorded).
        batch_size, num_workers, progress, max_pixels_per_batch: see :func:`fakebench.eval.runner.
            collect_predictions`.
        use_cache: read and fill the prediction cache under ``<cache root>/predictions.sqlite``.
        limit: per-label image limit that was applied (recorded; results with a limit are flagged).
        name: a human name for the run folder instead of ``<data_label>-<key>``.
        calibrate_on: test sets of this run that form a calibration split: a threshold is fitted on them
            (``calibration_target``: ``eer``, ``balanced_acc`` or ``fpr:X``) and every other set is also scored at it
            (``results["calibration"]``, :func:`fakebench.analysis.calibrate.calibrate`).
        n_boot, seed: bootstrap resamples for the 95% CIs (0 = none) and their seed.
        label: a readable run name (``--label``) recorded as ``results["run"]["label"]`` and shown in tables and
            reports instead of ``name.weights@preset`` (see :func:`fakebench.eval.results.check_run_label`).

    Returns:
        ``(run_dir, results)``: the folder written and the results dict (as in ``results.json``).

    Raises:
        DataError: the run folder holds another run; a file is both real and fake; no image could be read or scored
            (the reasons are listed); a damaged prediction cache.
    """
    if label is not None:
        from fakebench.eval.results import check_run_label

        label = check_run_label(label)
    user_label = label  # ``label`` is reused below for real/fake
    records = [r for s in sets for r in s.records]
    refuse_overlaps(records)
    run_dir, run_record = run_folder(detector, sets, output=output, data_label=data_label, name=name)
    claim_run_dir(run_dir, run_record)
    cache = PredictionCache(cache_root() / "predictions.sqlite") if use_cache else None
    from fakebench.eval.cost import measure_cost

    try:
        with measure_cost(device=detector.device, images=len(records)) as cost:
            predictions, stats = collect_predictions(detector, records, run_dir / "predictions.csv",
                                                     batch_size=batch_size, num_workers=num_workers, cache=cache,
                                                     progress=progress, max_pixels_per_batch=max_pixels_per_batch)
            cost["images"] = stats.computed  # images/s counts the images the model scored in this call
    finally:
        if cache is not None:
            cache.close()
    if not predictions["prob"].notna().any():
        raise _no_image_scored(predictions, run_dir)
    scored_sets = {s.group.dataset for s in sets} & set(predictions.loc[predictions["prob"].notna(), "dataset"])
    warnings: list[str] = []  # only from the predictions and the data, so a cached re-run gives the same warnings
    groups = []
    for s in sets:
        if s.group.dataset not in scored_sets:
            warnings.append(f"{s.group.dataset}: no image could be read or scored; the set is left out of the "
                            f"results and the means (see 'unreadable')")
        elif s.group.labels == "fake" and s.group.references and not set(s.group.references) <= scored_sets:
            warnings.append(f"{s.group.dataset}: its real reference set(s) {list(s.group.references)} have no scored "
                            f"image; the set is left out of the results and the means")
        else:
            groups.append(s.group)
    threshold = detector.natural_threshold  # None: a score-only detector, no accuracy without calibration
    metrics = evaluate_predictions(predictions, groups, continuous=detector.continuous_scores, n_boot=n_boot,
                                   seed=seed, threshold=threshold)
    calibration = None
    if calibrate_on:
        from fakebench.analysis.calibrate import calibrate

        calibration = calibrate(predictions, metrics, list(calibrate_on), target=calibration_target)
    unreadable = predictions[predictions["error"].fillna("") != ""]
    for s in sets:
        found = {"real": sum(r.label == 0 for r in s.records), "fake": sum(r.label == 1 for r in s.records)}
        for label, expected in (s.expected_count or {}).items():
            if expected is not None and not limit and found[label] != expected:
                warnings.append(f"{s.group.dataset}: found {found[label]} {label} images, manifest expects {expected}")
    padded = int(predictions["note"].fillna("").str.contains("zero-padded").sum())
    if padded:
        warnings.append(f"{padded} images were smaller than the {detector.preset.crop}px crop and were zero-padded "
                        f"(as the official code does); pick a resizing preset to avoid it")
    skipped = [{"file": f, "reason": why} for s in sets for f, why in s.skipped]
    if skipped:
        warnings.append(f"{len(skipped)} files in the data folders are not images PIL can open or are hidden and were "
                        f"skipped (see 'skipped')")
    results = {
        "schema": RESULTS_SCHEMA,
        "date": now_iso(),
        "git_commit": git_commit(),
        "environment": environment(),
        "detector": {"name": detector.name, "title": detector.card.title, "paper": detector.card.paper,
                     "repo": detector.card.repo, "weights": detector.weights.to_dict(),
                     "preset": detector.preset.to_dict(), "fingerprint": detector.fingerprint(),
                     "identity": detector.identity(), "continuous_scores": detector.continuous_scores,
                     "natural_threshold": threshold},
        "data": {"label": data_label, "data_root": str(data_root) if data_root else None,
                 "manifest": {"paths": [str(p) for p in manifest.paths], "sha256": manifest.digests}
                 if manifest else None,
                 "datasets": [s.entry for s in sets if s.entry is not None], "limit_per_label": limit,
                 "align_format": next((r.encode for r in records if getattr(r, "encode", "")), None),
                 "selection_sha256": run_record["selection"], "images": len(records)},
        "run_key": run_record["key"],
        "threshold": threshold,
        "run": {**({"label": user_label} if user_label else {}), **stats.to_dict()},
        "cost": cost,
        "warnings": warnings,
        "unreadable": [{"image": r.image, "error": r.error} for r in unreadable.itertuples()],
        "skipped": skipped,
        "metrics": metrics,
        "bootstrap": {"n_boot": n_boot, "seed": seed, "level": 0.95,
                      "method": "wilson (acc, real acc, fake acc); delong-logit+newcombe (AUC); bca+rank-score floor "
                                "(AP, stratified by label); student-t over test sets (means, none below 5 sets)"},
    }
    if calibration is not None:
        results["calibration"] = calibration
        results["calibrated_threshold"] = calibration["threshold"]
    table = metrics_table(metrics)
    atomic_write_text(run_dir / "metrics.csv", table.to_csv(index=False))
    aligned = results["data"]["align_format"]
    accuracy_rule = (f"accuracy at fake probability > {threshold}" if threshold is not None else
                     "accuracy columns n/a: no threshold (score-only detector: its output is a score, not a "
                     "probability; AP/AUC are computed from the score; fit a threshold with --calibrate-on for "
                     "accuracies)")
    title = (f"# {detector.name} ({detector.weights.tag}, preset {detector.preset.name}) on {data_label}"
             f"{f' (format-aligned: every image re-encoded as {aligned})' if aligned else ''}\n\n"
             f"Percent; {accuracy_rule}. [lo, hi] = 95% CI. For a test set and "
             f"the pooled row it covers new images from the same sources (Wilson for accuracies, DeLong-logit + "
             f"Newcombe for AUC, BCa bootstrap with a rank-score floor for AP); for a mean it covers the mean over a "
             f"population of test sets like these (Student t over sets; none below 5 sets: too few sets for an "
             f"interval). Means are unweighted over test sets; the pooled row weights every image once. "
             f"paper_* = published numbers from the manifest.\n\n")
    md_table = metrics_table(metrics, with_ci=True)
    if threshold is None:
        for key in ("acc", "real_acc", "fake_acc"):
            md_table[key] = "n/a: no threshold"
    text = title + to_markdown(md_table, numeric=METRIC_KEYS)
    if calibration is not None:
        cal = pd.DataFrame(calibration["per_dataset"] + [{"dataset": "mean", **calibration["mean"]}])
        for key in ("acc", "real_acc", "fake_acc"):
            cal[key] = cal[key].map(percent)
        units = "fake probability" if threshold is not None else "score units"
        text += (f"\n## At a calibrated threshold\n\nThreshold {calibration['threshold']:.4g} ({units}) "
                 f"fitted for {calibration['target']} on the calibration split {', '.join(calibration['split'])} "
                 f"({calibration['n_calibration']} images, left out below). Percent."
                 + _expected_fpr_text(calibration) + "\n\n"
                 + to_markdown(cal[["dataset", "n", "acc", "real_acc", "fake_acc"]].astype({"n": "Int64"}),
                               numeric=("acc", "real_acc", "fake_acc")))
    atomic_write_text(run_dir / "metrics.md", text)
    atomic_write_json(run_dir / "results.json", results)
    return run_dir, results


#: Former names (fakebench 0.1), kept for one release.
EvalSet = TestSet
