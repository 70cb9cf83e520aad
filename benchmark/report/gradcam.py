"""Grad-CAM overlays for the report's error gallery (opt-in: ``write_report(..., gradcam=True)``).

For each run whose detector Grad-CAM supports (:data:`GRADCAM_DETECTORS`: NPR, CNNSpot, UnivFD; see
:mod:`fakebench.explain.gradcam` for the method, Selvaraju et al., ICCV 2017, and the target layers), the detector is
rebuilt from what its ``results.json`` records: ``detector.name``, the weights (``detector.weights.path`` when that
file is here, else a card tag from the download cache), ``detector.preset.name`` and, for UnivFD, the CLIP backbone
from ``detector.identity.backbone``. The loaded weights must have the recorded sha256, so an overlay never explains
another model than the one that was scored. Anything that cannot be rebuilt gives a note for the page instead of an
error: the report then shows plain thumbnails for that run.

Each overlay is the Grad-CAM map of the fake logit blended (jet colormap, alpha 0.5) over the image as the detector
saw it (:func:`fakebench.explain.gradcam.input_view`, after the manifest crop and the preset's transform), as a JPEG
thumbnail of the same size cap as the plain thumbnails.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fakebench.core.errors import FakebenchError

__all__ = ["GRADCAM_DETECTORS", "reload_detector", "overlay_thumbnail"]

#: Detectors with a Grad-CAM target layer (:func:`fakebench.explain.gradcam.default_target_layer`).
GRADCAM_DETECTORS = ("npr", "cnnspot", "univfd")


def _backbone_option(det: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """UnivFD's ``backbone=`` option from the recorded identity, or a note why it cannot be rebuilt."""
    backbone = ((det.get("identity") or {}).get("backbone") or {})
    path = backbone.get("path")
    if path:
        if not Path(path).is_file():
            return {}, f"its CLIP backbone file {path} is missing here"
        return {"backbone": path}, ""
    name = str(backbone.get("name", ""))
    if name.startswith("open_clip ViT-L-14 openai"):
        return {"backbone": None}, ""
    return {}, (f"results.json does not record where its CLIP backbone ({name or 'unknown'}) was loaded from, so it "
                f"cannot be rebuilt")


def reload_detector(results: dict[str, Any], *, device: str = "cpu",
                    cache_dir: str | os.PathLike | None = None) -> tuple[Any | None, str]:
    """Rebuild the detector of a run from its ``results.json`` for Grad-CAM.

    Args:
        results: the parsed ``results.json`` (its ``detector`` section: ``name``, ``weights`` ``{tag, path,
            sha256}``, ``preset.name``, ``identity``).
        device: torch device for the Grad-CAM passes.
        cache_dir: download cache root for weights given by tag (default ``FAKEBENCH_CACHE``).

    Returns:
        ``(detector, "")``, or ``(None, note)`` with a sentence saying why there is no Grad-CAM for this run
        (unsupported detector, missing or changed weights file, untrained weights, a load error). Never raises for
        these cases.
    """
    det = results.get("detector") or {}
    name = str(det.get("name", "?"))
    if name not in GRADCAM_DETECTORS:
        return None, f"Grad-CAM is available for {', '.join(GRADCAM_DETECTORS)}, not {name}"
    weights = det.get("weights") or {}
    tag, path, sha = weights.get("tag"), weights.get("path"), weights.get("sha256")
    if tag == "random-init":
        return None, "its weights were randomly initialised and not saved, so the scored model cannot be rebuilt"
    if path and Path(path).is_file():
        source: str | None = path
    elif tag and tag != "file":
        source = tag
    else:
        return None, f"its weights file {path or '(not recorded)'} is missing here"
    options: dict[str, Any] = {}
    if name == "univfd":
        options, why = _backbone_option(det)
        if why:
            return None, why
    preset = (det.get("preset") or {}).get("name")
    try:
        from fakebench.detectors import get_detector_class

        detector = get_detector_class(name).load(source, preset=preset, device=device, cache_dir=cache_dir, **options)
    except (FakebenchError, OSError, RuntimeError, TypeError, ValueError, ImportError) as exc:
        return None, f"its detector could not be reloaded from {source} ({type(exc).__name__}: {exc})"
    got = getattr(detector.weights, "sha256", None)
    if sha and got and got != sha:
        return None, (f"the weights at {source} (sha256 {got[:12]}...) are not the ones scored (sha256 "
                      f"{sha[:12]}...)")
    if hasattr(detector, "model"):
        # inference mode for BatchNorm/Dropout; no weight gradients (Grad-CAM needs only those of the activations,
        # which flow because gradcam() makes the input require grad): about half the backward work
        detector.model.eval().requires_grad_(False)
    return detector, ""


def overlay_thumbnail(detector: Any, path: str | os.PathLike, *, crop_box: Sequence[int] | None = None,
                      max_side: int = 128, quality: int = 80) -> tuple[tuple[bytes, tuple[int, int]] | None, str]:
    """A JPEG thumbnail of the Grad-CAM overlay (fake logit) of one image.

    Args:
        detector: a detector from :func:`reload_detector`.
        path: image file, decoded as the data loader does (:func:`fakebench.data.images.load_image`).
        crop_box: the manifest crop ``(left, top, right, bottom)``, applied first.
        max_side: longest side in pixels (aspect ratio kept; never upscaled).
        quality: JPEG quality (1-95).

    Returns:
        ``((jpeg bytes, (width, height)), "")``, or ``(None, reason)`` when the image cannot be read or Grad-CAM
        fails on it.
    """
    from fakebench.data.images import UnreadableImage, load_image
    from fakebench.explain.gradcam import gradcam, input_view, overlay

    try:
        image, _ = load_image(path, crop_box)
        heat = gradcam(detector, image)
        blended = overlay(input_view(detector, image), heat)
    except UnreadableImage as exc:
        return None, str(exc)
    except (FakebenchError, RuntimeError, ValueError) as exc:
        return None, f"Grad-CAM failed ({type(exc).__name__}: {exc})"
    blended.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    blended.save(buf, format="JPEG", quality=quality, optimize=True)
    return (buf.getvalue(), blended.size), ""
