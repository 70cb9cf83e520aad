"""Corvi2023 (Corvi et al., ICASSP 2023): a ResNet-50 without its first downsampling, outputting an LLR.

Follows ``grip-unina/ClipBased-SyntheticImageDetection`` @ c76ef7f: ``networks/__init__.py``
``create_architecture('res50nodown')`` builds ``networks/resnet_mod.py`` ``resnet50(num_classes=1, stride0=1,
dropout=0.5)``: the standard Bottleneck ResNet-50 (v1.5, same state-dict names as torchvision's) with ``conv1`` (7x7)
and ``maxpool`` at stride 1 instead of 2, global average pooling, dropout (a no-op in eval mode) and ``fc``, a
``ChannelLinear(2048, 1)`` whose weight has the ``nn.Linear`` shape ``(1, 2048)``. ``main.py`` feeds images at native
size normalised with ImageNet mean/std (``utils/processing.py`` ``make_normalize('resnet')``) and writes the single
output as an LLR, ``> 0`` meaning synthetic. fakebench returns it as the logit, so ``prob = sigmoid(LLR)``.

``layers`` (blocks per stage, default ``(3, 4, 6, 3)``) exists so tests can run the same architecture shallower
(the parity fixture uses ``(1, 1, 1, 1)``, built with the official ``ResNet`` class); real checkpoints need the
default and fail strict loading otherwise.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn
from torchvision.models.resnet import Bottleneck, ResNet

from fakebench.detectors.base import LogitDetector, WeightsInfo
from fakebench.detectors.card import Preset
from fakebench.detectors.catalog_artifact import CORVI2023_CARD

__all__ = ["build_res50nodown", "parse_layers", "Corvi2023"]


def build_res50nodown(layers: tuple[int, int, int, int] = (3, 4, 6, 3)) -> nn.Module:
    """ResNet-50 "no down": torchvision's ResNet with ``conv1`` and ``maxpool`` at stride 1 and ``fc`` 2048 -> 1.

    Input ``(N, 3, H, W)`` ImageNet-normalised float32 (any ``H, W >= 8``); output ``(N, 1)`` LLR.

    Args:
        layers: Bottleneck blocks per stage (the official model: ``(3, 4, 6, 3)``; 320 state-dict entries).
    """
    model = ResNet(Bottleneck, list(layers), num_classes=1)
    model.conv1.stride = (1, 1)
    model.maxpool.stride = 1
    return model


def parse_layers(value: Any) -> tuple[int, int, int, int]:
    """``"1,1,1,1"`` (a CLI ``-O layers=...`` value) or a sequence of 4 ints -> a tuple of 4 positive ints."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        out = tuple(int(p) for p in parts)
    except ValueError as exc:
        raise ValueError(f"layers must be 4 comma-separated block counts such as 3,4,6,3, got {value!r}") from exc
    if len(out) != 4 or min(out) < 1:
        raise ValueError(f"layers must be 4 positive block counts such as 3,4,6,3, got {value!r}")
    return out  # type: ignore[return-value]


class Corvi2023(LogitDetector):
    """Corvi2023 detector (ResNet-50 no-down -> LLR). Preset: ``native`` (official)."""

    name = "corvi2023"
    card = CORVI2023_CARD
    #: 2: channels-last on the CPU and batch norms folded into the convolutions for scoring
    #: (:attr:`cpu_channels_last`, :attr:`fold_batchnorm`; float rounding only, see docs/scale.md).
    revision = "2"
    cpu_channels_last = True
    fold_batchnorm = True

    @classmethod
    def build_model(cls, layers: tuple[int, int, int, int] = (3, 4, 6, 3)) -> nn.Module:
        return build_res50nodown(layers)

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None, *, preset: Preset | str | None = None,
             device: str | torch.device = "cpu", cache_dir: str | os.PathLike | None = None,
             layers: Any = (3, 4, 6, 3)) -> "Corvi2023":
        """Load an official checkpoint (tag or path). ``layers`` (``"1,1,1,1"`` from the CLI's ``-O``) only serves
        shallow test models; see the module docstring.

        Raises:
            CheckpointError: unreadable file or keys that do not match (listed).
            ValueError: malformed ``layers``.
        """
        model = cls.build_model(parse_layers(layers))
        info = cls.load_into(model, weights, cache_dir=cache_dir)
        return cls(model, preset=preset, weights=info, device=device)

    @classmethod
    def load_into(cls, model: nn.Module, weights: str | os.PathLike | None,
                  cache_dir: str | os.PathLike | None = None) -> WeightsInfo:
        """Resolve, sha256-check and strictly load a checkpoint in any layout ``networks.load_weights`` accepts:
        a state dict under ``'model'`` (``module.``-prefixed or not), ``'state_dict'`` or ``'net'``, or a plain
        state dict.

        Raises:
            CheckpointError: unreadable file, sha256 mismatch, or keys/shapes that do not match (listed).
        """
        from fakebench.detectors.checkpoints import load_strict, read_checkpoint, unwrap_state_dict, verify_sha256

        path, spec = cls.resolve_weights(weights, cache_dir)
        sha = verify_sha256(path, spec.sha256 if spec else None)
        state = unwrap_state_dict(read_checkpoint(path), path, nested_keys=("model", "state_dict", "net"))
        load_strict(model, state, path, what=f"{cls.name} model")
        return WeightsInfo.of_file(path, spec, sha)
