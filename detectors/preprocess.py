"""Build the torchvision transform of a :class:`~fakebench.detectors.card.Preset`.

The transforms run on PIL images, as in every official repository (NPR/CNNDetection ``data/datasets.py``, UnivFD
``validate.py``, AntifakePrompt ``lavis/processors/blip_processors.py``), so resizes use PIL's filters and give the
same pixels as the official code.
"""

from __future__ import annotations

from typing import Callable

import torch
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import InterpolationMode

from fakebench.detectors.card import Preset

__all__ = ["TranslateDuplicate", "build_transform"]

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


def build_transform(preset: Preset) -> Callable[[Image.Image], torch.Tensor]:
    """The preset's pipeline: [Resize] -> [TranslateDuplicate] -> [CenterCrop] -> ToTensor -> Normalize.

    Args:
        preset: the protocol. ``resize_mode='square'`` is ``Resize((s, s))`` (NPR/AIGCDetectBenchmark),
            ``'shorter'`` is ``Resize(s)`` on the shorter side (CNNDetection ``loadSize``, BLIP processors).

    Returns:
        A callable mapping a PIL RGB image of size ``(W, H)`` to a float32 tensor ``(3, H', W')``.
    """
    steps: list[Callable] = []
    if preset.resize is not None:
        size = (preset.resize, preset.resize) if preset.resize_mode == "square" else preset.resize
        steps.append(T.Resize(size, interpolation=_INTERP[preset.interpolation], antialias=True))
    if preset.tile is not None:
        steps.append(TranslateDuplicate(preset.tile))
    if preset.crop is not None:
        steps.append(T.CenterCrop(preset.crop))
    steps += [T.ToTensor(), T.Normalize(mean=preset.mean, std=preset.std)]
    return T.Compose(steps)
