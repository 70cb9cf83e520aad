"""Training data: finding labelled images, describing what a run saw, and a seeded torch dataset.

Labels follow the convention of every official training script: 0 = real (``0_real``), 1 = fake (``1_fake``), found
recursively with :func:`fakebench.data.images.discover_real_fake` (nested generator/class folders allowed), or whole folders
given as real or fake (``--real-dir``/``--fake-dir``) with :func:`fakebench.data.images.discover_folder`.

What a run saw is recorded in its checkpoint by :func:`describe_data`: the folders, image counts per label and a
content digest (sha256 over sorted ``relative path, label, file sha256`` lines), so two checkpoints trained on the same
bytes carry the same digest wherever the folders live.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from fakebench.data.images import ImageRecord, UnreadableImage, discover_folder, discover_real_fake, load_image
from fakebench.core.errors import DataError
from fakebench.core.files import sha256_file

from fakebench.train.augment import RecipeTransform, sample_rng

__all__ = ["DIGEST_METHOD", "collect_records", "describe_data", "split_validation", "TrainImageDataset"]


@dataclass(frozen=True)
class _Source:
    root: Path
    kind: str  # "real_fake" | "real" | "fake"


def collect_records(*, train_dirs: Sequence[str | os.PathLike] = (), real_dirs: Sequence[str | os.PathLike] = (),
                    fake_dirs: Sequence[str | os.PathLike] = (),
                    crop_box: tuple[int, int, int, int] | None = None) -> tuple[list[ImageRecord], list[dict[str, str]]]:
    """Labelled images from ``0_real``/``1_fake`` trees and/or plain real and fake folders.

    Args:
        train_dirs: folders in the ``0_real``/``1_fake`` layout (class or generator subfolders allowed).
        real_dirs: folders whose images are all real.
        fake_dirs: folders whose images are all fake.
        crop_box: optional ``(left, top, right, bottom)`` crop applied right after decoding (e.g. ``50,50,306,306``
            for the framed ForenSynths thumbnails).

    Returns:
        ``(records, sources)``: the images (sorted by folder, then path) and one ``{"path", "kind"}`` per folder.

    Raises:
        DataError: no folder given, a folder is missing or empty, or the images are all of one label.
    """
    sources = ([_Source(Path(d), "real_fake") for d in train_dirs] + [_Source(Path(d), "real") for d in real_dirs]
               + [_Source(Path(d), "fake") for d in fake_dirs])
    if not sources:
        raise DataError("No training images given: pass --train-dir (0_real/1_fake layout) or --real-dir and "
                        "--fake-dir.")
    records: list[ImageRecord] = []
    for src in sources:
        if src.kind == "real_fake":
            records += discover_real_fake(src.root, crop_box=crop_box)
        else:
            records += discover_folder(src.root, 0 if src.kind == "real" else 1, crop_box=crop_box)
    labels = {r.label for r in records}
    if labels != {0, 1}:
        missing = "fake (1_fake / --fake-dir)" if 1 not in labels else "real (0_real / --real-dir)"
        raise DataError(f"Training needs both labels, but no {missing} images were found in "
                        f"{', '.join(str(s.root) for s in sources)}.")
    return records, [{"path": str(s.root.expanduser().resolve()), "kind": s.kind} for s in sources]


#: How every trainer's data digest is computed (recorded beside the digest in each checkpoint).
DIGEST_METHOD = "sha256 of sorted '<folder name>/<relative path>\\t<label>\\t<file sha256>' lines"


def _relative(path: str, roots: Sequence[Path]) -> str:
    resolved = Path(path)
    for root in roots:
        try:
            return f"{root.name}/{resolved.relative_to(root).as_posix()}"
        except ValueError:
            continue
    return resolved.name


def describe_data(records: Sequence[ImageRecord], sources: Sequence[dict[str, str]], *, role: str) -> dict[str, Any]:
    """What a run trained (or validated) on, for the checkpoint.

    Args:
        records: the images.
        sources: the folders they came from (from :func:`collect_records`), or ``[]`` for a derived split.
        role: free text, e.g. ``"train"`` or ``"val (10% of train, seed 0)"``.

    Returns:
        ``{"role", "folders", "n_images", "n_real", "n_fake", "digest", "crop_box"}``; ``digest`` is the hex sha256 of
        the sorted lines ``<root name>/<relative path>\\t<label>\\t<file sha256>``.

    Raises:
        DataError: an image file disappeared while hashing.
    """
    roots = sorted({Path(s["path"]) for s in sources}, key=lambda p: -len(str(p)))
    lines = []
    for record in records:
        try:
            digest = sha256_file(record.path)
        except OSError as exc:
            raise DataError(f"Cannot read training image {record.path} ({exc}).") from exc
        lines.append(f"{_relative(record.path, roots)}\t{record.label}\t{digest}")
    crops = {r.crop_box for r in records}
    return {
        "role": role,
        "folders": [dict(s) for s in sources],
        "n_images": len(records),
        "n_real": sum(r.label == 0 for r in records),
        "n_fake": sum(r.label == 1 for r in records),
        "digest": hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest(),
        "digest_method": DIGEST_METHOD,
        "crop_box": list(next(iter(crops))) if len(crops) == 1 and None not in crops else None,
    }


def split_validation(records: Sequence[ImageRecord], fraction: float, seed: int
                     ) -> tuple[list[ImageRecord], list[ImageRecord]]:
    """Hold out a stratified, seeded fraction of the images for validation.

    Within each label, the images (sorted by path) are shuffled with ``random.Random(seed)`` and the first
    ``round(fraction * n)`` (at least 1) go to validation.

    Returns:
        ``(train, val)``, each sorted by path.

    Raises:
        DataError: ``fraction`` outside (0, 1), or a label with fewer than 2 images.
    """
    if not 0 < fraction < 1:
        raise DataError(f"--val-fraction must be between 0 and 1 (exclusive), got {fraction}.")
    train, val = [], []
    for label in (0, 1):
        group = sorted((r for r in records if r.label == label), key=lambda r: r.path)
        if len(group) < 2:
            raise DataError(f"Cannot hold out a validation split: only {len(group)} image(s) with label {label}.")
        random.Random(f"{seed}/val-split/{label}").shuffle(group)
        k = min(len(group) - 1, max(1, round(fraction * len(group))))
        val += group[:k]
        train += group[k:]
    return sorted(train, key=lambda r: r.path), sorted(val, key=lambda r: r.path)


class TrainImageDataset(torch.utils.data.Dataset):
    """Decodes images and applies a :class:`~benchmark.training.augment.RecipeTransform` with per-image seeds.

    ``dataset[i]`` is ``(image, label)``: a ``(3, crop, crop)`` float32 tensor and an int64 scalar tensor (0 real,
    1 fake). Call :meth:`set_epoch` before each epoch so training draws new (but repeatable) augmentations;
    validation datasets use the fixed epoch key ``"val"``.

    Args:
        records: the images.
        transform: the recipe pipeline.
        seed: run seed.

    Raises:
        DataError: (from ``__getitem__``) an image cannot be decoded; the message names the file.
    """

    def __init__(self, records: Sequence[ImageRecord], transform: RecipeTransform, seed: int) -> None:
        self.records = list(records)
        self.transform = transform
        self.seed = seed
        self.epoch: int | str = 0 if transform.train else "val"

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of ``epoch`` (no-op for validation datasets)."""
        if self.transform.train:
            self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        record = self.records[index]
        try:
            img, _ = load_image(record.path, record.crop_box)
        except UnreadableImage as exc:
            raise DataError(f"Training image cannot be read: {exc}. Remove or replace the file and resume.") from exc
        image = self.transform(img, sample_rng(self.seed, self.epoch, index))
        return image, torch.tensor(record.label, dtype=torch.int64)
