"""Small file utilities: content hashing and atomic writes.

Atomic writes go to a temporary file in the destination folder, are flushed and fsynced, then renamed over the
destination with :func:`os.replace`, so a reader never sees a half-written file and an interrupted write leaves the
previous version intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["sha256_file", "sha256_bytes", "atomic_write_bytes", "atomic_write_text", "atomic_write_json",
           "remove_stale_temp_files"]

_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks.

    Raises:
        FileNotFoundError: the file does not exist.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of an in-memory byte string."""
    return hashlib.sha256(data).hexdigest()


def _umask() -> int:
    """The process umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename). Creates parent folders.

    The file gets the permissions a plain ``open(path, "w")`` would give (``0666`` minus the umask), not the
    ``0600`` of :func:`tempfile.mkstemp`.

    Returns:
        The destination path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; a result file gets the user's usual permissions
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


#: A temp file of :func:`atomic_write_bytes` older than this (seconds) was left by a killed writer: a write lasts
#: well under a second (it holds the whole content in memory), so no live writer is that slow.
STALE_TEMP_SECONDS = 60


def remove_stale_temp_files(folder: str | os.PathLike, *, min_age: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Delete the ``.<name>.<random>.tmp`` files :func:`atomic_write_bytes` leaves in ``folder`` when its process is
    killed between writing and renaming, once they are ``min_age`` seconds old (a live writer's file is younger).

    Returns:
        The deleted paths (missing folder: none).
    """
    import time

    folder = Path(folder)
    if not folder.is_dir():
        return []
    now, removed = time.time(), []
    for path in folder.glob(".*.tmp"):
        try:
            if path.is_file() and now - path.stat().st_mtime >= min_age:
                path.unlink()
                removed.append(path)
        except FileNotFoundError:  # another process removed or renamed it meanwhile
            continue
    return removed


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomic UTF-8 text write; see :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomic JSON write (2-space indent, keys in insertion order, trailing newline); see :func:`atomic_write_bytes`."""
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")
