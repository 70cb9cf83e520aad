"""Environment variables and default locations, read in one place.

Variables (all optional):

``FAKEBENCH_CACHE``
    Root folder for downloaded weights, the prediction cache and other caches. Default: ``$XDG_CACHE_HOME/fakebench``
    or ``~/.cache/fakebench``. Never inside the installed package.
``FAKEBENCH_DATA``
    Root folder that manifest dataset paths are relative to. Default: the ``datasets/`` folder of the checkout.
``FAKEBENCH_OFFLINE``, ``HF_HUB_OFFLINE``
    Strict booleans (``1/0``, ``true/false``, ``yes/no``, ``on/off``). When either is true, nothing is downloaded and
    a cache miss is an error that says where to put the file.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "REPO_ROOT",
    "env_flag",
    "is_offline",
    "cache_root",
    "data_root",
    "default_manifest_path",
    "results_root",
]

#: Root of the fakebench checkout (the folder holding ``cli.py``, ``datasets/`` and ``results/``).
REPO_ROOT = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_flag(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable strictly.

    Args:
        name: variable name.
        default: value when the variable is unset.

    Returns:
        The parsed value.

    Raises:
        ValueError: the value is set but is not one of 1/0, true/false, yes/no, on/off (case-insensitive), so a typo
            such as ``FAKEBENCH_OFFLINE=ture`` is not silently read as false.
    """
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"Expected {name} to be one of 1/0, true/false, yes/no, on/off, but got {raw!r}.")


def is_offline() -> bool:
    """True when ``FAKEBENCH_OFFLINE`` or ``HF_HUB_OFFLINE`` is set to a true value."""
    return env_flag("FAKEBENCH_OFFLINE") or env_flag("HF_HUB_OFFLINE")


def cache_root() -> Path:
    """The resolved cache root (see the module docstring); not created here."""
    explicit = os.environ.get("FAKEBENCH_CACHE")
    if explicit:
        return Path(explicit).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return (base / "fakebench").resolve()


def data_root() -> Path:
    """The resolved data root that manifest paths are relative to (``FAKEBENCH_DATA`` or ``<checkout>/datasets``)."""
    explicit = os.environ.get("FAKEBENCH_DATA")
    return Path(explicit).expanduser().resolve() if explicit else REPO_ROOT / "datasets"


def default_manifest_path() -> Path:
    """``<checkout>/datasets/manifest.yaml``: the manifest of every known benchmark test set."""
    return REPO_ROOT / "datasets" / "manifest.yaml"


def results_root() -> Path:
    """``<checkout>/results``: where leaderboards are written by default."""
    return REPO_ROOT / "results"
