"""Memory of one forward pass, estimated before it runs: the pixel budget is capped at what the device has free, and
an image too large to score on the device is refused with a message naming it and the option that helps.

Without this, one large image at a native-size preset takes what it needs: NPR native needs about 3.6 GB for a
12 MP photo and more than 9 GB for 48 MP (issue #20), and ``--max-pixels-per-batch 1e12`` was accepted as is.

The estimate is linear in the pixels of the input tensors (sum of ``H * W`` over a batch): the activations of a
convolutional network at a fixed depth scale with the input area. :data:`DEFAULT_BYTES_PER_PIXEL` is measured on
NPR (the native-size detector with the widest early feature maps: 64 fp32 channels at half resolution), peak
resident memory of one forward pass of a single square image, fp32, ``torch.inference_mode``, 1 thread::

    side    channels-last   contiguous
    1024    224 B/px        225 B/px
    2048    199 B/px        207 B/px

(``resource.getrusage`` peak RSS before and after ``NPRNet()(x)`` of a random ``(1, 3, SIDE, SIDE)`` input), plus
decoding (3 B/px), the float input tensor (12 B/px) and its collated copy (12 B/px); the issue's end-to-end
measurement, 3.6 GB for 12 MP, is 300 B/px. A detector may declare its own ``forward_bytes_per_pixel``.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["DEFAULT_BYTES_PER_PIXEL", "USABLE_FRACTION", "available_bytes", "bytes_per_pixel", "fit_budget",
           "oversized_message"]

log = logging.getLogger(__name__)

#: Bytes of host or GPU memory one input pixel costs in a forward pass (fp32), when the detector declares none.
DEFAULT_BYTES_PER_PIXEL = 320
#: Share of the free memory a forward pass may plan to use (the rest: the process, the data loader, fragmentation).
USABLE_FRACTION = 0.8


def available_bytes(device: Any) -> int:
    """Free memory of ``device`` in bytes: ``torch.cuda.mem_get_info`` on CUDA (free on that card), else the host's
    available memory (``psutil.virtual_memory().available``; also for a CUDA device where torch sees no GPU).

    Args:
        device: ``"cpu"``, ``"cuda:1"`` or a :class:`torch.device`.
    """
    import torch

    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


def bytes_per_pixel(detector: Any) -> int:
    """The detector's ``forward_bytes_per_pixel`` if it declares one, else :data:`DEFAULT_BYTES_PER_PIXEL`."""
    value = getattr(detector, "forward_bytes_per_pixel", None)
    return int(value) if isinstance(value, (int, float)) and value > 0 else DEFAULT_BYTES_PER_PIXEL


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def fit_budget(budget: int, detector: Any, *, free: int | None = None) -> tuple[int, str]:
    """Cap a pixel budget (``--max-pixels-per-batch``) at what the detector's device has free.

    Args:
        budget: the requested budget in pixels (>= 1).
        detector: a loaded detector (its ``device``, ``name`` and optional ``forward_bytes_per_pixel``).
        free: free bytes on the device (default :func:`available_bytes`).

    Returns:
        ``(budget, note)``: the budget, lowered to ``USABLE_FRACTION * free / bytes per pixel`` when it is above
        that (never below 1), and a note saying so (``""`` when it was not lowered).
    """
    free = available_bytes(detector.device) if free is None else free
    per_pixel = bytes_per_pixel(detector)
    cap = max(1, int(USABLE_FRACTION * free / per_pixel))
    if budget <= cap:
        return budget, ""
    return cap, (f"pixel budget {budget:,} (--max-pixels-per-batch) would need about {_gb(budget * per_pixel)} per "
                 f"forward pass of {detector.name}, more than the {_gb(free)} free on {detector.device}; capped at "
                 f"{cap:,} pixels")


def oversized_message(path: str, size: tuple[int, int], pixels: int, detector: Any, *, free: int) -> str:
    """The error for one image whose input alone (``pixels`` = ``H * W`` after preprocessing) needs more memory than
    the device has usable (``USABLE_FRACTION * free``), or ``""`` when it fits.

    Args:
        path: the image file (named in the message).
        size: its size ``(width, height)`` in pixels on disk.
        pixels: pixels of the tensor the preset makes from it.
        detector: a loaded detector.
        free: free bytes on the detector's device.
    """
    need = pixels * bytes_per_pixel(detector)
    if need <= USABLE_FRACTION * free:
        return ""
    width, height = size
    presets = [p.name for p in getattr(getattr(detector, "card", None), "presets", ()) if p.fixed_size]
    hint = f"a fixed-size preset (--preset {' or '.join(presets)})" if presets else "a resizing preset (--preset)"
    return (f"{path}: its {width}x{height} input ({pixels / 1e6:.1f} MP) needs about {_gb(need)} for one forward "
            f"pass of {detector.name}, more than the {_gb(free)} free on {detector.device}; not scored. Use "
            f"{hint} or a device with more memory")
