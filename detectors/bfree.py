"""B-Free (Guillaro et al., CVPR 2025): a DINOv2 ViT with registers scored on five 504x504 crops at native resolution.

Follows ``grip-unina/B-Free`` @ c6a9f89, ``code/``:

* ``networks/__init__.py`` ``get_network(arch)``: for ``arch = "timm_c5i504_" + name``, ``timm.create_model(name,
  num_classes=1)`` (the release: ``vit_base_patch14_reg4_dinov2.lvd142m``, read from the release's ``config.yaml``)
  wrapped in ``networks/wrapper5crops.py`` ``Wrapper5crops(model, 504)``, which sets the ViT's input size to 504
  (a 36x36 patch grid) and takes its patch embedding out of it. Forward, on a whole image ``(N, 3, H, W)``:

  1. ``patch_embed.proj`` (14x14 conv, stride 14) on the full image -> grid ``(N, D, H // 14, W // 14)``;
  2. when the grid is under 36 in either direction, it is tiled (``repeat``) until it covers 36x36 and then cut to
     exactly ``[:36, :36]`` (in BOTH directions);
  3. five 36x36 crops of the grid, stacked on the batch axis in this order: centre (offsets ``(h - 36) // 2``,
     ``(w - 36) // 2``), top-left, bottom-left, bottom-right, top-right;
  4. flatten, ``patch_embed.norm``, the rest of the ViT (position embedding, 4 registers, blocks, norm, head);
  5. the mean of the five logits.

* ``networks/__init__.py`` ``load_weights``: ``torch.load(path)['model']``, the timm ViT's own keys
  (``patch_embed.proj.*`` included), loaded strictly.
* ``main_bfree.py``: one image at a time, ``Compose(get_list_norm(norm_type))`` (``utils/normalization.py``: ToTensor and
  the normalisation named by ``config.yaml``, ``resnet`` = ImageNet mean/std for the release), no resize, no crop;
  score ``out[:, 0]`` (one logit; with two, ``out[:, 1] - out[:, 0]``); fake when the logit is > 0.

The release ``BFREE_dino2reg4.zip`` holds ``BFREE_dino2reg4/config.yaml`` and ``model_epoch_best.pth``; this port
reads ``config.yaml`` next to the checkpoint, as the official ``get_config`` does. The ViT's depth, width and MLP ratio
are read from the checkpoint's shapes (attention heads: width // 64, as in every DINOv2 ViT), so the parity fixture's
tiny ViT of the same timm class loads through the same code.
"""

from __future__ import annotations

import hashlib
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from fakebench.core.errors import CheckpointError, WeightsNotFoundError

from fakebench.detectors.base import DetectorOutput, LogitDetector, WeightsInfo
from fakebench.detectors.card import Preset, WeightsSpec
from fakebench.detectors.catalog_foundation import BFREE_CARD, BFREE_NORM_PRESETS, BFREE_ZIP_MD5

__all__ = ["BFreeConfig", "BFreeNet", "BFree", "read_bfree_config", "extract_release", "CROP_PIXELS"]

#: Input size of the ViT in pixels (``Wrapper5crops(model, 504)``).
CROP_PIXELS = 504
_PREFIX = "timm_c5i504_"
#: (depth, width) of each released ViT (vit_base_patch14_reg4_dinov2).
_PUBLISHED_SHAPES = {"dino2reg4": (12, 768)}


@dataclass(frozen=True)
class BFreeConfig:
    """What ``config.yaml`` of a B-Free release says, plus the ViT shapes read from the checkpoint.

    Attributes:
        arch: ``timm_c5i504_<timm model name>``.
        norm_type: ``resnet``, ``clip``, ``none`` or ``xception`` (``utils/normalization.py get_list_norm``).
        weights_file: checkpoint file name inside the release folder.
        model_name: the release name (``BFREE_dino2reg4``).
        depth, embed_dim, mlp_ratio, num_classes: shapes from the checkpoint.
    """

    arch: str
    norm_type: str
    weights_file: str = "model_epoch_best.pth"
    model_name: str = ""
    depth: int = 12
    embed_dim: int = 768
    mlp_ratio: float = 4.0
    num_classes: int = 1

    @property
    def timm_name(self) -> str:
        return self.arch[len(_PREFIX):]

    @property
    def num_heads(self) -> int:
        return max(self.embed_dim // 64, 1)


def read_bfree_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a B-Free ``config.yaml`` (``arch``, ``norm_type``, ``weights_file``, ``model_name``).

    Raises:
        CheckpointError: missing or unreadable file, or an arch other than ``timm_c5i504_*`` (the only one the official
            ``get_network`` builds), or an unknown ``norm_type``.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"B-Free needs the release's config.yaml next to the checkpoint ({path} does not exist): "
                              f"keep the official layout BFREE_dino2reg4/{{config.yaml, model_epoch_best.pth}}.")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CheckpointError(f"Cannot read B-Free config {str(path)!r} ({exc}).") from exc
    if not isinstance(data, dict) or not str(data.get("arch", "")).startswith(_PREFIX):
        raise CheckpointError(f"B-Free config {str(path)!r} names arch {data.get('arch') if isinstance(data, dict) else None!r}; "
                              f"the official code builds only '{_PREFIX}<timm model>' networks.")
    if data.get("norm_type") not in BFREE_NORM_PRESETS:
        raise CheckpointError(f"B-Free config {str(path)!r} has norm_type {data.get('norm_type')!r}; expected one of "
                              f"{sorted(BFREE_NORM_PRESETS)}.")
    return data


def _vit_shapes(state: Mapping[str, torch.Tensor], path: str | os.PathLike) -> dict[str, Any]:
    if "cls_token" not in state or "blocks.0.mlp.fc1.weight" not in state or "head.weight" not in state:
        raise CheckpointError(f"Checkpoint {str(path)!r} is not a B-Free timm ViT state dict (first keys: "
                              f"{sorted(state)[:5]}); expected {{'model': ...}} with cls_token, blocks.*, head.*.")
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.", k))}
    embed_dim = int(state["cls_token"].shape[-1])
    return {"depth": max(blocks) + 1, "embed_dim": embed_dim,
            "mlp_ratio": state["blocks.0.mlp.fc1.weight"].shape[0] / embed_dim,
            "num_classes": int(state["head.weight"].shape[0])}


def _replicate_wrap(grid: torch.Tensor, size: int) -> torch.Tensor:
    """Tile a ``(N, D, h, w)`` grid until it covers ``size`` x ``size``, then keep ``[:size, :size]``."""
    reps_h = max(-(-size // grid.shape[-2]), 1)
    reps_w = max(-(-size // grid.shape[-1]), 1)
    return grid.repeat(1, 1, reps_h, reps_w)[..., :size, :size]


class BFreeNet(nn.Module):
    """The five-crop B-Free network: ``(N, 3, H, W)`` float32 (any H, W >= 14) -> ``(N, C)`` mean crop logits.

    Args:
        config: the release configuration.

    Attributes:
        vit: the timm ViT (input size 504), its ``patch_embed`` replaced by an identity.
        patch_embed: the ViT's patch embedding, applied to the whole image.
    """

    def __init__(self, config: BFreeConfig) -> None:
        super().__init__()
        import timm
        from timm.layers import PatchEmbed

        self.config = config
        vit = timm.create_model(config.timm_name, pretrained=False, num_classes=config.num_classes,
                                depth=config.depth, embed_dim=config.embed_dim, num_heads=config.num_heads,
                                mlp_ratio=config.mlp_ratio)
        vit.set_input_size(img_size=CROP_PIXELS)
        if not isinstance(vit.patch_embed, PatchEmbed):
            raise CheckpointError(f"B-Free arch {config.arch!r}: timm model without a standard PatchEmbed.")
        self.patch_embed = vit.patch_embed
        vit.patch_embed = nn.Identity()
        self.vit = vit

    @property
    def grid(self) -> int:
        return int(self.patch_embed.grid_size[0])

    def crops(self, x: torch.Tensor) -> torch.Tensor:
        """Patch embeddings of the five crops, ``(5 * N, grid * grid, D)``, crop-major (centre, top-left,
        bottom-left, bottom-right, top-right)."""
        size = self.grid
        emb = self.patch_embed.proj(x)
        if emb.shape[-2] < size or emb.shape[-1] < size:
            emb = _replicate_wrap(emb, size)
        top, left = max((emb.shape[-2] - size) // 2, 0), max((emb.shape[-1] - size) // 2, 0)
        emb = torch.cat((emb[..., top:top + size, left:left + size], emb[..., :size, :size],
                         emb[..., -size:, :size], emb[..., -size:, -size:], emb[..., :size, -size:]), 0)
        if self.patch_embed.flatten:
            emb = emb.flatten(2).transpose(1, 2)
        return self.patch_embed.norm(emb)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.vit(self.crops(x))
        return y.reshape(5, x.shape[0], -1).mean(0)

    def official_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights in the official key layout (the timm ViT's keys, ``patch_embed.*`` included)."""
        return {**{k[len("vit."):]: v for k, v in self.state_dict().items() if k.startswith("vit.")},
                **{k: v for k, v in self.state_dict().items() if k.startswith("patch_embed.")}}


def _to_module_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {(k if k.startswith("patch_embed.") else "vit." + k): v for k, v in state.items()}


class BFree(LogitDetector):
    """B-Free detector. Presets: ``native`` (the release: ImageNet normalisation), and ``native_clip`` /
    ``native_none`` / ``native_xception`` for checkpoints whose ``config.yaml`` names another ``norm_type``.

    Output: the mean logit of the five crops; ``prob = sigmoid(logit)``. Native resolution: a batch holds images of one
    size. Images smaller than 14 pixels on a side cannot be embedded and fail with a clear error row.
    """

    name = "bfree"
    card = BFREE_CARD
    revision = "1"

    @classmethod
    def build_model(cls) -> BFreeNet:
        raise NotImplementedError("B-Free is built from its release's config.yaml: use BFree.load(weights).")

    @classmethod
    def resolve_weights(cls, weights: str | os.PathLike | None,
                        cache_dir: str | os.PathLike | None = None) -> tuple[Path, WeightsSpec | None]:
        """A path is used as is (a checkpoint file, or a release folder holding ``config.yaml``); a tag fetches the
        release zip, checks the official MD5, and extracts it next to the zip.

        Raises:
            WeightsNotFoundError: the zip cannot be fetched or lacks the release files.
            CheckpointError: the zip's MD5 differs from the one the README publishes.
        """
        if weights is not None:
            path = Path(weights).expanduser()
            if path.is_dir():
                return path / read_bfree_config(path / "config.yaml").get("weights_file", "model_epoch_best.pth"), None
            if path.is_file() or not cls.card.has_weights(str(weights)):
                found, _ = super().resolve_weights(weights, cache_dir)
                return found, None
        archive, spec = super().resolve_weights(weights, cache_dir)
        return extract_release(archive, BFREE_ZIP_MD5.get(spec.tag)), spec

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None, *, preset: Preset | str | None = None,
             device: str | torch.device = "cpu", cache_dir: str | os.PathLike | None = None) -> "BFree":
        """Load a B-Free release (tag, release folder, or checkpoint with ``config.yaml`` beside it).

        Args:
            preset: ``None`` = the preset of the ``norm_type`` in ``config.yaml``; another normalisation than the
                release's is refused.

        Raises:
            CheckpointError: missing/invalid config.yaml, keys or shapes that do not match (listed), or a preset whose
                normalisation differs from the release's.
        """
        from fakebench.core.files import sha256_file
        from fakebench.detectors.checkpoints import load_strict, read_checkpoint, unwrap_state_dict

        path, spec = cls.resolve_weights(weights, cache_dir)
        raw = read_bfree_config(path.parent / "config.yaml")
        state = unwrap_state_dict(read_checkpoint(path), path, nested_keys=("model",))
        config = BFreeConfig(arch=raw["arch"], norm_type=raw["norm_type"],
                             weights_file=raw.get("weights_file", path.name), model_name=raw.get("model_name", ""),
                             **_vit_shapes(state, path))
        if spec is not None and (config.depth, config.embed_dim) != _PUBLISHED_SHAPES.get(spec.tag, (0, 0)):
            raise CheckpointError(f"Checkpoint {str(path)!r} (weights bfree.{spec.tag}) holds a ViT of depth "
                                  f"{config.depth} and width {config.embed_dim}, expected the published "
                                  f"{_PUBLISHED_SHAPES.get(spec.tag)}; delete the release folder and fetch it again.")
        release = cls.card.get_preset(BFREE_NORM_PRESETS[config.norm_type])
        chosen = release if preset is None else preset if isinstance(preset, Preset) else cls.card.get_preset(preset)
        if (tuple(chosen.mean), tuple(chosen.std)) != (tuple(release.mean), tuple(release.std)):
            raise CheckpointError(f"B-Free checkpoint {str(path)!r} was trained with norm_type {config.norm_type!r} "
                                  f"(preset {release.name!r}); preset {chosen.name!r} normalises differently and "
                                  f"would give wrong scores.")
        model = BFreeNet(config)
        load_strict(model, _to_module_keys(state), path, what="B-Free ViT (keys prefixed 'vit.' here)")
        info = WeightsInfo.of_file(path, spec, sha256_file(path))
        return cls(model, preset=chosen, weights=info, device=device)

    def input_note(self, image: torch.Tensor) -> str:
        height, width = image.shape[-2:]
        if height < CROP_PIXELS or width < CROP_PIXELS:
            return "under 504 px: patch grid tiled (B-Free replicate-wrap)"
        return ""

    @torch.inference_mode()
    def predict(self, batch: torch.Tensor) -> DetectorOutput:
        x = batch.to(self.device, torch.float32)
        if x.shape[-1] < 14 or x.shape[-2] < 14:
            raise CheckpointError(f"B-Free cannot score a {x.shape[-1]}x{x.shape[-2]} image: its 14-pixel patches "
                                  f"need at least 14x14.")
        out = self.model(x).float()
        logit = (out[:, 0] if out.shape[1] == 1 else out[:, 1] - out[:, 0]).cpu()
        return DetectorOutput(prob=torch.sigmoid(logit), logit=logit)

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        ident["arch"] = self.model.config.arch
        return ident


def extract_release(archive: str | os.PathLike, md5: str | None) -> Path:
    """Check ``archive`` against the published MD5 and extract its ``config.yaml`` and checkpoint next to it, once.

    Returns:
        The checkpoint path (``<archive folder>/<release>/<weights_file>``).

    Raises:
        CheckpointError: MD5 mismatch.
        WeightsNotFoundError: not a zip, or no ``*/config.yaml`` inside.
    """
    archive = Path(archive)
    done = archive.with_name(archive.name + ".extracted")
    try:
        with zipfile.ZipFile(archive) as zf:
            configs = [n for n in zf.namelist() if n.endswith("config.yaml") and n.count("/") <= 1]
            if len(configs) != 1:
                raise WeightsNotFoundError(f"{archive} holds no single <release>/config.yaml (members: "
                                           f"{zf.namelist()[:8]}); extract it by hand and pass the folder to --weights.")
            folder = archive.parent / (configs[0].rsplit("/", 1)[0] if "/" in configs[0] else archive.stem)
            if done.is_file() and done.read_text() == str(folder):
                return _checkpoint_in(folder)
            if md5 is not None:
                digest = hashlib.md5(usedforsecurity=False)
                with open(archive, "rb") as handle:
                    while chunk := handle.read(1 << 20):
                        digest.update(chunk)
                if digest.hexdigest() != md5:
                    raise CheckpointError(f"{archive} has MD5 {digest.hexdigest()}, the README publishes {md5}: a "
                                          f"corrupt or different file. Delete it and download it again.")
            prefix = configs[0][: -len("config.yaml")]
            folder.mkdir(parents=True, exist_ok=True)
            for name in zf.namelist():
                if name.startswith(prefix) and not name.endswith("/") and "/" not in name[len(prefix):]:
                    target = folder / name[len(prefix):]
                    partial = target.with_name(target.name + ".partial")
                    with zf.open(name) as src, open(partial, "wb") as out:
                        while chunk := src.read(1 << 20):
                            out.write(chunk)
                    partial.replace(target)
    except zipfile.BadZipFile as exc:
        raise WeightsNotFoundError(f"{archive} is not a readable zip archive ({exc}); delete it and download it "
                                   f"again.") from exc
    done.write_text(str(folder))
    return _checkpoint_in(folder)


def _checkpoint_in(folder: Path) -> Path:
    return folder / read_bfree_config(folder / "config.yaml").get("weights_file", "model_epoch_best.pth")
