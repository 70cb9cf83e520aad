"""The runner: one detector over a list of images -> per-image predictions, saved as it goes.

:func:`collect_predictions` works in three phases:

1. **hash** every image file (sha256 of its bytes, in threads) -- the content id used by the cache;
2. **cache** lookup: images already scored by the same detector fingerprint (name, weights sha256, preset) are written
   without model work;
3. **score** the rest with a ``DataLoader`` (decoding and preprocessing in worker processes, batches stacked per
   image size) and append each batch's rows to ``predictions.csv`` (flushed and fsynced), and to the cache.

An interrupted run is resumed by calling it again with the same ``predictions.csv``: rows already there are kept and
their images skipped. Unreadable images get a row with an ``error`` and no score; they never stop the run.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import torch
from PIL import Image
from tqdm.auto import tqdm

from fakebench.detectors.base import Detector

from fakebench.eval.cache import PredictionCache, cache_key
from fakebench.data.images import ImageDataset, ImageRecord, collate_by_shape
from fakebench.core.errors import DataError
from fakebench.core.files import atomic_write_json, sha256_file

__all__ = ["PRED_COLUMNS", "RunStats", "collect_predictions", "read_predictions", "default_num_workers"]

log = logging.getLogger(__name__)

#: Columns of ``predictions.csv``: image path, content sha256, test set, generator, label (0 real / 1 fake), logit,
#: fake probability, decision (0/1 at prob > 0.5), error (unreadable file), note (lossy conversion, padding).
PRED_COLUMNS = ("image", "sha256", "dataset", "generator", "label", "logit", "prob", "decision", "error", "note")


@dataclass
class RunStats:
    """What a call to :func:`collect_predictions` did."""

    total: int = 0
    resumed: int = 0
    cached: int = 0
    computed: int = 0
    unreadable: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("total", "resumed", "cached", "computed", "unreadable", "seconds")}


def default_num_workers() -> int:
    """DataLoader workers: one per spare core (at least 1, at most 8)."""
    return max(1, min(8, (os.cpu_count() or 2) - 1))


def read_predictions(path: str | os.PathLike) -> pd.DataFrame:
    """Read a ``predictions.csv``, dropping a last line cut short by an interruption and keeping, per image, the last
    row. Returns an empty frame with :data:`PRED_COLUMNS` when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return pd.DataFrame(columns=list(PRED_COLUMNS))
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        path.write_text(text, encoding="utf-8")
    if not text.strip():
        return pd.DataFrame(columns=list(PRED_COLUMNS))
    frame = pd.read_csv(path, dtype={"image": str, "sha256": str, "dataset": str, "generator": str, "error": str,
                                     "note": str}, keep_default_na=False, na_values={"logit": [""], "prob": [""],
                                                                                     "decision": [""]})
    return frame.drop_duplicates("image", keep="last").reset_index(drop=True)


class _PredictionWriter:
    """Appends rows to predictions.csv, one flushed and fsynced write per batch."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists() or path.stat().st_size == 0
        self._handle = open(path, "a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._handle)
        if new:
            self._writer.writerow(PRED_COLUMNS)
            self._handle.flush()

    def write(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._writer.writerows([[row.get(c, "") for c in PRED_COLUMNS] for row in rows])
            self._handle.flush()
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()


def _check_owner(path: Path, detector: Detector) -> None:
    """Resume only predictions of the same detector fingerprint; record the owner of a new file.

    Raises:
        DataError: ``path`` holds predictions of another detector, weights file or preset.
    """
    owner = path.with_name(path.name + ".owner.json")
    fingerprint = detector.fingerprint()
    if owner.is_file():
        recorded = json.loads(owner.read_text(encoding="utf-8")).get("fingerprint")
        if recorded != fingerprint:
            raise DataError(
                f"{path} holds predictions of another detector, weights file or preset (fingerprint {recorded[:12]}, "
                f"this run {fingerprint[:12]}); pass another --output folder or delete {path.parent}."
            )
    elif path.exists() and path.stat().st_size:
        raise DataError(f"{path} exists but has no owner record {owner.name}; delete it or pass another --output.")
    else:
        atomic_write_json(owner, {"fingerprint": fingerprint, "identity": detector.identity()})


def _row(record: ImageRecord, sha: str, logit: float | None, prob: float | None, error: str = "",
         note: str = "") -> dict[str, Any]:
    return {"image": record.path, "sha256": sha, "dataset": record.dataset, "generator": record.generator,
            "label": record.label, "logit": "" if logit is None else f"{logit:.8f}",
            "prob": "" if prob is None else f"{prob:.8f}", "decision": "" if prob is None else int(prob > 0.5),
            "error": error, "note": note}


def _hash(record: ImageRecord) -> tuple[str, str]:
    try:
        return sha256_file(record.path), ""
    except OSError as exc:
        return "", f"{record.path}: cannot read file ({exc.strerror or exc})"


def _input_size(record: ImageRecord) -> tuple[int, int]:
    """(width, height) the image will have after its crop box, read from the header only."""
    if record.crop_box:
        left, top, right, bottom = record.crop_box
        return right - left, bottom - top
    try:
        with Image.open(record.path) as img:
            return img.size
    except Exception:  # unreadable files are reported by the dataset; sort them anywhere
        return (0, 0)


def collect_predictions(detector: Detector, records: Sequence[ImageRecord], predictions_csv: str | os.PathLike, *,
                        batch_size: int = 32, num_workers: int | None = None, cache: PredictionCache | None = None,
                        progress: bool = True) -> tuple[pd.DataFrame, RunStats]:
    """Score ``records`` with ``detector``, resuming from and appending to ``predictions_csv``.

    Args:
        detector: a loaded detector.
        records: the images (paths are the resume key).
        predictions_csv: where rows are appended (created if missing).
        batch_size: images per forward pass (native-size presets batch images of equal size together).
        num_workers: DataLoader worker processes (default :func:`default_num_workers`; 0 decodes in this process).
        cache: prediction cache to read and fill (``None`` disables it).
        progress: show tqdm bars (counts and images/s).

    Returns:
        ``(predictions, stats)``: one row per record (:data:`PRED_COLUMNS`, in record order) and what was done.
    """
    import time

    start = time.perf_counter()
    path = Path(predictions_csv)
    stats = RunStats(total=len(records))
    _check_owner(path, detector)
    previous = read_predictions(path)
    done = set(previous.loc[previous["error"].fillna("") == "", "image"])
    todo = [r for r in records if r.path not in done]
    stats.resumed = len(records) - len(todo)
    writer = _PredictionWriter(path)
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            hashed = list(tqdm(pool.map(_hash, todo), total=len(todo), desc="hashing", unit="img",
                               disable=not progress or not todo, leave=False))
        fingerprint = detector.fingerprint()
        keys = {}
        unreadable = []
        for record, (sha, error) in zip(todo, hashed):
            if error:
                unreadable.append(_row(record, sha, None, None, error=error))
            else:
                keys[record.path] = cache_key(fingerprint, sha, record.crop_box)
        writer.write(unreadable)
        stats.unreadable += len(unreadable)
        hits = cache.get_many(keys.values()) if cache is not None else {}
        sha_of = {r.path: sha for r, (sha, _) in zip(todo, hashed)}
        cached_rows = [_row(r, sha_of[r.path], *hits[keys[r.path]]) for r in todo if keys.get(r.path) in hits]
        writer.write(cached_rows)
        stats.cached = len(cached_rows)
        misses = [r for r in todo if r.path in keys and keys[r.path] not in hits]
        if misses and not detector.preset.fixed_size:  # keep equal sizes together so batches stack
            misses.sort(key=_input_size)
        stats.computed, errors = _score(detector, misses, sha_of, keys, writer, cache, batch_size=batch_size,
                                        num_workers=default_num_workers() if num_workers is None else num_workers,
                                        progress=progress)
        stats.unreadable += errors
    finally:
        writer.close()
    frame = read_predictions(path)
    order = {r.path: i for i, r in enumerate(records)}
    frame = frame[frame["image"].isin(order)].copy()
    frame["_order"] = frame["image"].map(order)
    frame = frame.sort_values("_order").drop(columns="_order").reset_index(drop=True)
    stats.seconds = time.perf_counter() - start
    return frame, stats


def _score(detector: Detector, records: list[ImageRecord], sha_of: dict[str, str], keys: dict[str, str],
           writer: _PredictionWriter, cache: PredictionCache | None, *, batch_size: int, num_workers: int,
           progress: bool) -> tuple[int, int]:
    """Phase 3 of :func:`collect_predictions`; returns (images scored, images unreadable)."""
    if not records:
        return 0, 0
    loader = torch.utils.data.DataLoader(
        ImageDataset(records, detector.transform(), pad_below=detector.preset.crop if detector.preset.resize is None
                     else None), batch_size=batch_size, shuffle=False, num_workers=num_workers,
        collate_fn=collate_by_shape, persistent_workers=False, prefetch_factor=4 if num_workers else None)
    scored = errors = 0
    bar = tqdm(total=len(records), desc=f"scoring {detector.name}", unit="img", disable=not progress,
               dynamic_ncols=True)
    try:
        for batch in loader:
            rows, cache_rows = [], []
            for index, error in batch["errors"]:
                rows.append(_row(records[index], sha_of[records[index].path], None, None, error=error))
            for indices, images in batch["groups"]:
                out = detector.predict(images)
                logits = out.logit.tolist() if out.logit is not None else [None] * len(indices)
                for index, logit, prob in zip(indices, logits, out.prob.tolist()):
                    record = records[index]
                    rows.append(_row(record, sha_of[record.path], logit, prob, note=batch["notes"].get(index, "")))
                    cache_rows.append((keys[record.path], logit, prob))
            writer.write(rows)
            if cache is not None and cache_rows:
                cache.put_many(cache_rows)
            scored += len(cache_rows)
            errors += len(batch["errors"])
            bar.update(len(rows))
            bar.set_postfix(unreadable=errors)
    finally:
        bar.close()
    return scored, errors
