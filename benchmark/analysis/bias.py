"""Format and size bias audit: can real be told from fake by file metadata alone?

Many test sets pair real photos and fakes that differ in container format, JPEG quality or size (e.g. JPEG camera
photos vs PNG renders). A detector can then score well by reading compression traces instead of generation traces.
This module

* extracts per-image **metadata** once (:func:`image_metadata`, cached by image sha256 in
  ``<cache root>/image_metadata.sqlite``): container format (PIL ``format``), JPEG quality estimate
  (:func:`estimate_jpeg_quality`), chroma subsampling, width, height, file size, EXIF presence, PIL mode;
* fits a **metadata-only shortcut baseline** per test set (:func:`shortcut_baseline`): standardised features
  (one-hot format/subsampling/mode, JPEG quality, log2 width/height/pixels, aspect ratio, log2 file size, bits per
  pixel, EXIF presence) -> scikit-learn ``LogisticRegression`` (L2, C = 1), scored by stratified 5-fold
  cross-validated ROC-AUC on the out-of-fold fake probabilities, with a stratified percentile bootstrap 95% CI of
  that AUC (resampling images, model fixed; it does not include the refit variance). A set is **flagged** as biased
  when ``AUC >= 0.8`` and the CI lower bound ``> 0.6`` (:data:`FLAG_AUC`, :data:`FLAG_CI_LOW`). A second,
  **container-only** variant leaves out the file-size features (:data:`SIZE_FEATURES`): with a fixed codec, quality
  and size, compressed size follows content entropy (a smooth generator makes smaller PNGs), which is not a container
  shortcut; a set flagged only with file size is reported as such (``flagged_container`` false);
* reports accuracy **per stratum** of format and size bucket (:func:`stratified_accuracy`);
* and offers the **debiased view** ``reencode:CODEC,SIZE`` (in :mod:`fakebench.analysis.perturb`), usable in a
  robustness sweep, that re-encodes real and fake alike.

Metadata describe the stored file (before any manifest crop box).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import struct
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, JpegImagePlugin, UnidentifiedImageError

from fakebench.analysis.bootstrap import bootstrap_ci
from fakebench.core.env import cache_root
from fakebench.core.files import atomic_write_json, atomic_write_text

__all__ = ["AUDIT_SCHEMA", "FLAG_AUC", "FLAG_CI_LOW", "IJG_LUMINANCE", "META_FIELDS", "SIZE_FEATURES",
           "MetadataCache", "audit_frame", "audit_markdown", "audit_sets", "estimate_jpeg_quality", "image_metadata",
           "metadata_features", "metadata_table", "shortcut_baseline", "size_bucket", "stratified_accuracy",
           "write_audit"]

AUDIT_SCHEMA = "fakebench.bias_audit/1"

#: Flag rule: cross-validated shortcut ROC-AUC at least this ...
FLAG_AUC = 0.8
#: ... and the lower end of its 95% bootstrap CI above this.
FLAG_CI_LOW = 0.6

#: Bumped when :func:`image_metadata` changes (part of the cache key).
META_VERSION = 1

#: Fields of :func:`image_metadata`.
META_FIELDS = ("format", "jpeg_quality", "jpeg_quality_exact", "subsampling", "width", "height", "file_size",
               "has_exif", "mode")

#: IJG (libjpeg) standard luminance quantisation table, ITU-T T.81 Annex K Table K.1, in natural (row-major) order,
#: which is the order PIL's ``img.quantization`` uses.
IJG_LUMINANCE = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)

_SAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}


def _ijg_tables() -> np.ndarray:
    """(100, 64) luminance tables for quality 1..100 by libjpeg's ``jpeg_quality_scaling`` + ``jpeg_add_quant_table``:
    ``scale = 5000 / q`` for ``q < 50`` else ``200 - 2 q``; entry = ``clip((base * scale + 50) // 100, 1, 255)``."""
    q = np.arange(1, 101)[:, None]
    scale = np.where(q < 50, 5000 // q, 200 - 2 * q)
    return np.clip((np.asarray(IJG_LUMINANCE)[None, :] * scale + 50) // 100, 1, 255)


_TABLES = _ijg_tables()


def estimate_jpeg_quality(quantization: dict[int, Sequence[int]] | None) -> tuple[int | None, bool]:
    """Estimate the libjpeg quality setting (1-100) a JPEG was saved with, from its luminance quantisation table.

    Compares table 0 (natural order, as PIL's ``JpegImageFile.quantization``) with the IJG standard luminance table
    scaled by libjpeg's quality formula for every quality 1..100 and returns the quality with the smallest mean
    absolute difference (ties: the higher quality). Encoders that use the IJG tables (libjpeg, PIL, OpenCV, most
    cameras' "standard" mode) match exactly; others (Photoshop, some phones) get the nearest IJG quality.

    Args:
        quantization: PIL's ``img.quantization`` (``{table id: 64 ints}``), or ``None``/empty for non-JPEG files.

    Returns:
        ``(quality, exact)``: the estimate (``None`` without a table) and whether the table matches exactly.
    """
    if not quantization or 0 not in quantization or len(quantization[0]) != 64:
        return None, False
    table = np.asarray(list(quantization[0]), dtype=np.int64)
    err = np.abs(_TABLES - table[None, :]).mean(axis=1)
    best = int(np.flatnonzero(err == err.min())[-1])
    return best + 1, bool(err[best] == 0)


def image_metadata(path: str | os.PathLike, encode: str = "") -> dict[str, Any]:
    """Read an image file's metadata from its header (no full decode).

    Returns:
        dict with :data:`META_FIELDS`: ``format`` (PIL format name, e.g. ``JPEG``, ``PNG``, ``WEBP``),
        ``jpeg_quality`` (int 1-100 or ``None``, see :func:`estimate_jpeg_quality`), ``jpeg_quality_exact`` (bool),
        ``subsampling`` (``4:4:4``/``4:2:2``/``4:2:0`` for YCbCr JPEGs, else ``""``), ``width``/``height`` (pixels),
        ``file_size`` (bytes), ``has_exif`` (bool), ``mode`` (PIL mode).

    Raises:
        OSError: the file cannot be read or is not an image PIL can identify.
    """
    import io

    from fakebench.data.items import open_binary, parse_member, read_bytes

    aligned = None
    if encode:  # the bytes the detector sees after format alignment (fakebench.data.formats)
        from fakebench.data.formats import align_bytes
        from fakebench.data.images import UnreadableImage

        try:
            aligned = align_bytes(read_bytes(os.fspath(path)), encode)
        except UnreadableImage as exc:
            raise OSError(f"{path}: {exc}") from exc
        size = len(aligned)
    elif parse_member(os.fspath(path)) is not None:  # a parquet row: its cell's bytes are the "file"
        size = len(read_bytes(os.fspath(path)))
    else:
        path = Path(path)
        size = path.stat().st_size
    try:
        stream = io.BytesIO(aligned) if aligned is not None else open_binary(os.fspath(path))
        with stream as handle, Image.open(handle) as img:
            quality, exact, sampling = None, False, ""
            if img.format in ("JPEG", "MPO"):
                quality, exact = estimate_jpeg_quality(getattr(img, "quantization", None))
                sampling = _SAMPLING.get(JpegImagePlugin.get_sampling(img), "")
            try:
                has_exif = bool(img.info.get("exif")) or len(img.getexif()) > 0
            except Exception:  # a malformed EXIF block still means EXIF is present
                has_exif = True
            return {"format": img.format or "", "jpeg_quality": quality, "jpeg_quality_exact": exact,
                    "subsampling": sampling, "width": int(img.width), "height": int(img.height), "file_size": size,
                    "has_exif": has_exif, "mode": img.mode}
    except UnidentifiedImageError as exc:
        raise OSError(f"{path}: not an image PIL can identify") from exc


class MetadataCache:
    """``image sha256 -> metadata dict`` in SQLite (default ``<cache root>/image_metadata.sqlite``).

    Args:
        path: database file (created with its folder); ``None`` = the default under
            :func:`fakebench.core.env.cache_root`.
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path else cache_root() / "image_metadata.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60)
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._db.commit()

    @staticmethod
    def key(sha256: str) -> str:
        return f"{sha256}|v{META_VERSION}"

    def get_many(self, shas: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Cached metadata for the sha256 values that are present."""
        found: dict[str, dict[str, Any]] = {}
        keys = [self.key(s) for s in shas]
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, value in self._db.execute(f"SELECT key, value FROM meta WHERE key IN ({marks})", chunk):
                found[key.split("|", 1)[0]] = json.loads(value)
        return found

    def put_many(self, items: dict[str, dict[str, Any]]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                             [(self.key(s), json.dumps(m)) for s, m in items.items()])
        self._db.commit()

    def close(self) -> None:
        self._db.close()


def _content_sha(key: tuple[str, str]) -> str:
    """sha256 of a file or parquet row (:mod:`fakebench.data.items`), or of its format-aligned re-encoding, ``""``
    when it cannot be read."""
    from fakebench.core.files import sha256_bytes
    from fakebench.data.items import content_sha256, parse_member, read_bytes

    image_id, encode = key
    if parse_member(image_id) is None and not Path(image_id).is_file():
        return ""
    try:
        if encode:
            from fakebench.data.formats import align_bytes

            return sha256_bytes(align_bytes(read_bytes(image_id), encode))
        return content_sha256(image_id)
    except Exception:  # noqa: BLE001 - unreadable or undecodable: reported as an error row
        return ""


def _read(key: tuple[str, str]) -> tuple[dict[str, Any] | None, str]:
    """``(metadata, "")``, or ``(None, reason naming the file)`` for an image (file or parquet row, with its format
    alignment) that cannot be read: a decompression bomb (PIL's pixel limit), an oversized text chunk, a malformed
    header -- one bad file never ends an audit."""
    path = key[0]
    try:
        return image_metadata(key[0], key[1]), ""
    except OSError as exc:
        return None, str(exc)
    except Image.DecompressionBombError as exc:
        return None, f"{path}: refused as a possible decompression bomb ({exc})"
    except (ValueError, SyntaxError, struct.error, MemoryError) as exc:  # e.g. "Decompressed Data Too Large"
        return None, f"{path}: cannot read its header ({type(exc).__name__}: {exc})"


def metadata_table(records: Sequence[Any], *, cache: MetadataCache | None = None, workers: int = 4) -> pd.DataFrame:
    """Metadata of every record (an :class:`~fakebench.data.images.ImageRecord` or anything with ``path``,
    ``label``, ``dataset``), read once per distinct file content and cached by sha256. A format-aligned record
    (``encode``, :mod:`fakebench.data.formats`) is described by its re-encoded bytes, as the detector sees it.

    Returns:
        One row per record: ``image``, ``sha256``, ``dataset``, ``label`` (0 real / 1 fake), the :data:`META_FIELDS`
        and ``error`` (non-empty when the file could not be read; its metadata fields are then missing).
    """
    own = cache is None
    cache = cache or MetadataCache()
    try:
        paths = list(dict.fromkeys((r.path, getattr(r, "encode", "")) for r in records))  # (image id, alignment)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            shas = dict(zip(paths, pool.map(_content_sha, paths)))
        known = cache.get_many([s for s in set(shas.values()) if s])
        todo = [p for p in paths if shas[p] and shas[p] not in known]
        errors: dict[Any, str] = {p: f"{p[0]}: file not found or not readable" for p in paths if not shas[p]}
        fresh: dict[str, dict[str, Any]] = {}
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for path, (meta, error) in zip(todo, pool.map(_read, todo)):
                if meta is None:
                    errors[path] = error
                else:
                    fresh[shas[path]] = meta
        if fresh:
            cache.put_many(fresh)
        known.update(fresh)
    finally:
        if own:
            cache.close()
    rows = []
    for r in records:
        key = (r.path, getattr(r, "encode", ""))
        sha = shas[key]
        meta = known.get(sha, {}) if key not in errors else {}
        rows.append({"image": r.path, "sha256": sha, "dataset": r.dataset, "label": int(r.label),
                     **{f: meta.get(f) for f in META_FIELDS}, "error": errors.get(key, "")})
    return pd.DataFrame(rows, columns=["image", "sha256", "dataset", "label", *META_FIELDS, "error"])


def metadata_features(meta: pd.DataFrame) -> pd.DataFrame:
    """Numeric feature matrix (float, one row per image) for the shortcut baseline; constant columns dropped.

    Columns: ``format=X``, ``subsampling=X``, ``mode=X`` one-hots; ``jpeg_quality`` (0 when not JPEG);
    ``log2_width``, ``log2_height``, ``log2_pixels``, ``aspect`` (width / height); ``log2_file_size``;
    ``bits_per_pixel`` (file bits / pixels); ``has_exif`` (0/1).
    """
    f = pd.DataFrame(index=meta.index)
    for column in ("format", "subsampling", "mode"):
        for value in sorted(v for v in meta[column].dropna().unique() if v != ""):
            f[f"{column}={value}"] = (meta[column] == value).astype(float)
    width, height = meta["width"].astype(float), meta["height"].astype(float)
    f["jpeg_quality"] = pd.to_numeric(meta["jpeg_quality"], errors="coerce").fillna(0.0).astype(float)
    f["log2_width"], f["log2_height"] = np.log2(width), np.log2(height)
    f["log2_pixels"], f["aspect"] = np.log2(width * height), width / height
    f["log2_file_size"] = np.log2(meta["file_size"].astype(float))
    f["bits_per_pixel"] = meta["file_size"].astype(float) * 8 / (width * height)
    f["has_exif"] = meta["has_exif"].astype(bool).astype(float)
    return f.loc[:, f.nunique() > 1]


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score))


#: Features that measure compressed size: for a fixed codec, quality and size they follow the image content's
#: entropy (smoothness, texture), so they are excluded from the container-only variant of the baseline.
SIZE_FEATURES = ("log2_file_size", "bits_per_pixel")


def shortcut_baseline(meta: pd.DataFrame, *, n_splits: int = 5, n_boot: int = 1000, seed: int = 0,
                      top_k: int = 5, container_only: bool = False) -> dict[str, Any]:
    """Metadata-only real/fake classifier: how well file metadata alone separates the labels.

    Args:
        meta: :func:`metadata_table` rows of one test set (reals and fakes; rows with an ``error`` are dropped).
        n_splits: cross-validation folds (reduced to the smaller class count when that is below it).
        n_boot: bootstrap resamples for the CI.
        seed: seed of the fold shuffle and the bootstrap.
        top_k: how many features to name.
        container_only: drop :data:`SIZE_FEATURES` (file size, bits per pixel): the AUC then measures only the
            container (format, JPEG quality, subsampling, dimensions, EXIF, mode), not content entropy.

    Returns:
        ``{"n_real", "n_fake", "shortcut_auc" (float in [0, 1] or None), "shortcut_auc_ci" ([lo, hi] or None),
        "flagged" (bool, rule in the module docstring), "top_features" (names with the class they point to, by
        |standardised coefficient| of the model refit on all images), "reason" (why no AUC, else "")}``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    meta = meta[meta["error"].fillna("") == ""].reset_index(drop=True)
    y = meta["label"].to_numpy(int)
    n_real, n_fake = int((y == 0).sum()), int((y == 1).sum())
    out: dict[str, Any] = {"n_real": n_real, "n_fake": n_fake, "shortcut_auc": None, "shortcut_auc_ci": None,
                           "flagged": False, "top_features": [], "reason": ""}
    if min(n_real, n_fake) < 2:
        out["reason"] = f"needs at least 2 real and 2 fake images (has {n_real} real, {n_fake} fake)"
        return out
    features = metadata_features(meta)
    if container_only:
        features = features.drop(columns=[c for c in SIZE_FEATURES if c in features.columns])
    if features.shape[1] == 0:
        out.update(shortcut_auc=0.5, shortcut_auc_ci=[0.5, 0.5], reason="every metadata field is identical")
        return out
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))
    folds = StratifiedKFold(n_splits=min(n_splits, n_real, n_fake), shuffle=True, random_state=seed)
    oof = cross_val_predict(model, features.to_numpy(), y, cv=folds, method="predict_proba")[:, 1]
    auc = _auc(y, oof)
    lo, hi = bootstrap_ci(y, oof, "auc", n_boot=n_boot, seed=seed)  # stratified percentile bootstrap
    coef = model.fit(features.to_numpy(), y)[-1].coef_[0]
    order = np.argsort(-np.abs(coef), kind="stable")[:top_k]
    out.update(shortcut_auc=auc, shortcut_auc_ci=[lo, hi], flagged=bool(auc >= FLAG_AUC and lo > FLAG_CI_LOW),
               top_features=[f"{features.columns[i]} ({'fake' if coef[i] > 0 else 'real'})" for i in order
                             if coef[i] != 0])
    return out


def size_bucket(width: float, height: float) -> str:
    """Size bucket of an image by its longer side: ``<=256``, ``257-512``, ``513-1024`` or ``>1024`` pixels."""
    side = max(width, height)
    return "<=256" if side <= 256 else "257-512" if side <= 512 else "513-1024" if side <= 1024 else ">1024"


def stratified_accuracy(predictions: pd.DataFrame, metadata: pd.DataFrame,
                        by: Sequence[str] = ("format", "size_bucket")) -> pd.DataFrame:
    """Accuracy per stratum of metadata (by default container format x size bucket), per test set and label.

    Args:
        predictions: ``predictions.csv`` rows (needs ``sha256``, ``dataset``, ``label``, ``decision``; rows without
            a ``prob``/``decision`` are dropped).
        metadata: :func:`metadata_table` rows (needs ``sha256``, ``width``, ``height`` and the ``by`` columns other
            than ``size_bucket``).
        by: metadata columns to stratify on (``size_bucket`` is computed from width/height).

    Returns:
        Columns ``dataset``, ``label`` (0 real / 1 fake), ``*by``, ``n``, ``acc`` (fraction of correct decisions:
        real acc for label 0, fake acc for label 1).

    Raises:
        ValueError: a scored prediction has no metadata row (match by sha256).
    """
    meta = metadata.drop_duplicates("sha256").copy()
    meta["size_bucket"] = [size_bucket(w, h) for w, h in zip(meta["width"], meta["height"])]
    scored = predictions[pd.to_numeric(predictions["decision"], errors="coerce").notna()].copy()
    scored = scored.drop(columns=[c for c in by if c in scored.columns])
    merged = scored.merge(meta[["sha256", *by]], on="sha256", how="left", validate="many_to_one")
    missing = merged[list(by)].isna().any(axis=1)
    if missing.any():
        raise ValueError(f"{int(missing.sum())} scored images have no metadata row (e.g. "
                         f"{merged.loc[missing, 'sha256'].iloc[0]!r}); run metadata_table on the same images.")
    merged["correct"] = (merged["decision"].astype(int) == merged["label"].astype(int)).astype(float)
    table = (merged.groupby(["dataset", "label", *by], sort=True)["correct"].agg(n="size", acc="mean")
             .reset_index())
    return table


def _summary(meta: pd.DataFrame) -> dict[str, Any]:
    def med(values: pd.Series) -> float | None:
        values = pd.to_numeric(values, errors="coerce").dropna()
        return float(values.median()) if len(values) else None

    return {"formats": {str(k): int(v) for k, v in meta["format"].value_counts().sort_index().items()},
            "median_width": med(meta["width"]), "median_height": med(meta["height"]),
            "median_jpeg_quality": med(meta["jpeg_quality"]),
            "median_bits_per_pixel": med(meta["file_size"] * 8 / (meta["width"] * meta["height"]))
            if len(meta) else None,
            "exif_fraction": float(meta["has_exif"].astype(bool).mean()) if len(meta) else None}


def audit_sets(sets: Sequence[Any], *, n_boot: int = 1000, seed: int = 0) -> tuple[dict[str, Any], pd.DataFrame]:
    """Run the shortcut baseline on every test set.

    Mixed sets use their own reals and fakes; a fake-only set with ``references`` (manifest ``real_reference``) is
    pooled with those real sets, as the scorer pools them for AUC; real-only sets are listed with no AUC.

    Args:
        sets: :class:`fakebench.eval.harness.TestSet` list.
        n_boot, seed: see :func:`shortcut_baseline`.

    Returns:
        ``(audit, metadata)``: the ``bias_audit.json`` dict (schema ``fakebench.bias_audit/1``) and the metadata
        table of every image.
    """
    records = [r for s in sets for r in s.records]
    meta = metadata_table(records)
    by_set = {name: frame for name, frame in meta.groupby("dataset", sort=False)}
    rows = []
    for s in sets:
        name = s.group.dataset
        own = by_set.get(name, meta.iloc[:0])
        refs = [r for r in s.group.references if r in by_set] if s.group.labels == "fake" else []
        pooled = pd.concat([own] + [by_set[r][by_set[r]["label"] == 0] for r in refs], ignore_index=True)
        result = shortcut_baseline(pooled, n_boot=n_boot, seed=seed)
        container = shortcut_baseline(pooled, n_boot=n_boot, seed=seed, container_only=True)
        ok = pooled[pooled["error"] == ""]
        ci = result["shortcut_auc_ci"]
        rows.append({
            "dataset": name, "labels": s.group.labels, "references": refs, "n_real": result["n_real"],
            "n_fake": result["n_fake"], "shortcut_auc": result["shortcut_auc"],
            "shortcut_auc_ci": ci, "flagged": result["flagged"], "top_features": result["top_features"],
            "formats": {"real": _summary(ok[ok["label"] == 0])["formats"],
                        "fake": _summary(ok[ok["label"] == 1])["formats"]},
            "summary": {"real": _summary(ok[ok["label"] == 0]), "fake": _summary(ok[ok["label"] == 1])},
            "shortcut_auc_container": container["shortcut_auc"],
            "shortcut_auc_container_ci": container["shortcut_auc_ci"], "flagged_container": container["flagged"],
            "unreadable": int((pooled["error"] != "").sum()), "reason": result["reason"],
        })
    audit = {"schema": AUDIT_SCHEMA,
             "rule": f"flagged when the metadata-only classifier's cross-validated ROC-AUC >= {FLAG_AUC} and its "
                     f"95% bootstrap CI lower bound > {FLAG_CI_LOW}",
             "container_rule": "flagged_container: the same rule with the file-size features (log2_file_size, "
                               "bits_per_pixel) left out, so only format, JPEG quality, subsampling, dimensions, "
                               "EXIF and mode count; a set flagged only with file size may differ in content "
                               "entropy rather than in container",
             "model": "StandardScaler + LogisticRegression(C=1), stratified 5-fold CV (scikit-learn)",
             "n_boot": n_boot, "seed": seed, "sets": rows}
    return audit, meta


def _fmt(value: Any, digits: int = 3) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _formats(counts: dict[str, int]) -> str:
    return " ".join(f"{k}:{v}" for k, v in counts.items())


def audit_frame(audit: dict[str, Any]) -> pd.DataFrame:
    """One row per test set of an audit dict (the ``bias_audit.csv`` table; AUC as fractions)."""
    rows = []
    for s in audit["sets"]:
        ci = s["shortcut_auc_ci"] or [None, None]
        rows.append({"dataset": s["dataset"], "n_real": s["n_real"], "n_fake": s["n_fake"],
                     "shortcut_auc": s["shortcut_auc"], "ci_lo": ci[0], "ci_hi": ci[1], "flagged": s["flagged"],
                     "container_auc": s.get("shortcut_auc_container"),
                     "flagged_container": s.get("flagged_container", False),
                     "real_formats": _formats(s["formats"]["real"]), "fake_formats": _formats(s["formats"]["fake"]),
                     "real_median_size": f"{_fmt(s['summary']['real']['median_width'], 0)}x"
                                         f"{_fmt(s['summary']['real']['median_height'], 0)}",
                     "fake_median_size": f"{_fmt(s['summary']['fake']['median_width'], 0)}x"
                                         f"{_fmt(s['summary']['fake']['median_height'], 0)}",
                     "top_features": "; ".join(s["top_features"][:3]), "note": s["reason"]})
    return pd.DataFrame(rows)


def audit_markdown(audit: dict[str, Any]) -> str:
    """The ``bias_audit.md`` report: the rule and one table row per test set."""
    frame = audit_frame(audit)
    intro = (f"Metadata-only shortcut baseline ({audit['model']}). A test set is **flagged** "
             f"{audit['rule'][len('flagged '):]}. AUC 0.5 = metadata tell nothing; 1.0 = metadata alone separate real "
             f"from fake.")
    header = ("| dataset | real | fake | shortcut AUC | 95% CI | flagged | container AUC | container flag | "
              "real formats | fake formats | real size | fake size | top features |")
    lines = ["# Format/size bias audit", "", intro, "",
             f"`container AUC` / `container flag`: {audit['container_rule'].split(': ', 1)[1]}.", "",
             header, "|---|---:|---:|---:|---|---|---:|---|---|---|---|---|---|"]
    for r in frame.itertuples():
        ci = f"[{_fmt(r.ci_lo, 2)}, {_fmt(r.ci_hi, 2)}]" if r.ci_lo is not None and not pd.isna(r.ci_lo) else ""
        lines.append(f"| {r.dataset} | {r.n_real} | {r.n_fake} | {_fmt(r.shortcut_auc)} | {ci} | "
                     f"{'**yes**' if r.flagged else 'no'} | {_fmt(r.container_auc)} | "
                     f"{'**yes**' if r.flagged_container else 'no'} | {r.real_formats} | {r.fake_formats} | "
                     f"{r.real_median_size} | {r.fake_median_size} | {r.top_features or r.note} |")
    flagged = int(frame["flagged"].sum()) if len(frame) else 0
    both = int(frame["flagged_container"].sum()) if len(frame) else 0
    lines += ["", f"{flagged} of {len(frame)} test sets flagged ({both} also with container features only)."]
    return "\n".join(lines) + "\n"


def write_audit(audit: dict[str, Any], output: str | os.PathLike) -> Path:
    """Write ``bias_audit.json``, ``bias_audit.csv`` and ``bias_audit.md`` (atomically) into ``output``; returns the
    JSON path."""
    output = Path(output)
    path = atomic_write_json(output / "bias_audit.json", audit)
    atomic_write_text(output / "bias_audit.csv", audit_frame(audit).to_csv(index=False))
    atomic_write_text(output / "bias_audit.md", audit_markdown(audit))
    return path
