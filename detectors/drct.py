"""DRCT (Chen et al., ICML 2024): a contrastively trained embedding backbone with a 2-way head.

Follows ``beibuwandeluori/DRCT`` @ 01aa7d0:

* ``network/models.py`` ``ContrastiveModels(model_name, num_classes=2, embedding_size=1024)``: ``fc(model(x))`` where
  ``model = get_models(model_name, num_classes=1024)`` is

  - ``convnext_base_in22k``: timm ConvNeXt-B (depths 3-3-27-3, dims 128-256-512-1024, timm 0.6.12) with
    ``head.fc`` replaced by ``nn.Linear(1024, 1024)`` (``get_convnext``);
  - ``clip-ViT-L-14``: ``CLIPModelV2``: OpenAI CLIP ``clip.load("ViT-L/14", device="cpu")`` (fp32) as ``model`` and
    ``fc = nn.Linear(768, 1024)`` on ``model.encode_image(x)``.

  ``fc`` is ``nn.Linear(1024, 2)`` (class 0 real, class 1 fake).
* Score (``scripts/train.py`` ``eval_model``): ``1 - softmax(logits)[:, 0]``; here ``logit = logits[:, 1] -
  logits[:, 0]`` so that ``sigmoid(logit)`` is that probability exactly.
* Test transform (``data/transform.py`` ``create_val_transforms(size=224, is_crop=True)``, albumentations 1.3.0):
  ``PadIfNeeded(224, 224, BORDER_CONSTANT, 0)`` (centred: top ``(224 - H) // 2``), ``CenterCrop(224, 224)`` (offsets
  ``(H - 224) // 2``, ``(W - 224) // 2``: floor, unlike torchvision's rounding), ``Normalize`` (ImageNet mean/std, on
  ``pixel / 255``), ``ToTensorV2``. Implemented by :class:`DRCTTransform` on the PIL RGB image.

The checkpoint (``torch.save(model.state_dict())``, a plain dict) holds every weight, the CLIP text tower included, so
no pretrained backbone is fetched: the network is built from the checkpoint's own shapes (:meth:`DRCTConfig.
from_state_dict`) and loaded strictly, which is also how the tiny parity fixtures load.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from PIL import Image
from torch import nn

from fakebench.core.errors import CheckpointError, WeightsNotFoundError

from fakebench.detectors.base import LogitDetector, WeightsInfo
from fakebench.detectors.card import Preset, WeightsSpec
from fakebench.detectors.catalog_foundation import DRCT_CARD, DRCT_ZIP_MEMBERS

__all__ = ["DRCTConfig", "DRCTNet", "DRCTTransform", "DRCT", "CONVNEXT_BASE", "CLIP_VIT_L14"]


@dataclass(frozen=True)
class DRCTConfig:
    """Shape of a DRCT network.

    Attributes:
        backbone: ``convnext`` (timm ConvNeXt) or ``clip`` (OpenAI-format CLIP, built from the checkpoint).
        depths: ConvNeXt blocks per stage.
        dims: ConvNeXt channels per stage.
        embedding_size: width of the contrastive embedding (1024 in every release).
        num_classes: outputs of the head (2: real, fake).
    """

    backbone: str
    depths: tuple[int, ...] = (3, 3, 27, 3)
    dims: tuple[int, ...] = (128, 256, 512, 1024)
    embedding_size: int = 1024
    num_classes: int = 2

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor], path: str | os.PathLike = "") -> "DRCTConfig":
        """Read the configuration from an official checkpoint's keys and shapes.

        Raises:
            CheckpointError: the keys are neither DRCT layout (``model.stem.*`` / ``model.model.visual.*`` and
                ``fc.weight``).
        """
        if "fc.weight" not in state:
            raise CheckpointError(f"Checkpoint {str(path)!r} is not a DRCT checkpoint: no 'fc.weight' key (first keys: "
                                  f"{sorted(state)[:5]}). Pass a checkpoint saved by DRCT's scripts/train.py.")
        num_classes, embedding = (int(n) for n in state["fc.weight"].shape)
        if "model.model.visual.conv1.weight" in state:
            return cls("clip", depths=(), dims=(), embedding_size=embedding, num_classes=num_classes)
        if "model.stem.0.weight" in state:
            depths, dims = [], []
            for stage in range(8):
                blocks = {int(m.group(1)) for k in state if (m := re.match(rf"model\.stages\.{stage}\.blocks\.(\d+)\.", k))}
                if not blocks:
                    break
                depths.append(max(blocks) + 1)
                dims.append(int(state[f"model.stages.{stage}.blocks.0.conv_dw.weight"].shape[0]))
            return cls("convnext", tuple(depths), tuple(dims), embedding, num_classes)
        raise CheckpointError(f"Checkpoint {str(path)!r} has a DRCT head but an unknown backbone (no "
                              f"'model.stem.0.weight' nor 'model.model.visual.conv1.weight'); fakebench's DRCT port "
                              f"covers the published ConvNeXt-B and CLIP ViT-L/14 checkpoints.")


#: The published configurations.
CONVNEXT_BASE = DRCTConfig("convnext")
CLIP_VIT_L14 = DRCTConfig("clip", depths=(), dims=())


class _ClipEmbedding(nn.Module):
    """``CLIPModelV2`` of the official code: ``fc(model.encode_image(x))`` (keys ``model.*`` = the whole OpenAI CLIP,
    ``fc.*``)."""

    def __init__(self, clip: nn.Module, embedding_size: int) -> None:
        super().__init__()
        self.model = clip
        self.fc = nn.Linear(int(clip.visual.output_dim), embedding_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.model.encode_image(x))


class DRCTNet(nn.Module):
    """``ContrastiveModels``: ``(N, 3, 224, 224)`` float32 -> ``(N, 2)`` logits (real, fake).

    Args:
        config: a ConvNeXt configuration (the network is built here) or ``backbone='clip'`` with ``clip``.
        clip: for ``backbone='clip'``, an open_clip ``CLIP`` built from the OpenAI-format weights.
    """

    def __init__(self, config: DRCTConfig, clip: nn.Module | None = None) -> None:
        super().__init__()
        self.config = config
        if config.backbone == "convnext":
            from timm.models.convnext import ConvNeXt

            self.model = ConvNeXt(depths=config.depths, dims=config.dims, num_classes=config.embedding_size)
        elif config.backbone == "clip":
            if clip is None:
                raise ValueError("DRCTNet(backbone='clip') needs the CLIP model (clip=...).")
            self.model = _ClipEmbedding(clip, config.embedding_size)
        else:
            raise ValueError(f"Unknown DRCT backbone {config.backbone!r}; expected 'convnext' or 'clip'.")
        self.fc = nn.Linear(config.embedding_size, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.model(x))


class DRCTTransform:
    """albumentations' ``PadIfNeeded(size) -> CenterCrop(size) -> Normalize(mean, std)`` on a PIL RGB image.

    Padding is centred (top/left ``(size - H) // 2``, zeros), the crop offsets are ``(H - size) // 2`` and
    ``(W - size) // 2``; normalisation is ``(pixel - 255 * mean) / (255 * std)`` in float32, as albumentations 1.3.0
    computes it.

    Returns:
        ``(3, size, size)`` float32 tensor.
    """

    def __init__(self, size: int, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.size = int(size)
        self.mean = np.asarray(mean, dtype=np.float32) * 255.0
        self.inv_std = np.reciprocal(np.asarray(std, dtype=np.float32) * 255.0)

    def __call__(self, img: Image.Image) -> torch.Tensor:
        arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
        height, width = arr.shape[:2]
        pad_h, pad_w = max(self.size - height, 0), max(self.size - width, 0)
        if pad_h or pad_w:
            arr = np.pad(arr, ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
            height, width = arr.shape[:2]
        top, left = (height - self.size) // 2, (width - self.size) // 2
        arr = arr[top:top + self.size, left:left + self.size].astype(np.float32)
        arr -= self.mean
        arr *= self.inv_std
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"


def _build_clip(state: Mapping[str, torch.Tensor], path: str | os.PathLike) -> nn.Module:
    """The whole OpenAI-format CLIP under ``model.model.*``, built by open_clip and cast to fp32 (as ``clip.load(...,
    device="cpu")``)."""
    from open_clip.model import build_model_from_openai_state_dict

    prefix = "model.model."
    sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    try:
        clip = build_model_from_openai_state_dict(sub, quick_gelu=True, cast_dtype=None)
    except (KeyError, RuntimeError, ValueError) as exc:
        # torch's strict-load error puts "Missing key(s) ... Unexpected key(s) ..." after a header line
        detail = " ".join(line.strip() for line in str(exc).splitlines()[1:] if line.strip()) or str(exc)
        raise CheckpointError(f"Checkpoint {str(path)!r} does not match the DRCT (clip) model: the CLIP weights under "
                              f"'model.model.' are not a complete OpenAI CLIP ViT ({type(exc).__name__}: "
                              f"{detail[:300]}). Pass a checkpoint saved by DRCT's scripts/train.py.") from exc
    return clip.float().eval()


class DRCT(LogitDetector):
    """DRCT detector (ConvNeXt-B or CLIP ViT-L/14 backbone, read from the checkpoint). Preset: ``pad_crop224``.

    Output: ``logit = logit_fake - logit_real``; ``prob = sigmoid(logit) = 1 - softmax[:, 0]``, the official score.
    """

    name = "drct"
    card = DRCT_CARD
    revision = "1"

    def transform(self):
        """PIL RGB image -> ``(3, 224, 224)`` float32 (:class:`DRCTTransform`, the official albumentations pipeline).

        Raises:
            ValueError: a preset with a resize or tiling, which the DRCT pipeline does not have.
        """
        if self.preset.crop is None or self.preset.resize is not None or self.preset.tile is not None:
            raise ValueError(f"DRCT preset {self.preset.name!r} must be a plain pad-and-centre-crop (crop set, no "
                             f"resize, no tile); use 'pad_crop224'.")
        return DRCTTransform(self.preset.crop, self.preset.mean, self.preset.std)

    @classmethod
    def build_model(cls, config: DRCTConfig = CONVNEXT_BASE) -> DRCTNet:
        """The untrained ConvNeXt DRCT network (the CLIP variant is only built from a checkpoint)."""
        return DRCTNet(config)

    @classmethod
    def resolve_weights(cls, weights: str | os.PathLike | None,
                        cache_dir: str | os.PathLike | None = None) -> tuple[Path, WeightsSpec | None]:
        """A file path is used as is; a tag fetches ``pretrained.zip`` (once for all tags) and extracts the tag's
        checkpoint next to it (``<cache>/weights/drct/<tag>/<file>``).

        Raises:
            WeightsNotFoundError: the archive cannot be fetched, or holds no member for the tag.
        """
        if weights is not None and (Path(weights).expanduser().is_file() or not cls.card.has_weights(str(weights))):
            path, _ = super().resolve_weights(weights, cache_dir)
            return path, None
        path, spec = super().resolve_weights(weights, cache_dir)
        return extract_member(path, spec.tag), spec

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None, *, preset: Preset | str | None = None,
             device: str | torch.device = "cpu", cache_dir: str | os.PathLike | None = None) -> "DRCT":
        """Load an official DRCT checkpoint (tag or path); the backbone is read from its keys.

        Raises:
            CheckpointError: unreadable file, not a DRCT checkpoint, or keys/shapes that do not match (listed); a
                tag's checkpoint whose backbone differs from the card's.
            WeightsNotFoundError: a tag's archive cannot be fetched.
        """
        from fakebench.core.files import sha256_file
        from fakebench.detectors.checkpoints import load_strict, read_checkpoint, unwrap_state_dict

        path, spec = cls.resolve_weights(weights, cache_dir)
        state = unwrap_state_dict(read_checkpoint(path), path)
        config = DRCTConfig.from_state_dict(state, path)
        if spec is not None:
            expected = DRCT_ZIP_MEMBERS[spec.tag][0]
            if config.backbone != expected or (expected == "convnext" and config != CONVNEXT_BASE):
                raise CheckpointError(f"Checkpoint {str(path)!r} (weights drct.{spec.tag}) holds a {config} network, "
                                      f"expected the published {expected} one; delete it and fetch it again.")
        clip = _build_clip(state, path) if config.backbone == "clip" else None
        model = DRCTNet(config, clip)
        load_strict(model, state, path, what=f"DRCT ({config.backbone}) model")
        info = WeightsInfo.of_file(path, spec, sha256_file(path))
        return cls(model, preset=preset, weights=info, device=device)

    @torch.inference_mode()
    def predict(self, batch: torch.Tensor):
        from fakebench.detectors.base import DetectorOutput

        logits = self.model(batch.to(self.device, torch.float32)).float()
        logit = (logits[:, 1] - logits[:, 0]).cpu()
        return DetectorOutput(prob=torch.sigmoid(logit), logit=logit)

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        ident["backbone"] = self.model.config.backbone
        return ident


def extract_member(archive: str | os.PathLike, tag: str) -> Path:
    """Extract the checkpoint of DRCT weights ``tag`` from ``pretrained.zip`` (found by its path suffix, see
    :data:`~fakebench.detectors.catalog_foundation.DRCT_ZIP_MEMBERS`) to ``<archive folder>/<tag>/<file name>``, once.

    Returns:
        The checkpoint path.

    Raises:
        WeightsNotFoundError: the archive is not a zip or holds no such member (the message lists what it holds).
    """
    archive = Path(archive)
    suffix = DRCT_ZIP_MEMBERS[tag][1]
    dest = archive.parent / tag / suffix.rsplit("/", 1)[1]
    if dest.is_file() and dest.stat().st_size > 0:
        return dest
    try:
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n.replace("\\", "/").endswith("/" + suffix) or n == suffix]
            if len(names) != 1:
                listed = [n for n in zf.namelist() if n.endswith(".pth")][:8]
                raise WeightsNotFoundError(
                    f"{archive} holds {len(names)} members ending in {suffix!r} for weights drct.{tag} (its .pth files: "
                    f"{listed}). Extract the checkpoint by hand and pass it with --weights PATH.")
            dest.parent.mkdir(parents=True, exist_ok=True)
            partial = dest.with_name(dest.name + ".partial")
            with zf.open(names[0]) as src, open(partial, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
            partial.replace(dest)
    except zipfile.BadZipFile as exc:
        raise WeightsNotFoundError(f"{archive} is not a readable zip archive ({exc}); delete it and download "
                                   f"pretrained.zip again.") from exc
    return dest
