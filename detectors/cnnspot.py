"""CNNSpot (Wang et al., CVPR 2020): ResNet-50 with a single-logit head.

Follows ``PeterWang512/CNNDetection`` @ ea0b562: ``networks/resnet.py`` ``resnet50(num_classes=1)`` is the standard
ResNet-50 (v1.5) whose state-dict keys equal torchvision's ``resnet50(num_classes=1)``, so the official
``{'model': state_dict}`` checkpoints (``blur_jpg_prob0.5.pth``, ``blur_jpg_prob0.1.pth``) load into torchvision's
model with ``strict=True`` and give the same logits. Test protocol (``eval.py``): no resize, center crop 224 (preset
``crop224``), or no crop (preset ``native``, the README's "No crop" columns).
"""

from __future__ import annotations

from torch import nn
from torchvision.models import resnet50

from fakebench.detectors.base import LogitDetector
from fakebench.detectors.catalog import CNNSPOT_CARD

__all__ = ["build_resnet50", "CNNSpot"]


def build_resnet50(imagenet_weights: nn.Module | None = None) -> nn.Module:
    """torchvision ResNet-50 with ``fc`` = Linear(2048, 1); input ``(N, 3, H, W)`` (H, W >= 32), output ``(N, 1)``.

    Args:
        imagenet_weights: optional ImageNet ResNet-50 whose backbone weights are copied in (the CNNSpot training
            recipe starts from ImageNet; ``fc`` stays freshly initialised).
    """
    model = resnet50(weights=None, num_classes=1)
    if imagenet_weights is not None:
        state = {k: v for k, v in imagenet_weights.state_dict().items() if not k.startswith("fc.")}
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or set(missing) != {"fc.weight", "fc.bias"}:
            raise ValueError(f"ImageNet ResNet-50 did not match: missing {missing}, unexpected {unexpected}")
    return model


class CNNSpot(LogitDetector):
    """CNNSpot detector (ResNet-50 -> 1 logit). Presets: ``crop224`` (paper, default) and ``native`` (no crop)."""

    name = "cnnspot"
    card = CNNSPOT_CARD
    #: 2: channels-last on the CPU and batch norms folded for scoring (:attr:`cpu_channels_last`,
    #: :attr:`fold_batchnorm`): 1.4x the forward images/s at crop224 on 2 CPU cores; logits within 8.3e-6 of the
    #: official outputs on the 24 images of ``../shared/parity/expected.csv`` (revision 1: 3.3e-6; folding alone: 5.0e-6).
    revision = "2"
    cpu_channels_last = True
    fold_batchnorm = True

    @classmethod
    def build_model(cls) -> nn.Module:
        return build_resnet50()
