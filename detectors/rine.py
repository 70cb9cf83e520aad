"""RINE (Koutlis and Papadopoulos, ECCV 2024): a trainable head on the CLS tokens of every block of a frozen CLIP ViT.

Follows ``mever-team/rine`` @ 9b7fd58, ``src/models.py`` ``Model``:

* forward hooks on every module of ``clip.visual`` whose name contains ``ln_2`` (the LayerNorm before each residual
  block's MLP), in block order; ``torch.stack([h.output ...], dim=2)[0]`` keeps token 0 (CLS) of each, so
  ``g`` is ``(N, n_blocks, width)`` = ``(N, 24, 1024)`` for ViT-L/14 (OpenAI's layout is sequence-first; open_clip's
  is batch-first, handled in :class:`RINENet`);
* ``proj1`` (Dropout + nproj x [Linear, ReLU, Dropout]) on each token, ``z = sum_b softmax(alpha, dim=1)[b] * g[b]``
  (the Trainable Importance Estimator), ``proj2`` (same shape as proj1 at proj_dim), ``head`` (Linear, ReLU, Dropout,
  Linear, ReLU, Dropout, Linear(proj_dim, 1)); the model returns ``(logit, z)`` and the scripts use
  ``sigmoid(logit)``.

Checkpoints (``ckpt/model_{1,2,4}class_trainable.pth``, ``model_ldm_trainable.pth``) are plain dicts of the trainable
tensors (``alpha``, ``proj1.1.weight``, ..., ``head.6.bias``; ``scripts/best.py`` keeps every state-dict entry without
``clip``). ``nproj`` and ``proj_dim`` differ per checkpoint (``get_our_trained_model``); :func:`rine_config` reads
them from the tensor shapes. Test transforms (``src/utils.py get_transforms``): ``CenterCrop(224)`` without resize
(preset ``crop224``), or ``TenCrop(224)`` with the ten logits averaged before the sigmoid (preset ``tencrop224``,
Synthbuster in ``scripts/validation.py``).

The backbone is OpenAI CLIP ViT-L/14 through open_clip (shared with UnivFD, :mod:`fakebench.detectors.univfd`), or
any CLIP visual tower in the OpenAI state-dict format (how the parity fixture's tiny ViT is loaded).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn
from torchvision.transforms import functional as TF

from fakebench.core.errors import CheckpointError

from fakebench.detectors.base import BackboneLogitDetector, DetectorOutput, WeightsInfo
from fakebench.detectors.card import Preset
from fakebench.detectors.catalog_clip import RINE_CARD

__all__ = ["RINEHead", "RINENet", "rine_config", "ten_crop", "RINE"]

TENCROP_SIZE = 224


def _projection(in_dim: int, proj_dim: int, nproj: int) -> nn.Sequential:
    """``Dropout`` + ``nproj`` x (``Linear``, ``ReLU``, ``Dropout``): Linear layers at indices 1, 4, 7, ..."""
    layers: list[nn.Module] = [nn.Dropout()]
    for i in range(nproj):
        layers += [nn.Linear(in_dim if i == 0 else proj_dim, proj_dim), nn.ReLU(), nn.Dropout()]
    return nn.Sequential(*layers)


class RINEHead(nn.Module):
    """The trainable part of RINE, with the official state-dict names (``alpha``, ``proj1.*``, ``proj2.*``,
    ``head.*``).

    Args:
        n_blocks: number of transformer blocks tapped (24 for ViT-L/14).
        width: token width of the backbone (1024 for ViT-L/14).
        nproj: Linear layers in each of proj1 and proj2.
        proj_dim: projection width.

    Input ``(N, n_blocks, width)`` float32 CLS tokens; output ``(N, 1)`` logits (``forward``) or ``(logits, z)``
    with ``z`` the ``(N, proj_dim)`` feature of the contrastive loss (:meth:`forward_features`).
    """

    def __init__(self, n_blocks: int, width: int, nproj: int, proj_dim: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(1, n_blocks, proj_dim))
        self.proj1 = _projection(width, proj_dim, nproj)
        self.proj2 = _projection(proj_dim, proj_dim, nproj)
        self.head = nn.Sequential(nn.Linear(proj_dim, proj_dim), nn.ReLU(), nn.Dropout(),
                                  nn.Linear(proj_dim, proj_dim), nn.ReLU(), nn.Dropout(), nn.Linear(proj_dim, 1))

    def forward_features(self, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g = self.proj1(g.float())
        z = torch.sum(torch.softmax(self.alpha, dim=1) * g, dim=1)
        z = self.proj2(z)
        return self.head(z), z

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        return self.forward_features(g)[0]


def rine_config(state: Mapping[str, torch.Tensor]) -> dict[str, int] | None:
    """``{n_blocks, width, nproj, proj_dim}`` read from an official trainable-part state dict, or ``None`` when the
    dict does not have RINE's layout (then strict loading reports the key differences).

    ``alpha`` is ``[1, n_blocks, proj_dim]``; ``proj1.1.weight`` is ``[proj_dim, width]``; nproj counts the
    ``proj1.<i>.weight`` entries.
    """
    alpha, first = state.get("alpha"), state.get("proj1.1.weight")
    if alpha is None or first is None or alpha.dim() != 3 or first.dim() != 2:
        return None
    nproj = len({m.group(1) for k in state if (m := re.fullmatch(r"proj1\.(\d+)\.weight", k))})
    return {"n_blocks": int(alpha.shape[1]), "width": int(first.shape[1]), "nproj": nproj,
            "proj_dim": int(alpha.shape[2])}


class RINENet(nn.Module):
    """CLIP visual tower + :class:`RINEHead`: ``(N, 3, 224, 224)`` CLIP-normalised float32 -> ``(N, 1)`` logits.

    Forward hooks on each residual block's ``ln_2`` keep its CLS token during the backbone's forward (the official
    ``Hook`` class does the same on every module named ``*ln_2*``); they are registered for each call only.

    Args:
        visual: an open_clip ``VisionTransformer`` (``transformer.resblocks[i].ln_2``).
        head: the trainable part.

    Raises:
        CheckpointError: the backbone has no ``ln_2`` blocks, or their count/width differs from the head's.
    """

    def __init__(self, visual: nn.Module, head: RINEHead) -> None:
        super().__init__()
        self.visual = visual
        self.head = head
        transformer = getattr(visual, "transformer", None)
        blocks = list(getattr(transformer, "resblocks", []))
        if not blocks or not all(hasattr(b, "ln_2") for b in blocks):
            raise CheckpointError(f"RINE needs a CLIP ViT backbone with ln_2 in each residual block; got "
                                  f"{type(visual).__name__}.")
        n_blocks, width = head.alpha.shape[1], head.proj1[1].in_features
        if len(blocks) != n_blocks or blocks[0].ln_2.normalized_shape[0] != width:
            raise CheckpointError(
                f"RINE head expects {n_blocks} blocks of width {width}, but the CLIP backbone has {len(blocks)} blocks "
                f"of width {blocks[0].ln_2.normalized_shape[0]}: the head and backbone do not belong together.")
        self._batch_first = bool(getattr(transformer, "batch_first", True))

    def cls_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, n_blocks, width)``: the CLS token after each block's ``ln_2`` for input ``(N, 3, H, W)``.

        The hooks live only during this call (a backbone shared by several detectors keeps no stale hooks)."""
        blocks = self.visual.transformer.resblocks
        tokens: list[torch.Tensor | None] = [None] * len(blocks)

        def tap(index: int):
            def hook(module: nn.Module, args: Any, output: torch.Tensor) -> None:
                tokens[index] = output[:, 0] if self._batch_first else output[0]
            return hook

        handles = [block.ln_2.register_forward_hook(tap(i)) for i, block in enumerate(blocks)]
        try:
            self.visual(x)
        finally:
            for handle in handles:
                handle.remove()
        return torch.stack(tokens, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.cls_tokens(x))


def ten_crop(batch: torch.Tensor, size: int = TENCROP_SIZE) -> torch.Tensor:
    """torchvision's ``TenCrop(size)`` on a batch: ``(N, 3, H, W)`` -> ``(N * 10, 3, size, size)``, image-major,
    crops in torchvision's order (top-left, top-right, bottom-left, bottom-right, centre, then the same five of the
    horizontally flipped image). On a normalised tensor this equals cropping before ``ToTensor``/``Normalize``.

    Raises:
        ValueError: ``H`` or ``W`` is under ``size`` (the official TenCrop refuses such images too).
    """
    height, width = batch.shape[-2:]
    if height < size or width < size:
        raise ValueError(f"RINE preset tencrop224 needs images of at least {size}x{size} pixels, got {width}x{height} "
                         f"(the official TenCrop refuses them); use preset crop224, which zero-pads.")
    crops = TF.ten_crop(batch, [size, size])  # 10 tensors of (N, 3, size, size)
    return torch.stack(crops, dim=1).reshape(-1, batch.shape[1], size, size)


class RINE(BackboneLogitDetector):
    """RINE detector: frozen CLIP ViT-L/14 + the official trainable part. Presets: ``crop224`` (default),
    ``tencrop224``.

    Besides :attr:`weights` (the trainable part), :attr:`backbone` records which CLIP tower was used.
    """

    name = "rine"
    card = RINE_CARD

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None, *, preset: Preset | str | None = None,
             device: str | torch.device = "cpu", cache_dir: str | os.PathLike | None = None,
             backbone: str | os.PathLike | nn.Module | None = None) -> "RINE":
        """Load an official trainable part (``weights``: tag or path) onto a CLIP backbone.

        Args:
            backbone: ``None`` for OpenAI ViT-L/14 via open_clip (cached under ``<cache>/open_clip``), a path to an
                OpenAI-format CLIP state dict (CLI: ``-O backbone=PATH``), or an already-built visual module.

        Raises:
            CheckpointError: unreadable file, sha256 mismatch, keys/shapes that do not match (listed), or a head whose
                block count/width differs from the backbone's.
            WeightsNotFoundError: the backbone or the weights cannot be obtained (offline).
        """
        from fakebench.core.env import cache_root
        from fakebench.core.files import sha256_file
        from fakebench.detectors.checkpoints import load_strict, read_checkpoint, unwrap_state_dict, verify_sha256
        from fakebench.detectors.univfd import _openai_vit_l14, load_openai_clip_visual

        path, spec = cls.resolve_weights(weights, cache_dir)
        sha = verify_sha256(path, spec.sha256 if spec else None)
        state = unwrap_state_dict(read_checkpoint(path), path)
        config = rine_config(state) or {"n_blocks": 24, "width": 1024, "nproj": 4, "proj_dim": 1024}
        head = RINEHead(**config)
        load_strict(head, state, path, what="RINE trainable part")
        if backbone is None:
            visual = _openai_vit_l14(Path(cache_dir or cache_root()) / "open_clip", who="RINE")
            backbone_info: dict[str, Any] = {"name": "open_clip ViT-L-14 openai"}
        elif isinstance(backbone, nn.Module):
            visual, backbone_info = backbone, {"name": type(backbone).__name__}
        else:
            visual = load_openai_clip_visual(backbone)
            backbone_info = {"name": "openai-format state dict", "path": str(backbone),
                             "sha256": sha256_file(backbone)}
        visual.requires_grad_(False)  # frozen, as the official Model sets requires_grad=False on clip
        model = RINENet(visual, head)
        info = WeightsInfo.of_file(path, spec, sha)
        return cls(model, preset=preset, weights=info, backbone=backbone_info, device=device)

    @classmethod
    def build_model(cls) -> RINENet:
        raise NotImplementedError("RINE needs a CLIP backbone: use RINE.load(..., backbone=...) or RINENet.")

    @property
    def ten_crops(self) -> bool:
        """True for preset ``tencrop224`` (the ten-crop logit average is taken in :meth:`predict`)."""
        return self.preset.name == "tencrop224"

    def input_note(self, image: torch.Tensor) -> str:
        """With ``tencrop224``: a note for images under 224 px (they are refused, as officially); else ``""``."""
        if self.ten_crops and min(image.shape[-2:]) < TENCROP_SIZE:
            return f"under {TENCROP_SIZE} px: refused by the ten-crop protocol (official TenCrop raises)"
        return ""

    @torch.inference_mode()
    def predict(self, batch: torch.Tensor) -> DetectorOutput:
        """``(N, 3, H, W)`` -> ``(N,)`` fake probabilities and logits. With ``tencrop224`` the logit of each image is
        the mean of its ten crop logits (``evaluation(training='ldm')``).

        Raises:
            ValueError: ``tencrop224`` and an image under 224 px.
        """
        if not self.ten_crops:
            return super().predict(batch)
        x = ten_crop(batch.to(self.device, torch.float32))
        logit = self.model(x).reshape(batch.shape[0], 10).mean(1).float().cpu()
        return DetectorOutput(prob=torch.sigmoid(logit), logit=logit)


    def gradcam_layer(self) -> tuple[nn.Module, str, tuple[int, int] | None]:
        """Grad-CAM target (used by ``fakebench.explain.gradcam``): ``ln_1`` of the last CLIP block (as UnivFD), its tokens reshaped to the patch grid."""
        if self.ten_crops:
            raise CheckpointError("Grad-CAM explains one 224x224 input: use RINE with preset crop224.")
        visual = self.model.visual
        blocks = visual.transformer.resblocks
        return blocks[-1].ln_1, f"visual.transformer.resblocks.{len(blocks) - 1}.ln_1", tuple(visual.grid_size)

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        ident["backbone"] = {k: v for k, v in self.backbone.items() if k != "path"}
        return ident
