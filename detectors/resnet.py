"""ResNet-50 (v1.5) bottleneck stages with torchvision's module names, shapes and initialisation, without torchvision.

NPR's and SAFE's official networks (``networks/resnet.py``, ``models/resnet.py``) keep only the first two stages of a
ResNet-50; the detectors here build them from this module rather than from ``torchvision.models.resnet``, because
importing torchvision costs about 1.8 s of every scoring process on a 2-core machine (its package import pulls in
``torch._dynamo`` through ``torchvision.ops``; ``python -X importtime``), more than the model load.

The facts followed (He et al., CVPR 2016; torchvision ``models/resnet.py``, the layout of the official checkpoints):

* :class:`Bottleneck`: ``conv1`` 1x1 -> ``bn1`` -> ReLU -> ``conv2`` 3x3 (stride here: "v1.5") -> ``bn2`` -> ReLU ->
  ``conv3`` 1x1 (x4 channels) -> ``bn3``, plus the shortcut (``downsample`` = 1x1 conv + batch norm when the shape
  changes), then ReLU. No biases in the convolutions.
* :class:`ResNet50Stages` builds the whole ResNet-50 in torchvision's order (7x7 stem, four stages of 3, 4, 6, 3
  blocks, ``fc``), then initialises every convolution Kaiming-normal (fan-out, ReLU gain) and every batch norm to
  weight 1 / bias 0, exactly as torchvision's ``ResNet.__init__`` does; so under the same seed it draws the same
  random numbers and gives bit-identical parameters (``tests/test_fold.py`` compares them with torchvision's).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Bottleneck", "ResNet50Stages"]


class Bottleneck(nn.Module):
    """One ResNet bottleneck block (v1.5: the stride on the 3x3 convolution).

    Args:
        inplanes: input channels.
        planes: bottleneck width; the output has ``4 * planes`` channels.
        stride: stride of ``conv2`` (and of the shortcut).
        downsample: the shortcut (1x1 conv + batch norm), needed when the stride or the channel count changes.

    Input ``(N, inplanes, H, W)`` float32; output ``(N, 4 * planes, ceil(H / stride), ceil(W / stride))``.
    """

    expansion = 4
    #: :meth:`forward` feeds each convolution straight into its batch norm (:mod:`fakebench.detectors.fold`).
    conv_bn_pairs = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity  # in place, as torchvision's block (no second feature map allocated)
        return self.relu(out)


def _stage(inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    downsample = None
    if stride != 1 or inplanes != planes * Bottleneck.expansion:  # built before the first block, as torchvision does
        downsample = nn.Sequential(nn.Conv2d(inplanes, planes * Bottleneck.expansion, kernel_size=1, stride=stride,
                                             bias=False),
                                   nn.BatchNorm2d(planes * Bottleneck.expansion))
    layers = [Bottleneck(inplanes, planes, stride, downsample)]
    layers += [Bottleneck(planes * Bottleneck.expansion, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class ResNet50Stages(nn.Module):
    """A whole ResNet-50 built and initialised as torchvision's ``resnet50(num_classes=num_classes)``: ``conv1``
    (7x7, stride 2), ``bn1``, ``layer1`` .. ``layer4``, ``fc``, drawing its random numbers as torchvision's does. Only its parts are used
    (NPR's and SAFE's first two stages); it has no forward of its own."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = _stage(64, 64, 3, 1)
        self.layer2 = _stage(256, 128, 4, 2)
        self.layer3 = _stage(512, 256, 6, 2)
        self.layer4 = _stage(1024, 512, 3, 2)
        self.fc = nn.Linear(2048, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.constant_(module.weight, 1)
                nn.init.constant_(module.bias, 0)

