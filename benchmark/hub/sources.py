"""Where a file comes from: one record type shared by detector weights and dataset downloads.

A :class:`Source` names one way to fetch one file (or one Drive folder). Records are plain data: parsing them needs no
network and no heavy imports, so the manifest and the detector cards can list their sources cheaply.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

__all__ = ["SOURCE_KINDS", "Source"]

#: ``url``: plain HTTP(S) (resumable with Range); ``gdrive``: a Google Drive file id (through gdown);
#: ``gdrive_folder``: a Google Drive folder id (through gdown); ``hf``: a file in a Hugging Face hub repo
#: (``ref`` = ``repo_id``, ``filename`` = path in the repo; through huggingface_hub);
#: ``manual``: no public direct link (e.g. a share that needs a browser); ``ref`` says where to get it.
SOURCE_KINDS = ("url", "gdrive", "gdrive_folder", "hf", "manual")


@dataclass(frozen=True)
class Source:
    """One place to fetch a file from.

    Attributes:
        kind: one of :data:`SOURCE_KINDS`.
        ref: the URL, Drive id, hub ``repo_id`` or, for ``manual``, a human-readable location.
        filename: file name to store it under (and, for ``hf``, the path inside the repo).
        sha256: expected hex sha256 of the downloaded file, or ``None`` when not known (then only the size of what
            was received and the recorded hash of the first download are used for later cache checks).
        size: expected size in bytes, or ``None``.
        revision: hub revision or git commit the file is pinned to, when any.
        repo_type: hub repo type for ``hf`` sources (``model`` or ``dataset``).
        archive: ``None`` for a plain file, else the archive format to extract (``zip``, ``tar``, ``tar.gz``, ...).
        notes: free text shown to users (quota limits, licence, mirrors).
    """

    kind: str
    ref: str
    filename: str | None = None
    sha256: str | None = None
    size: int | None = None
    revision: str | None = None
    repo_type: str = "model"
    archive: str | None = None
    notes: str = ""

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"Expected Source.kind to be one of {SOURCE_KINDS}, but got {self.kind!r}.")
        if self.sha256 is not None and (len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256)):
            raise ValueError(f"Expected Source.sha256 to be 64 lowercase hex digits, but got {self.sha256!r}.")

    @property
    def url(self) -> str:
        """A URL a person can open to fetch the file by hand."""
        if self.kind == "url":
            return self.ref
        if self.kind == "gdrive":
            return f"https://drive.google.com/uc?id={self.ref}"
        if self.kind == "gdrive_folder":
            return f"https://drive.google.com/drive/folders/{self.ref}"
        if self.kind == "hf":
            prefix = "datasets/" if self.repo_type == "dataset" else ""
            revision = self.revision or "main"
            return f"https://huggingface.co/{prefix}{self.ref}/resolve/{revision}/{self.filename or ''}"
        return self.ref

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the ``None`` and empty fields left out."""
        return {k: v for k, v in asdict(self).items() if v not in (None, "") and not (k == "repo_type" and v == "model")}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Source":
        """Build from a mapping (e.g. a manifest entry).

        Raises:
            ValueError: unknown keys, or a field value that :meth:`__post_init__` rejects.
        """
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"Unknown source field(s) {sorted(unknown)}; expected some of {sorted(known)}.")
        return cls(**dict(data))
