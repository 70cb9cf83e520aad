"""Torch-free provenance of a detector: :class:`WeightsInfo` and the fingerprint rule.

Kept apart from :mod:`fakebench.detectors.base` (which imports torch) so the application can name a detector's
weights and compute its fingerprint from a recorded identity without importing torch (a run whose predictions all
come from the prediction cache never loads the model, see :mod:`fakebench.eval.deferred`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Mapping

__all__ = ["WeightsInfo", "fingerprint_of"]


@dataclass(frozen=True)
class WeightsInfo:
    """Provenance of the weights a detector was built with.

    Attributes:
        tag: the card's weights tag (``progan_4class``), ``"file"`` for a user-supplied file, or ``"random-init"``
            for a deliberately untrained model (tests, training from scratch).
        path: the file that was loaded, if any.
        sha256: hex sha256 of that file, if any.
    """

    tag: str
    path: str | None = None
    sha256: str | None = None

    @property
    def label(self) -> str:
        """Short name for folders and table columns: the tag, with the sha256 prefix for user files
        (``file-1a2b3c4d``) so two different checkpoints never share a name."""
        return f"file-{self.sha256[:8]}" if self.tag == "file" and self.sha256 else self.tag

    @classmethod
    def of_file(cls, path: Any, spec: Any, sha256: str) -> "WeightsInfo":
        """The provenance of a loaded checkpoint file: the card release ``spec`` names (a
        :class:`~fakebench.detectors.card.WeightsSpec`), or ``"file"`` when ``spec`` is ``None`` (a user's file).

        Args:
            path: the file loaded (``str`` or path-like).
            spec: the card's release the file was resolved as, or ``None``.
            sha256: the file's hex sha256.
        """
        return cls(tag=spec.tag if spec else "file", path=str(path), sha256=sha256)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fingerprint_of(identity: Mapping[str, Any]) -> str:
    """Hex sha256 (64 characters) of a detector identity (:meth:`~fakebench.detectors.base.Detector.identity`: name,
    code revision, weights provenance, preset, ...) without the weights path, so the same file bytes at another path
    give the same fingerprint. JSON with sorted keys; the identity must be JSON-serialisable.

    Raises:
        KeyError: ``identity`` has no ``weights`` entry.
    """
    ident = dict(identity)
    ident["weights"] = {k: v for k, v in ident["weights"].items() if k != "path"}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()
