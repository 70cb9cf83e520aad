"""Building the network a recipe trains, with the initialisation the official training script uses.

* NPR: :class:`fakebench.detectors.npr.NPRNet` from scratch (Kaiming-normal convolutions, BN weight 1 / bias 0, default
  ``fc1``), as ``networks/trainer.py`` builds ``resnet50(pretrained=False, num_classes=1)``.
* CNNSpot: torchvision ResNet-50 with ImageNet weights and a new ``fc`` = Linear(2048, 1) whose weight is drawn from
  N(0, 0.02) (CNNDetection ``networks/trainer.py``). Offline, the ImageNet weights must already be in torch's hub
  cache; the user chooses ``--init imagenet`` (fail clearly if absent), ``--init scratch`` (deliberate, recorded) or
  ``--init PATH`` (a ResNet-50 state dict file). Nothing falls back silently.
* UnivFD: a frozen CLIP visual tower (OpenAI-format state dict via ``--backbone``, or open_clip's ViT-L/14 ``openai``)
  and a new ``fc`` = Linear(768, 1) with weight from N(0, 0.02); only ``fc`` trains (``--fix_backbone``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fakebench.core.errors import CheckpointError, FakebenchError, WeightsNotFoundError
from fakebench.core.files import sha256_file

from fakebench.train.recipes import Recipe

__all__ = ["IMAGENET_RESNET50_FILES", "imagenet_resnet50_path", "BuiltModel", "build_for_recipe"]

#: torchvision's ImageNet ResNet-50 v1 weights (``IMAGENET1K_V1``, the weights CNNDetection's ``resnet50(pretrained=
#: True)`` loads), by file name; the 8 hex digits are the start of the file's sha256.
IMAGENET_RESNET50_FILES = {
    "resnet50-0676ba61.pth": "https://download.pytorch.org/models/resnet50-0676ba61.pth",
    "resnet50-19c8e357.pth": "https://download.pytorch.org/models/resnet50-19c8e357.pth",
}


def imagenet_resnet50_path() -> tuple[Path | None, Path]:
    """Where torchvision caches ImageNet ResNet-50 weights.

    Returns:
        ``(file or None, cache folder)``: the first cached file of :data:`IMAGENET_RESNET50_FILES` under
        ``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME/hub/checkpoints``, default ``~/.cache/torch/hub/checkpoints``)
        and that folder.
    """
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    for name in IMAGENET_RESNET50_FILES:
        if (folder / name).is_file():
            return folder / name, folder
    return None, folder


@dataclass
class BuiltModel:
    """The network to train and what to optimise and save.

    Attributes:
        model: the full network (input ``(N, 3, crop, crop)`` normalised float32, output ``(N, 1)`` logits).
        trainable: the module whose parameters are optimised and whose ``state_dict()`` is the checkpoint's
            ``'model'`` (the whole model, or UnivFD's ``fc`` head).
        frozen: a module run without gradients before ``trainable`` (UnivFD's CLIP tower), else ``None``.
        init: provenance of the initial weights (recorded in the checkpoint).
    """

    model: nn.Module
    trainable: nn.Module
    frozen: nn.Module | None = None
    init: dict[str, Any] = field(default_factory=dict)


def _load_resnet50_file(path: Path) -> nn.Module:
    from torchvision.models import resnet50

    from fakebench.detectors.checkpoints import load_strict, read_checkpoint, unwrap_state_dict

    state = unwrap_state_dict(read_checkpoint(path), path)
    net = resnet50(weights=None)
    # Only the backbone is used (the head is replaced), so any fc (ImageNet's 1000 classes, a detector's 1) is fine.
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    state.update({k: v for k, v in net.state_dict().items() if k.startswith("fc.")})
    load_strict(net, state, path, what="ImageNet ResNet-50")
    return net


def _cnnspot_init(init: str | None) -> tuple[nn.Module | None, dict[str, Any]]:
    if init is None:
        folder = imagenet_resnet50_path()[1]
        raise FakebenchError(
            "CNNSpot's recipe starts from ImageNet weights; choose the initialisation explicitly: --init imagenet "
            f"(torchvision's resnet50-0676ba61.pth, expected in {folder}), --init PATH (a ResNet-50 state dict) or "
            "--init scratch (random initialisation, recorded in the checkpoint).")
    if init == "scratch":
        return None, {"kind": "scratch", "note": "deliberately trained from random initialisation, not ImageNet"}
    if init == "imagenet":
        path, folder = imagenet_resnet50_path()
        if path is None:
            names = ", ".join(IMAGENET_RESNET50_FILES)
            raise WeightsNotFoundError(
                f"--init imagenet needs torchvision's ImageNet ResNet-50 weights (IMAGENET1K_V1: {names}; from "
                f"{IMAGENET_RESNET50_FILES['resnet50-0676ba61.pth']}) in {folder}, and none is there. Copy the file "
                "into that folder (or set TORCH_HOME), pass --init PATH to a ResNet-50 state dict, or pass --init "
                "scratch to train from random initialisation on purpose. fakebench never falls back to scratch.")
    else:
        path = Path(init).expanduser()
        if not path.is_file():
            raise WeightsNotFoundError(f"--init {init!r}: expected 'imagenet', 'scratch' or an existing ResNet-50 "
                                       "state dict file.")
    sha = sha256_file(path)
    if path.name in IMAGENET_RESNET50_FILES and not sha.startswith(path.name.split("-")[1].split(".")[0]):
        raise CheckpointError(f"{path} does not match its name's sha256 prefix (got {sha[:8]}); it is corrupt or "
                              "truncated. Download it again.")
    return _load_resnet50_file(path), {"kind": "imagenet" if init == "imagenet" else "file", "path": str(path),
                                       "sha256": sha}


def _clip_visual(backbone: str | os.PathLike | nn.Module | None) -> tuple[nn.Module, dict[str, Any]]:
    from fakebench.detectors import univfd

    if isinstance(backbone, nn.Module):
        return backbone, {"name": type(backbone).__name__}
    if backbone is None:
        from fakebench.core.env import cache_root

        return univfd._openai_vit_l14(cache_root() / "open_clip"), {"name": "open_clip ViT-L-14 openai"}
    path = Path(backbone).expanduser()
    return univfd.load_openai_clip_visual(path), {"name": "openai-format state dict", "path": str(path.resolve()),
                                                  "sha256": sha256_file(path)}


def build_for_recipe(recipe: Recipe, *, seed: int, init: str | None = None,
                     backbone: str | os.PathLike | nn.Module | None = None) -> BuiltModel:
    """Build and initialise the network of ``recipe.detector`` (seeded with ``seed``).

    Args:
        recipe: the recipe (its ``detector``, ``init`` and ``fc_init_std`` are used).
        seed: seeds torch before the random initialisation.
        init: CNNSpot only: ``imagenet``, ``scratch`` or a ResNet-50 state dict path (required); NPR accepts only
            ``scratch`` (its recipe); UnivFD ignores it (use ``backbone``).
        backbone: UnivFD only: OpenAI-format CLIP state dict path, a visual module, or ``None`` for ViT-L/14.

    Returns:
        A :class:`BuiltModel`.

    Raises:
        FakebenchError: CNNSpot without ``init``, or an ``init`` the recipe does not support.
        WeightsNotFoundError: ImageNet weights or the CLIP backbone are not available offline.
        CheckpointError: an init/backbone file that is corrupt or of the wrong architecture.
    """
    torch.manual_seed(seed)
    if recipe.detector == "npr":
        from fakebench.detectors.npr import NPRNet

        if init not in (None, "scratch"):
            raise FakebenchError(f"The NPR recipe trains from scratch (networks/trainer.py: pretrained=False); "
                                 f"--init {init!r} is not supported.")
        model = NPRNet()
        info: dict[str, Any] = {"kind": "scratch", "note": "NPR's recipe (Kaiming-normal convs)"}
        head = model.fc1
    elif recipe.detector == "cnnspot":
        from fakebench.detectors.cnnspot import build_resnet50

        imagenet, info = _cnnspot_init(init)
        torch.manual_seed(seed)
        model = build_resnet50(imagenet)
        head = model.fc
    elif recipe.detector == "univfd":
        from fakebench.detectors.univfd import UnivFDNet

        if init not in (None, "frozen-backbone"):
            raise FakebenchError("The UnivFD probe trains only a linear head on a frozen CLIP backbone; pass the "
                                 "backbone with --backbone, not --init.")
        visual, backbone_info = _clip_visual(backbone)
        visual.eval().requires_grad_(False)
        width = getattr(visual, "output_dim", 768)
        torch.manual_seed(seed)
        head = nn.Linear(int(width), 1)
        model = UnivFDNet(visual, head)
        info = {"kind": "frozen-backbone", "backbone": backbone_info}
    else:
        raise FakebenchError(f"No training support for detector {recipe.detector!r}.")
    if recipe.fc_init_std is not None:
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            head.weight.normal_(0.0, recipe.fc_init_std, generator=generator)
    if recipe.trainable == "fc":
        return BuiltModel(model=model, trainable=head, frozen=model.visual, init=info)
    return BuiltModel(model=model, trainable=model, frozen=None, init=info)
