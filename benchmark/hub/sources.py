"""Where a file comes from: one record type shared by detector weights and dataset downloads.

A :class:`Source` names one way to fetch one file (or one Drive folder). Records are plain data: parsing them needs no
network and no heavy imports, so the manifest and the detector cards can list their sources cheaply.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

__all__ = ["SOURCE_KINDS", "ZENODO_ENDPOINT", "MODELSCOPE_ENDPOINT", "Source"]

#: ``url``: plain HTTP(S) (resumable with Range); ``gdrive``: a Google Drive file id (through gdown);
#: ``gdrive_folder``: a Google Drive folder id (through gdown); ``hf``: a file in a Hugging Face hub repo
#: (``ref`` = ``repo_id``, ``filename`` = path in the repo; through huggingface_hub);
#: ``hf`` with ``patterns`` and no ``filename``: the files of a hub repo matching those globs (a snapshot folder,
#: e.g. the parquet shards of one subset); ``zenodo``: a file of a Zenodo record (``ref`` = record id,
#: ``filename`` = the file's name in the record); ``modelscope``: a file of a ModelScope dataset repo (``ref`` =
#: ``namespace/name``, ``filename`` = path in the repo, ``revision`` default ``master``), fetched over plain HTTP
#: from the URL its client uses;
#: ``manual``: no public direct link (e.g. a share that needs a browser, access by e-mail); ``ref`` says where to
#: get it.
SOURCE_KINDS = ("url", "gdrive", "gdrive_folder", "hf", "zenodo", "modelscope", "manual")

#: Default hosts of the ``zenodo`` and ``modelscope`` kinds (the environment variables ``FAKEBENCH_ZENODO_ENDPOINT`` /
#: ``FAKEBENCH_MODELSCOPE_ENDPOINT`` override them at download time, e.g. for a mirror or an offline test server).
ZENODO_ENDPOINT = "https://zenodo.org"
MODELSCOPE_ENDPOINT = "https://modelscope.cn"


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
        md5: expected hex md5 when the host publishes only that (Zenodo, the Synthbuster checksum list); checked
            in addition to ``sha256``.
        patterns: for ``hf`` without ``filename``: glob patterns of the repo files to fetch (``allow_patterns``),
            e.g. ``["data/test-*.parquet"]``; the download is then a folder.
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
    md5: str | None = None
    patterns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"Expected Source.kind to be one of {SOURCE_KINDS}, but got {self.kind!r}.")
        if self.md5 is not None and (not isinstance(self.md5, str) or len(self.md5) != 32 or any(c not in "0123456789abcdef" for c in self.md5)):
            raise ValueError(f"Expected Source.md5 to be 32 lowercase hex digits (quote it in YAML), but got "
                             f"{self.md5!r}.")
        if isinstance(self.patterns, (list, str)):
            object.__setattr__(self, "patterns", (self.patterns,) if isinstance(self.patterns, str)
                               else tuple(self.patterns))
        if self.patterns and self.kind != "hf":
            raise ValueError(f"Source.patterns is only for kind 'hf' (a hub snapshot), not {self.kind!r}.")
        if self.kind in ("zenodo", "modelscope") and not self.filename:
            raise ValueError(f"A {self.kind} source needs 'filename' (the file in record/repo {self.ref!r}).")
        if self.sha256 is not None and (len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256)):
            raise ValueError(f"Expected Source.sha256 to be 64 lowercase hex digits, but got {self.sha256!r}.")

    @property
    def is_snapshot(self) -> bool:
        """True for an ``hf`` source that fetches a set of repo files (``patterns``) into a folder."""
        return self.kind == "hf" and bool(self.patterns) and not self.filename

    def download_url(self, zenodo: str = ZENODO_ENDPOINT, modelscope: str = MODELSCOPE_ENDPOINT) -> str:
        """The direct HTTP URL of a ``url``, ``zenodo`` or ``modelscope`` source on the given hosts.

        >>> Source("zenodo", "10066460", filename="synthbuster.zip").download_url()
        'https://zenodo.org/records/10066460/files/synthbuster.zip?download=1'
        """
        from urllib.parse import quote

        if self.kind == "zenodo":
            return f"{zenodo.rstrip('/')}/records/{self.ref}/files/{quote(self.filename or '')}?download=1"
        if self.kind == "modelscope":
            return (f"{modelscope.rstrip('/')}/api/v1/datasets/{self.ref}/repo?Revision={self.revision or 'master'}"
                    f"&FilePath={quote(self.filename or '', safe='')}")
        return self.ref

    @property
    def url(self) -> str:
        """A URL a person can open to fetch the file by hand."""
        if self.kind in ("zenodo", "modelscope"):
            return self.download_url()
        if self.is_snapshot:
            prefix = "datasets/" if self.repo_type == "dataset" else ""
            return f"https://huggingface.co/{prefix}{self.ref}/tree/{self.revision or 'main'}"
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
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()
                if v not in (None, "", ()) and not (k == "repo_type" and v == "model")}

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
