"""Detector weights in the cache: where a weights entry lives and how it is fetched and verified.

:class:`~fakebench.hub.weights.WeightsSpec` (re-exported by :mod:`fakebench.detectors.card`) describes one weights
file; :func:`fetch_weights` resolves it to ``<cache>/weights/<detector>/<file>``, trying its sources in order through
:func:`fakebench.hub.fetch.fetch`, and raises :class:`~fakebench.core.errors.WeightsNotFoundError` naming the file,
its sha256, where to put it and the URLs when none works. Nothing falls back to random weights.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fakebench.core.env import cache_root
from fakebench.core.errors import WeightsNotFoundError
from fakebench.hub.fetch import FetchOptions, SourceUnavailable, fetch
from fakebench.hub.sources import Source

if TYPE_CHECKING:  # pragma: no cover
    from fakebench.detectors.card import DetectorCard

__all__ = ["WeightsSpec", "weights_path", "fetch_weights"]


@dataclass(frozen=True)
class WeightsSpec:
    """One released checkpoint of a detector.

    Attributes:
        tag: short name, unique within a card (e.g. ``progan_4class``); ``<detector>.<tag>`` names it globally.
        filename: file name of the official release (also the name it is cached under).
        sources: places to fetch it from, tried in order.
        sha256: hex sha256 of the official file when known, else ``None``.
        format: how the file is laid out (e.g. ``{'model': state_dict}`` with ``module.`` prefixes).
        trained_on: the training data, in the paper's words.
        licence: licence of the weights as far as it is known.
        preset: name of the preset its published numbers were measured with.
        notes: anything else a user must know.
    """

    tag: str
    filename: str
    sources: tuple[Source, ...] = ()
    sha256: str | None = None
    format: str = ""
    trained_on: str = ""
    licence: str = ""
    preset: str | None = None
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (sources as dicts)."""
        data = asdict(self)
        data["sources"] = [s.to_dict() for s in self.sources]
        return data


def weights_path(card: "DetectorCard", spec: "WeightsSpec", cache_dir: str | os.PathLike | None = None) -> Path:
    """Where a weights entry is cached: ``<cache root>/weights/<detector>/<file name>``."""
    root = Path(cache_dir).expanduser() if cache_dir else cache_root()
    return root / "weights" / card.name / spec.filename


def fetch_weights(card: "DetectorCard", spec: "WeightsSpec", *, cache_dir: str | os.PathLike | None = None,
                  options: FetchOptions | None = None) -> Path:
    """The verified weights file of ``spec``, fetched into the cache on first use.

    Sources are tried in order; a file already at :func:`weights_path` (downloaded earlier or put there by hand) is
    used when its sha256 matches ``spec.sha256`` (or the source's, or the digest recorded at its first download).

    Args:
        card: the detector's card (its name names the cache folder and the messages).
        spec: the weights entry.
        cache_dir: cache root; default :func:`~fakebench.core.env.cache_root`.
        options: retries, backoff, timeout and progress bars.

    Returns:
        ``<cache root>/weights/<card.name>/<spec.filename>``.

    Raises:
        WeightsNotFoundError: no source works (offline, unreachable, HTTP error, Drive quota, manual only); the
            message names the detector, tag, file and sha256, the path to put it at and the URLs to fetch it from.
        ChecksumError: a downloaded file's sha256 is wrong.
    """
    dest = weights_path(card, spec, cache_dir)
    what = f"weights {card.name}.{spec.tag}"
    reasons = []
    for source in spec.sources or (Source("manual", card.repo),):
        try:
            return fetch(source, dest.parent, sha256=spec.sha256 or source.sha256, filename=spec.filename, what=what,
                         cache_dir=cache_dir, options=options)
        except SourceUnavailable as exc:
            reasons.append(exc.reason)
    sha = spec.sha256 or next((s.sha256 for s in spec.sources if s.sha256), None)
    urls = "".join(f"\n  {s.url}" for s in spec.sources) or f"\n  {card.repo}"
    raise WeightsNotFoundError(
        f"Weights {card.name}.{spec.tag} are not in the cache and cannot be downloaded:\n"
        f"  {'; '.join(dict.fromkeys(reasons))}\n"
        f"Download {spec.filename} (sha256 {sha or 'not pinned'}) by hand from:{urls}\n"
        f"and save it as {dest}, or pass a checkpoint file with --weights PATH.")


