"""A content-addressed cache of per-image predictions (SQLite).

The key is ``sha256(detector fingerprint | image sha256 | crop box)``, where the fingerprint covers the detector name,
its code revision (:attr:`fakebench.detectors.base.Detector.revision`, bumped by any change to the port or its
transform), the weights file's sha256 and the preprocessing preset (:meth:`fakebench.detectors.base.Detector.
fingerprint`). So a repeated run of the same detector code, weights and preset on the same image bytes -- under any
path -- does no model work, and any change to one of them misses the cache.

A cached row is a faithful replay of the scored one: logit, fake probability and the per-image note (lossy
conversion, zero-padding, ...). Failed images are never cached, so their error is produced again (identically) by
decoding the file again.

A damaged database (corrupt, truncated, read-only, a folder) raises a one-line :class:`~fakebench.core.errors.
DataError` naming the file and the fix.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Iterable

from fakebench.core.errors import DataError

__all__ = ["PredictionCache", "cache_key"]

#: Table of this schema version (an older ``predictions`` table without notes is ignored, never read).
_TABLE = "predictions_v2"


def cache_key(fingerprint: str, image_sha256: str, crop_box: tuple[int, ...] | None, encode: str = "") -> str:
    """The cache key of one (detector, image, crop[, format alignment]) tuple: hex sha256 of
    ``fingerprint|image sha256|crop`` (``|encode`` appended only for a format-aligned image, so earlier keys stay)."""
    crop = ",".join(map(str, crop_box)) if crop_box else "-"
    tail = f"|{encode}" if encode else ""
    return hashlib.sha256(f"{fingerprint}|{image_sha256}|{crop}{tail}".encode()).hexdigest()


class PredictionCache:
    """``key -> (logit, prob, note)`` in an SQLite file; safe to share between runs (one writer at a time).

    Args:
        path: database file (created with its folder).

    Raises:
        DataError: the file is not a usable SQLite database (corrupt, truncated, read-only, a folder); raised by the
            constructor or by the first read/write that notices.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._db = None
        with self._errors():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60)
            self._db.execute(f"CREATE TABLE IF NOT EXISTS {_TABLE} "
                             "(key TEXT PRIMARY KEY, logit REAL, prob REAL NOT NULL, note TEXT NOT NULL DEFAULT '')")
            self._db.commit()

    def _errors(self):
        cache = self

        class _Guard:
            def __enter__(self):
                return self

            def __exit__(self, kind, exc, tb):
                if exc is not None and isinstance(exc, (sqlite3.Error, OSError)):
                    raise DataError(
                        f"Prediction cache {cache.path} cannot be used ({type(exc).__name__}: {exc}): it is corrupt, "
                        f"truncated or read-only. Run with --no-cache, or delete {cache.path} (it is rebuilt)."
                    ) from exc
                return False

        return _Guard()

    def get_many(self, keys: Iterable[str]) -> dict[str, tuple[float | None, float, str]]:
        """Cached ``(logit, prob, note)`` for the keys that are present."""
        keys = list(keys)
        found: dict[str, tuple[float | None, float, str]] = {}
        with self._errors():
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for key, logit, prob, note in self._db.execute(
                        f"SELECT key, logit, prob, note FROM {_TABLE} WHERE key IN ({marks})", chunk):
                    found[key] = (logit, prob, note or "")
        return found

    def put_many(self, items: Iterable[tuple]) -> None:
        """Store ``(key, logit, prob, note)`` rows (``note`` may be left out) and commit."""
        rows = [tuple(item) + ("",) * (4 - len(item)) for item in items]
        with self._errors():
            self._db.executemany(f"INSERT OR REPLACE INTO {_TABLE} (key, logit, prob, note) VALUES (?, ?, ?, ?)", rows)
            self._db.commit()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
