"""Build the torchvision transform of a :class:`~fakebench.detectors.card.Preset`.

The transforms run on PIL images, as in every official repository (NPR/CNNDetection ``data/datasets.py``, UnivFD
``validate.py``, AntifakePrompt ``lavis/processors/blip_processors.py``), so resizes use PIL's filters and give the
same pixels as the official code.

:func:`split_transform` cuts the same pipeline in two for the runner: the PIL steps and a ``uint8`` tensor per image
(in DataLoader workers: a quarter of the bytes to pass between processes, no per-image float work), then ToTensor's
scaling and Normalize on the whole batch (:class:`BatchNormalize`). Both halves run the same float32 operations in
the same order as ``ToTensor`` + ``Normalize`` (``x / 255``, ``- mean``, ``/ std``, each correctly rounded), so the
result is bit-identical to :func:`build_transform` (tested for every preset of every card).

torchvision is imported only for the steps that need it (``Resize``, ``CenterCrop``, and :func:`build_transform`'s
``ToTensor`` + ``Normalize``): the runner's half for a preset that keeps native sizes (:func:`split_transform`)
needs none, and importing torchvision costs about 1.8 s of a scoring process (it pulls in ``torch._dynamo``).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from fakebench.detectors.card import Preset

__all__ = ["TranslateDuplicate", "build_transform", "split_transform", "BatchNormalize", "ToUint8", "Steps"]


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


class Steps:
    """Apply callables in order (torchvision's ``Compose``, without importing torchvision); picklable when its steps
    are.

    Args:
        transforms: the steps, each taking the previous one's output.
    """

    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)

    def __call__(self, value):
        for step in self.transforms:
            value = step(value)
        return value

    def __repr__(self) -> str:
        inner = "".join(f"\n    {step}" for step in self.transforms)
        return f"{type(self).__name__}({inner}\n)"


def _pil_steps(preset: Preset) -> list[Callable]:
    steps: list[Callable] = []
    if preset.resize is not None:
        from torchvision import transforms as T
        from torchvision.transforms import InterpolationMode

        interpolation = {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC,
                         "nearest": InterpolationMode.NEAREST}[preset.interpolation]
        size = (preset.resize, preset.resize) if preset.resize_mode == "square" else preset.resize
        steps.append(T.Resize(size, interpolation=interpolation, antialias=True))
    if preset.tile is not None:
        steps.append(TranslateDuplicate(preset.tile))
    if preset.crop is not None:
        from torchvision import transforms as T

        steps.append(T.CenterCrop(preset.crop))
    return steps


class ToUint8:
    """PIL image ``(W, H)`` -> ``(C, H, W)`` ``uint8`` tensor, the pixel values unchanged (torchvision's
    ``pil_to_tensor``: the array of the image, channels first; ``C`` = 3 for RGB, 1 for ``L``). Images of other
    pixel types (16-bit, float) go through torchvision's ``pil_to_tensor`` itself.
    """

    def __call__(self, img: Image.Image) -> torch.Tensor:
        array = np.array(img, copy=True)
        if array.dtype != np.uint8 or array.ndim not in (2, 3):
            from torchvision.transforms.functional import pil_to_tensor

            return pil_to_tensor(img)
        tensor = torch.from_numpy(array)
        return tensor.unsqueeze(0) if array.ndim == 2 else tensor.permute(2, 0, 1)

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
    return Steps(_pil_steps(preset) + [ToUint8()]), BatchNormalize(preset.mean, preset.std)


def build_transform(preset: Preset) -> Callable[[Image.Image], torch.Tensor]:
    """The preset's pipeline: [Resize] -> [TranslateDuplicate] -> [CenterCrop] -> ToTensor -> Normalize.

    Args:
        preset: the protocol. ``resize_mode='square'`` is ``Resize((s, s))`` (NPR/AIGCDetectBenchmark),
            ``'shorter'`` is ``Resize(s)`` on the shorter side (CNNDetection ``loadSize``, BLIP processors).

    Returns:
        A callable mapping a PIL RGB image of size ``(W, H)`` to a float32 tensor ``(3, H', W')``.
    """
    from torchvision import transforms as T

    return T.Compose(_pil_steps(preset) + [T.ToTensor(), T.Normalize(mean=preset.mean, std=preset.std)])
