"""Provenance recorded with every result: package versions, git commit, platform, date."""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from importlib import metadata

from fakebench import __version__
from fakebench.core.env import checkout_root

__all__ = ["git_commit", "environment", "now_iso"]

_PACKAGES = ("torch", "torchvision", "open_clip_torch", "transformers", "timm", "numpy", "pillow", "scikit-learn",
             "pandas")


def git_commit() -> str | None:
    """The checkout's ``HEAD`` commit, with ``+dirty`` when tracked files changed.

    ``None`` for an installed copy (no checkout beside the package: git is never run in site-packages) or when git
    is unavailable; results then carry the fakebench version alone.
    """
    REPO_ROOT = checkout_root()
    if REPO_ROOT is None:
        return None
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def environment() -> dict[str, object]:
    """fakebench version, Python, platform and the versions of the packages that affect outputs."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"fakebench": __version__, "python": platform.python_version(), "platform": platform.platform(),
            "packages": versions}


def now_iso() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
