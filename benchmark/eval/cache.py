"""A content-addressed cache of per-image predictions (SQLite).

The key is ``sha256(detector fingerprint | image sha256 | crop box)``, where the fingerprint covers the detector name,
the weights file's sha256 and the preprocessing preset (:meth:`fakebench.detectors.base.Detector.fingerprint`). So a repeated
run of the same detector, weights and preset on the same image bytes -- under any path -- does no model work, and any
change to one of them misses the cache.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Iterable

__all__ = ["PredictionCache", "cache_key"]


def cache_key(fingerprint: str, image_sha256: str, crop_box: tuple[int, ...] | None) -> str:
    """The cache key of one (detector, image, crop) triple."""
    crop = ",".join(map(str, crop_box)) if crop_box else "-"
    return hashlib.sha256(f"{fingerprint}|{image_sha256}|{crop}".encode()).hexdigest()


class PredictionCache:
    """``key -> (logit, prob)`` in an SQLite file; safe to share between runs (one writer at a time).

    Args:
        path: database file (created with its folder).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60)
        self._db.execute("CREATE TABLE IF NOT EXISTS predictions (key TEXT PRIMARY KEY, logit REAL, prob REAL NOT NULL)")
        self._db.commit()

    def get_many(self, keys: Iterable[str]) -> dict[str, tuple[float | None, float]]:
        """Cached ``(logit, prob)`` for the keys that are present."""
        keys = list(keys)
        found: dict[str, tuple[float | None, float]] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, logit, prob in self._db.execute(f"SELECT key, logit, prob FROM predictions WHERE key IN ({marks})",
                                                     chunk):
                found[key] = (logit, prob)
        return found

    def put_many(self, items: Iterable[tuple[str, float | None, float]]) -> None:
        """Store ``(key, logit, prob)`` rows and commit."""
        self._db.executemany("INSERT OR REPLACE INTO predictions (key, logit, prob) VALUES (?, ?, ?)", list(items))
        self._db.commit()

    def close(self) -> None:
        self._db.close()
