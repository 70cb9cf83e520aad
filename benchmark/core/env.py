"""Environment variables and default locations, read in one place.

Variables (all optional):

``FAKEBENCH_CACHE``
    Root folder for downloaded weights, the prediction cache and other caches. Default: ``$XDG_CACHE_HOME/fakebench``
    or ``~/.cache/fakebench``. Never inside the installed package.
``FAKEBENCH_DATA``
    Root folder that manifest dataset paths are relative to. Default: the ``datasets/`` folder when fakebench runs
    from a checkout (editable install), else the user data folder ``platformdirs.user_data_dir("fakebench")``.
``FAKEBENCH_OFFLINE``, ``HF_HUB_OFFLINE``
    Strict booleans (``1/0``, ``true/false``, ``yes/no``, ``on/off``). When either is true, nothing is downloaded and
    a cache miss is an error that says where to put the file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "REPO_ROOT",
    "checkout_root",
    "bundled_manifest",
    "BUNDLED_MANIFESTS",
    "env_flag",
    "is_offline",
    "hub_offline_mode",
    "cache_root",
    "data_root",
    "default_manifest_path",
    "results_root",
]

#: Where a checkout's root would be (``benchmark/core/env.py`` -> the repository); see :func:`checkout_root`.
REPO_ROOT = Path(__file__).resolve().parents[2]

#: Manifests shipped as package data (``fakebench/data/manifests/<name>.yaml``), by the name ``--manifest`` accepts.
BUNDLED_MANIFESTS = {"default": "manifest.yaml", "shared-samples": "shared_samples.yaml"}

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


@contextlib.contextmanager
def hub_offline_mode() -> Iterator[None]:
    """While :func:`is_offline`, put ``huggingface_hub`` (what timm, open_clip and transformers download through) in
    its offline mode for the block, so a file that is not cached fails at once from the local cache instead of
    retrying the network for a minute. ``huggingface_hub`` reads ``HF_HUB_OFFLINE`` once, at import, so
    ``FAKEBENCH_OFFLINE=1`` alone (or a variable set after the import) would not reach it; the previous value is
    restored after the block. A no-op online or without ``huggingface_hub``."""
    if not is_offline():
        yield
        return
    try:
        from huggingface_hub import constants
    except ImportError:
        yield
        return
    previous = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = previous


def cache_root() -> Path:
    """The resolved cache root (see the module docstring); not created here."""
    explicit = os.environ.get("FAKEBENCH_CACHE")
    if explicit:
        return Path(explicit).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return (base / "fakebench").resolve()


def checkout_root() -> Path | None:
    """The fakebench source checkout this code runs from, or ``None`` for an installed (wheel) copy.

    A checkout is recognised by the files a wheel never has beside the package: ``cli.py``, ``setup.cfg`` and the
    ``detectors/`` and ``datasets/`` folders.
    """
    root = REPO_ROOT
    markers = (root / "cli.py", root / "setup.cfg", root / "detectors", root / "datasets")
    return root if all(m.exists() for m in markers) else None


def data_root() -> Path:
    """The resolved data root that manifest paths are relative to.

    ``FAKEBENCH_DATA`` when set; else ``<checkout>/datasets`` when running from a checkout; else the user data folder
    (``platformdirs.user_data_dir("fakebench")``, e.g. ``~/.local/share/fakebench``). Never inside site-packages.
    """
    explicit = os.environ.get("FAKEBENCH_DATA")
    if explicit:
        return Path(explicit).expanduser().resolve()
    checkout = checkout_root()
    if checkout is not None:
        return checkout / "datasets"
    import platformdirs

    return Path(platformdirs.user_data_dir("fakebench", appauthor=False)).resolve()


def bundled_manifest(name: str = "default") -> Path:
    """Path of a manifest shipped with the package (read through :mod:`importlib.resources`).

    Args:
        name: ``default`` (every known benchmark test set) or ``shared-samples`` (the ``../shared/data`` images).

    Raises:
        KeyError: unknown name (the valid names are in :data:`BUNDLED_MANIFESTS`).

    >>> bundled_manifest().name
    'manifest.yaml'
    """
    from importlib.resources import files

    return Path(str(files("fakebench.data") / "manifests" / BUNDLED_MANIFESTS[name]))


def default_manifest_path() -> Path:
    """The bundled manifest of every known benchmark test set (23 AntifakePrompt sets and the classic suites)."""
    return bundled_manifest("default")


def results_root() -> Path:
    """Where leaderboards are written by default: ``<checkout>/results``, or ``./results`` for an installed copy."""
    checkout = checkout_root()
    return (checkout / "results") if checkout is not None else Path.cwd() / "results"
