"""LaDeDa (Cavia et al., 2024): a ResNet-50 whose every output sees one 9x9 patch, on the NPR residual.

Follows ``barcavia/RealTime-DeepfakeDetection-in-the-RealWorld`` @ e734562, ``networks/LaDeDa.py``:
``LaDeDa9(strides=[2, 2, 2, 1])`` is ``LaDeDa(Bottleneck, [3, 4, 6, 3], kernel3=[1, 1, 0, 0], preprocess_type='NPR')``
with ``fc`` replaced by ``nn.Linear(2048, 1)`` (``test.py`` ``get_model``). ``forward``: ``x - interpolate(x, 0.5)``
(nearest down then up, ``recompute_scale_factor=True``; no 2/3 factor), ``conv1`` (1x1, 3->64), ``conv2`` (3x3,
unpadded), ``bn1``, ReLU, ``layer1``..``layer4``, average pooling with a square window of the map's height (a global
average for the square inputs of the official test protocol; non-square inputs are refused, see
:meth:`LaDeDaNet.forward`), ``fc``. In each ``Bottleneck`` the middle convolution is 3x3 only in the first block of
``layer1`` and ``layer2`` (``kernel3`` = 1 for those stages: block ``i`` has a 3x3 when ``kernel3 > i``), always
unpadded, with the stride; the residual (through ``downsample`` when present) is cropped at the bottom/right to the
output size. Test transform (``test.py`` + ``data/datasets.py``): ``Resize((256, 256))`` bilinear, ``ToTensor``,
ImageNet ``Normalize`` (preset ``resize256``); ``validate.py`` takes ``sigmoid`` of the output as P(fake).
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fakebench.detectors.base import LogitDetector
from fakebench.detectors.card import Preset
from fakebench.detectors.catalog_artifact import LADEDA_CARD
from fakebench.detectors.corvi2023 import parse_layers
from fakebench.detectors.npr import npr_residual

__all__ = ["PatchBottleneck", "LaDeDaNet", "LaDeDa"]


class PatchBottleneck(nn.Module):
    """Bottleneck block with an unpadded middle convolution (1x1 or 3x3) and a cropped residual.

    Args:
        inplanes: input channels; planes: width (output = ``4 * planes``); stride: of the middle convolution and
        of ``downsample``; kernel_size: 1 or 3; downsample: 1x1 conv + BN when the shape changes, else ``None``.
    """

    expansion = 4
    #: :meth:`forward` feeds each convolution straight into its batch norm (:mod:`fakebench.detectors.fold`).
    conv_bn_pairs = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 kernel_size: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=kernel_size, stride=stride, padding=0, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        residual = self.downsample(x) if self.downsample is not None else x
        cut = residual.shape[-1] - out.shape[-1]  # the official code crops both axes by the width difference
        if cut:
            residual = residual[:, :, :-cut, :-cut]
        return self.relu(out + residual)


class LaDeDaNet(nn.Module):
    """LaDeDa9 with the official state-dict names (``conv1``, ``conv2``, ``bn1``, ``layer1``..``layer4``, ``fc``).

    Input ``(N, 3, S, S)`` ImageNet-normalised float32, square, ``S >= 18`` and even; output ``(N, 1)`` logits.
    321 state-dict entries, 13,641,793 parameters (the same keys and shapes as the official ``LaDeDa9`` with its
    ``fc`` replaced by ``Linear(2048, 1)``).

    Args:
        layers: Bottleneck blocks per stage (official ``(3, 4, 6, 3)``; tests may use fewer).
    """

    #: :meth:`forward` feeds ``conv2``'s output straight into ``bn1`` (``conv1`` -> ``conv2`` -> ``bn1``).
    conv_bn_pairs = (("conv2", "bn1"),)

    def __init__(self, layers: tuple[int, int, int, int] = (3, 4, 6, 3)) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=1, bias=False)
        self.conv2 = nn.Conv2d(64, 64, kernel_size=3, padding=0, bias=False)
        self.bn1 = nn.BatchNorm2d(64, momentum=0.001)
        self.relu = nn.ReLU(inplace=True)
        strides, kernel3 = (2, 2, 2, 1), (1, 1, 0, 0)
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            setattr(self, f"layer{i + 1}", self._make_layer(planes, blocks, strides[i], kernel3[i]))
        self.fc = nn.Linear(2048, 1)

    def _make_layer(self, planes: int, blocks: int, stride: int, kernel3: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, kernel_size=1, stride=stride, bias=False),
                                       nn.BatchNorm2d(planes * 4))
        layers = [PatchBottleneck(self.inplanes, planes, stride, downsample, kernel_size=3 if kernel3 > 0 else 1)]
        self.inplanes = planes * 4
        layers += [PatchBottleneck(self.inplanes, planes, kernel_size=3 if kernel3 > i else 1) for i in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, S, S)`` -> ``(N, 1)``.

        Raises:
            ValueError: a non-square input (the official pooling window is the map's height, which is only a global
                average when height == width).
        """
        if x.shape[-2] != x.shape[-1]:
            raise ValueError(f"LaDeDa needs square inputs (official pooling), got {x.shape[-1]}x{x.shape[-2]} "
                             f"(WxH); use the resize256 preset")
        x = self.relu(self.bn1(self.conv2(self.conv1(npr_residual(x)))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = F.avg_pool2d(x, kernel_size=x.shape[-2], stride=1)  # the official pooling (global: square maps)
        return self.fc(torch.flatten(x, 1))


class LaDeDa(LogitDetector):
    """LaDeDa detector (LaDeDa9 -> 1 logit). Preset: ``resize256`` (official)."""

    name = "ladeda"
    card = LADEDA_CARD
    #: 2: channels-last on the CPU and batch norms folded into the convolutions for scoring
    #: (:attr:`cpu_channels_last`, :attr:`fold_batchnorm`; float rounding only, see docs/scale.md).
    revision = "2"
    cpu_channels_last = True
    fold_batchnorm = True

    @classmethod
    def build_model(cls, layers: tuple[int, int, int, int] = (3, 4, 6, 3)) -> LaDeDaNet:
        return LaDeDaNet(layers)

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None, *, preset: Preset | str | None = None,
             device: str | torch.device = "cpu", cache_dir: str | os.PathLike | None = None,
             layers: Any = (3, 4, 6, 3)) -> "LaDeDa":
        """Load an official plain state dict (tag or path) strictly. ``layers`` (``"1,2,1,1"`` from the CLI's
        ``-O``) only serves shallow test models of the same architecture; real checkpoints need the default.

        Raises:
            CheckpointError: unreadable file or keys that do not match (listed).
            ValueError: malformed ``layers``.
        """
        model = cls.build_model(parse_layers(layers))
        info = cls.load_into(model, weights, cache_dir=cache_dir)
        return cls(model, preset=preset, weights=info, device=device)
