"""UnivFD (Ojha, Li and Lee, CVPR 2023): a linear head on frozen CLIP ViT-L/14 image embeddings.

Follows ``Yuheng-Li/UniversalFakeDetect`` @ 1abc486: ``models/clip_models.py`` ``CLIPModel.forward`` is
``fc(clip.encode_image(x))`` -- the CLS token after ``ln_post`` times ``visual.proj`` (768-d), **not** L2-normalised --
and ``fc`` is ``nn.Linear(768, 1)`` loaded from ``pretrained_weights/fc_weights.pth`` (``{weight: [1, 768],
bias: [1]}``, saved on ``cuda:0``). ``clip.load(..., device="cpu")`` casts the model to fp32, so inference runs in
fp32 here too. Test transform (``validate.py``): ``CenterCrop(224)`` without resize (smaller images are zero-padded),
CLIP mean/std (preset ``crop224``).

The backbone is OpenAI CLIP ViT-L/14 built by open_clip (``ViT-L-14``, pretrained ``openai``), or any CLIP visual
tower given as an OpenAI-format state dict file (``visual.conv1.weight``, ``visual.proj``, ...), which is how the
parity fixture's tiny ViT is loaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fakebench.core.errors import CheckpointError, WeightsNotFoundError

from fakebench.detectors.base import BackboneLogitDetector, WeightsInfo
from fakebench.detectors.card import Preset
from fakebench.detectors.catalog import UNIVFD_CARD

__all__ = ["UnivFDNet", "build_openai_clip_visual", "load_openai_clip_visual", "UnivFD"]

EMBED_DIM = 768


class UnivFDNet(nn.Module):
    """``fc(visual(x))``: CLIP image embedding (un-normalised) -> one logit.

    Args:
        visual: CLIP visual tower mapping ``(N, 3, 224, 224)`` float32 to ``(N, D)`` embeddings.
        fc: ``nn.Linear(D, 1)`` head (state-dict keys ``fc.weight``, ``fc.bias``).
    """

    def __init__(self, visual: nn.Module, fc: nn.Linear) -> None:
        super().__init__()
        self.visual = visual
        self.fc = fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.visual(x))


def build_openai_clip_visual(state_dict: dict[str, torch.Tensor]) -> nn.Module:
    """Build a CLIP visual tower, in fp32 and eval mode, from an OpenAI-format CLIP state dict.

    Uses open_clip's ``build_model_from_openai_state_dict`` (QuickGELU, pre-norm ViT, as OpenAI CLIP) and keeps its
    ``visual`` module.

    Raises:
        CheckpointError: the dict is not an OpenAI CLIP ViT state dict.
    """
    from open_clip.model import build_model_from_openai_state_dict

    try:
        clip = build_model_from_openai_state_dict(dict(state_dict), quick_gelu=True, cast_dtype=None)
    except (KeyError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"Not an OpenAI-format CLIP ViT state dict ({type(exc).__name__}: {exc}).") from exc
    return clip.visual.float().eval()


def load_openai_clip_visual(path: str | os.PathLike) -> nn.Module:
    """Read an OpenAI-format CLIP state dict file (``weights_only``) and build its visual tower.

    Raises:
        CheckpointError: unreadable file or not a CLIP state dict (the message names the file).
    """
    from fakebench.detectors.checkpoints import read_checkpoint, unwrap_state_dict

    state = unwrap_state_dict(read_checkpoint(path), path, nested_keys=("state_dict", "model"))
    try:
        return build_openai_clip_visual(state)
    except CheckpointError as exc:
        raise CheckpointError(f"Backbone {str(path)!r}: {exc} Pass a CLIP ViT state dict in the OpenAI key format.") from exc


def _openai_vit_l14(cache_dir: Path, who: str = "UnivFD") -> nn.Module:
    """OpenAI CLIP ViT-L/14 through open_clip (fetched from the Hugging Face hub into ``cache_dir``); ``who`` names the
    detector in the error message (RINE shares this backbone).

    Raises:
        WeightsNotFoundError: the backbone cannot be loaded (offline, not cached).
    """
    import open_clip

    try:
        model = open_clip.create_model("ViT-L-14", pretrained="openai", precision="fp32", device="cpu",
                                       cache_dir=str(cache_dir), require_pretrained=True)
    except Exception as exc:  # network, offline-mode and missing-file errors come in many types
        raise WeightsNotFoundError(
            f"{who} needs the OpenAI CLIP ViT-L/14 backbone (open_clip 'ViT-L-14', pretrained 'openai', hub repo "
            f"timm/vit_large_patch14_clip_224.openai, about 890 MB), which could not be loaded into {cache_dir} "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:160]}). Run once with network access, or pass an "
            f"OpenAI-format CLIP state dict file (CLI: -O backbone=PATH; Python: backbone=PATH)."
        ) from exc
    return model.visual.float().eval()


class UnivFD(BackboneLogitDetector):
    """UnivFD detector: frozen CLIP ViT-L/14 + the official 768->1 head. Presets: ``crop224`` (official), ``clip``.

    Besides :attr:`weights` (the head), :attr:`backbone` records which CLIP tower was used.
    """

    name = "univfd"
    card = UNIVFD_CARD

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None, *, preset: Preset | str | None = None,
             device: str | torch.device = "cpu", cache_dir: str | os.PathLike | None = None,
             backbone: str | os.PathLike | nn.Module | None = None) -> "UnivFD":
        """Load the head (``weights``: tag or path to ``fc_weights.pth``) onto a CLIP backbone.

        Args:
            backbone: ``None`` for OpenAI ViT-L/14 via open_clip (cached under ``<cache>/open_clip``), a path to an
                OpenAI-format CLIP state dict, or an already-built visual module.

        Raises:
            CheckpointError: head or backbone file unreadable or mismatched (e.g. head width != embedding width).
            WeightsNotFoundError: the backbone or head cannot be obtained (offline).
        """
        from fakebench.core.env import cache_root
        from fakebench.core.files import sha256_file

        if backbone is None:
            visual = _openai_vit_l14(Path(cache_dir or cache_root()) / "open_clip")
            backbone_info: dict[str, Any] = {"name": "open_clip ViT-L-14 openai"}
        elif isinstance(backbone, nn.Module):
            visual, backbone_info = backbone, {"name": type(backbone).__name__}
        else:
            visual = load_openai_clip_visual(backbone)
            backbone_info = {"name": "openai-format state dict", "path": str(backbone), "sha256": sha256_file(backbone)}
        visual.requires_grad_(False)  # frozen, as in the paper (--fix_backbone); also keeps torch on the inference path
        width = visual.output_dim if hasattr(visual, "output_dim") else EMBED_DIM
        model = UnivFDNet(visual, nn.Linear(width, 1))
        info = cls.load_into(model.fc, weights, cache_dir=cache_dir)
        return cls(model, preset=preset, weights=info, backbone=backbone_info, device=device)

    @classmethod
    def build_model(cls) -> UnivFDNet:
        raise NotImplementedError("UnivFD needs a CLIP backbone: use UnivFD.load(..., backbone=...) or UnivFDNet.")

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        ident["backbone"] = {k: v for k, v in self.backbone.items() if k != "path"}
        return ident
