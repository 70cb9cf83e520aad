"""Finding images on disk and decoding them robustly.

Layouts (labels: 0 = real, 1 = fake):

* ``real_fake`` -- the ``0_real``/``1_fake`` convention of CNNDetection, NPR and UnivFD: a folder holding ``0_real``
  and ``1_fake``, or holding generator folders that each hold them, possibly with class folders in between
  (``progan/airplane/0_real``). An image's label is its nearest ``0_real``/``1_fake`` ancestor.
* ``folder`` -- a single-label folder searched recursively (AntifakePrompt's ``--real_dir``/``--fake_dir``).

Discovery follows symlinked folders (each real folder once, never back up the tree), lists every file PIL can decode
(by extension, or by its header when the extension is unknown or missing; AVIF/HEIC with pillow-avif-plugin or
pillow-heif installed) and reports what it leaves out and why. A ``0_real``/``1_fake`` folder without images is an
error, not a silently one-label set.

Decoding (:func:`load_image`) always returns an 8-bit RGB PIL image as the official code's ``.convert('RGB')`` does,
with a note for lossy conversions (alpha dropped, 16-bit scaled to 8-bit, CMYK converted) and for what
``.convert('RGB')`` ignores (EXIF orientation, frames after the first of an animated GIF or multi-page TIFF). Only
regular files are opened. An unreadable file (truncated, not an image, FIFO) raises :class:`UnreadableImage`;
:class:`ImageDataset` turns that (and any preprocessing failure) into an error string in its output so the runner
can report and skip the file instead of dying.
"""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from fakebench.core.errors import DataError
from fakebench.data.items import is_member, read_bytes

__all__ = ["IMAGE_EXTENSIONS", "PIL_EXTENSIONS", "REAL_DIR", "FAKE_DIR", "ImageRecord", "UnreadableImage",
           "list_images", "label_dir_names", "discover_real_fake", "discover_folder", "discover_data_dir", "records_for_entry",
           "load_image", "ImageDataset", "collate_by_shape"]

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif"})
REAL_DIR, FAKE_DIR = "0_real", "1_fake"
_LABEL_DIRS = {REAL_DIR: 0, FAKE_DIR: 1}


@dataclass(frozen=True)
class ImageRecord:
    """One image to score.

    Attributes:
        path: absolute file path.
        label: 0 = real, 1 = fake.
        dataset: the test set it belongs to (the evaluator's grouping key).
        generator: display name of the generator (or real source).
        crop_box: optional ``(left, top, right, bottom)`` crop applied right after decoding.
        encode: ``""``, or a format alignment (``jpeg96``, ``png``; :mod:`fakebench.data.formats`): the image is
            re-encoded in that format (real and fake alike) before decoding for the detector.
    """

    path: str
    label: int
    dataset: str
    generator: str
    crop_box: tuple[int, int, int, int] | None = None
    encode: str = ""


class UnreadableImage(Exception):
    """A file that cannot be decoded as an image; the message says why."""


def _register_plugins() -> None:
    """Let PIL open AVIF and HEIC/HEIF files when pillow-avif-plugin or pillow-heif is installed (optional)."""
    try:
        import pillow_heif  # type: ignore[import-not-found]

        pillow_heif.register_heif_opener()
    except Exception:  # not installed, or an incompatible build: those formats stay unreadable, with a reason
        pass
    try:
        import pillow_avif  # type: ignore[import-not-found]  # noqa: F401 - importing registers the plugin
    except Exception:
        pass


_register_plugins()
#: File extensions PIL has a decoder for (lower case, with the dot), after the optional plugins registered.
#: PostScript (decoded by running Ghostscript) and PIL's stub formats (scientific data, video, vector) are left out.
PIL_EXTENSIONS = frozenset(ext.lower() for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN
                           and fmt not in {"EPS", "BUFR", "GRIB", "HDF5", "FITS", "MPEG", "WMF"})
#: Extensions that are never images: skipped without opening the file.
_NOT_IMAGES = frozenset({".txt", ".md", ".json", ".csv", ".yaml", ".yml", ".xml", ".html", ".py", ".sh", ".log",
                         ".zip", ".tar", ".gz", ".pth", ".pt", ".npy", ".npz", ".pkl", ".db", ".sqlite"})


def _walk(root: Path) -> Iterable[tuple[str, list[str], list[str]]]:
    """``os.walk`` following symlinked folders, sorted, hidden folders skipped, with loop protection: a folder whose
    real path was already visited, or that is an ancestor of ``root`` (a link back up the tree), is not entered."""
    top = os.path.realpath(root)
    visited = {top}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        keep = []
        for d in sorted(dirnames):
            if d.startswith("."):
                continue
            real = os.path.realpath(os.path.join(dirpath, d))
            if real in visited or top == real or top.startswith(real.rstrip(os.sep) + os.sep):
                continue
            visited.add(real)
            keep.append(d)
        dirnames[:] = keep
        yield dirpath, dirnames, sorted(filenames)


def _sniff(path: Path) -> str:
    """'' when PIL can identify the regular file ``path`` from its header, else why not."""
    try:
        with Image.open(path):
            return ""
    except Exception:
        return "not an image PIL can open"


def list_images(folder: str | os.PathLike, *, skipped: list[tuple[str, str]] | None = None) -> list[Path]:
    """Image files under ``folder``, recursively and sorted.

    Symlinked folders are followed (each real folder once; links back up the tree are ignored). A file is listed
    when its extension is one PIL decodes (:data:`PIL_EXTENSIONS`, case-insensitive; AVIF/HEIC when pillow-avif-plugin
    or pillow-heif is installed) or, for a file without a known extension, when PIL identifies it from its header.
    Non-regular files with an image extension (FIFOs, sockets, device links) are listed, so the runner reports them
    with a reason instead of silently dropping them; they are never opened here.

    Args:
        folder: the folder to search.
        skipped: when given, ``(path, reason)`` is appended for each file left out (hidden file, not an image).
    """
    found = []
    for dirpath, _, filenames in _walk(Path(folder)):
        for name in filenames:
            path = Path(dirpath) / name
            suffix = path.suffix.lower()
            if name.startswith("."):
                reason = "hidden file (name starts with '.')"
            elif suffix in PIL_EXTENSIONS:
                found.append(path)
                continue
            elif suffix in _NOT_IMAGES:
                reason = f"not an image ({suffix} file)"
            elif not path.is_file():
                reason = "not a regular file" if path.exists() else "broken symlink"
            else:
                reason = _sniff(path)
                if not reason:
                    found.append(path)
                    continue
                reason += f" (unknown extension {suffix!r})" if suffix else " (no extension)"
            if skipped is not None:
                skipped.append((str(path), reason))
    return sorted(found)


def _require_dir(path: Path, hint: str) -> None:
    if not path.is_dir():
        raise DataError(f"Folder {path} does not exist. {hint}")


def _label_of(path: Path, root: Path, names: dict[str, int] = _LABEL_DIRS) -> int | None:
    for part in reversed(path.relative_to(root).parts[:-1]):
        if part in names:
            return names[part]
    return None


def _label_dirs(root: Path, names: dict[str, int] = _LABEL_DIRS) -> list[Path]:
    """Every label folder (``0_real``/``1_fake``, or the ``names`` given) or broken link of that name under ``root``,
    links followed."""
    out = []
    for dirpath, dirnames, filenames in _walk(root):
        out += [Path(dirpath) / d for d in dirnames if d in names]
        out += [Path(dirpath) / f for f in filenames if f in names]  # a broken or non-folder link
    return out


def label_dir_names(label_dirs: Any = None) -> dict[str, int]:
    """``{folder name: label}`` for a manifest's ``label_dirs`` (``{"real": "nature", "fake": "ai"}``), default
    ``{"0_real": 0, "1_fake": 1}``.

    >>> label_dir_names({"real": "nature", "fake": "ai"})
    {'nature': 0, 'ai': 1}
    """
    if not label_dirs:
        return dict(_LABEL_DIRS)
    return {label_dirs["real"]: 0, label_dirs["fake"]: 1}


def discover_real_fake(root: str | os.PathLike, *, dataset: str | None = None, generator: str | None = None,
                       crop_box: tuple[int, int, int, int] | None = None,
                       skipped: list[tuple[str, str]] | None = None,
                       label_dirs: dict[str, int] | None = None) -> list[ImageRecord]:
    """Images of one test set in the ``0_real``/``1_fake`` layout (class subfolders allowed; symlinked folders are
    followed, see :func:`list_images`).

    Args:
        root: the set's folder.
        dataset: dataset name for the records (default: the folder name).
        generator: generator name (default: the folder name).
        crop_box: optional crop applied after decoding.
        skipped: when given, ``(path, reason)`` of each file left out is appended.
        label_dirs: ``{folder name: label}`` when the label folders have other names (GenImage ``nature``/``ai``:
            see :func:`label_dir_names`); default ``0_real``/``1_fake``.

    Raises:
        DataError: the folder does not exist, holds no image under a ``0_real``/``1_fake`` folder, or one of its
            ``0_real``/``1_fake`` folders yields no image (an empty folder or a broken link would silently turn a
            mixed set into a one-label one).
    """
    root = Path(root).expanduser().resolve()
    _require_dir(root, "Check the path, or download the data first (fakebench download).")
    names = label_dirs or _LABEL_DIRS
    real_dir, fake_dir = (next(n for n, v in names.items() if v == k) for k in (0, 1))
    records = []
    for path in list_images(root, skipped=skipped):
        label = _label_of(path, root, names)
        if label is not None:
            records.append(ImageRecord(str(path), label, dataset or root.name, generator or root.name, crop_box))
    if not records:
        raise DataError(
            f"No images found under a {real_dir}/ or {fake_dir}/ folder in {root}. Expected {root}/{real_dir}/*.png "
            f"and {root}/{fake_dir}/*.png (optionally per generator: {root}/<generator>/{real_dir}); for two plain "
            f"folders use --real-dir and --fake-dir."
        )
    counts: dict[str, int] = {}
    for record in records:
        for parent in Path(record.path).parents:
            counts[str(parent)] = counts.get(str(parent), 0) + 1
            if parent == root:
                break
    empty = [d for d in _label_dirs(root, names) if not counts.get(str(d))]
    if empty:
        shown = ", ".join(str(d) + ("" if d.is_dir() else " (broken link)") for d in empty[:5])
        more = f" and {len(empty) - 5} more" if len(empty) > 5 else ""
        raise DataError(f"Labelled folder {shown}{more} holds no image, so its label would be missing from the "
                        f"results. Put the images back (or fix the link), or remove the empty folder.")
    return records


def discover_folder(root: str | os.PathLike, label: int, *, dataset: str | None = None,
                    generator: str | None = None, crop_box: tuple[int, int, int, int] | None = None,
                    skipped: list[tuple[str, str]] | None = None) -> list[ImageRecord]:
    """Every image under ``root`` (recursively, links followed), all with ``label`` (0 real, 1 fake).

    Raises:
        DataError: the folder does not exist or holds no image.
    """
    root = Path(root).expanduser().resolve()
    _require_dir(root, "Check the --real-dir/--fake-dir path.")
    records = [ImageRecord(str(p), label, dataset or root.name, generator or root.name, crop_box)
               for p in list_images(root, skipped=skipped)]
    if not records:
        raise DataError(f"No image files (any format PIL can open, e.g. {', '.join(sorted(IMAGE_EXTENSIONS))}) "
                        f"found in {root}.")
    return records


def discover_data_dir(root: str | os.PathLike, *, crop_box: tuple[int, int, int, int] | None = None,
                      skipped: list[tuple[str, str]] | None = None) -> list[ImageRecord]:
    """A folder of test sets: ``root`` itself in the ``0_real``/``1_fake`` layout (one generator), or one generator
    subfolder per set (each in that layout), as NPR's and CNNDetection's test roots.

    Raises:
        DataError: nothing in either layout.
    """
    root = Path(root).expanduser().resolve()
    _require_dir(root, "Check the --data-dir path.")
    if any((root / d).exists() or (root / d).is_symlink() for d in _LABEL_DIRS):
        return discover_real_fake(root, crop_box=crop_box, skipped=skipped)
    records: list[ImageRecord] = []
    for child in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if _label_dirs(child):
            records += discover_real_fake(child, crop_box=crop_box, skipped=skipped)
    if not records:
        raise DataError(
            f"No test sets found in {root}: expected {root}/{REAL_DIR} and {root}/{FAKE_DIR}, or generator folders "
            f"such as {root}/<generator>/{REAL_DIR}. For two plain folders use --real-dir and --fake-dir."
        )
    return records


def records_for_entry(entry: Any, data_root: str | os.PathLike, *,
                      skipped: list[tuple[str, str]] | None = None) -> list[ImageRecord]:
    """The images of a manifest :class:`~fakebench.data.manifest.DatasetEntry` under ``data_root``.

    Raises:
        DataError: the folder is missing (the message gives the download command) or empty.
    """
    folder = Path(data_root).expanduser() / entry.path
    if not folder.is_dir():
        raise DataError(
            f"Dataset {entry.name!r}: folder {folder} does not exist. Download it with `fakebench download --dataset "
            f"{entry.name}`, or point --data-root (or FAKEBENCH_DATA) at the folder that holds {entry.path}."
        )
    crop = tuple(entry.crop_box) if entry.crop_box else None
    if entry.layout == "parquet":
        from fakebench.data.parquet import discover_parquet

        return discover_parquet(folder, entry.parquet, labels=entry.labels, dataset=entry.name,
                                generator=entry.generator, crop_box=crop, skipped=skipped)
    if entry.layout == "real_fake":
        return discover_real_fake(folder, dataset=entry.name, generator=entry.generator, crop_box=crop,
                                  skipped=skipped, label_dirs=label_dir_names(getattr(entry, "label_dirs", None)))
    return discover_folder(folder, 1 if entry.labels == "fake" else 0, dataset=entry.name, generator=entry.generator,
                           crop_box=crop, skipped=skipped)


def _to_8bit_rgb(img: Image.Image) -> tuple[Image.Image, str]:
    """Convert any PIL mode to RGB as ``.convert('RGB')`` does, scaling high-bit-depth modes properly first."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(np.round(arr / peak * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB"), f"{mode} image scaled to 8 bits"
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        arr = np.clip(np.round(arr * (255.0 if arr.max() <= 1.0 else 1.0)), 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB"), "float image scaled to 8 bits"
    if mode == "RGB":
        return img, ""
    note = {"RGBA": "alpha channel dropped", "LA": "alpha channel dropped", "PA": "alpha channel dropped",
            "CMYK": "CMYK converted to RGB"}.get(mode, "")
    if mode == "P" and "transparency" in img.info:
        img, note = img.convert("RGBA"), "alpha channel dropped"
    return img.convert("RGB"), note


def load_image(source: str | os.PathLike | bytes, crop_box: Sequence[int] | None = None,
               encode: str = "") -> tuple[Image.Image, str]:
    """Decode an image file (or its bytes) to 8-bit RGB.

    Args:
        source: path, parquet member id (``<shard>#<column>=<row>``, :mod:`fakebench.data.items`) or raw file
            bytes.
        crop_box: optional ``(left, top, right, bottom)`` crop; must lie inside the image.
        encode: optional format alignment (``jpeg96``, ``png``): the image is first re-encoded in that format
            (:func:`fakebench.data.formats.align_bytes`), then decoded and cropped.

    Returns:
        ``(image, note)``: an RGB PIL image and a note on any lossy conversion ('' when none).

    Raises:
        UnreadableImage: missing, truncated or non-image file, or a crop box outside the image.
    """
    name = "<bytes>" if isinstance(source, bytes) else str(source)
    if not isinstance(source, bytes) and not is_member(name):
        try:
            if not stat.S_ISREG(os.stat(source).st_mode):  # a FIFO, socket or /dev/zero link would hang or never end
                raise UnreadableImage(f"{name}: not a regular file (FIFO, socket, device or folder); skipped")
        except OSError:
            pass  # missing or unreadable: open() below says which
    if not isinstance(source, bytes) and (encode or is_member(name)):  # a parquet row (fakebench.data.items)
        try:
            source = read_bytes(name)
        except FileNotFoundError as exc:
            raise UnreadableImage(f"{name}: file not found") from exc
        except OSError as exc:
            raise UnreadableImage(str(exc) if is_member(name) else f"{name}: cannot read file ({exc})") from exc
    if encode:
        from fakebench.data.formats import align_bytes

        try:
            source = align_bytes(source, encode)
        except UnreadableImage as exc:
            raise UnreadableImage(str(exc).replace("<bytes>", name, 1)) from exc
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
        with handle, Image.open(handle) as img:
            notes = []
            frames = getattr(img, "n_frames", 1) or 1
            if frames > 1:
                notes.append(f"first of {frames} frames used (as .convert('RGB') does)")
            orientation = img.getexif().get(0x0112)
            if orientation not in (None, 1):
                notes.append(f"EXIF orientation {orientation} not applied (as .convert('RGB') does)")
            img.load()  # decode now, so truncation surfaces here and not later in a transform
            rgb, note = _to_8bit_rgb(img)
            rgb.load()
            note = "; ".join([n for n in [note] + notes if n])
    except FileNotFoundError as exc:
        raise UnreadableImage(f"{name}: file not found") from exc
    except UnidentifiedImageError as exc:
        raise UnreadableImage(f"{name}: not an image PIL can read") from exc
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise UnreadableImage(f"{name}: cannot decode ({exc})") from exc
    if crop_box is not None:
        left, top, right, bottom = crop_box
        if left < 0 or top < 0 or right > rgb.width or bottom > rgb.height:
            raise UnreadableImage(f"{name}: crop box {tuple(crop_box)} lies outside the {rgb.width}x{rgb.height} image")
        rgb = rgb.crop(tuple(crop_box))
    return rgb, note


class ImageDataset:
    """A torch-style dataset that decodes and transforms images and never raises on a bad file.

    ``dataset[i]`` is a dict ``{"index": i, "image": (3, H, W) float32 tensor or None, "error": str, "note": str}``.
    ``error`` is empty unless the file could not be read (then ``image`` is ``None``).

    Args:
        records: the images.
        transform: PIL RGB image -> tensor (the detector's :meth:`~fakebench.detectors.base.Detector.transform`).
        pad_below: images with a side under this size get a note that they were zero-padded (what torchvision's
            ``CenterCrop`` in the official code does): pass the preset's
            :attr:`~fakebench.detectors.card.Preset.pads_below` (``None`` for presets that resize or tile first).
        note_fn: called on each transformed tensor (``(3, H, W)``); a non-empty string it returns is joined into the
            item's note with ``"; "`` (the detector's :meth:`~fakebench.detectors.base.Detector.input_note`, e.g.
            NPR's odd-size trim). Must be picklable when DataLoader workers use the spawn start method.
    """

    def __init__(self, records: Sequence[ImageRecord], transform: Callable[[Image.Image], Any],
                 pad_below: int | None = None, note_fn: Callable[[Any], str] | None = None) -> None:
        self.records = records
        self.transform = transform
        self.pad_below = pad_below
        self.note_fn = note_fn

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = self.records[index]
        try:
            img, note = load_image(record.path, record.crop_box, getattr(record, "encode", ""))
            if self.pad_below and min(img.size) < self.pad_below:
                pad = f"{img.width}x{img.height} is smaller than the {self.pad_below} crop: zero-padded"
                note = f"{note}; {pad}" if note else pad
            image = self.transform(img)
            extra = self.note_fn(image) if self.note_fn is not None else ""
            if extra:
                note = f"{note}; {extra}" if note else extra
            return {"index": index, "image": image, "error": "", "note": note}
        except UnreadableImage as exc:
            return {"index": index, "image": None, "error": str(exc), "note": ""}
        except Exception as exc:  # a transform that cannot handle this image: an error row, never the end of the run
            return {"index": index, "image": None, "note": "",
                    "error": f"{record.path}: preprocessing failed ({type(exc).__name__}: {exc})"}


def collate_by_shape(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Collate dataset items: good images stacked per shape (``groups``: list of ``(indices, (B, 3, H, W))``),
    unreadable ones listed with their errors, notes kept by index."""
    import torch

    by_shape: dict[tuple, list[dict[str, Any]]] = {}
    errors, notes = [], {}
    for item in items:
        if item["image"] is None:
            errors.append((item["index"], item["error"]))
            continue
        if item["note"]:
            notes[item["index"]] = item["note"]
        by_shape.setdefault(tuple(item["image"].shape), []).append(item)
    groups = [([it["index"] for it in group], torch.stack([it["image"] for it in group])) for group in by_shape.values()]
    return {"groups": groups, "errors": errors, "notes": notes}
