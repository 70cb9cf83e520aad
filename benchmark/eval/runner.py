"""The runner: one detector over a list of images -> per-image predictions, saved as it goes.

:func:`collect_predictions` works in three phases:

1. **hash** every image file (sha256 of its bytes, in threads; only regular files are opened) -- the content id
   used by resume and the cache;
2. **cache** lookup: images already scored by the same detector fingerprint (name, code revision, weights sha256,
   preset) are written without model work, with their notes;
3. **score** the rest: decoding and the preset's PIL steps in ``num_workers`` threads that hand over ``uint8``
   tensors (:func:`fakebench.eval.prefetch.prefetch`; a detector with its own transform: DataLoader worker
   processes); ToTensor's scaling and Normalize run on the whole batch here, bit-identical to the per-image
   transform, see :func:`fakebench.detectors.preprocess.split_transform`; pinned memory on CUDA; batches
   bounded by a count and a pixel budget, stacked per image size, images sorted by size) and append each batch's rows
   to ``predictions.csv`` (flushed), and to the cache.

An interrupted run is resumed by calling it again with the same ``predictions.csv``: rows whose image still has the
same sha256 are kept and their images skipped; rows of changed or removed images are dropped. Unreadable images and
images the detector fails on (exception, NaN/Inf output) get a row with an ``error`` and no score; they never stop
the run.
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from fakebench.eval import memory
from fakebench.eval.cache import PredictionCache, cache_key
from fakebench.eval.prefetch import prefetch
from fakebench.eval.progress import RateMeter
from fakebench.eval.predictions import (PRED_COLUMNS, PredictionWriter, keep_rows, read_predictions,
                                        sort_file)
from fakebench.data.images import ImageDataset, ImageRecord, collate_by_shape
from fakebench.data.items import content_sha256, is_member, is_regular, locality_key, open_binary
from fakebench.core.errors import DataError
from fakebench.core.files import atomic_write_json

if TYPE_CHECKING:  # pragma: no cover -- torch is imported only when a model has to run (see _score)
    import torch

    from fakebench.detectors.base import Detector

__all__ = ["PRED_COLUMNS", "RunStats", "BatchPlan", "plan_batches", "collect_predictions", "read_predictions", "default_num_workers",
           "default_max_pixels", "CPU_MAX_PIXELS", "GPU_MAX_PIXELS"]

log = logging.getLogger(__name__)

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
    """Decoding workers (threads, or DataLoader processes for a detector's own transform): one per spare core (at
    least 1, at most 8)."""
    return max(1, min(8, (os.cpu_count() or 2) - 1))


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
         note: str = "", threshold: float | None = 0.5) -> dict[str, Any]:
    """One predictions.csv row; ``decision`` is ``prob > threshold`` (empty for a score-only detector, whose
    ``threshold`` is ``None``: its ``prob`` column holds the score)."""
    return {"image": record.path, "sha256": sha, "dataset": record.dataset, "generator": record.generator,
            "label": record.label, "logit": "" if logit is None else f"{logit:.8f}",
            "prob": "" if prob is None else f"{prob:.8f}",
            "decision": "" if prob is None or threshold is None else int(prob > threshold),
            "error": error, "note": note}


def _hash(record: ImageRecord) -> tuple[str, str]:
    """(sha256, '') of the image's bytes (a regular file or a parquet row, :mod:`fakebench.data.items`), or
    ('', reason). FIFOs, sockets and device links are never opened."""
    try:
        if not is_regular(record.path):
            return "", f"{record.path}: not a regular file (FIFO, socket, device or folder); skipped"
        return content_sha256(record.path), ""
    except OSError as exc:
        if is_member(record.path):
            return "", str(exc)
        return "", f"{record.path}: cannot read file ({exc.strerror or exc})"


def _input_size(record: ImageRecord) -> tuple[int, int]:
    """(width, height) the image will have after its crop box, read from the header only."""
    if record.crop_box:
        left, top, right, bottom = record.crop_box
        return right - left, bottom - top
    try:
        with open_binary(record.path) as handle, Image.open(handle) as img:
            return img.size
    except Exception:  # unreadable files are reported by the dataset; sort them anywhere
        return (0, 0)


#: Default pixel budget of one forward pass on the CPU: 2**17 = 131,072 pixels (two 256x256 images, eight 128x128,
#: two 224x224 crops; a 384 or 512 px image goes alone). See :func:`default_max_pixels` for the measurements.
CPU_MAX_PIXELS = 1 << 17
#: Default pixel budget of one forward pass on a GPU: 48 megapixels (fits a 24 GB card in fp32 for a ResNet-50).
GPU_MAX_PIXELS = 48_000_000


def default_max_pixels(device: "str | torch.device" = "cpu") -> int:
    """Default pixel budget of one forward pass (sum of ``H * W`` of its input tensors), chosen by the device type:
    :data:`GPU_MAX_PIXELS` (48 MP) on CUDA, where large batches keep the card busy (bounded to fit a 24 GB card in
    fp32), and :data:`CPU_MAX_PIXELS` (2**17 px) anywhere else, where large batches are *slower* per image.

    Measured forward passes only (:meth:`Detector.predict`, parity checkpoints, the 32 images per scenario of
    ``tools/bench_pipeline.py``, batched as here, best of 3-4 interleaved rounds; shared 2-core AMD EPYC, 2 torch
    threads, load average 1-4), images/s by budget in pixels:

    ============================================ ======= ======= ======= ======= ======= ======= ==========
    scenario                                     batch 1  2**15   2**16   2**17   2**18   2**19   16 MP (old)
    ============================================ ======= ======= ======= ======= ======= ======= ==========
    NPR native, mixed 256/384/512 px renders (a)  31.2    31.2    31.3    31.5    30.6    26.9    13.7
    NPR native, 128 px GANGen (a)                 223     270     304     311     297     283     283
    CNNSpot crop224                               29.9    28.9    28.9    34.2    31.8    27.2    16.6
    ============================================ ======= ======= ======= ======= ======= ======= ==========

    (a) channels-last (NPR revision 3). In the contiguous format NPR fell off a cliff past 2**18 px (mixed renders:
    21-22 img/s up to 2**18, 12.5 at 2**19, 6.4 at 16 MP; GANGen best at 2**16: 215 against 170 at 2**17), likely
    because a ResNet stem keeps 64 fp32 channels at half resolution (64 bytes per input pixel) and past 32 MB glibc
    serves each such tensor by a fresh ``mmap`` (page faults every forward pass; the old default showed 4x the
    system time of batch 1). At one torch thread the optima stay where they are (NPR GANGen flat at 2**14-2**16 px,
    CNNSpot best at 2**17), so the budget is not scaled by ``torch.get_num_threads()``. Command:
    ``python tools/bench_pipeline.py --mode ceiling --images 32 --repeats 3 --max-pixels N`` (the ``forward-only``
    column).

    Args:
        device: the detector's device (``"cpu"``, ``"cuda:1"``, a :class:`torch.device`); no GPU is needed to ask.

    Returns:
        The budget in pixels (an image over it is scored alone).
    """
    kind = getattr(device, "type", None) or str(device).split(":", 1)[0]  # no torch import for a device name
    return GPU_MAX_PIXELS if kind == "cuda" else CPU_MAX_PIXELS


def _pixels(size: tuple[int, int], preset: Any) -> int:
    """Pixels of the tensor the preset makes from an image of ``size`` (width, height)."""
    width, height = size
    if preset.resize is not None:
        if preset.resize_mode == "square":
            width = height = preset.resize
        elif min(width, height) > 0:
            scale = preset.resize / min(width, height)
            width, height = round(width * scale), round(height * scale)
    if preset.crop is not None:
        width = height = preset.crop
    return max(1, width * height)


def _fit_memory(detector: Detector, plan: "BatchPlan", sha_of: dict[str, str], writer: PredictionWriter,
                stats: RunStats, budget: int, *, batch_size: int) -> "BatchPlan":
    """Before any forward pass (:mod:`fakebench.eval.memory`): cap ``budget`` at what the device has free (a note),
    write an error row for each image whose input alone would not fit, and return the plan re-cut to what is left
    under that budget (the same plan when nothing changes)."""
    if not plan.records:
        return plan
    free = memory.available_bytes(detector.device)
    capped, note = memory.fit_budget(budget, detector, free=free)
    if note:
        log.warning(note)
        stats.notes.append(note)
    errors = [memory.oversized_message(r.path, plan.sizes.get(r.path, (0, 0)), px, detector, free=free)
              for r, px in zip(plan.records, plan.pixels)]
    refused = [_row(r, sha_of[r.path], None, None, error=e) for r, e in zip(plan.records, errors) if e]
    if refused:
        writer.write(refused)
        stats.unreadable += len(refused)
    if not refused and capped == budget:
        return plan
    keep = [i for i, e in enumerate(errors) if not e]
    records, pixels = [plan.records[i] for i in keep], [plan.pixels[i] for i in keep]
    return BatchPlan(records, _budget_batches(pixels, batch_size, capped), pixels, plan.sizes)


def _budget_batches(pixels: list[int], batch_size: int, budget: int) -> list[list[int]]:
    """Consecutive index groups of at most ``batch_size`` images and ``budget`` pixels (an image over the budget
    alone forms its own batch)."""
    batches: list[list[int]] = []
    current: list[int] = []
    total = 0
    for index, px in enumerate(pixels):
        if current and (len(current) >= batch_size or total + px > budget):
            batches.append(current)
            current, total = [], 0
        current.append(index)
        total += px
    if current:
        batches.append(current)
    return batches


@dataclass
class BatchPlan:
    """How the runner scores a list of images: their order and its batches (see :func:`plan_batches`).

    Attributes:
        records: the images in scoring order.
        batches: consecutive index lists into ``records``, one per DataLoader batch (a batch may hold several image
            sizes; each size is one forward pass).
        pixels: per record, the pixels of the tensor its preset makes (``H * W``).
        sizes: ``(width, height)`` after the crop box, read from the file header, by path (only when the preset
            keeps native sizes or may zero-pad; ``(0, 0)`` for unreadable files).
    """

    records: list[ImageRecord]
    batches: list[list[int]]
    pixels: list[int]
    sizes: dict[str, tuple[int, int]]


def plan_batches(records: Sequence[ImageRecord], preset: Any, *, batch_size: int, budget: int) -> BatchPlan:
    """The runner's batching: images sorted by size when the preset keeps native sizes (so equal sizes stack), then
    cut into consecutive batches of at most ``batch_size`` images and ``budget`` pixels (an image over the budget is
    scored alone). :func:`collect_predictions` scores exactly this plan; benchmarks time the forward pass alone on it.

    Args:
        records: the images to score.
        preset: the detector's :class:`~fakebench.detectors.card.Preset`.
        batch_size: at most this many images per batch (>= 1).
        budget: pixel budget of one batch (sum of ``H * W`` of its input tensors).
    """
    pads = preset.pads_below is not None  # a crop reached without resize or tiling zero-pads small images
    records = list(records)
    sizes: dict[str, tuple[int, int]] = {}
    if records and (pads or not preset.fixed_size):
        with ThreadPoolExecutor(max_workers=4) as pool:
            sizes = dict(zip((r.path for r in records), pool.map(_input_size, records)))
    if not preset.fixed_size:  # keep equal sizes together so batches stack (parquet rows: within a shard region)
        records.sort(key=lambda r: (locality_key(r.path), sizes[r.path]))
    pixels = [_pixels(sizes.get(r.path, (0, 0)), preset) for r in records]
    return BatchPlan(records, _budget_batches(pixels, batch_size, budget), pixels, sizes)


def collect_predictions(detector: Detector, records: Sequence[ImageRecord], predictions_csv: str | os.PathLike, *,
                        batch_size: int = 32, num_workers: int | None = None, cache: PredictionCache | None = None,
                        progress: bool = True, max_pixels_per_batch: int | None = None
                        ) -> tuple[pd.DataFrame, RunStats]:
    """Score ``records`` with ``detector``, resuming from and appending to ``predictions_csv``.

    Resume is by content: a row already in ``predictions_csv`` is kept only when its image is still among
    ``records`` with the same sha256 and it has no error; rows of changed, failed or removed images are dropped (atomic
    replace) and changed or failed images are scored again.

    Args:
        detector: a loaded detector, or a :class:`~fakebench.eval.deferred.DeferredDetector` (loaded here only when an
            image is neither resumed nor cached: a fully cached run imports no torch).
        records: the images.
        predictions_csv: where rows are appended (created if missing).
        batch_size: at most this many images per forward pass (native-size presets batch images of equal size).
        num_workers: decoding workers (default :func:`default_num_workers`; 0 decodes in the calling thread): threads
            for the preset transform (:mod:`fakebench.eval.prefetch`), DataLoader worker processes for a detector
            with its own :meth:`~fakebench.detectors.base.Detector.transform`.
        cache: prediction cache to read and fill (``None`` disables it).
        progress: show a tqdm bar (current test set; counts pixels, so its ETA holds when images are sorted by size).
        max_pixels_per_batch: pixel budget of one forward pass (sum of ``H * W`` of its input tensors), bounding
            memory whatever the image sizes (default :func:`default_max_pixels` for the detector's device:
            2**17 px on the CPU, 48 MP on a GPU).

    Returns:
        ``(predictions, stats)``: one row per record (:data:`PRED_COLUMNS`, in record order) and what was done. An
        image the detector fails on (an exception, or a NaN/Inf output) gets an ``error`` row naming the file and the
        reason; the run goes on.

    Raises:
        DataError: ``predictions_csv`` belongs to another detector fingerprint; a damaged cache.
    """
    import time

    start = time.perf_counter()
    path = Path(predictions_csv)
    stats = RunStats(total=len(records))
    _check_owner(path, detector)
    with ThreadPoolExecutor(max_workers=4) as pool:
        hashed = list(tqdm(pool.map(_hash, records), total=len(records), desc="hashing", unit="img",
                           disable=not progress or not records, leave=False))
    sha_of = {r.path: sha for r, (sha, _) in zip(records, hashed)}
    dropped = keep_rows(path, lambda row: row.get("error", "") == "" and bool(sha_of.get(row.get("image")))
                         and sha_of[row["image"]] == row.get("sha256"))
    if dropped:
        log.info("%s: %d rows of changed, failed or removed images dropped.", path, dropped)
    previous = read_predictions(path, repair=True)
    done = set(previous["image"])
    todo = [(r, h) for r, h in zip(records, hashed) if r.path not in done]
    stats.resumed = len(records) - len(todo)
    writer = PredictionWriter(path)
    try:
        fingerprint = detector.fingerprint()
        keys = {}
        unreadable = []
        for record, (sha, error) in todo:
            if error:
                unreadable.append(_row(record, sha, None, None, error=error))
            else:
                keys[record.path] = cache_key(fingerprint, sha, record.crop_box, getattr(record, "encode", ""))
        writer.write(unreadable)
        stats.unreadable += len(unreadable)
        hits = cache.get_many(keys.values()) if cache is not None else {}
        misses = [r for r, _ in todo if r.path in keys and keys[r.path] not in hits]
        if misses and hasattr(detector, "materialize"):
            # a DeferredDetector (fakebench.eval.deferred): load the model now, and check its fingerprint against
            # the recorded one before any cached score is written
            detector = detector.materialize()
        threshold = detector.natural_threshold  # a DeferredDetector reads it from the card (no load)
        cached_rows = [_row(r, sha_of[r.path], *hits[keys[r.path]][:2], note=hits[keys[r.path]][2],
                            threshold=threshold)
                       for r, _ in todo if keys.get(r.path) in hits]
        writer.write(cached_rows)
        stats.cached = len(cached_rows)
        preset = detector.preset
        plan = plan_batches(misses, preset, batch_size=batch_size,
                            budget=max_pixels_per_batch or default_max_pixels(detector.device))
        if preset.pads_below is not None:
            small = sum(1 for r in plan.records if 0 < min(plan.sizes[r.path]) < preset.pads_below)
            if small:
                message = (f"{small} images are smaller than the {preset.pads_below}px crop of preset "
                           f"{preset.name!r} and will be zero-padded (as the official code does); pick a resizing "
                           f"preset to avoid it")
                log.warning(message)
                stats.notes.append(message)
        plan = _fit_memory(detector, plan, sha_of, writer, stats,
                           max_pixels_per_batch or default_max_pixels(detector.device), batch_size=batch_size)
        stats.computed, errors = _score(detector, plan, sha_of, keys, writer, cache,
                                        num_workers=default_num_workers() if num_workers is None else num_workers,
                                        progress=progress)
        stats.unreadable += errors
    finally:
        writer.close()
    order = {r.path: i for i, r in enumerate(records)}
    sort_file(path, order)
    frame = read_predictions(path)
    frame = frame[frame["image"].isin(order)].copy()
    frame["_order"] = frame["image"].map(order)
    frame = frame.sort_values("_order").drop(columns="_order").reset_index(drop=True)
    stats.seconds = time.perf_counter() - start
    return frame, stats


def _predict_safely(detector: Detector, indices: list[int], images: torch.Tensor, records: Sequence[ImageRecord]
                    ) -> list[tuple[int, float | None, float | None, str]]:
    """``(index, logit, prob, error)`` per image. A failing batch is retried image by image, so one bad image (or an
    out-of-memory batch) costs only its own row; a NaN/Inf output is an error naming the checkpoint."""
    try:
        out = detector.predict(images)
        if out.prob.shape[0] != len(indices):
            raise ValueError(f"predict() returned {out.prob.shape[0]} scores for {len(indices)} images")
    except Exception as exc:
        if len(indices) > 1:
            rows = []
            for k, index in enumerate(indices):
                rows += _predict_safely(detector, [index], images[k:k + 1], records)
            return rows
        log.debug("detector failed on %s", records[indices[0]].path, exc_info=True)
        reason = str(exc).splitlines()[0][:300] if str(exc) else ""
        return [(indices[0], None, None,
                 f"{records[indices[0]].path}: {detector.name} failed on this image ({type(exc).__name__}: {reason})")]
    bad = detector.non_finite(out).tolist()
    logits = out.logit.tolist() if out.logit is not None else [None] * len(indices)
    rows = []
    for k, (index, logit, prob) in enumerate(zip(indices, logits, out.prob.tolist())):
        if bad[k]:
            rows.append((index, None, None, f"{records[index].path}: {detector.non_finite_message(out, k)}"))
        else:
            rows.append((index, logit, prob, ""))
    return rows


def _note_fn(detector: Detector) -> Callable[[torch.Tensor], str] | None:
    """The detector's :meth:`~fakebench.detectors.base.Detector.input_note` for the dataset, or ``None`` when the
    detector keeps the base class's (always ``""``), so workers need not call it."""
    from fakebench.detectors.base import Detector

    if type(detector).input_note is Detector.input_note:
        return None
    return detector.input_note


def _load_batch(dataset: ImageDataset, indices: list[int], *, pin: bool = False) -> dict[str, Any]:
    """One batch of the preset path: its items decoded and collated (:func:`collate_by_shape`), each stacked group
    in pinned memory when ``pin`` (CUDA: asynchronous host-to-device copies)."""
    batch = collate_by_shape([dataset[i] for i in indices])
    if pin:
        batch["groups"] = [(group, images.pin_memory()) for group, images in batch["groups"]]
    return batch


def _score(detector: Detector, plan: BatchPlan, sha_of: dict[str, str], keys: dict[str, str],
           writer: PredictionWriter, cache: PredictionCache | None, *, num_workers: int,
           progress: bool) -> tuple[int, int]:
    """Phase 3 of :func:`collect_predictions`; returns (images scored, images unreadable or failed)."""
    records, pixels = plan.records, plan.pixels
    if not records:
        return 0, 0
    import torch  # only here: a run whose images all come from the cache or a resume never imports torch

    from fakebench.detectors.base import Detector

    note_fn = _note_fn(detector)
    normalize = None
    cuda = getattr(detector.device, "type", str(detector.device)) == "cuda"
    if type(detector).transform is Detector.transform:
        # the preset's transform: PIL steps to uint8 in decode threads (C code that releases the GIL; no fork, no
        # hand-off between processes, see fakebench.eval.prefetch), normalised on the batch here
        from fakebench.detectors.preprocess import split_transform

        per_image, normalize = split_transform(detector.preset)
        dataset = ImageDataset(records, per_image, pad_below=detector.preset.pads_below)
        load = partial(_load_batch, dataset, pin=cuda and num_workers > 0)
        loader = prefetch(load, plan.batches, workers=num_workers, depth=4)
    else:  # a detector with its own (possibly Python-heavy) transform: float tensors from worker processes
        dataset = ImageDataset(records, detector.transform(), pad_below=detector.preset.pads_below, note_fn=note_fn)
        loader = torch.utils.data.DataLoader(
            dataset, batch_sampler=plan.batches, num_workers=num_workers, pin_memory=cuda and num_workers > 0,
            collate_fn=collate_by_shape, persistent_workers=False, prefetch_factor=4 if num_workers else None)
    scored = errors = 0
    total_pixels = sum(pixels)
    meter = RateMeter(len(pixels), total_pixels)  # images/s, px/s and an ETA measured past the warm-up batches
    bar = tqdm(total=total_pixels, desc=f"scoring {detector.name}: ", unit="px", unit_scale=True, disable=not progress,
               dynamic_ncols=True, bar_format="{desc}{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} px "
                                                "[{elapsed}{postfix}]", postfix=meter.postfix())
    try:
        for batch in loader:
            rows, cache_rows = [], []
            indices = [i for i, _ in batch["errors"]] + [i for idx, _ in batch["groups"] for i in idx]
            if indices:
                bar.set_description(f"scoring {detector.name} [{records[indices[0]].dataset}]", refresh=False)
            for index, error in batch["errors"]:
                rows.append(_row(records[index], sha_of[records[index].path], None, None, error=error))
                errors += 1
            for group, images in batch["groups"]:
                notes = batch["notes"]
                if normalize is not None:
                    images = normalize(images)
                    if note_fn is not None:  # the detector's note on each transformed image, as the workers would
                        notes = dict(notes)
                        for k, index in enumerate(group):
                            extra = note_fn(images[k])
                            if extra:
                                notes[index] = f"{notes[index]}; {extra}" if notes.get(index) else extra
                for index, logit, prob, error in _predict_safely(detector, group, images, records):
                    record = records[index]
                    note = notes.get(index, "")
                    rows.append(_row(record, sha_of[record.path], logit, prob, error=error, note=note,
                                     threshold=detector.natural_threshold))
                    if error:
                        errors += 1
                    else:
                        cache_rows.append((keys[record.path], logit, prob, note))
            writer.write(rows)
            if cache is not None and cache_rows:
                cache.put_many(cache_rows)
            scored += len(cache_rows)
            done_pixels = sum(pixels[i] for i in indices)
            meter.update(len(indices), done_pixels)
            bar.set_postfix_str(f"{meter.postfix()}, failed {errors}", refresh=False)
            bar.update(done_pixels)
    finally:
        bar.close()
        if hasattr(loader, "close"):  # the thread prefetcher: stop decoding ahead at once (an error, Ctrl-C)
            loader.close()
    return scored, errors
