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

__all__ = ["build_transform"]

_INTERP = {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC,
           "nearest": InterpolationMode.NEAREST}


def build_transform(preset: Preset) -> Callable[[Image.Image], torch.Tensor]:
    """The preset's pipeline: [Resize] -> [CenterCrop] -> ToTensor -> Normalize.

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
    if preset.crop is not None:
        steps.append(T.CenterCrop(preset.crop))
    steps += [T.ToTensor(), T.Normalize(mean=preset.mean, std=preset.std)]
    return T.Compose(steps)
