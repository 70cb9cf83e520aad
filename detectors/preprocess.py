"""Build the torchvision transform of a :class:`~fakebench.detectors.card.Preset`.

The transforms run on PIL images, as in every official repository (NPR/CNNDetection ``data/datasets.py``, UnivFD
``validate.py``, AntifakePrompt ``lavis/processors/blip_processors.py``), so resizes use PIL's filters and give the
same pixels as the official code.

:func:`split_transform` cuts the same pipeline in two for the runner: the PIL steps and a ``uint8`` tensor per image
(in DataLoader workers: a quarter of the bytes to pass between processes, no per-image float work), then ToTensor's
scaling and Normalize on the whole batch (:class:`BatchNormalize`). Both halves run the same float32 operations in
the same order as ``ToTensor`` + ``Normalize`` (``x / 255``, ``- mean``, ``/ std``, each correctly rounded), so the
result is bit-identical to :func:`build_transform` (tested for every preset of every card).
"""

from __future__ import annotations

from typing import Callable

import torch
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import InterpolationMode

from fakebench.detectors.card import Preset

__all__ = ["TranslateDuplicate", "build_transform", "split_transform", "BatchNormalize", "ToUint8"]

_INTERP = {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC,
           "nearest": InterpolationMode.NEAREST}


class TranslateDuplicate:
    """NPR's GenImage "translate and duplicate" step (NPR README, section GenImage): an image whose shorter side is
    under ``size`` is tiled onto a new RGB canvas of ``(W * ceil(size / W), H * ceil(size / H))`` pixels, copies
    placed left to right and top to bottom from ``(0, 0)``; other images pass through unchanged.

    A class rather than a lambda so DataLoader workers can pickle it.
    """

    def __init__(self, size: int) -> None:
        self.size = int(size)

    def __call__(self, img: Image.Image) -> Image.Image:
        """PIL RGB image ``(W, H)`` -> PIL RGB image, at least ``size`` pixels on each side when tiled."""
        width, height = img.size
        if min(width, height) >= self.size:
            return img
        canvas = Image.new("RGB", (width * -(-self.size // width), height * -(-self.size // height)))
        for left in range(0, canvas.width, width):
            for top in range(0, canvas.height, height):
                canvas.paste(img, (left, top))
        return canvas

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"


def _pil_steps(preset: Preset) -> list[Callable]:
    steps: list[Callable] = []
    if preset.resize is not None:
        size = (preset.resize, preset.resize) if preset.resize_mode == "square" else preset.resize
        steps.append(T.Resize(size, interpolation=_INTERP[preset.interpolation], antialias=True))
    if preset.tile is not None:
        steps.append(TranslateDuplicate(preset.tile))
    if preset.crop is not None:
        steps.append(T.CenterCrop(preset.crop))
    return steps


class ToUint8:
    """PIL RGB image ``(W, H)`` -> ``(3, H, W)`` ``uint8`` tensor, the pixel values unchanged (``pil_to_tensor``)."""

    def __call__(self, img: Image.Image) -> torch.Tensor:
        from torchvision.transforms.functional import pil_to_tensor

        return pil_to_tensor(img)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class BatchNormalize:
    """``(N, 3, H, W)`` (or ``(3, H, W)``) ``uint8`` -> ``float32`` ``(x / 255 - mean) / std``: torchvision's
    ``ToTensor`` then ``Normalize`` on a whole batch, bit for bit (the same float32 operations in the same order).

    Args:
        mean, std: per-channel values (3 floats each), as in the preset.
    """

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.mean = torch.as_tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """Raises ``TypeError`` for a tensor that is not ``uint8``."""
        if batch.dtype != torch.uint8:
            raise TypeError(f"Expected a uint8 batch, got {batch.dtype}.")
        return batch.to(torch.float32).div_(255).sub_(self.mean).div_(self.std)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()})"


def split_transform(preset: Preset) -> tuple[Callable[[Image.Image], torch.Tensor], BatchNormalize]:
    """The preset's pipeline in two halves whose composition equals :func:`build_transform` bit for bit:
    ``(per_image, per_batch)`` with ``per_image``: PIL RGB image -> ``(3, H', W')`` ``uint8`` tensor ([Resize] ->
    [TranslateDuplicate] -> [CenterCrop] -> :class:`ToUint8`) and ``per_batch``: a stack of those -> ``float32``
    normalised batch (:class:`BatchNormalize`).
    """
    return T.Compose(_pil_steps(preset) + [ToUint8()]), BatchNormalize(preset.mean, preset.std)


def build_transform(preset: Preset) -> Callable[[Image.Image], torch.Tensor]:
    """The preset's pipeline: [Resize] -> [TranslateDuplicate] -> [CenterCrop] -> ToTensor -> Normalize.

    Args:
        preset: the protocol. ``resize_mode='square'`` is ``Resize((s, s))`` (NPR/AIGCDetectBenchmark),
            ``'shorter'`` is ``Resize(s)`` on the shorter side (CNNDetection ``loadSize``, BLIP processors).

    Returns:
        A callable mapping a PIL RGB image of size ``(W, H)`` to a float32 tensor ``(3, H', W')``.
    """
    return T.Compose(_pil_steps(preset) + [T.ToTensor(), T.Normalize(mean=preset.mean, std=preset.std)])
