"""Community Forensics (Park and Owens, CVPR 2025): a fine-tuned timm ViT-S/16 with a one-logit head.

Follows ``JeongsooP/Community-Forensics`` @ 5ec815f: ``models.py`` ``ViTClassifier(model_size="small",
input_size=384|224, patch_size=16)`` is ``timm.create_model('vit_small_patch16_{384,224}.augreg_in21k_ft_in1k')`` with
``vit.head = nn.Linear(384, 1)``; ``forward(x) = vit(x)``, the logit; ``eval.py`` scores ``sigmoid(logit)``. The
Hugging Face releases ``OwensLab/commfor-model-384`` / ``-224`` are ``PyTorchModelHubMixin`` folders
(``model.safetensors`` + ``config.json``) whose tensors are named ``vit.*``. Test transform (``dataloader.py``
``get_transform(mode="test")``): ``Resize(440)`` bilinear on the shorter side, ``CenterCrop(384)`` (``256``/``224``
for the 224 model), ``ToTensor``, ImageNet mean/std.

The ViT's shape (input size, patch, width, depth, MLP width) is read from the tensors (:func:`vit_config_from_state
_dict`), so the same loader reads both releases and the parity fixture's tiny ViT. Safetensors files are read with
``safetensors`` (no pickle); a PyTorch checkpoint ``{'model': state_dict}`` (the README's Dropbox files, written by
``train.py``; ``_orig_mod.`` prefixes of ``torch.compile`` stripped, as ``utils.load_only_weights`` does) with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from fakebench.core.errors import CheckpointError

from fakebench.detectors.base import LogitDetector, WeightsInfo
from fakebench.detectors.card import Preset
from fakebench.detectors.catalog_clip import COMMFOR_CARD

__all__ = ["CommForNet", "read_commfor_weights", "vit_config_from_state_dict", "CommFor"]

#: The preset of each input size (dataloader.py determine_resize_crop_sizes).
PRESET_FOR_SIZE = {384: "resize440_crop384", 224: "resize256_crop224"}


def read_commfor_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state dict of a release: ``model.safetensors`` (or any ``.safetensors``), or a PyTorch checkpoint.

    Raises:
        CheckpointError: unreadable or not a state dict (the message names the file).
    """
    from fakebench.detectors.checkpoints import read_checkpoint, unwrap_state_dict

    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"Cannot read {str(path)!r} as safetensors ({type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0][:200]}); download it again.") from exc
    return unwrap_state_dict(read_checkpoint(path), path, strip_prefixes=("module.", "_orig_mod."))


def vit_config_from_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """timm ``VisionTransformer`` arguments of the ``vit.*`` tensors: ``img_size``, ``patch_size``, ``embed_dim``,
    ``depth``, ``num_heads`` (``embed_dim // 64``, as every timm ViT-Ti/S/B: 3/6/12 heads) and ``mlp_ratio``.

    Raises:
        CheckpointError: the tensors these come from are missing (not a Community Forensics checkpoint).
    """
    try:
        embed = int(state["vit.cls_token"].shape[-1])
        patch = int(state["vit.patch_embed.proj.weight"].shape[-1])
        tokens = int(state["vit.pos_embed"].shape[1])
        hidden = int(state["vit.blocks.0.mlp.fc1.weight"].shape[0])
    except KeyError as exc:
        raise CheckpointError(f"Not a Community Forensics checkpoint: no {exc.args[0]!r} (first keys: "
                              f"{sorted(state)[:5]}); expected the ViTClassifier tensors 'vit.*'.") from None
    depth = len({k.split(".")[2] for k in state if k.startswith("vit.blocks.")})
    return {"img_size": round((tokens - 1) ** 0.5) * patch, "patch_size": patch, "embed_dim": embed, "depth": depth,
            "num_heads": max(1, embed // 64), "mlp_ratio": hidden / embed}


class CommForNet(nn.Module):
    """``ViTClassifier``: ``self.vit`` is a timm ``VisionTransformer`` with ``head = Linear(embed_dim, 1)`` (state-dict
    keys ``vit.*``).

    Args:
        vit_config: :func:`vit_config_from_state_dict` output (default: ViT-S/16 at 384).

    Input ``(N, 3, S, S)`` ImageNet-normalised float32 (``S`` = ``img_size``); output ``(N, 1)`` logits.
    """

    def __init__(self, vit_config: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        import timm

        config = dict(vit_config or {"img_size": 384, "patch_size": 16, "embed_dim": 384, "depth": 12,
                                     "num_heads": 6, "mlp_ratio": 4.0})
        # vit_small_patch16_384's defaults (class token, token pooling, qkv bias, LayerNorm eps 1e-6) with the shape
        # overridden from the checkpoint; num_classes=1 is the official Linear(embed_dim, 1) head
        self.vit = timm.create_model("vit_small_patch16_384", pretrained=False, num_classes=1, **config)
        self.img_size = int(config["img_size"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.vit(x)


class CommFor(LogitDetector):
    """Community Forensics detector (ViT-S/16 -> 1 logit). Presets: ``resize440_crop384`` (384 model, default),
    ``resize256_crop224`` (224 model)."""

    name = "commfor"
    card = COMMFOR_CARD

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None, *, preset: Preset | str | None = None,
             device: str | torch.device = "cpu", cache_dir: str | os.PathLike | None = None) -> "CommFor":
        """Load a release (``weights``: tag, ``model.safetensors`` path, or a PyTorch checkpoint) strictly.

        With ``preset=None`` a file gets the preset of its input size (384: ``resize440_crop384``, 224:
        ``resize256_crop224``).

        Raises:
            CheckpointError: unreadable, not a Community Forensics checkpoint, keys/shapes that do not match (listed),
                or a preset whose crop differs from the network's input size.
            WeightsNotFoundError: a tag that is neither cached nor downloadable.
        """
        from fakebench.detectors.checkpoints import load_strict, verify_sha256

        path, spec = cls.resolve_weights(weights, cache_dir)
        sha = verify_sha256(path, spec.sha256 if spec else None)
        state = read_commfor_weights(path)
        model = CommForNet(vit_config_from_state_dict(state))
        load_strict(model, state, path, what="Community Forensics ViTClassifier")
        model.requires_grad_(False)
        if preset is None and spec is None:
            preset = PRESET_FOR_SIZE.get(model.img_size)
        det = cls(model, preset=preset, weights=WeightsInfo.of_file(path, spec, sha), device=device)
        if det.preset.crop != model.img_size:
            raise CheckpointError(f"Checkpoint {str(path)!r} is a {model.img_size}-px model but preset "
                                  f"{det.preset.name!r} crops {det.preset.crop} px; use preset "
                                  f"{PRESET_FOR_SIZE.get(model.img_size, 'with a matching crop')!r}.")
        return det

    @classmethod
    def build_model(cls) -> CommForNet:
        """The untrained ViT-S/16 at 384 px with the one-logit head."""
        return CommForNet()

    def gradcam_layer(self) -> tuple[nn.Module, str, tuple[int, int] | None]:
        """Grad-CAM target (used by ``fakebench.explain.gradcam``): ``norm1`` of the last ViT block, its tokens reshaped to the patch grid."""
        vit = self.model.vit
        return vit.blocks[-1].norm1, f"vit.blocks.{len(vit.blocks) - 1}.norm1", tuple(vit.patch_embed.grid_size)
