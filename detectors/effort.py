"""Effort (Yan et al., ICML 2025): CLIP ViT-L/14 whose self-attention weights are split by SVD into a frozen principal
part and a trained rank-1 residual, with a 2-way head on the pooled output.

Follows ``YZY-stack/Effort-AIGI-Detection`` @ 96f5dea, ``DeepfakeBench/training``:

* ``detectors/effort_detector.py`` ``EffortDetector``: ``backbone`` = transformers ``CLIPModel.from_pretrained(
  "openai/clip-vit-large-patch14").vision_model`` after ``apply_svd_residual_to_self_attn(r=1024 - 1)``, which replaces
  the ``q_proj``/``k_proj``/``v_proj``/``out_proj`` linears of every ``self_attn`` by ``SVDResidualLinear``: parameters
  ``weight_main`` (``U[:, :r] diag(S[:r]) Vh[:r]``, frozen), ``bias``, ``U_residual`` / ``S_residual`` /
  ``V_residual`` (the remaining components, trained) and ``U_r`` / ``S_r`` / ``V_r`` (the kept ones, saved but unused
  at inference); forward ``F.linear(x, weight_main + U_residual @ diag(S_residual) @ V_residual, bias)``.
  ``head = nn.Linear(1024, 2)`` on ``backbone(x)['pooler_output']`` (post-LayerNorm CLS token);
  ``prob = softmax(cls)[:, 1]``.
* Preprocessing, two official paths (both cv2, both CLIP mean/std, ``effort.yaml``):

  - ``cv2_cubic224`` (default): ``dataset/abstract_dataset.py`` ``load_rgb`` as ``test.py`` runs it:
    ``cv2.resize(img, (224, 224), interpolation=cv2.INTER_CUBIC)`` on the RGB image, ToTensor, Normalize;
  - ``cv2_linear224``: the README's ``demo.py`` ``preprocess_face`` (``cv2.INTER_LINEAR``).

  Square resizes ignore the aspect ratio. They need OpenCV (``pip install fakebench[foundation]``).

The released checkpoints hold the whole backbone (``{'module.backbone.*', 'module.head.*'}`` from a DataParallel
model, as users of the GenImage checkpoint report in upstream issue #14), so no pretrained CLIP is fetched: the network
is built from the checkpoint's shapes (:meth:`EffortConfig.from_state_dict`; heads = width // 64 as in every OpenAI
CLIP ViT) and loaded strictly. The official ``demo.py`` loads with ``strict=False`` (its "FIXME"); here every key must
match, so a checkpoint of another layout (e.g. the UnivFD-codebase ``model.vision_model.*`` / ``fc.*``) fails with the
key list instead of scoring with random weights.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from fakebench.core.errors import CheckpointError

from fakebench.detectors.base import DetectorOutput, LogitDetector, WeightsInfo
from fakebench.detectors.card import Preset
from fakebench.detectors.catalog_foundation import EFFORT_CARD

__all__ = ["EffortConfig", "SVDResidualLinear", "EffortNet", "EffortTransform", "Effort", "CLIP_VIT_L14"]

_POSITION_IDS = "backbone.embeddings.position_ids"


@dataclass(frozen=True)
class EffortConfig:
    """Shape of an Effort network (transformers ``CLIPVisionConfig`` fields plus the SVD split).

    Attributes:
        hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, patch_size, image_size: the CLIP vision
            tower (ViT-L/14: 1024, 4096, 24, 16, 14, 224).
        rank_main: singular components kept in ``weight_main`` (1023 for ViT-L/14).
        rank_residual: trained residual components (1), 0 when the official code made none.
        num_classes: head outputs (2).
    """

    hidden_size: int = 1024
    intermediate_size: int = 4096
    num_hidden_layers: int = 24
    num_attention_heads: int = 16
    patch_size: int = 14
    image_size: int = 224
    rank_main: int = 1023
    rank_residual: int = 1
    num_classes: int = 2

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor], path: str | os.PathLike = "") -> "EffortConfig":
        """Read the shapes from an Effort checkpoint (keys ``backbone.*`` and ``head.*``).

        Raises:
            CheckpointError: the keys are not the Effort detector's (the message names what was found).
        """
        needed = ("backbone.embeddings.class_embedding", "backbone.embeddings.patch_embedding.weight",
                  "backbone.encoder.layers.0.self_attn.q_proj.weight_main", "head.weight")
        if not all(k in state for k in needed):
            hint = (" It looks like a checkpoint of the UnivFD-codebase variant ('model.vision_model.*', 'fc.*'), "
                    "which this port does not cover." if any(k.startswith("model.vision_model.") for k in state) else "")
            raise CheckpointError(f"Checkpoint {str(path)!r} is not an Effort (DeepfakeBench EffortDetector) checkpoint: "
                                  f"expected keys {list(needed)} (after removing 'module.'), found e.g. "
                                  f"{sorted(state)[:4]}.{hint}")
        hidden = int(state["backbone.embeddings.class_embedding"].shape[0])
        patch = int(state["backbone.embeddings.patch_embedding.weight"].shape[-1])
        positions = int(state["backbone.embeddings.position_embedding.weight"].shape[0])
        layers = {int(m.group(1)) for k in state if (m := re.match(r"backbone\.encoder\.layers\.(\d+)\.", k))}
        q = "backbone.encoder.layers.0.self_attn.q_proj."
        grid = round((positions - 1) ** 0.5)
        return cls(hidden_size=hidden,
                   intermediate_size=int(state["backbone.encoder.layers.0.mlp.fc1.weight"].shape[0]),
                   num_hidden_layers=max(layers) + 1, num_attention_heads=max(hidden // 64, 1), patch_size=patch,
                   image_size=grid * patch,
                   rank_main=int(state[q + "S_r"].shape[0]) if q + "S_r" in state else 0,
                   rank_residual=int(state[q + "S_residual"].shape[0]) if q + "S_residual" in state else 0,
                   num_classes=int(state["head.weight"].shape[0]))


#: OpenAI CLIP ViT-L/14 (``openai/clip-vit-large-patch14``) with ``r = 1024 - 1``.
CLIP_VIT_L14 = EffortConfig()


class SVDResidualLinear(nn.Module):
    """A linear layer ``y = x (W_main + U_res diag(S_res) V_res)^T + b`` with the official parameter names.

    Args:
        in_features, out_features: sizes; ``x`` is ``(..., in_features)`` float32.
        rank_main: length of ``S_r`` (0 = the official code stored no SVD parts).
        rank_residual: length of ``S_residual`` (0 = no residual; the layer is then ``weight_main`` alone).
    """

    def __init__(self, in_features: int, out_features: int, rank_main: int, rank_residual: int) -> None:
        super().__init__()
        self.weight_main = nn.Parameter(torch.empty(out_features, in_features), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(out_features))
        if rank_residual:
            self.S_residual = nn.Parameter(torch.empty(rank_residual))
            self.U_residual = nn.Parameter(torch.empty(out_features, rank_residual))
            self.V_residual = nn.Parameter(torch.empty(rank_residual, in_features))
            self.S_r = nn.Parameter(torch.empty(rank_main), requires_grad=False)
            self.U_r = nn.Parameter(torch.empty(out_features, rank_main), requires_grad=False)
            self.V_r = nn.Parameter(torch.empty(rank_main, in_features), requires_grad=False)
        else:
            self.S_residual = self.U_residual = self.V_residual = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight_main
        if self.S_residual is not None:
            weight = weight + self.U_residual @ torch.diag(self.S_residual) @ self.V_residual
        return F.linear(x, weight, self.bias)


def _clip_vision_tower(vision_config) -> nn.Module:
    """``CLIPModel(...).vision_model`` of the installed transformers, with keys ``embeddings.*``, ``encoder.*``,
    ``pre_layrnorm.*``, ``post_layernorm.*`` (transformers 4.x: ``CLIPVisionTransformer``; 5.x: ``CLIPVisionModel``,
    whose keys lost the ``vision_model.`` level)."""
    try:
        from transformers.models.clip.modeling_clip import CLIPVisionTransformer as tower
    except ImportError:
        from transformers import CLIPVisionModel as tower
    module = tower(vision_config)
    if not any(k.startswith("embeddings.") for k in module.state_dict()):
        raise RuntimeError(f"transformers {type(module).__name__} has unexpected keys; Effort needs the CLIP vision "
                           f"tower with 'embeddings.*' at the top level (transformers 4.x or 5.x).")
    return module


class EffortNet(nn.Module):
    """``head(backbone(x).pooler_output)``: ``(N, 3, 224, 224)`` float32 -> ``(N, 2)`` logits (real, fake)."""

    def __init__(self, config: EffortConfig) -> None:
        super().__init__()
        from transformers import CLIPVisionConfig

        self.config = config
        vision = CLIPVisionConfig(hidden_size=config.hidden_size, intermediate_size=config.intermediate_size,
                                  num_hidden_layers=config.num_hidden_layers,
                                  num_attention_heads=config.num_attention_heads, patch_size=config.patch_size,
                                  image_size=config.image_size, hidden_act="quick_gelu", layer_norm_eps=1e-5)
        self.backbone = _clip_vision_tower(vision)
        for layer in self.backbone.encoder.layers:
            for name in ("k_proj", "v_proj", "q_proj", "out_proj"):
                old = getattr(layer.self_attn, name)
                setattr(layer.self_attn, name, SVDResidualLinear(old.in_features, old.out_features, config.rank_main,
                                                                 config.rank_residual))
        self.head = nn.Linear(config.hidden_size, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(pixel_values=x).pooler_output)


_CV2_FLAGS = {"bicubic": "INTER_CUBIC", "bilinear": "INTER_LINEAR"}


class EffortTransform:
    """PIL RGB image -> ``cv2.resize`` to ``size`` x ``size`` (aspect ignored) -> ToTensor -> Normalize.

    Returns:
        ``(3, size, size)`` float32 tensor.

    Raises:
        ImportError: OpenCV is not installed (``pip install fakebench[foundation]``).
    """

    def __init__(self, size: int, interpolation: str, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        if interpolation not in _CV2_FLAGS:
            raise ValueError(f"Effort presets resize with cv2 bicubic or bilinear, not {interpolation!r}.")
        self.size, self.interpolation = int(size), interpolation
        self.mean, self.std = list(mean), list(std)

    def __call__(self, img: Image.Image) -> torch.Tensor:
        try:
            import cv2
        except ImportError as exc:
            raise ImportError("Effort's official preprocessing resizes with OpenCV: pip install "
                              "'fakebench[foundation]' (or opencv-python-headless).") from exc
        arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
        arr = cv2.resize(arr, (self.size, self.size), interpolation=getattr(cv2, _CV2_FLAGS[self.interpolation]))
        tensor = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).float().div(255)
        from torchvision.transforms.functional import normalize

        return normalize(tensor, self.mean, self.std)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, cv2 {_CV2_FLAGS[self.interpolation]})"


class Effort(LogitDetector):
    """Effort detector. Presets: ``cv2_cubic224`` (default; DeepfakeBench test.py) and ``cv2_linear224`` (demo.py).

    Output: ``logit = logit_fake - logit_real``; ``prob = sigmoid(logit) = softmax[:, 1]``, the official ``prob``.
    """

    name = "effort"
    card = EFFORT_CARD
    revision = "1"

    def transform(self):
        """The official cv2 resize pipeline of :attr:`preset` (:class:`EffortTransform`).

        Raises:
            ValueError: a preset that is not a square resize.
        """
        if self.preset.resize is None or self.preset.resize_mode != "square" or self.preset.crop is not None:
            raise ValueError(f"Effort preset {self.preset.name!r} must be a square resize without crop; use "
                             f"'cv2_cubic224' or 'cv2_linear224'.")
        return EffortTransform(self.preset.resize, self.preset.interpolation, self.preset.mean, self.preset.std)

    @classmethod
    def build_model(cls, config: EffortConfig = CLIP_VIT_L14) -> EffortNet:
        """The untrained network of ``config`` (ViT-L/14 by default)."""
        return EffortNet(config)

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None, *, preset: Preset | str | None = None,
             device: str | torch.device = "cpu", cache_dir: str | os.PathLike | None = None) -> "Effort":
        """Load an official Effort checkpoint (tag or path); shapes are read from it.

        Accepts a plain state dict or ``{'state_dict': ...}``, with or without DataParallel ``module.`` prefixes.
        A ``backbone.embeddings.position_ids`` buffer (saved by older transformers) is accepted when it is the
        expected ``arange``.

        Raises:
            CheckpointError: unreadable file, not an Effort checkpoint, keys/shapes that do not match (listed), or a
                tag's file that is not the published ViT-L/14.
        """
        from fakebench.core.files import sha256_file
        from fakebench.detectors.checkpoints import (load_strict, read_checkpoint, require_published,
                                                    unwrap_state_dict)

        path, spec = cls.resolve_weights(weights, cache_dir)
        state = unwrap_state_dict(read_checkpoint(path), path, nested_keys=("state_dict", "model"))
        config = EffortConfig.from_state_dict(state, path)
        if _POSITION_IDS in state:
            ids = state.pop(_POSITION_IDS)
            positions = (config.image_size // config.patch_size) ** 2 + 1
            if not torch.equal(ids.reshape(-1).long(), torch.arange(positions)):
                raise CheckpointError(f"Checkpoint {str(path)!r}: {_POSITION_IDS} is not arange({positions}).")
        require_published(path, cls.name, spec, config, CLIP_VIT_L14, name="ViT-L/14")
        model = EffortNet(config)
        load_strict(model, state, path, what="Effort (CLIP ViT + SVD residual) model")
        model.requires_grad_(False)
        info = WeightsInfo.of_file(path, spec, sha256_file(path))
        return cls(model, preset=preset, weights=info, device=device)

    @torch.inference_mode()
    def predict(self, batch: torch.Tensor) -> DetectorOutput:
        logits = self.model(batch.to(self.device, torch.float32)).float()
        logit = (logits[:, 1] - logits[:, 0]).cpu()
        return DetectorOutput(prob=torch.sigmoid(logit), logit=logit)

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        ident["config"] = {"layers": self.model.config.num_hidden_layers, "width": self.model.config.hidden_size}
        return ident
