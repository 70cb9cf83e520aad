"""A content-addressed cache of backbone features, so probe heads and active-learning rounds never rerun a backbone.

Key: ``(backbone key, image sha256, crop box)``, where the backbone key is
:meth:`fakebench.detectors.probe.model.Probe.feature_key` -- the sha256 of the backbone identity (arch, library, model,
weights sha256 or ``random-init`` + seed, feature width) and the preprocessing preset. The same image bytes under any
path hit the cache; any change of backbone weights, seed or preset misses it. Values are ``float32`` vectors stored as
raw little-endian bytes in an SQLite file, ``<cache root>/features.sqlite`` by default.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from fakebench.core.errors import DataError
from fakebench.core.files import sha256_file
from fakebench.data.images import ImageDataset, ImageRecord, collate_by_shape

__all__ = ["FeatureCache", "FeatureSet", "ExtractStats", "extract_features", "default_feature_cache_path"]


def default_feature_cache_path() -> Path:
    """``<cache root>/features.sqlite`` (:func:`fakebench.core.env.cache_root`)."""
    from fakebench.core.env import cache_root

    return cache_root() / "features.sqlite"


def _crop(record: ImageRecord) -> str:
    return ",".join(map(str, record.crop_box)) if record.crop_box else "-"


class FeatureCache:
    """``(backbone key, image sha256, crop) -> float32 vector`` in an SQLite file (one writer at a time).

    Args:
        path: database file (created with its folder); default :func:`default_feature_cache_path`.
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path is not None else default_feature_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60)
        self._db.execute("CREATE TABLE IF NOT EXISTS features (backbone TEXT NOT NULL, image TEXT NOT NULL, "
                         "crop TEXT NOT NULL, dim INTEGER NOT NULL, data BLOB NOT NULL, "
                         "PRIMARY KEY (backbone, image, crop))")
        self._db.commit()

    def get_many(self, backbone: str, items: Iterable[tuple[str, str]]) -> dict[tuple[str, str], np.ndarray]:
        """Cached vectors for the ``(image sha256, crop)`` pairs that are present: ``(D,)`` float32 each."""
        found: dict[tuple[str, str], np.ndarray] = {}
        items = list(dict.fromkeys(items))
        for start in range(0, len(items), 400):
            chunk = items[start:start + 400]
            marks = ",".join("(?, ?)" for _ in chunk)
            args = [backbone] + [x for pair in chunk for x in pair]
            query = (f"SELECT image, crop, dim, data FROM features WHERE backbone = ? AND (image, crop) IN "
                     f"(VALUES {marks})")
            for image, crop, dim, data in self._db.execute(query, args):
                vec = np.frombuffer(data, dtype="<f4")
                if vec.size != dim:
                    continue  # a torn row: recompute it
                found[(image, crop)] = vec.astype(np.float32)
        return found

    def put_many(self, backbone: str, rows: Iterable[tuple[str, str, np.ndarray]]) -> None:
        """Store ``(image sha256, crop, (D,) float32 vector)`` rows and commit."""
        data = [(backbone, image, crop, int(vec.size), np.asarray(vec, dtype="<f4").tobytes())
                for image, crop, vec in rows]
        self._db.executemany("INSERT OR REPLACE INTO features (backbone, image, crop, dim, data) VALUES (?, ?, ?, ?, ?)",
                             data)
        self._db.commit()

    def count(self, backbone: str | None = None) -> int:
        """Number of stored vectors (for one backbone key, or in all)."""
        if backbone is None:
            return int(self._db.execute("SELECT COUNT(*) FROM features").fetchone()[0])
        return int(self._db.execute("SELECT COUNT(*) FROM features WHERE backbone = ?", (backbone,)).fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "FeatureCache":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@dataclass
class ExtractStats:
    """Counts of one extraction: images total, vectors computed by the backbone, read from the cache, skipped
    (unreadable files, with their errors)."""

    total: int = 0
    computed: int = 0
    cached: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)


@dataclass
class FeatureSet:
    """Labelled backbone features.

    Attributes:
        features: ``(N, D)`` float32.
        labels: ``(N,)`` int64, 0 real / 1 fake.
        sha256: ``N`` image sha256 hex digests.
        records: the ``N`` image records (paths, test set, generator), in the order of ``features``.
        backbone_key: the feature cache key of the backbone + preset.
        stats: what the extraction did.
    """

    features: np.ndarray
    labels: np.ndarray
    sha256: list[str]
    records: list[ImageRecord]
    backbone_key: str
    stats: ExtractStats

    def subset(self, index: Sequence[int]) -> "FeatureSet":
        """The rows ``index`` (same backbone key; stats kept)."""
        idx = np.asarray(index, dtype=np.int64)
        return FeatureSet(self.features[idx], self.labels[idx], [self.sha256[i] for i in idx],
                          [self.records[i] for i in idx], self.backbone_key, self.stats)


def extract_features(probe: Any, records: Sequence[ImageRecord], *, cache: FeatureCache | None = None,
                     batch_size: int = 32, progress: bool = False) -> FeatureSet:
    """Backbone features of ``records``, read from ``cache`` where present and computed (then stored) otherwise.

    Args:
        probe: a :class:`~fakebench.detectors.probe.model.Probe` (anything with ``transform()``, ``features(batch)``
            -> ``(B, D)`` tensor, ``feature_key()`` and ``preset``).
        records: labelled images.
        cache: the feature cache (default: one at :func:`default_feature_cache_path`, closed afterwards).
        batch_size: images per backbone forward (images of different sizes after the transform go in separate
            forwards).
        progress: show a tqdm bar.

    Returns:
        A :class:`FeatureSet` in the order of ``records``, without the unreadable files (listed in
        ``stats.skipped`` with their errors).

    Raises:
        DataError: no record could be read.
    """
    own = cache is None
    cache = cache or FeatureCache()
    key = probe.feature_key()
    stats = ExtractStats(total=len(records))
    try:
        shas: list[str | None] = []
        for record in records:
            try:
                shas.append(sha256_file(record.path))
            except OSError as exc:
                shas.append(None)
                stats.skipped.append({"path": record.path, "error": f"cannot read file ({exc.strerror or exc})"})
        wanted = [(s, _crop(r)) for s, r in zip(shas, records) if s is not None]
        have = cache.get_many(key, wanted)
        todo = [i for i, (s, r) in enumerate(zip(shas, records)) if s is not None and (s, _crop(r)) not in have]
        stats.cached = sum(1 for s, r in zip(shas, records) if s is not None and (s, _crop(r)) in have)
        pad = probe.preset.crop if probe.preset.resize is None else None
        dataset = ImageDataset([records[i] for i in todo], probe.transform(), pad_below=pad)
        bar = None
        if progress and todo:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(todo), desc="features", unit="img")
        bad: set[int] = set()
        for start in range(0, len(todo), batch_size):
            batch = collate_by_shape(dataset[j] for j in range(start, min(start + batch_size, len(todo))))
            for j, error in batch["errors"]:
                bad.add(todo[j])
                stats.skipped.append({"path": records[todo[j]].path, "error": error})
            rows = []
            for local, images in batch["groups"]:
                feats = probe.features(images).numpy().astype(np.float32)
                for j, vec in zip(local, feats):
                    i = todo[j]
                    have[(shas[i], _crop(records[i]))] = vec
                    rows.append((shas[i], _crop(records[i]), vec))
                stats.computed += len(local)
            cache.put_many(key, rows)
            if bar is not None:
                bar.update(min(batch_size, len(todo) - start))
        if bar is not None:
            bar.close()
    finally:
        if own:
            cache.close()
    keep = [i for i, s in enumerate(shas) if s is not None and i not in bad]
    if not keep:
        raise DataError(f"None of the {len(records)} images could be read (first error: "
                        f"{stats.skipped[0]['error'] if stats.skipped else 'none'}).")
    feats = np.stack([have[(shas[i], _crop(records[i]))] for i in keep]).astype(np.float32)
    labels = np.asarray([records[i].label for i in keep], dtype=np.int64)
    return FeatureSet(feats, labels, [shas[i] for i in keep], [records[i] for i in keep], key, stats)
