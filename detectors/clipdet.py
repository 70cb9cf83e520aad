"""CLIP-D (Cozzolino et al., CVPR-W 2024, "Raising the bar"): a linear head on L2-normalised next-to-last CLIP features.

Follows ``grip-unina/ClipBased-SyntheticImageDetection`` @ c76ef7f:

* ``networks/openclipnet.py`` ``OpenClipLinear(pretrain='clipL14commonpool', normalize=True, next_to_last=True)``
  (arch ``opencliplinearnext_clipL14commonpool`` in ``weights/clipdet_latent10k*/config.yaml``): open_clip
  ``create_model('ViT-L-14', pretrained=<laion/CLIP-ViT-L-14-CommonPool.XL-s13B-b90K open_clip_pytorch_model.bin>)``,
  ``visual.proj = None`` so the image feature is the 1024-d CLS token after ``ln_post``; ``encode_image(x,
  normalize=True)`` L2-normalises it; ``fc`` is ``ChannelLinear(1024, 1)`` (an ``nn.Linear`` applied on axis 1).
* ``networks/__init__.py`` ``load_weights``: the file holds ``fc.weight``/``fc.bias`` under ``'model'`` (a
  ``module.`` prefix is stripped) or ``'state_dict'``.
* ``main.py`` ``runnig_tests``: ``Resize(224, BICUBIC)`` on the shorter side, ``CenterCrop(224)``, CLIP mean/std
  (``patch_size: Clip224``, ``norm_type: clip``); the output is a log-likelihood ratio (LLR > 0: synthetic).

fakebench's logit is the LLR and the fake probability is ``sigmoid(LLR)`` (posterior under equal priors), so the
``prob > 0.5`` decision equals the official ``LLR > 0``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fakebench.core.errors import CheckpointError

from fakebench.detectors.base import BackboneLogitDetector, WeightsInfo
from fakebench.detectors.card import Preset
from fakebench.detectors.catalog_clip import CLIPDET_BACKBONE, CLIPDET_CARD

__all__ = ["CLIPDetNet", "build_openclip_visual", "CLIPDet"]


class CLIPDetNet(nn.Module):
    """``fc(normalize(visual(x)))`` with ``visual.proj`` removed.

    Args:
        visual: open_clip ``VisionTransformer`` whose ``proj`` is ``None``: ``(N, 3, 224, 224)`` -> ``(N, width)``.
        fc: ``nn.Linear(width, 1)`` (official state-dict keys ``fc.weight``, ``fc.bias``).

    Output: ``(N, 1)`` float32 LLRs.
    """

    def __init__(self, visual: nn.Module, fc: nn.Linear) -> None:
        super().__init__()
        self.visual = visual
        self.fc = fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.normalize(self.visual(x), dim=-1))


def build_openclip_visual(checkpoint: str | os.PathLike, config: str | os.PathLike | None = None,
                          model_name: str = CLIPDET_BACKBONE[0]) -> nn.Module:
    """Build an open_clip model from a checkpoint file (strictly, as ``create_model(name, pretrained=file)`` in the
    official code) and return its visual tower with the projection removed, fp32, eval mode.

    Args:
        checkpoint: an open_clip checkpoint (``open_clip_pytorch_model.bin``: a state dict of the whole CLIP).
        config: optional open_clip model-config JSON (``{"embed_dim", "vision_cfg", "text_cfg"}``; registered with
            ``open_clip.add_model_config`` under its file stem) for a model other than ``model_name`` (tests use a
            tiny ViT this way).
        model_name: open_clip model config name when ``config`` is not given.

    Raises:
        CheckpointError: the file does not fit the model (open_clip's strict load), naming the file.
    """
    import open_clip

    if config is not None:
        open_clip.add_model_config(Path(config))
        model_name = Path(config).stem
    try:
        model = open_clip.create_model(model_name, pretrained=str(checkpoint), precision="fp32", device="cpu")
    except (RuntimeError, KeyError, ValueError) as exc:
        raise CheckpointError(f"Backbone {str(checkpoint)!r} does not fit open_clip model {model_name!r} "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}).") from exc
    visual = model.visual.float().eval()
    visual.proj = None  # next_to_last=True: the 1024-d ln_post CLS token, not the 768-d projected embedding
    return visual


def _commonpool_vit_l14(cache_dir: str | os.PathLike | None) -> nn.Module:
    """The official backbone file from the hub (through fakebench's hub cache; offline: cache only, fail fast)."""
    from fakebench.hub.fetch import fetch_hub_snapshot

    name, repo, filename = CLIPDET_BACKBONE
    folder = fetch_hub_snapshot(repo, what="clipdet backbone (open_clip ViT-L-14 CommonPool XL, about 1.7 GB)",
                                allow_patterns=[filename], cache_dir=cache_dir)
    return build_openclip_visual(folder / filename, model_name=name)


class CLIPDet(BackboneLogitDetector):
    """CLIP-D detector: frozen CommonPool-XL ViT-L/14 next-to-last features + the official linear head; logit = LLR.
    Preset: ``clip224``.

    Besides :attr:`weights` (the head), :attr:`backbone` records which CLIP tower was used.
    """

    name = "clipdet"
    card = CLIPDET_CARD

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None, *, preset: Preset | str | None = None,
             device: str | torch.device = "cpu", cache_dir: str | os.PathLike | None = None,
             backbone: str | os.PathLike | nn.Module | None = None,
             backbone_config: str | os.PathLike | None = None) -> "CLIPDet":
        """Load the official head (``weights``: tag or path to ``weights.pth``) onto the CLIP backbone.

        Args:
            backbone: ``None`` for the official CommonPool XL ViT-L/14 from the hub (cached under
                ``<cache>/huggingface``), a path to an open_clip checkpoint (CLI: ``-O backbone=PATH``), or a built
                open_clip visual tower / CLIP model (its ``proj`` is removed).
            backbone_config: open_clip model-config JSON for a ``backbone`` file that is not ViT-L-14 (CLI:
                ``-O backbone_config=PATH``).

        Raises:
            CheckpointError: head or backbone file unreadable or mismatched (head width != feature width).
            WeightsNotFoundError: the backbone or head cannot be obtained (offline).
        """
        from fakebench.core.files import sha256_file

        if backbone is None:
            visual = _commonpool_vit_l14(cache_dir)
            backbone_info: dict[str, Any] = {"name": f"open_clip {CLIPDET_BACKBONE[0]} {CLIPDET_BACKBONE[1]}"}
        elif isinstance(backbone, nn.Module):
            visual = getattr(backbone, "visual", backbone)
            visual.proj = None
            backbone_info = {"name": type(backbone).__name__}
        else:
            visual = build_openclip_visual(backbone, backbone_config)
            backbone_info = {"name": "open_clip checkpoint", "path": str(backbone), "sha256": sha256_file(backbone)}
            if backbone_config is not None:
                backbone_info["config_sha256"] = sha256_file(backbone_config)
        visual.requires_grad_(False)  # frozen (forward_features runs under no_grad in the official code)
        width = visual.transformer.width if hasattr(visual, "transformer") else 1024
        model = CLIPDetNet(visual, nn.Linear(width, 1))
        holder = nn.Module()
        holder.fc = model.fc  # load_strict sees the official key names fc.weight / fc.bias
        info = cls.load_into(holder, weights, cache_dir=cache_dir)
        return cls(model, preset=preset, weights=info, backbone=backbone_info, device=device)

    @classmethod
    def build_model(cls) -> CLIPDetNet:
        raise NotImplementedError("CLIP-D needs a CLIP backbone: use CLIPDet.load(..., backbone=...) or CLIPDetNet.")


    def gradcam_layer(self) -> tuple[nn.Module, str, tuple[int, int] | None]:
        """Grad-CAM target (used by ``fakebench.explain.gradcam``): ``ln_1`` of the last CLIP block (as UnivFD), its tokens reshaped to the patch grid."""
        visual = self.model.visual
        blocks = visual.transformer.resblocks
        return blocks[-1].ln_1, f"visual.transformer.resblocks.{len(blocks) - 1}.ln_1", tuple(visual.grid_size)

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        ident["backbone"] = {k: v for k, v in self.backbone.items() if k != "path"}
        return ident
