"""NPR (Tan et al., CVPR 2024): a truncated ResNet-50 on neighbouring-pixel-relationship residuals.

Follows ``chuangchuangtan/NPR-DeepfakeDetection`` @ 73cde1c, ``networks/resnet.py`` (``resnet50(num_classes=1)``
as ``test.py`` builds it): only ``conv1`` (3x3, stride 2), ``layer1`` and ``layer2`` of a ResNet-50, then ``fc1``
(512 -> 1). The input of ``conv1`` is ``(x - up(down(x))) * 2.0 / 3.0`` (in that order: times 2, then divided by 3,
as the official ``NPR*2.0/3.0``, which rounds differently from ``* (2/3)``) where ``down``/``up`` are nearest-neighbour
interpolations by 0.5 and 2.0 with ``recompute_scale_factor=True``, computed on the ImageNet-normalised image; so the
residual is zero at the top-left pixel of every 2x2 block and holds the differences to it elsewhere.

Odd heights or widths would make the two tensors disagree in size; like the upstream README advises for
AIGCDetectBenchmark, the last row/column is trimmed first (a no-op for even sizes, so official outputs are unchanged).
:meth:`NPR.input_note` says so for each image (:func:`odd_size_note`), for the ``note`` column of the predictions.

Agreement with the official code: same operations in the same order, but not bit-identical in general. On the CPU
the network runs channels-last (:attr:`NPR.cpu_channels_last`, 1.3-1.5x the images/s, docs/scale.md), which changes
the convolution kernels' summation order. Measured on the 24 NPR images of ``../shared/parity/expected.csv``
(official outputs to 8 decimals, ``model_epoch_last_3090``, 2-core EPYC, torch 2.x): channels-last max |logit delta|
1.7e-5 (2/24 equal to 8 decimals), contiguous 1.3e-5 (0/24), channels-last vs contiguous 9.5e-6 (2/24 bit-equal);
every decision equal. So logits agree with the official ones to about 2e-5, not bit for bit (issue #20). Scoring
also folds the batch norms into the convolutions (:attr:`NPR.fold_batchnorm`, revision 4; :mod:`fakebench.detectors.
fold`): max |logit delta| 1.6e-5 (1/24 equal to 8 decimals), every decision equal. The stages are built without
torchvision (:mod:`fakebench.detectors.resnet`, torchvision's names and initialisation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fakebench.detectors.base import LogitDetector
from fakebench.detectors.catalog import NPR_CARD
from fakebench.detectors.resnet import ResNet50Stages

__all__ = ["TruncatedResNet50", "NPRNet", "npr_residual", "odd_size_note", "NPR"]


def npr_residual(x: torch.Tensor) -> torch.Tensor:
    """The neighbouring pixel relationship residual ``x - up(down(x))``.

    Args:
        x: ``(N, C, H, W)`` float tensor with even ``H`` and ``W``.

    Returns:
        ``(N, C, H, W)`` residual, zero at every even (row, column) position.
    """
    down = F.interpolate(x, scale_factor=0.5, mode="nearest", recompute_scale_factor=True)
    return x - F.interpolate(down, scale_factor=2.0, mode="nearest", recompute_scale_factor=True)


def odd_size_note(height: int, width: int) -> str:
    """The note for an input of ``height`` x ``width`` pixels (after preprocessing) that :class:`NPRNet` trims.

    Returns:
        ``""`` when both are even (nothing is trimmed), else e.g. ``"odd size 47x33 (WxH): last row and last column
        trimmed before the NPR residual (NPR README, AIGCDetectBenchmark)"``.
    """
    parts = [what for what, odd in (("last row", height % 2), ("last column", width % 2)) if odd]
    if not parts:
        return ""
    return (f"odd size {width}x{height} (WxH): {' and '.join(parts)} trimmed before the NPR residual "
            f"(NPR README, AIGCDetectBenchmark)")


class TruncatedResNet50(nn.Module):
    """The first two stages of a ResNet-50 behind a 3x3/stride-2 stem, with the state-dict names NPR's and SAFE's
    official ``networks/resnet.py`` / ``models/resnet.py`` use: ``conv1`` (3x3, stride 2) -> ``bn1`` -> ReLU ->
    3x3/stride-2 max pool -> ``layer1`` -> ``layer2`` -> global average pool -> ``fc1`` (512 -> ``num_classes``).
    Subclasses turn the image into the stem's input in :meth:`stem`.

    Args:
        num_classes: outputs of ``fc1``.
        base_classes: ``num_classes`` of the ResNet-50 (built as torchvision's) the stages are taken from (it only
            changes how far the random-number stream has advanced when ``conv1`` and ``fc1`` are initialised).
        kaiming_conv1: Kaiming-normal (fan-out) init of ``conv1``, as NPR's file does.

    Input ``(N, 3, H, W)`` float32; output ``(N, num_classes)`` logits.
    """

    #: :meth:`forward` feeds ``conv1``'s output straight into ``bn1`` (for :mod:`fakebench.detectors.fold`).
    conv_bn_pairs = (("conv1", "bn1"),)

    def __init__(self, num_classes: int, *, base_classes: int = 1000, kaiming_conv1: bool = False) -> None:
        super().__init__()
        # ResNet-50 stages built and initialised as torchvision's (the official files' blocks and init), without
        # importing torchvision (fakebench.detectors.resnet)
        base = ResNet50Stages(num_classes=base_classes)
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=2, padding=1, bias=False)
        if kaiming_conv1:
            nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.bn1 = base.bn1
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = base.layer1
        self.layer2 = base.layer2
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(512, num_classes)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """The input of ``conv1`` for images ``x`` (identity here)."""
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.stem(x))
        x = self.maxpool(self.relu(self.bn1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc1(torch.flatten(self.avgpool(x), 1))


class NPRNet(TruncatedResNet50):
    """The NPR network with the official state-dict names (``conv1``, ``bn1``, ``layer1``, ``layer2``, ``fc1``).

    Input ``(N, 3, H, W)`` ImageNet-normalised float32 with ``H, W >= 2``; output ``(N, 1)`` logits.
    146 state-dict entries, 1,437,761 trainable parameters.
    """

    def __init__(self) -> None:
        super().__init__(1, base_classes=1, kaiming_conv1=True)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """Odd last row/column trimmed, then the NPR residual in the official order: ``(NPR * 2.0) / 3.0``."""
        h, w = x.shape[-2:]
        x = x[..., : h - h % 2, : w - w % 2]
        return npr_residual(x) * 2.0 / 3.0


class NPR(LogitDetector):
    """NPR detector; loads ``model_epoch_last_3090.pth`` (plain state dict) and ``NPR.pth`` (``{'model': ...}`` with
    ``module.`` prefixes) strictly. Presets: ``native`` (default), ``resize256``, ``resize256_crop224``."""

    name = "npr"
    #: 2: the residual is scaled in the official order (``r * 2 / 3``), as NPR's code.
    #: 3: channels-last on the CPU (:attr:`cpu_channels_last`): logits within about 1e-5 of revision 2 (and within
    #: 2e-5 of the official outputs, see the module docstring).
    #: 4: batch norms folded into the convolutions for scoring (:attr:`fold_batchnorm`): logits within about 6e-6 of
    #: revision 3.
    revision = "4"
    #: 1.3-1.5x the images/s of the contiguous format on the CPU (2-core EPYC, docs/scale.md).
    cpu_channels_last = True
    #: A further 1.15-1.4x the forward images/s on the CPU (:mod:`fakebench.detectors.fold`).
    fold_batchnorm = True
    card = NPR_CARD

    def input_note(self, image: torch.Tensor) -> str:
        """A note for the ``note`` column when the network will trim ``image`` (``(3, H, W)`` or ``(N, 3, H, W)``,
        from :meth:`transform`): see :func:`odd_size_note`; ``""`` for even sizes."""
        return odd_size_note(int(image.shape[-2]), int(image.shape[-1]))

    @classmethod
    def build_model(cls) -> NPRNet:
        return NPRNet()
