"""C2P-CLIP (Tan et al., AAAI 2025): a linear head on the L2-normalised CLIP ViT-L/14 image embedding.

Follows ``chuangchuangtan/C2P-CLIP-DeepfakeDetection`` @ 27b5232, ``inference.py`` ``C2P_CLIP``: a transformers
``CLIPModel`` (``openai/clip-vit-large-patch14``) with the text tower deleted; ``encode_image`` is
``visual_projection(vision_model(img)[1])`` (the pooled, post-LayerNormed CLS token projected to 768-d), divided by its
L2 norm, then ``fc = nn.Linear(768, 1)``; ``model(img).sigmoid()`` is the fake probability. The release
(``C2P_CLIP_release_20240901.zip``) is a zip holding one torch file with the full state dict (``model.vision_model.*``,
``model.visual_projection.weight``, ``model.fc.*``), read by ``torch.hub.load_state_dict_from_url`` and loaded with
``strict=True``. Test transform (``data.py`` ``dataset_folder``): ``Resize(224)`` (bilinear, shorter side),
``CenterCrop(224)``, CLIP mean/std.

The image tower's shape is read from the checkpoint (:func:`vision_config_from_state_dict`), so the same loader reads
the real ViT-L/14 release and the parity fixture's tiny tower; nothing is downloaded besides the release itself.
Requires ``transformers`` (``pip install 'fakebench[clip]'``).
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from fakebench.core.errors import CheckpointError, FakebenchError

from fakebench.detectors.base import LogitDetector, WeightsInfo
from fakebench.detectors.card import Preset
from fakebench.detectors.catalog_clip import C2P_CLIP_CARD

__all__ = ["C2PCLIPNet", "read_release", "vision_config_from_state_dict", "C2PCLIP"]

_PREFIX = "model.vision_model."


def read_release(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read the official release: a zip holding one torch file (``torch.hub``'s legacy-zip layout), or that torch file
    itself; ``torch.load(weights_only=True)`` either way.

    Returns:
        The flat state dict.

    Raises:
        CheckpointError: unreadable, a zip with other than one file, or no state dict inside (the message names the
            file).
    """
    from fakebench.detectors.checkpoints import read_checkpoint, unwrap_state_dict

    path = Path(path)
    if path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            if len(members) == 1:  # torch.hub's legacy zip; a torch.save file is a zip of many members
                try:
                    obj = torch.load(io.BytesIO(zf.read(members[0])), map_location="cpu", weights_only=True)
                except Exception as exc:  # noqa: BLE001 - every failure becomes one message naming the file
                    raise CheckpointError(
                        f"Cannot read {members[0].filename!r} inside {str(path)!r} as a torch file with weights_only="
                        f"True ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); download it again."
                    ) from exc
                return unwrap_state_dict(obj, path)
    return unwrap_state_dict(read_checkpoint(path), path)


def vision_config_from_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """transformers ``CLIPVisionConfig`` arguments of the tower stored in a C2P-CLIP state dict.

    Width, depth, MLP width, patch size, image size and projection width come from the tensor shapes; heads are
    ``width // 64`` and the activation QuickGELU with LayerNorm eps 1e-5, as in every OpenAI CLIP ViT
    (openai/clip-vit-large-patch14: 16 heads of 64).

    Raises:
        CheckpointError: the dict lacks the tensors these are read from (not a C2P-CLIP checkpoint).
    """
    try:
        width = int(state[_PREFIX + "embeddings.class_embedding"].shape[0])
        patch = int(state[_PREFIX + "embeddings.patch_embedding.weight"].shape[-1])
        positions = int(state[_PREFIX + "embeddings.position_embedding.weight"].shape[0])
        mlp = int(state[_PREFIX + "encoder.layers.0.mlp.fc1.weight"].shape[0])
        projection = int(state["model.visual_projection.weight"].shape[0])
    except KeyError as exc:
        top = sorted(state)[:5]
        raise CheckpointError(f"Not a C2P-CLIP checkpoint: no {exc.args[0]!r} (first keys: {top}); expected the "
                              f"full C2P_CLIP state dict ('model.vision_model.*', 'model.fc.*').") from None
    layers = len({k.split(".")[4] for k in state if k.startswith(_PREFIX + "encoder.layers.")})
    side = round((positions - 1) ** 0.5)
    return {"hidden_size": width, "intermediate_size": mlp, "num_hidden_layers": layers,
            "num_attention_heads": max(1, width // 64), "patch_size": patch, "image_size": side * patch,
            "projection_dim": projection, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5}


class C2PCLIPNet(nn.Module):
    """The official ``C2P_CLIP`` module layout: ``self.model`` holds ``vision_model``, ``visual_projection`` and
    ``fc`` (so state-dict keys are ``model.vision_model.*``, ``model.visual_projection.weight``, ``model.fc.*``).

    Args:
        vision_config: ``CLIPVisionConfig`` keyword arguments (see :func:`vision_config_from_state_dict`).

    Input ``(N, 3, S, S)`` CLIP-normalised float32 (``S`` = image size, 224); output ``(N, 1)`` logits.
    """

    def __init__(self, vision_config: Mapping[str, Any]) -> None:
        super().__init__()
        try:
            from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection
        except ImportError as exc:
            raise FakebenchError("c2p_clip needs transformers: pip install 'fakebench[clip]'.") from exc
        config = CLIPVisionConfig(**dict(vision_config))
        config._attn_implementation = "eager"  # the official environment (transformers 4.42.3) has no SDPA for CLIP
        self.model = CLIPVisionModelWithProjection(config)
        self.model.fc = nn.Linear(config.projection_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        embeds = self.model(pixel_values=x).image_embeds
        embeds = embeds / embeds.norm(p=2, dim=-1, keepdim=True)
        return self.model.fc(embeds)


class C2PCLIP(LogitDetector):
    """C2P-CLIP detector (fine-tuned CLIP ViT-L/14 image tower + linear head). Preset: ``resize224_crop224``."""

    name = "c2p_clip"
    card = C2P_CLIP_CARD

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None, *, preset: Preset | str | None = None,
             device: str | torch.device = "cpu", cache_dir: str | os.PathLike | None = None) -> "C2PCLIP":
        """Load the release (``weights``: tag, the release zip, or the torch file inside it) strictly.

        Raises:
            CheckpointError: unreadable file, sha256 mismatch, not a C2P-CLIP state dict, or keys/shapes that do not
                match (listed).
            WeightsNotFoundError: the release is neither cached nor downloadable.
        """
        from fakebench.detectors.checkpoints import load_strict, verify_sha256

        path, spec = cls.resolve_weights(weights, cache_dir)
        sha = verify_sha256(path, spec.sha256 if spec else None)
        state = read_release(path)
        model = C2PCLIPNet(vision_config_from_state_dict(state))
        load_strict(model, state, path, what="C2P-CLIP model")
        model.requires_grad_(False)
        return cls(model, preset=preset, weights=WeightsInfo.of_file(path, spec, sha), device=device)

    @classmethod
    def build_model(cls) -> C2PCLIPNet:
        """The untrained ViT-L/14 layout (openai/clip-vit-large-patch14)."""
        return C2PCLIPNet({"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
                           "num_attention_heads": 16, "patch_size": 14, "image_size": 224, "projection_dim": 768,
                           "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5})

    def gradcam_layer(self) -> tuple[nn.Module, str, tuple[int, int] | None]:
        """Grad-CAM target (used by ``fakebench.explain.gradcam``): ``layer_norm1`` of the last encoder layer, its tokens reshaped to the patch grid."""
        config = self.model.model.config
        layers = self.model.model.vision_model.encoder.layers
        side = config.image_size // config.patch_size
        return (layers[-1].layer_norm1, f"model.vision_model.encoder.layers.{len(layers) - 1}.layer_norm1",
                (side, side))
