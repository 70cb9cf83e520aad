"""Image perturbations for robustness sweeps, parsed from short spec strings.

A spec is ``KIND:V1,V2,...`` -- one :class:`Perturbation` per value (severity), in the order given (list them from
mildest to strongest: the robustness curve and its area follow that order). Kinds:

========================  ==================================================================================
``jpeg:Q,...``            JPEG encode/decode with PIL (libjpeg) at quality ``Q`` (integer 1-100), 4:2:0 chroma
                          subsampling, no optimisation. The usual ForenSynths/NPR robustness test.
``webp:Q,...``            lossy WebP encode/decode with PIL (libwebp) at quality ``Q`` (1-100), method 4.
``blur:S,...``            Gaussian blur with standard deviation ``S`` pixels (``scipy.ndimage.gaussian_filter``,
                          per channel, reflect borders, kernel truncated at 4 sigma; ``S = 0`` is a no-op) -- the
                          blur of CNNDetection's augmentation.
``downscale:F,...``       resize by factor ``F`` in (0, 1] with PIL bicubic (antialiased when reducing), then
                          **restore** the original size with bicubic: a loss of resolution at constant size.
``resize:F,...``          resize by factor ``F`` in (0, 4] with PIL bicubic and do **not** restore the size.
``crop:F,...``            center crop keeping the fraction ``F`` in (0, 1] of each side (``round(W*F) x round(H*F)``).
``noise:S,...``           additive Gaussian noise with standard deviation ``S`` in 8-bit levels, rounded and clipped
                          to [0, 255]; seeded from ``sha256(image size, mode, pixel bytes, spec)``, so the same
                          image and spec always give the same bytes, in any process or run.
``social:M,...``          a social-media upload chain: if the longer side exceeds ``M`` pixels, resize (bicubic) so
                          the longer side is ``M``; then JPEG at quality 85 with 4:2:0 subsampling (the usual
                          upload re-encoding; Instagram/Facebook-like, not any platform's exact pipeline).
``reencode:CODEC,S``      the "debiased view": resize so the shorter side is ``S`` (bicubic), center crop
                          ``S x S``, then encode/decode with ``CODEC`` = ``jpegQ`` / ``webpQ`` / ``png``. Applied
                          to real and fake alike, it removes container-format, quality and size shortcuts
                          (see :mod:`fakebench.analysis.bias`). One setting per spec (severity = ``S``).
``none``                  identity (the clean baseline).
========================  ==================================================================================

Every perturbation is a pure, deterministic function ``PIL.Image (RGB) -> PIL.Image (RGB)`` that never sees a
label. It is picklable, so DataLoader workers can run it.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from fakebench.core.errors import DataError, FakebenchError

__all__ = ["KINDS", "PERTURB_VERSION", "Perturbation", "PerturbationSpecError", "parse_perturbation",
           "parse_perturbations"]

#: Bumped whenever a perturbation's pixels change for the same spec (it goes into detector fingerprints).
PERTURB_VERSION = 1

#: JPEG quality and chroma subsampling used by the ``social`` chain.
SOCIAL_JPEG_QUALITY = 85

_BICUBIC = Image.Resampling.BICUBIC


class PerturbationSpecError(FakebenchError, ValueError):
    """A perturbation spec string that cannot be parsed or has an out-of-range value."""


def _check_rgb(image: Image.Image) -> None:
    if not isinstance(image, Image.Image) or image.mode != "RGB":
        mode = getattr(image, "mode", type(image).__name__)
        raise DataError(f"Perturbations take PIL RGB images, got {mode!r}; decode with "
                        f"fakebench.data.images.load_image (or .convert('RGB')) first.")


def _codec(image: Image.Image, fmt: str, **kwargs: Any) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    buf.seek(0)
    with Image.open(buf) as out:
        return out.convert("RGB")


def _jpeg(image: Image.Image, quality: float) -> Image.Image:
    return _codec(image, "JPEG", quality=int(quality), subsampling=2, optimize=False)


def _webp(image: Image.Image, quality: float) -> Image.Image:
    return _codec(image, "WEBP", quality=int(quality), method=4, lossless=False)


def _blur(image: Image.Image, sigma: float) -> Image.Image:
    if sigma == 0:
        return image.copy()
    from scipy.ndimage import gaussian_filter

    arr = np.asarray(image, dtype=np.float32)
    out = gaussian_filter(arr, sigma=(sigma, sigma, 0), mode="reflect", truncate=4.0)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "RGB")


def _scaled(size: tuple[int, int], factor: float) -> tuple[int, int]:
    return max(1, round(size[0] * factor)), max(1, round(size[1] * factor))


def _downscale(image: Image.Image, factor: float) -> Image.Image:
    small = image.resize(_scaled(image.size, factor), _BICUBIC)
    return small.resize(image.size, _BICUBIC)


def _resize(image: Image.Image, factor: float) -> Image.Image:
    return image.resize(_scaled(image.size, factor), _BICUBIC)


def _crop(image: Image.Image, fraction: float) -> Image.Image:
    w, h = image.size
    nw, nh = max(1, round(w * fraction)), max(1, round(h * fraction))
    left, top = (w - nw) // 2, (h - nh) // 2
    return image.crop((left, top, left + nw, top + nh))


def _noise(image: Image.Image, sigma: float, *, spec: str) -> Image.Image:
    digest = hashlib.sha256(f"{image.mode}|{image.width}x{image.height}|".encode() + image.tobytes()
                            + f"|{spec}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:16], "big"))
    arr = np.asarray(image, dtype=np.float64)
    out = arr + rng.normal(0.0, sigma, arr.shape)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "RGB")


def _social(image: Image.Image, max_side: float) -> Image.Image:
    longest = max(image.size)
    if longest > max_side:
        image = image.resize(_scaled(image.size, max_side / longest), _BICUBIC)
    return _codec(image, "JPEG", quality=SOCIAL_JPEG_QUALITY, subsampling=2, optimize=False)


def _reencode(image: Image.Image, codec: str, size: float) -> Image.Image:
    side = int(size)
    if min(image.size) != side:
        scale = side / min(image.size)
        w, h = image.size
        image = image.resize((max(side, round(w * scale)), max(side, round(h * scale))), _BICUBIC)
    w, h = image.size
    left, top = (w - side) // 2, (h - side) // 2
    image = image.crop((left, top, left + side, top + side))
    if codec == "png":
        return _codec(image, "PNG")
    name, quality = re.fullmatch(r"(jpeg|webp)(\d+)", codec).groups()  # validated by the parser
    return _jpeg(image, int(quality)) if name == "jpeg" else _webp(image, int(quality))


_FUNCS: dict[str, Callable[..., Image.Image]] = {
    "jpeg": _jpeg, "webp": _webp, "blur": _blur, "downscale": _downscale, "resize": _resize, "crop": _crop,
    "noise": _noise, "social": _social, "reencode": _reencode, "none": lambda image: image.copy(),
}

#: kind -> (allowed range text, validity check on one float value, must be an integer)
_RANGES: dict[str, tuple[str, Callable[[float], bool], bool]] = {
    "jpeg": ("an integer quality 1-100", lambda v: 1 <= v <= 100, True),
    "webp": ("an integer quality 1-100", lambda v: 1 <= v <= 100, True),
    "blur": ("a sigma >= 0 in pixels", lambda v: v >= 0, False),
    "downscale": ("a factor in (0, 1]", lambda v: 0 < v <= 1, False),
    "resize": ("a factor in (0, 4]", lambda v: 0 < v <= 4, False),
    "crop": ("a side fraction in (0, 1]", lambda v: 0 < v <= 1, False),
    "noise": ("a sigma >= 0 in 8-bit levels", lambda v: v >= 0, False),
    "social": ("an integer max side >= 16 pixels", lambda v: v >= 16, True),
}

#: Every perturbation kind.
KINDS = tuple(_FUNCS)

_EXAMPLES = "jpeg:100,90,75,50,30, webp:90,75,50, blur:0.5,1,2, downscale:0.5,0.25, crop:0.9,0.75, noise:2,5,10, " \
            "social:1080, reencode:jpeg90,512, none"


@dataclass(frozen=True)
class Perturbation:
    """One perturbation at one severity: call it on a PIL RGB image.

    Attributes:
        kind: one of :data:`KINDS`.
        params: its parameters (one number, or ``(codec, size)`` for ``reencode``, ``()`` for ``none``).
        spec: canonical single-severity spec, e.g. ``jpeg:75`` (used in preset names, cache keys, tables).
        severity: the number shown on the robustness curve's x axis (quality, sigma, factor, size; 0 for none).
    """

    kind: str
    params: tuple[Any, ...]
    spec: str
    severity: float

    def __call__(self, image: Image.Image) -> Image.Image:
        """Apply to ``image`` (PIL, mode RGB, any size); returns a new RGB image (the input is not modified).

        Raises:
            DataError: ``image`` is not a PIL RGB image.
        """
        _check_rgb(image)
        if self.kind == "noise":
            return _noise(image, *self.params, spec=self.spec)
        return _FUNCS[self.kind](image, *self.params)

    def identity(self) -> dict[str, Any]:
        """What determines the output pixels (goes into detector fingerprints)."""
        return {"spec": self.spec, "version": PERTURB_VERSION, "pillow": Image.__version__}


def _number(text: str, kind: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    rule, ok, integer = _RANGES[kind]
    if not np.isfinite(value) or not ok(value) or (integer and value != int(value)):
        raise PerturbationSpecError(f"Perturbation {spec!r}: {text!r} is not {rule}.")
    return value


def _fmt(value: float) -> str:
    return f"{value:g}"


def parse_perturbation(text: str) -> list[Perturbation]:
    """Parse ``KIND:V1,V2,...`` (see the module docstring) into one :class:`Perturbation` per value, in order.

    Raises:
        PerturbationSpecError: unknown kind, missing/malformed/out-of-range values (the message lists the kinds).
    """
    spec = "".join(str(text).split())
    kind, sep, rest = spec.partition(":")
    kind = kind.lower()
    if kind not in _FUNCS:
        raise PerturbationSpecError(f"Unknown perturbation {kind!r} in {text!r}; expected one of {', '.join(KINDS)} "
                                    f"(e.g. {_EXAMPLES}).")
    values = [v for v in rest.split(",")] if sep else []
    if kind == "none":
        if any(values):
            raise PerturbationSpecError(f"Perturbation 'none' takes no values, got {text!r}.")
        return [Perturbation("none", (), "none", 0.0)]
    if not values or not all(values):
        raise PerturbationSpecError(f"Perturbation {text!r} needs values after the colon, e.g. {_EXAMPLES}.")
    if kind == "reencode":
        if len(values) != 2 or not re.fullmatch(r"png|(jpeg|webp)(100|[1-9][0-9]?)", values[0].lower()):
            raise PerturbationSpecError(
                f"Perturbation {text!r}: expected reencode:CODEC,SIZE with CODEC jpegQ, webpQ (Q 1-100) or png, and "
                f"SIZE in pixels, e.g. reencode:jpeg90,512.")
        try:
            size = int(values[1])
        except ValueError:
            size = 0
        if size < 8:
            raise PerturbationSpecError(f"Perturbation {text!r}: SIZE must be an integer >= 8 pixels.")
        codec = values[0].lower()
        return [Perturbation("reencode", (codec, size), f"reencode:{codec},{size}", float(size))]
    out = []
    for value in values:
        number = _number(value, kind, text)
        params = (int(number),) if _RANGES[kind][2] else (number,)
        out.append(Perturbation(kind, params, f"{kind}:{_fmt(number)}", number))
    return out


def parse_perturbations(texts: list[str] | tuple[str, ...]) -> list[list[Perturbation]]:
    """Parse several specs (one sweep each); see :func:`parse_perturbation`."""
    return [parse_perturbation(t) for t in texts]
