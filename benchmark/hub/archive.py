"""Safe extraction of downloaded archives (zip and tar, optionally gzip/bz2/xz compressed).

Every member is checked *before* anything is written: a member whose name is absolute, or climbs out of the
destination with ``..``, a symbolic or hard link whose target lies outside the destination, and device or FIFO
members are refused with :class:`UnsafeArchiveError`, naming the archive and the member. Tar archives are then
extracted with the standard library's ``data`` filter as a second line of defence (PEP 706), and zip members are
written one by one after checking that their resolved path stays inside the destination.

Atomicity (extract to a temporary folder, then rename) is the caller's job: :mod:`fakebench.hub.fetch` extracts into a
staging folder next to the final one and renames it into place only after the image counts are verified.
"""

from __future__ import annotations

import gzip
import lzma
import os
import posixpath
import shutil
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path

from fakebench.core.errors import DownloadError

__all__ = ["ARCHIVE_FORMATS", "UnsafeArchiveError", "CorruptArchiveError", "archive_format", "sniff_format",
           "safe_extract"]

#: Archive formats :func:`safe_extract` handles, keyed by the file-name suffix that identifies them.
ARCHIVE_FORMATS = {".zip": "zip", ".tar": "tar", ".tar.gz": "tar.gz", ".tgz": "tar.gz", ".tar.bz2": "tar.bz2",
                   ".tbz2": "tar.bz2", ".tar.xz": "tar.xz", ".txz": "tar.xz"}
_TAR_MODES = {"tar": "r:", "tar.gz": "r:gz", "tar.bz2": "r:bz2", "tar.xz": "r:xz"}


class UnsafeArchiveError(DownloadError):
    """An archive member would be written outside the destination folder, or is a special file."""


class CorruptArchiveError(DownloadError):
    """The file is not a readable archive of its format (truncated or corrupt download)."""


def archive_format(name: str) -> str | None:
    """The archive format of a file name or format label (``data.tar.gz`` -> ``tar.gz``; ``zip`` -> ``zip``).

    Returns:
        One of the values of :data:`ARCHIVE_FORMATS`, or ``None`` when the name is no supported archive.
    """
    lowered = name.lower()
    if lowered in ARCHIVE_FORMATS.values():
        return lowered
    for suffix in sorted(ARCHIVE_FORMATS, key=len, reverse=True):
        if lowered.endswith(suffix):
            return ARCHIVE_FORMATS[suffix]
    return None


def sniff_format(path: str | os.PathLike) -> str | None:
    """The archive format of a file from its first bytes (for downloads whose name says nothing, e.g. a Drive id).

    Returns:
        ``zip``, ``tar``, ``tar.gz``, ``tar.bz2`` or ``tar.xz``, or ``None`` when the file is none of them (a
        compressed stream is taken for a compressed tar).
    """
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    for magic, fmt in ((b"\x1f\x8b", "tar.gz"), (b"BZh", "tar.bz2"), (b"\xfd7zXZ\x00", "tar.xz")):
        if head.startswith(magic):
            return fmt
    return "tar" if head[257:262] == b"ustar" else None


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike, fmt: str | None = None) -> list[str]:
    """Extract ``archive`` into the existing folder ``dest`` after checking every member.

    Args:
        archive: the archive file.
        dest: destination folder; must exist (normally an empty staging folder).
        fmt: archive format (``zip``, ``tar``, ``tar.gz``, ``tar.bz2``, ``tar.xz``); ``None`` guesses it from the
            file name, then from the file's first bytes.

    Returns:
        The member names, as stored in the archive.

    Raises:
        UnsafeArchiveError: a member escapes ``dest`` (absolute path, ``..``, link pointing outside) or is a device
            or FIFO; nothing has been written when this is raised by the up-front check.
        CorruptArchiveError: the file is not a readable archive of that format (truncated or corrupt download).
        DownloadError: unknown format.
    """
    archive, dest = Path(archive), Path(dest)
    fmt = archive_format(fmt) if fmt else (archive_format(archive.name) or sniff_format(archive))
    if fmt is None:
        raise DownloadError(f"Cannot extract {archive}: unsupported archive format (expected one of "
                            f"{', '.join(sorted(set(ARCHIVE_FORMATS.values())))}). Extract it by hand.")
    try:
        if fmt == "zip":
            return _extract_zip(archive, dest)
        return _extract_tar(archive, dest, _TAR_MODES[fmt])
    except (zipfile.BadZipFile, tarfile.ReadError, EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile) as exc:
        raise CorruptArchiveError(f"Cannot read {archive} as a {fmt} archive ({exc}); it is corrupt or "
                                  f"incomplete.") from exc


def _escapes(path: str) -> bool:
    """True when a relative archive path is absolute or climbs above the archive root once normalised."""
    path = path.replace("\\", "/")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return True
    normal = posixpath.normpath(path)
    return normal == ".." or normal.startswith("../")


def _refuse(archive: Path, member: str, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(f"Refusing to extract {archive}: member {member!r} {why}. The archive is unsafe; "
                              f"delete it and report the source.")


def _check_member(archive: Path, name: str, link: str | None = None, hard: bool = False) -> None:
    """Raise for a member name (and link target) that would land outside the destination."""
    if _escapes(name):
        raise _refuse(archive, name, "has an absolute path or climbs out with '..'")
    if link is None:
        return
    # A symlink target is relative to the link's own folder; a tar hard link target is relative to the archive root.
    target = link if hard else posixpath.join(posixpath.dirname(name.replace("\\", "/")), link)
    if link.startswith("/") or _escapes(target):
        raise _refuse(archive, name, f"is a link pointing outside the destination ({link!r})")


def _inside(root: Path, path: Path) -> bool:
    real_root = os.path.realpath(root)
    return os.path.commonpath([real_root, os.path.realpath(path)]) == real_root


# -- zip ------------------------------------------------------------------------------------------------------------
def _zip_is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _extract_zip(archive: Path, dest: Path) -> list[str]:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        links = {i.filename: zf.read(i).decode("utf-8", "replace") for i in infos if _zip_is_symlink(i)}
        for info in infos:
            _check_member(archive, info.filename, links.get(info.filename))
        for info in infos:
            _write_zip_member(zf, info, dest, links.get(info.filename), archive)
        return [i.filename for i in infos]


def _write_zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, link: str | None,
                      archive: Path) -> None:
    target = dest / info.filename.replace("\\", "/")
    if not _inside(dest, target.parent if not info.is_dir() else target):
        raise _refuse(archive, info.filename, "would be written through a link that leaves the destination")
    if info.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if link is not None:
        os.symlink(link, target)
        return
    with zf.open(info) as src, open(target, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)


# -- tar ------------------------------------------------------------------------------------------------------------
def _extract_tar(archive: Path, dest: Path, mode: str) -> list[str]:
    with tarfile.open(archive, mode) as tf:
        members = tf.getmembers()
        for m in members:
            if m.isdev() or m.isfifo():
                raise _refuse(archive, m.name, "is a device or FIFO")
            _check_member(archive, m.name, m.linkname if (m.issym() or m.islnk()) else None, hard=m.islnk())
        try:
            if hasattr(tarfile, "data_filter"):
                tf.extractall(dest, members=members, filter="data")
            else:  # pragma: no cover - Python without PEP 706; members were checked above
                tf.extractall(dest, members=members)
        except tarfile.FilterError as exc:
            member = getattr(exc, "tarinfo", None)
            raise _refuse(archive, member.name if member else "?", f"was rejected by the tar data filter ({exc})"
                          ) from exc
        return [m.name for m in members]
