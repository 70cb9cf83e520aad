"""Format alignment: re-encode real and fake images identically before scoring, to take the container out.

Several suites store their two classes differently -- GenImage's reals are ImageNet JPEGs and its fakes mostly PNG
(Fake or JPEG?, gendetection/UnbiasedGenImage); Synthbuster's reals are RAISE conversions -- so a detector (or a
metadata-only classifier, see ``fakebench audit``) can tell them apart by the file format alone. With an alignment
format every image, real or fake, is decoded to 8-bit RGB exactly as for scoring and encoded again in one format
before the detector sees it:

==========  ==============================================================================================
``jpeg96``  JPEG, quality 96, 4:2:0 chroma subsampling, baseline, no optimisation (PIL / libjpeg), no EXIF
``png``     PNG, 8-bit RGB, default zlib level (lossless: pixels unchanged, only the container and metadata go)
==========  ==============================================================================================

The choice is recorded with every result (``results.json`` ``data.align_format``), keys the prediction cache and the
run folder (the data selection differs), and the bias audit reads the metadata of the re-encoded bytes, so its
container flag shows what is left after the alignment.
"""

from __future__ import annotations

import io

__all__ = ["ALIGN_FORMATS", "check_align_format", "align_bytes"]

#: Alignment name -> (PIL format, save options).
ALIGN_FORMATS: dict[str, tuple[str, dict]] = {
    "jpeg96": ("JPEG", {"quality": 96, "subsampling": 2, "optimize": False, "progressive": False}),
    "png": ("PNG", {}),
}


def check_align_format(name: str | None) -> str:
    """``name`` when it is a known alignment (``""`` / ``None``: no alignment, returned as ``""``).

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    if not name:
        return ""
    if name not in ALIGN_FORMATS:
        raise ValueError(f"Unknown format alignment {name!r}; expected one of {', '.join(ALIGN_FORMATS)}.")
    return name


def align_bytes(data: bytes, name: str) -> bytes:
    """The image ``data`` (any format PIL decodes) decoded to 8-bit RGB as for scoring and encoded as ``name``.

    Raises:
        fakebench.data.images.UnreadableImage: ``data`` is not a readable image.
        ValueError: unknown ``name``.
    """
    from fakebench.data.images import load_image

    fmt, options = ALIGN_FORMATS[check_align_format(name)]
    image, _ = load_image(data)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()
