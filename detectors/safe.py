"""SAFE (Li et al., KDD 2025): a truncated ResNet-50 on the diagonal wavelet band of the image.

Follows ``Ouxiang-Li/SAFE`` @ 722620a, ``models/resnet.py`` (``resnet50(num_classes=2)`` as ``main_finetune.py``
builds it for ``--model SAFE``): ``ResNet.forward`` computes ``_preprocess_dwt(x)`` -- the HH band
(``Yh[0][:, :, 2]``) of ``DWTForward(J=1, mode='symmetric', wave='bior1.3')`` resized back to the input's
``(H, W)`` with ``transforms.Resize`` (bilinear, antialias on tensors in the official torchvision 0.17) -- then
``conv1`` (3x3, stride 2), ``bn1``, ReLU, ``maxpool``, ``layer1``, ``layer2``, average pool and ``fc1`` (512 -> 2).
The input is ``ToTensor()`` output in [0, 1] (no normalisation; ``data/datasets.py`` ``Get_Transforms``); the test
protocol is ``CenterCrop(256)`` (``scripts/eval.sh``). ``engine_finetune.evaluate`` takes ``softmax(out)[:, 1]`` as
the fake probability; fakebench returns ``logit = out[:, 1] - out[:, 0]``, whose sigmoid is that probability.

The DWT comes from :func:`fakebench.detectors.wavelets.dwt2_level1` (bit-identical to ``pytorch_wavelets``).
"""

from __future__ import annotations

import argparse
import os

import torch
from torch import nn
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from fakebench.detectors.base import DetectorOutput, LogitDetector, WeightsInfo
from fakebench.detectors.catalog_artifact import SAFE_CARD
from fakebench.detectors.npr import TruncatedResNet50
from fakebench.detectors.wavelets import dwt2_level1

__all__ = ["safe_dwt_input", "SAFENet", "SAFE"]


def safe_dwt_input(x: torch.Tensor) -> torch.Tensor:
    """SAFE's network input: the HH band of a one-level ``bior1.3`` symmetric DWT, resized to the input size.

    Args:
        x: ``(N, 3, H, W)`` float32 image in [0, 1].

    Returns:
        ``(N, 3, H, W)`` float32.
    """
    _, highs = dwt2_level1(x, "bior1.3")
    return TF.resize(highs[:, :, 2], [x.shape[-2], x.shape[-1]], interpolation=InterpolationMode.BILINEAR,
                     antialias=True)


class SAFENet(TruncatedResNet50):
    """The SAFE network with the official state-dict names (``conv1``, ``bn1``, ``layer1``, ``layer2``, ``fc1``).

    Input ``(N, 3, H, W)`` float32 in [0, 1] (``H, W >= 1``); output ``(N, 2)`` logits ``(real, fake)``.
    146 state-dict entries, 1,438,274 parameters.
    """

    def __init__(self) -> None:
        super().__init__(2)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """The diagonal high-frequency wavelet band the official code feeds ``conv1`` (:func:`safe_dwt_input`)."""
        return safe_dwt_input(x)


class SAFE(LogitDetector):
    """SAFE detector; loads the official training checkpoint ``checkpoint-best.pth`` (``{'model': state_dict,
    'optimizer', 'epoch', 'scaler', 'args'}``) strictly. Presets: ``crop256`` (official, default), ``native``,
    ``resize256``."""

    name = "safe"
    card = SAFE_CARD

    @classmethod
    def build_model(cls) -> SAFENet:
        return SAFENet()

    @classmethod
    def load_into(cls, model: nn.Module, weights: str | os.PathLike | None,
                  cache_dir: str | os.PathLike | None = None) -> WeightsInfo:
        """As :meth:`LogitDetector.load_into`, with ``argparse.Namespace`` (the ``'args'`` entry the official
        ``save_model`` stores) allow-listed for ``torch.load(weights_only=True)``; nothing else is."""
        with torch.serialization.safe_globals([argparse.Namespace]):
            return super().load_into(model, weights, cache_dir=cache_dir)

    @torch.inference_mode()
    def predict(self, batch: torch.Tensor) -> DetectorOutput:
        """``(N, 3, H, W)`` [0, 1] images -> ``logit = l_fake - l_real`` and ``prob = sigmoid(logit)``, ``(N,)``."""
        out = self.model(batch.to(self.device, torch.float32)).float()
        logit = (out[:, 1] - out[:, 0]).cpu()
        return DetectorOutput(prob=torch.sigmoid(logit), logit=logit)
