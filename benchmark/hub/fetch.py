"""Downloads of detector weights and benchmark data: verified, resumable, safe, and explicit when offline.

Three layers, each usable on its own:

* :func:`fetch` gets one :class:`~fakebench.hub.sources.Source` into a folder. Plain URLs go through ``requests`` with
  retries (exponential backoff on connection errors and 5xx/429) and resume into a ``.part`` file with HTTP ``Range``
  requests (RFC 9110, section 14); Google Drive files and folders go through ``gdown``; hub files go through
  ``huggingface_hub`` (into ``<cache>/huggingface``, then hard-linked or copied out). The file's sha256 is checked
  after the download and on every cache hit, as open_clip's ``download_pretrained_from_url`` and timm's
  ``check_cached_file`` do (see ``STYLE.md`` section 10); when no sha256 is known, the first download's digest is
  recorded in ``<file>.sha256`` and later hits are checked against it. A corrupt cached file is fetched once more;
  a second bad file is an error. Offline (``FAKEBENCH_OFFLINE`` or ``HF_HUB_OFFLINE``) a cache miss raises
  :class:`SourceUnavailable` without any network call (hub files can still come from the hub cache).
* :func:`~fakebench.hub.weights.fetch_weights` resolves a detector card's weights entry to ``<cache>/weights/<detector>/<file>``, trying the
  entry's sources in order; when none works it raises :class:`~fakebench.core.errors.WeightsNotFoundError` saying which
  file (and sha256) is expected, where to put it and where to fetch it by hand. Nothing falls back to random weights.
* :func:`~fakebench.data.download.download_dataset` (and ``download_suite``, ``download_all``) install manifest datasets under the data
  root. A dataset's own sources (or, when it has none, its suite's) are alternatives tried in order; the first one
  that can be fetched is cached under ``<cache>/downloads/<name>/``, extracted safely (:mod:`fakebench.hub.archive`) into
  a hidden staging folder next to the destination, its image counts are checked against the manifest's
  ``expected_count``, a marker file is written, and only then is the staging folder renamed into place. So an
  interrupted or wrong download never leaves a folder that looks complete.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from fakebench import __version__
from fakebench.core.env import cache_root, env_flag, is_offline
from fakebench.core.errors import DownloadError, WeightsNotFoundError
from fakebench.core.files import atomic_write_text, sha256_file
from fakebench.hub.sources import Source

if TYPE_CHECKING:  # pragma: no cover

    pass

__all__ = ["MARKER", "FetchOptions", "ChecksumError", "SourceUnavailable", "ManualDownloadRequired", "fetch",
           "hub_cache_dir", "fetch_hub_snapshot"]

log = logging.getLogger(__name__)

#: Written into a dataset (or suite) folder once its download was extracted and verified; its presence means done.
MARKER = ".fakebench-download.json"
_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_CHUNK = 1 << 16  # small enough that a dropped connection loses little of what was received


@dataclass(frozen=True)
class FetchOptions:
    """How downloads behave.

    Attributes:
        retries: extra attempts after a transient error (connection dropped or refused, timeout, HTTP 5xx/429).
        backoff: seconds to wait before the first retry; doubled for each further one.
        timeout: seconds to wait for the server (connect, and between bytes).
        progress: show tqdm progress bars (sizes and rates) on stderr.
    """

    retries: int = 4
    backoff: float = 1.0
    timeout: float = 60.0
    progress: bool = True


class ChecksumError(DownloadError):
    """A downloaded file's sha256 (or size) differs from the expected one, also after fetching it once more."""


class SourceUnavailable(DownloadError):
    """A file cannot be fetched from a source right now: offline mode, network unreachable after retries, HTTP error,
    a quota-limited Drive file, or a source with no direct link.

    Attributes:
        reason: the short cause (the message also says where to fetch the file by hand and where to put it).
    """

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


class ManualDownloadRequired(SourceUnavailable):
    """A dataset has no direct download link (e.g. a NAS share that needs a browser); it must be placed by hand.

    Attributes:
        name: the dataset.
        target: the folder its images go in.
        where: where to get them (the manual sources' references and notes).
    """

    def __init__(self, message: str, *, name: str, target: Path, where: str) -> None:
        super().__init__(message, reason=f"no direct download ({where})")
        self.name, self.target, self.where = name, target, where


class _Unavailable(Exception):
    """Internal: one source failed for a reason worth reporting (turned into :class:`SourceUnavailable`)."""


class _Transient(Exception):
    """Internal: a network error worth retrying."""


# -- one file ---------------------------------------------------------------------------------------------------------
def fetch(source: Source, dest_dir: str | os.PathLike, *, sha256: str | None = None, filename: str | None = None,
          what: str | None = None, cache_dir: str | os.PathLike | None = None,
          options: FetchOptions | None = None) -> Path:
    """Get one file (or one Drive folder) into ``dest_dir``, verified.

    A file already at the destination is checked first and returned without any network call when it is intact.

    Args:
        source: where the file comes from.
        dest_dir: folder to put it in (created).
        sha256: expected hex sha256; default ``source.sha256``. When neither is known, the digest of the first
            download is recorded in ``<file>.sha256`` and later cache hits are checked against it.
        filename: name to store it under; default ``source.filename``, else the last part of the URL or the id.
        what: short description for messages (``"weights npr.paper"``); default the source's reference.
        cache_dir: cache root for the hub cache and gdown's cookies file; default :func:`~fakebench.core.env.cache_root`.
        options: retries, backoff, timeout and progress bars.

    Returns:
        The path of the verified file (for a ``gdrive_folder`` source, of the downloaded folder).

    Raises:
        SourceUnavailable: offline, unreachable after retries, HTTP error, quota-limited Drive file, or a ``manual``
            source with no file in place; the message says where to fetch it by hand and where to put it.
        ChecksumError: the downloaded file's sha256 or size is wrong (the file is removed).
    """
    options = options or FetchOptions()
    root = Path(cache_dir).expanduser() if cache_dir else cache_root()
    dest = Path(dest_dir).expanduser() / (filename or _default_name(source))
    what = what or source.ref
    expected = sha256 or source.sha256
    if source.kind == "gdrive_folder":
        return _fetch_folder(source, dest, what, root, options)
    if source.is_snapshot:
        return _fetch_snapshot(source, dest, what, root)
    refetch = False
    if dest.is_file():
        problem = _verify(dest, expected, source.size) or _verify_md5(dest, source.md5)
        if problem is None:
            return dest
        log.warning("Cached %s at %s is corrupt (%s); fetching it once more.", what, dest, problem)
        _discard(dest)
        refetch = True
    resumed = _download_or_explain(source, dest, what, expected, root, options, force=refetch)
    problem = _verify(dest, expected, source.size) or _verify_md5(dest, source.md5)
    if problem is not None and resumed:
        log.warning("%s resumed from an earlier partial download is corrupt (%s); downloading it from scratch.",
                    what, problem)
        _discard(dest)
        _download_or_explain(source, dest, what, expected, root, options, force=True)
        problem = _verify(dest, expected, source.size) or _verify_md5(dest, source.md5)
    if problem is not None:
        _discard(dest)
        raise ChecksumError(f"Downloaded {what} from {source.url} but {problem}; the file was removed. Retry later, "
                            f"or fetch it by hand and check it before saving it as {dest}.")
    return dest


def _default_name(source: Source) -> str:
    if source.filename:
        return Path(source.filename).name
    if source.kind == "url":
        return Path(source.ref.split("?", 1)[0].rstrip("/")).name or "download"
    return source.ref.replace("/", "_")


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _verify(path: Path, expected: str | None, size: int | None) -> str | None:
    """``None`` when ``path`` is intact, else what is wrong. Records the digest when nothing is known yet."""
    if size is not None and path.stat().st_size != size:
        return f"its size is {path.stat().st_size} bytes, expected {size}"
    sidecar = _sidecar(path)
    recorded = expected or (sidecar.read_text().strip() if sidecar.is_file() else None)
    actual = sha256_file(path)
    if recorded is None:
        atomic_write_text(sidecar, actual + "\n")
        return None
    return None if actual == recorded else f"its sha256 is {actual}, expected {recorded}"


def _verify_md5(path: Path, md5: str | None) -> str | None:
    """``None`` when ``md5`` is not pinned or matches the file, else what is wrong (hosts such as Zenodo and the
    Synthbuster checksum list publish md5 only)."""
    if md5 is None:
        return None
    import hashlib

    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    actual = digest.hexdigest()
    return None if actual == md5 else f"its md5 is {actual}, expected {md5}"


def _discard(path: Path) -> None:
    """Remove a cached file (or downloaded folder) and its recorded digest."""
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    _sidecar(path).unlink(missing_ok=True)


def _offline_reason() -> str:
    flag = "FAKEBENCH_OFFLINE" if env_flag("FAKEBENCH_OFFLINE") else "HF_HUB_OFFLINE"
    return f"offline mode is on ({flag}=1)"


def _download_or_explain(source: Source, dest: Path, what: str, expected: str | None, root: Path,
                         options: FetchOptions, *, force: bool) -> bool:
    """Download ``source`` to ``dest``; turn a failure into :class:`SourceUnavailable` with by-hand instructions.

    Returns:
        True when the bytes were partly reused from an earlier interrupted download.
    """
    try:
        return _download(source, dest, root, options, force=force)
    except _Unavailable as exc:
        reason = str(exc)
        sha = f"sha256 {expected}" if expected else "sha256 not pinned"
        raise SourceUnavailable(f"Cannot download {what} ({dest.name}, {sha}): {reason}. Fetch it by hand from "
                                f"{source.url} and save it as {dest}.", reason=reason) from None


def _download(source: Source, dest: Path, root: Path, options: FetchOptions, *, force: bool) -> bool:
    if source.kind == "manual":
        raise _Unavailable(f"there is no direct download link ({source.ref})")
    if source.kind == "hf":
        _hub_download(source, dest, root, force=force)
        return False
    if is_offline():
        raise _Unavailable(_offline_reason())
    dest.parent.mkdir(parents=True, exist_ok=True)
    if source.kind in ("url", "zenodo", "modelscope"):
        return _http_download(_http_url(source), dest, options)
    _gdrive_download(source, dest, root, options)
    return False


def _http_url(source: Source) -> str:
    """The URL to GET for a ``url``/``zenodo``/``modelscope`` source; ``FAKEBENCH_ZENODO_ENDPOINT`` and
    ``FAKEBENCH_MODELSCOPE_ENDPOINT`` (read at call time) replace the public hosts."""
    from fakebench.hub.sources import MODELSCOPE_ENDPOINT, ZENODO_ENDPOINT

    return source.download_url(zenodo=os.environ.get("FAKEBENCH_ZENODO_ENDPOINT") or ZENODO_ENDPOINT,
                               modelscope=os.environ.get("FAKEBENCH_MODELSCOPE_ENDPOINT") or MODELSCOPE_ENDPOINT)


# -- plain HTTP with Range resume --------------------------------------------------------------------------------------
def _http_download(url: str, dest: Path, options: FetchOptions) -> bool:
    """Download ``url`` to ``dest`` through ``<dest>.part``, resuming and retrying transient failures.

    Returns:
        True when an earlier run's ``.part`` file was resumed.
    """
    import requests

    part = dest.with_name(dest.name + ".part")
    resumed = part.is_file() and part.stat().st_size > 0
    with requests.Session() as session:
        session.headers["User-Agent"] = f"fakebench/{__version__}"
        for attempt in range(options.retries + 1):
            try:
                _transfer(session, url, part, options)
                break
            except _Transient as exc:
                if attempt == options.retries:
                    raise _Unavailable(f"{exc} (gave up after {attempt + 1} attempts)") from None
                delay = options.backoff * 2 ** attempt
                log.warning("Download of %s interrupted (%s); retrying in %.1f s (%d/%d).", url, exc, delay,
                            attempt + 1, options.retries)
                time.sleep(delay)
    os.replace(part, dest)
    return resumed


def _transfer(session: Any, url: str, part: Path, options: FetchOptions) -> None:
    """One GET of the missing bytes of ``part`` (all of them when it is absent)."""
    import requests

    offset = part.stat().st_size if part.is_file() else 0
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        with session.get(url, headers=headers, stream=True, timeout=options.timeout) as response:
            offset, total = _accept(response, url, offset, part)
            _write_body(response, part, offset, total, options)
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
        if _name_resolution_failed(exc):  # offline or no DNS: retrying in 16 s will not help
            raise _Unavailable(f"cannot resolve the host name of {url} (no network or no DNS; not retried)") from exc
        raise _Transient(f"network error: {exc}") from exc


def _resolves(url: str) -> bool:
    """Whether the host of ``url`` resolves (one DNS lookup; ``True`` when it cannot be checked)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if not parts.hostname:
        return True
    try:
        socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        return True
    except socket.gaierror:
        return False
    except OSError:
        return True


def _name_resolution_failed(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it wraps) is a DNS name-resolution failure (``socket.gaierror``, urllib3's
    ``NameResolutionError``)."""
    import socket

    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, socket.gaierror) or type(item).__name__ == "NameResolutionError":
            return True
        if isinstance(item, BaseException):
            stack += [item.__cause__, item.__context__, getattr(item, "reason", None)]
            stack += [a for a in item.args if isinstance(a, BaseException)]
    return False


def _accept(response: Any, url: str, offset: int, part: Path) -> tuple[int, int | None]:
    """Check a response's status; returns the offset its body starts at and the full size when known."""
    status = response.status_code
    if status == 416:  # our partial file does not fit the remote file any more: start over
        part.unlink(missing_ok=True)
        raise _Transient("the server refused the resume range; restarting from zero")
    if status in _TRANSIENT_STATUS:
        raise _Transient(f"HTTP {status} {response.reason}")
    if status >= 400:
        raise _Unavailable(f"HTTP {status} {response.reason} from {url}")
    length = response.headers.get("Content-Length")
    if status != 206 or not offset:
        return 0, int(length) if length and length.isdigit() else None
    start, total = _content_range(response.headers.get("Content-Range", ""))
    if start != offset:
        part.unlink(missing_ok=True)
        raise _Transient(f"the server sent bytes from {start}, not {offset}; restarting from zero")
    return offset, total


def _content_range(value: str) -> tuple[int | None, int | None]:
    """``"bytes 100-199/200"`` -> ``(100, 200)``; unknown parts are ``None``."""
    try:
        span, _, total = value.split(" ", 1)[1].partition("/")
        return int(span.split("-", 1)[0]), int(total) if total.isdigit() else None
    except (IndexError, ValueError):
        return None, None


def _write_body(response: Any, part: Path, offset: int, total: int | None, options: FetchOptions) -> None:
    from tqdm import tqdm

    name = part.name[: -len(".part")]
    with open(part, "ab" if offset else "wb") as out, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
            disable=not options.progress) as bar:
        for chunk in response.iter_content(_CHUNK):
            out.write(chunk)
            bar.update(len(chunk))
    size = part.stat().st_size
    if total is not None and size < total:
        raise _Transient(f"the connection closed after {size} of {total} bytes")


# -- Google Drive (gdown) ---------------------------------------------------------------------------------------------
def _gdown_kwargs(root: Path, options: FetchOptions) -> dict[str, Any]:
    """Arguments shared by gdown's file and folder downloads. Cookies live under our cache root: a browser cookies
    file (Netscape format) put there lets gdown past some quota pages."""
    return {"quiet": not options.progress, "resume": True, "retries": options.retries, "timeout": options.timeout,
            "use_cookies": True, "cookies_file": str(root / "gdown" / "cookies.txt")}


#: The host every Google Drive download starts at.
_DRIVE_URL = "https://drive.google.com"


def _check_drive_resolves() -> None:
    """Fail fast when Google Drive's host name does not resolve (no network or no DNS), before gdown's own retries."""
    if not _resolves(_DRIVE_URL):
        raise _Unavailable("cannot resolve the host name of drive.google.com (no network or no DNS; not retried)")


def _gdrive_download(source: Source, dest: Path, root: Path, options: FetchOptions) -> None:
    import gdown

    _check_drive_resolves()
    with _gdown_errors(root):
        gdown.download(id=source.ref, output=str(dest), **_gdown_kwargs(root, options))


def _fetch_folder(source: Source, folder: Path, what: str, root: Path, options: FetchOptions) -> Path:
    """A Drive folder is downloaded into ``<folder>.partial`` (resumable) and renamed when complete."""
    if folder.is_dir():
        return folder
    import gdown

    staging = folder.with_name(folder.name + ".partial")
    try:
        if is_offline():
            raise _Unavailable(_offline_reason())
        _check_drive_resolves()
        with _gdown_errors(root):
            gdown.download_folder(id=source.ref, output=str(staging), **_gdown_kwargs(root, options))
    except _Unavailable as exc:
        raise SourceUnavailable(f"Cannot download {what} (Google Drive folder {source.ref}): {exc}. Fetch the folder "
                                f"by hand from {source.url} and save its files in {folder}.", reason=str(exc)) from None
    os.replace(staging, folder)
    return folder


def _fetch_snapshot(source: Source, folder: Path, what: str, root: Path) -> Path:
    """The hub repo files matching ``source.patterns`` at ``source.revision``, linked into ``folder`` (their paths in
    the repo kept), through the hub cache. Nothing matching is an error, never an empty dataset.

    Raises:
        SourceUnavailable: offline and not cached, unreachable, or no file of the repo matches the patterns.
    """
    from huggingface_hub import snapshot_download

    if folder.is_dir() and any(p.is_file() for p in folder.rglob("*")):
        return folder
    offline = is_offline() or not _resolves(_hub_endpoint() or "https://huggingface.co")
    try:
        snap = Path(snapshot_download(source.ref, repo_type=source.repo_type, revision=source.revision,
                                      allow_patterns=list(source.patterns), cache_dir=str(hub_cache_dir(root)),
                                      local_files_only=offline, endpoint=_hub_endpoint()))
    except Exception as exc:  # noqa: BLE001 - only the hub's network/cache errors are translated
        if not _is_hub_failure(exc) and type(exc).__name__ != "LocalEntryNotFoundError":
            raise
        reason = (_offline_reason() if is_offline() else "cannot reach the hub") + " and the files are not in the " \
            "hub cache" if offline else _first_line(exc)
        raise SourceUnavailable(f"Cannot download {what} (hub repo {source.ref}, files {list(source.patterns)}, "
                                f"revision {source.revision or 'main'}): {reason}. Run `hf download {source.ref} "
                                f"--repo-type {source.repo_type} --include {' '.join(source.patterns)}` elsewhere and "
                                f"copy the files into {folder}.", reason=reason) from None
    files = [p for p in sorted(snap.rglob("*")) if p.is_file()]
    if not files:
        reason = f"no file of {source.ref} at revision {source.revision or 'main'} matches {list(source.patterns)}"
        raise SourceUnavailable(f"Cannot download {what}: {reason}.", reason=reason)
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    for path in files:
        _link_or_copy(path, staging / path.relative_to(snap))
    os.replace(staging, folder)
    return folder


@contextlib.contextmanager
def _gdown_errors(root: Path) -> Iterator[None]:
    """gdown and requests failures inside the block become :class:`_Unavailable` with a readable reason."""
    import gdown
    import requests

    try:
        yield
    except gdown.exceptions.FileURLRetrievalError as exc:
        raise _Unavailable(_drive_refusal(exc, root)) from None
    except (gdown.exceptions.DownloadError, requests.RequestException) as exc:
        raise _Unavailable(f"Google Drive download failed ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__


def _drive_refusal(exc: BaseException, root: Path) -> str:
    text = " ".join(str(exc).split())
    cookies = root / "gdown" / "cookies.txt"
    if "too many users" in text.lower() or "quota" in text.lower():
        return (f"Google Drive's download quota for this file is exhausted (too many downloads in the last 24 hours); "
                f"retry tomorrow, or download it in a browser, or save your browser's Google cookies (Netscape "
                f"format) as {cookies} and retry")
    return (f"Google Drive refused the download; the file may be private, removed or quota-limited ({text[:200]}); "
            f"if it opens in a browser, saving your browser's Google cookies as {cookies} may help")


# -- Hugging Face hub --------------------------------------------------------------------------------------------------
def hub_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The Hugging Face hub cache fakebench uses: ``<cache root>/huggingface`` (laid out the hub's way)."""
    return (Path(cache_dir).expanduser() if cache_dir else cache_root()) / "huggingface"


def _hub_endpoint() -> str | None:
    """``HF_ENDPOINT`` read at call time (huggingface_hub reads it once, at import)."""
    return os.environ.get("HF_ENDPOINT") or None


def _is_hub_failure(exc: BaseException) -> bool:
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    return isinstance(exc, (OSError, EntryNotFoundError, HfHubHTTPError)) or \
        type(exc).__module__.split(".")[0] in ("httpx", "httpx2", "httpcore")


def _hub_download(source: Source, dest: Path, root: Path, *, force: bool) -> None:
    """Fetch a hub file into the hub cache (offline: from it only) and hard-link or copy it to ``dest``."""
    from huggingface_hub import hf_hub_download

    if not source.filename:
        raise _Unavailable(f"the hf source {source.ref!r} names no file (set 'filename')")
    offline = is_offline()
    host_unknown = not offline and not _resolves(_hub_endpoint() or "https://huggingface.co")
    if host_unknown:  # no DNS: huggingface_hub would retry for ~30 s; serve from the hub cache or fail now
        offline = True
    try:
        cached = hf_hub_download(source.ref, source.filename, repo_type=source.repo_type, revision=source.revision,
                                 cache_dir=str(hub_cache_dir(root)), local_files_only=offline,
                                 force_download=force and not offline, endpoint=_hub_endpoint())
    except Exception as exc:  # noqa: BLE001 - only the hub's network/cache errors are translated
        if not _is_hub_failure(exc):
            raise
        if host_unknown:
            reason = (f"cannot resolve the host name of {_hub_endpoint() or 'https://huggingface.co'} (no network or "
                      f"no DNS; not retried) and the file is not in the hub cache")
        else:
            reason = _offline_reason() + " and the file is not in the hub cache" if offline else _first_line(exc)
        raise _Unavailable(reason) from None
    _link_or_copy(Path(cached), dest)


def _link_or_copy(src: Path, dest: Path) -> None:
    """Hard-link ``src`` (symlinks resolved) to ``dest``, or copy it when linking fails; atomic."""
    real = Path(os.path.realpath(src))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(real, tmp)
    except OSError:
        shutil.copyfile(real, tmp)
    os.replace(tmp, dest)


def fetch_hub_snapshot(repo_id: str, *, what: str, revision: str | None = None, repo_type: str = "model",
                       allow_patterns: Iterable[str] | None = None,
                       cache_dir: str | os.PathLike | None = None) -> Path:
    """A hub repository snapshot (e.g. a detector's base model) in fakebench's hub cache.

    Offline, only the hub cache is consulted. Pass :func:`hub_cache_dir` as ``cache_dir`` to ``transformers`` or
    ``huggingface_hub`` calls that load the same repository, so they find it there.

    Args:
        repo_id: hub repository, e.g. ``lmsys/vicuna-7b-v1.3``.
        what: who needs it, for messages (``"antifakeprompt base LLM"``).
        revision: branch, tag or commit; default ``main``.
        repo_type: ``model`` or ``dataset``.
        allow_patterns: only files matching these glob patterns.
        cache_dir: fakebench cache root; default :func:`~fakebench.core.env.cache_root`.

    Returns:
        The snapshot folder.

    Raises:
        WeightsNotFoundError: not cached and not downloadable (offline or unreachable); the message gives the
            ``hf download`` command to run elsewhere and the folder to copy the cache to.
    """
    from huggingface_hub import snapshot_download

    hub = hub_cache_dir(cache_dir)
    try:
        return Path(snapshot_download(repo_id, repo_type=repo_type, revision=revision, cache_dir=str(hub),
                                      allow_patterns=list(allow_patterns) if allow_patterns else None,
                                      local_files_only=is_offline(), endpoint=_hub_endpoint()))
    except Exception as exc:  # noqa: BLE001 - only the hub's network/cache errors are translated
        if not _is_hub_failure(exc):
            raise
        reason = _offline_reason() if is_offline() else _first_line(exc)
        raise WeightsNotFoundError(
            f"{what} needs the Hugging Face repo {repo_id} (https://huggingface.co/{repo_id}), which is not in the "
            f"hub cache {hub} and cannot be downloaded: {reason}. On a machine with network run `hf download "
            f"{repo_id} --cache-dir {hub}` and copy that folder here, or turn offline mode off.") from None


