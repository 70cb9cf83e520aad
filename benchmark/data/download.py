"""Dataset downloads: install manifest datasets under the data root, verified, resumable and never half-done.

A dataset's own sources (or, when it has none, its suite's) are alternatives tried in order; the first one that can
be fetched (:func:`fakebench.hub.fetch.fetch`) is cached under ``<cache>/downloads/<name>/``, extracted safely
(:mod:`fakebench.hub.archive`) into a hidden staging folder next to the destination, its image counts are checked
against the manifest's ``expected_count``, a marker file is written, and only then is the staging folder renamed into
place. So an interrupted or wrong download never leaves a folder that looks complete.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from fakebench import __version__
from fakebench.core.env import cache_root, data_root as default_data_root
from fakebench.core.errors import DataError, DownloadError, FakebenchError
from fakebench.core.files import atomic_write_json
from fakebench.hub.archive import CorruptArchiveError, archive_format, safe_extract, sniff_format
from fakebench.hub.fetch import (MARKER, ChecksumError, FetchOptions, ManualDownloadRequired, SourceUnavailable, _default_name, _discard,
                                 _link_or_copy, _sidecar, fetch)
from fakebench.hub.sources import Source

if TYPE_CHECKING:  # pragma: no cover
    from fakebench.data.manifest import DatasetEntry, Manifest, SuiteEntry

__all__ = ["count_images", "DownloadReport", "download_dataset", "download_datasets", "download_suite", "download_all"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Plan:
    """One folder under the data root, filled from one list of alternative sources.

    Attributes:
        name: the dataset or suite it installs (names the cache folder and the messages).
        target: the folder.
        sources: alternatives, tried in order.
        folders: ``(dataset entry, its folder)`` pairs, all inside ``target``, whose image counts are checked.
    """

    name: str
    target: Path
    sources: tuple[Source, ...]
    folders: tuple[tuple[Any, Path], ...]


@dataclass
class DownloadReport:
    """What a batch of dataset downloads did.

    Attributes:
        installed: folders that are now complete (downloaded now, earlier, or verified after a manual install).
        manual: the datasets that need a manual download and were skipped (each says where to get it and where
            to put it).
        failed: ``name: message`` for each dataset (or suite) that failed.
    """

    installed: list[Path] = field(default_factory=list)
    manual: list[ManualDownloadRequired] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def check(self) -> "DownloadReport":
        """Return ``self``, or raise :class:`~fakebench.core.errors.DownloadError` listing every failure."""
        if len(self.failed) == 1:
            raise DownloadError(self.failed[0])
        if self.failed:
            raise DownloadError(f"{len(self.failed)} downloads failed:\n- " + "\n- ".join(self.failed))
        return self


def _inside(path: Path, folder: Path) -> bool:
    return os.path.commonpath([os.path.normpath(path), os.path.normpath(folder)]) == os.path.normpath(folder)


def _plan_for(entry: "DatasetEntry", suite: "SuiteEntry | None", siblings: Iterable["DatasetEntry"],
              root: Path) -> _Plan:
    """The install plan that provides ``entry``: its own sources, else its suite's (shared with its siblings).

    A suite whose sources are all manual is placed by hand set by set, so each dataset is then checked on its own.
    """
    own = _Plan(entry.name, root / entry.path, tuple(entry.sources), ((entry, root / entry.path),))
    if entry.sources or suite is None or not suite.sources:
        return own
    if all(s.kind == "manual" for s in suite.sources):
        return replace(own, sources=tuple(suite.sources))
    if not suite.path:
        raise DownloadError(f"Suite {suite.name!r} has download sources but no 'path'; set the folder its archive "
                            f"is extracted into in the manifest.")
    target = root / suite.path
    members = {e.name: e for e in (*siblings, entry) if e.suite == suite.name and not e.sources}
    for e in members.values():
        if not _inside(root / e.path, target):
            raise DownloadError(f"Dataset {e.name!r} (path {e.path}) is provided by suite {suite.name!r}, but is not "
                                f"inside the suite folder {suite.path}; fix 'path' in the manifest.")
    return _Plan(suite.name, target, tuple(suite.sources), tuple((e, root / e.path) for e in members.values()))


def count_images(folder: Path, entry: Any) -> dict[str, int]:
    """``{'real': n, 'fake': m}`` images under ``folder`` following the entry's labels and layout (for ``layout:
    parquet``, the rows of its shards that pass its filter with a real/fake label; for ``real_fake``, images under
    its label folders, ``label_dirs`` honoured)."""
    from fakebench.data.images import label_dir_names, list_images

    if getattr(entry, "layout", "") == "parquet":
        from fakebench.data.parquet import count_parquet

        return count_parquet(folder, entry.parquet, entry.labels) if folder.is_dir() else {"real": 0, "fake": 0}
    images = list_images(folder) if folder.is_dir() else []
    if entry.labels != "mixed":
        other = "fake" if entry.labels == "real" else "real"
        return {entry.labels: len(images), other: 0}
    names = label_dir_names(getattr(entry, "label_dirs", None))
    counts = {"real": 0, "fake": 0}
    for path in images:
        for part in reversed(path.relative_to(folder).parts[:-1]):
            if part in names:
                counts["real" if names[part] == 0 else "fake"] += 1
                break
    return counts



def _count_problems(plan: _Plan, base: Path) -> tuple[dict[str, dict[str, int]], list[str]]:
    """Counts per dataset (with ``plan.target`` mapped to ``base``) and a list of mismatches against the manifest."""
    counts, problems = {}, []
    for entry, folder in plan.folders:
        found = count_images(base / folder.relative_to(plan.target), entry)
        counts[entry.name] = found
        if not any(found.values()):
            problems.append(f"{entry.name}: no images in {entry.path}")
        for key in ("real", "fake"):
            want = (entry.expected_count or {}).get(key)
            if want is not None and found[key] != want:
                problems.append(f"{entry.name}: {found[key]} {key} images in {entry.path}, expected {want}")
    return counts, problems


def _write_marker(folder: Path, plan: _Plan, counts: dict[str, Any], source: Source | None,
                  file: Path | None) -> None:
    sha = None
    if file is not None and file.is_file():
        sidecar = _sidecar(file)
        sha = source.sha256 if source and source.sha256 else (sidecar.read_text().strip() if sidecar.is_file()
                                                               else None)
    atomic_write_json(folder / MARKER, {
        "name": plan.name, "source": source.to_dict() if source else "placed by hand",
        "file": file.name if file else None, "sha256": sha, "counts": counts,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "fakebench": __version__})


def _adopt_existing(plan: _Plan) -> bool:
    """True when the plan's folders already hold the expected images (placed by hand); a marker is written.

    Raises:
        DownloadError: some folders exist but do not match the manifest (they would clash with a download).
    """
    if not any(folder.is_dir() and any(folder.iterdir()) for _, folder in plan.folders):
        return False
    counts, problems = _count_problems(plan, plan.target)
    if problems:
        raise DownloadError(f"{plan.target} already holds files that fakebench did not download and that do not "
                            f"match the manifest ({'; '.join(problems)}). Complete them by hand, or move them away "
                            f"and run the download again.")
    try:
        _write_marker(plan.target, plan, counts, None, None)
    except OSError as exc:  # e.g. a read-only shared folder: verified all the same
        log.warning("%s: verified in %s but could not write %s there (%s).", plan.name, plan.target, MARKER, exc)
    log.info("%s: found complete in %s (placed by hand).", plan.name, plan.target)
    return True


def _unpack(source: Source, fetched: Path, staging: Path) -> None:
    """Extract (archives) or link (plain files) what was fetched into ``staging``.

    A downloaded file is an archive when the source says so, its name says so, or its first bytes do (Drive files
    often have no known name); in a downloaded folder, files whose names are archives are extracted in place.
    """
    if fetched.is_file():
        fmt = source.archive or archive_format(fetched.name) or sniff_format(fetched)
        _place(fetched, staging, fmt)
        return
    for path in sorted(p for p in fetched.rglob("*") if p.is_file()):
        _place(path, staging / path.parent.relative_to(fetched), archive_format(path.name))


def _content_root(staging: Path, plan: _Plan) -> Path:
    """The extracted folder that holds the plan's datasets: ``staging``, or the single folder (up to three deep)
    an archive wrapped everything in, e.g. ``CNN_synth_testset/progan/...`` for ``forensynths/progan``."""
    relative = [folder.relative_to(plan.target) for _, folder in plan.folders]
    root = staging
    for _ in range(3):
        if any((root / rel).exists() for rel in relative):
            break
        children = [c for c in root.iterdir() if not c.name.startswith(".")]
        if len(children) != 1 or not children[0].is_dir():
            break
        root = children[0]
    return root


def _place(path: Path, folder: Path, fmt: str | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if fmt:
        safe_extract(path, folder, fmt)
    else:
        _link_or_copy(path, folder / path.name)


def _move_into_place(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target`` (one atomic rename when ``target`` is absent or empty); else move its
    top-level items in one by one and the marker last, refusing to overwrite anything."""
    if not target.exists() or (target.is_dir() and not any(target.iterdir())):
        if target.exists():
            target.rmdir()
        os.replace(staging, target)
        return
    items = [p for p in staging.iterdir() if p.name != MARKER]
    clashes = [p.name for p in items if (target / p.name).exists()]
    if clashes:
        raise DownloadError(f"Cannot install into {target}: {', '.join(clashes)} already exist there. Move them away "
                            f"and run the download again.")
    for item in items:
        os.replace(item, target / item.name)
    os.replace(staging / MARKER, target / MARKER)


def _expected_counts(plan: _Plan) -> str:
    """``"expected: a 2000 real + 2000 fake"`` for the datasets whose counts the manifest pins, else ``""``."""
    known = [f"{e.name} {' + '.join(f'{n} {k}' for k, n in (e.expected_count or {}).items() if n is not None)}"
             for e, _ in plan.folders if any(n is not None for n in (e.expected_count or {}).values())]
    return f" (expected images: {', '.join(known)})" if known else ""


def _fetch_first(plan: _Plan, cache: Path, options: FetchOptions) -> tuple[Source, Path]:
    """Fetch the first source of the plan that works.

    Raises:
        ManualDownloadRequired: every source is manual (or there is none).
        SourceUnavailable: no source works now; says, per source, where to save a file fetched by hand.
    """
    downloads = cache / "downloads" / plan.name
    tried = []
    for k, source in enumerate(plan.sources):
        try:
            return source, fetch(source, downloads, what=f"dataset {plan.name}", cache_dir=cache, options=options)
        except SourceUnavailable as exc:
            if source.kind != "manual":
                slash = "/" if source.kind == "gdrive_folder" or source.is_snapshot else ""
                tried.append(f"  - {source.url}\n    ({exc.reason})\n    save as {downloads / _default_name(source)}{slash}")
                rest = [f"{s.kind} {s.url}" for s in plan.sources[k + 1:]]
                if rest:
                    log.warning("%s: mirror %s %s failed (%s); trying the other mirror(s): %s.", plan.name,
                                source.kind, source.url, exc.reason, "; ".join(rest))
        except ChecksumError as exc:  # a mirror serving other bytes: never installed; the next mirror may be right
            rest = [f"{s.kind} {s.url}" for s in plan.sources[k + 1:] if s.kind != "manual"]
            if not rest:
                raise
            reason = str(exc).split(" but ", 1)[-1].split(";", 1)[0]
            tried.append(f"{source.url} ({reason})")
            log.warning("%s: mirror %s %s gave a corrupt file (%s); trying the other mirror(s): %s.", plan.name,
                        source.kind, source.url, reason, "; ".join(rest))
    if not tried:
        where = "; ".join(f"{s.ref}{' (' + s.notes + ')' if s.notes else ''}" for s in plan.sources) or \
            "no public source is known"
        raise ManualDownloadRequired(
            f"{plan.name} has no direct download ({where}). Get it by hand and put its images in "
            f"{plan.target}{_expected_counts(plan)}, then run the download again to verify them.",
            name=plan.name, target=plan.target, where=where)
    raise SourceUnavailable(
        f"Cannot download {plan.name} now. Fetch one of these by hand and save it as given; a rerun verifies and "
        f"extracts it:\n" + "\n".join(tried) +
        f"\nOr extract it into {plan.target} yourself{_expected_counts(plan)}.",
        reason="; ".join(" ".join(t.split()) for t in tried))


def _install(plan: _Plan, cache: Path, options: FetchOptions, keep_archives: bool) -> Path:
    """Make ``plan.target`` complete: skip when marked done, adopt a verified manual install, else download."""
    if (plan.target / MARKER).is_file():
        log.info("%s: already downloaded in %s.", plan.name, plan.target)
        return plan.target
    if _adopt_existing(plan):
        return plan.target
    source, fetched = _fetch_first(plan, cache, options)
    plan.target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{plan.target.name}.partial-", dir=plan.target.parent))
    try:
        try:
            _unpack(source, fetched, staging)
        except CorruptArchiveError as exc:
            _discard(fetched)
            raise CorruptArchiveError(f"{exc} It was removed from the cache; run the download again.") from exc
        content = _content_root(staging, plan)
        counts, problems = _count_problems(plan, content)
        if problems:
            raise DataError(f"The download of {plan.name} from {source.url} does not match the manifest "
                            f"({'; '.join(problems)}); nothing was installed. Check the manifest's path and "
                            f"expected_count, or delete {fetched} so that it is downloaded again.")
        _write_marker(content, plan, counts, source, fetched)
        _move_into_place(content, plan.target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not keep_archives and source.archive:
        _discard(fetched)
    log.info("%s: installed in %s.", plan.name, plan.target)
    return plan.target


def download_dataset(entry: "DatasetEntry", *, suite: "SuiteEntry | None" = None,
                     siblings: Iterable["DatasetEntry"] = (), data_root: str | os.PathLike | None = None,
                     cache_dir: str | os.PathLike | None = None, options: FetchOptions | None = None,
                     keep_archives: bool = True) -> Path:
    """Download, extract and verify one dataset (or the suite archive that provides it).

    Args:
        entry: the manifest dataset.
        suite: its suite; needed when the dataset has no sources of its own (the suite's archive provides it).
        siblings: the other datasets of the manifest; those of the same suite without own sources are installed and
            checked together with ``entry`` when the suite's archive provides them.
        data_root: root the manifest paths are relative to; default :func:`~fakebench.core.env.data_root`.
        cache_dir: cache root (archives go to ``<cache>/downloads/<name>/``); default
            :func:`~fakebench.core.env.cache_root`.
        options: retries, backoff, timeout and progress bars.
        keep_archives: keep downloaded archives in the cache (re-extraction without a new download); ``False``
            deletes them once installed.

    Returns:
        The dataset's folder ``<data_root>/<entry.path>``.

    Raises:
        ManualDownloadRequired: only manual sources (or none) and the images are not in place yet.
        SourceUnavailable: no source can be fetched now (offline, unreachable, quota); says how to do it by hand.
        ChecksumError: the downloaded file is corrupt.
        UnsafeArchiveError: the archive tries to write outside its folder (nothing is installed).
        DataError: the extracted image counts differ from the manifest (nothing is installed).
        DownloadError: existing files clash with the download, or the manifest's paths are inconsistent.
    """
    root = Path(data_root).expanduser() if data_root else default_data_root()
    cache = Path(cache_dir).expanduser() if cache_dir else cache_root()
    _install(_plan_for(entry, suite, siblings, root), cache, options or FetchOptions(), keep_archives)
    return root / entry.path


def download_datasets(manifest: "Manifest", *, names: Iterable[str] = (), suites: Iterable[str] = (),
                      everything: bool = False, skip_manual: bool = False, data_root: str | os.PathLike | None = None,
                      cache_dir: str | os.PathLike | None = None, options: FetchOptions | None = None,
                      keep_archives: bool = True) -> DownloadReport:
    """Download the selected datasets, each download once, going on after a failure.

    Args:
        manifest: the loaded manifest.
        names: dataset names.
        suites: suite names (all their datasets).
        everything: every dataset of the manifest.
        skip_manual: list datasets that need a manual download in the report instead of failing on them.
        data_root, cache_dir, options, keep_archives: see :func:`download_dataset`.

    Returns:
        A :class:`DownloadReport`; call :meth:`DownloadReport.check` to raise on failures.

    Raises:
        UnknownNameError: an unknown dataset or suite name (with suggestions), before anything is downloaded.
    """
    root = Path(data_root).expanduser() if data_root else default_data_root()
    cache = Path(cache_dir).expanduser() if cache_dir else cache_root()
    entries = list(manifest.datasets.values()) if everything else manifest.select(names, suites)
    report = DownloadReport()
    plans: dict[Path, _Plan] = {}
    for entry in entries:
        try:
            plan = _plan_for(entry, manifest.suites.get(entry.suite), manifest.datasets.values(), root)
        except FakebenchError as exc:
            report.failed.append(f"{entry.name}: {exc}")
            continue
        plans.setdefault(plan.target, plan)
    for plan in plans.values():
        try:
            report.installed.append(_install(plan, cache, options or FetchOptions(), keep_archives))
        except ManualDownloadRequired as exc:
            if skip_manual:
                report.manual.append(exc)
            else:
                report.failed.append(f"{plan.name}: {exc}")
        except FakebenchError as exc:
            report.failed.append(f"{plan.name}: {exc}")
    return report


def download_suite(manifest: "Manifest", suite: str, **kwargs: Any) -> DownloadReport:
    """Download every dataset of one suite; manual-only datasets are listed in the report, not failed.

    Args:
        manifest: the loaded manifest.
        suite: the suite name.
        **kwargs: ``data_root``, ``cache_dir``, ``options``, ``keep_archives`` (see :func:`download_dataset`).

    Raises:
        DownloadError: some downloads failed (all were attempted; the message lists them).
        UnknownNameError: unknown suite.
    """
    return download_datasets(manifest, suites=[suite], skip_manual=True, **kwargs).check()


def download_all(manifest: "Manifest", **kwargs: Any) -> DownloadReport:
    """Download every dataset of the manifest that has a public source; see :func:`download_suite`."""
    return download_datasets(manifest, everything=True, skip_manual=True, **kwargs).check()
