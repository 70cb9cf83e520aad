"""SPAI (Karageorgiou et al., CVPR 2025): spectral reconstruction similarity of a masked-frequency-modelling ViT,
aggregated over the patches of an image of any resolution.

Follows ``mever-team/spai`` @ 8ff7b3b (Apache-2.0), ``configs/spai.yaml`` on top of ``spai/config.py``'s defaults:

* ``spai/models/sid.py`` ``MFViT.forward`` (one ``224 x 224`` patch ``x`` in [0, 1]): the centre-shifted 2-D DFT of
  ``x`` is split by the circular mask ``frequencies_mask`` (``spai/models/filters.py``: 1 where the distance to the
  centre, on the grid ``[H/2-1 .. 0, 0 .. H/2-1]``, is below ``MODEL.FRE.MASKING_RADIUS`` 16) into a low band
  ``ifft2(F * mask).real`` and a high band ``ifft2(F * (1 - mask)).real``, each clamped to [0, 1]; ``x`` and both bands
  are ImageNet-normalised and go through the ViT-B/16 (``spai/models/vision_transformer.py``, BEiT-style blocks:
  ``qkv`` without bias plus ``q_bias``/``v_bias``, absolute position embeddings, LayerNorm eps 1e-6; here timm's
  ``beit.Block``, same maths and parameter names), which returns
  the patch tokens (CLS dropped) of every block listed in ``INTERMEDIATE_LAYERS`` (all 12): ``(B, N, L, D)``.
* ``FrequencyRestorationEstimator``: a per-layer ``Projector`` (LayerNorm, ``Linear``-GELU-``Linear`` to
  ``PROJECTION_DIM`` 1024, no last activation, LayerNorm) on each of the three token sets; per layer the cosine
  similarities original/low, original/high and low/high of every token, and their mean and (unbiased) std over the
  tokens: ``6N`` values (the spectral reconstruction similarity); plus the ``FeatureImportanceProjector`` of the
  original tokens (mean and std over the tokens, ``Projector``, softmax(``alpha``)-weighted sum over the layers,
  ``Projector``): ``1024`` values (the spectral context vector). ``6N + 1024 = 1096`` per patch.
* ``PatchBasedMFViT`` (``RESOLUTION_MODE: arbitrary``): the image (``1 x 3 x H x W``) is cut into ``224 x 224``
  patches with stride ``PATCH_STRIDE`` 224 (``utils.patchify_image``: ``unfold``, row-major, a remainder under 224 at
  the right/bottom is dropped); when that gives fewer than ``MINIMUM_PATCHES`` (4, the yaml and README) patches, the
  torchvision ``five_crop`` of 224 is used instead (corners, then centre). The ``1096``-d vectors of the patches are
  aggregated by cross-attention of a learned query (``patch_aggregator``, 12 heads, ``ATTN_EMBED_DIM`` 1536; the
  spectral context attention), ``to_out``, LayerNorm, and the ``ClassificationHead`` (MLP ratio 3, ReLU) gives one
  logit. ``spai/__main__.py`` ``validate`` reports ``sigmoid(logit)``.
* Test transform (``spai/data/data_finetune.py`` ``build_transform(is_train=False)`` with ``TEST.ORIGINAL_RESOLUTION``
  True): the PIL RGB image at its native size, ``A.PadIfNeeded(224, 224)`` (albumentations 1.4.14 defaults:
  ``cv2.BORDER_REFLECT_101``, centred, the odd pixel at the bottom/right), ``A.Normalize(mean=0, std=1)`` (``*
  float32(1/255)``); the parity script checks fakebench's transform against it bit for bit.
  So an image smaller than 224 on a side is reflect-padded to 224 there, and an image with fewer than 4 full patches
  (e.g. 256 x 256, 321 x 481) is scored on its five crops.

Memory: ``PatchBasedMFViT`` materialises every patch of the batch (``patchify_image``) and runs them through the
model in groups of ``MODEL.FEATURE_EXTRACTION_BATCH`` (400). Here the patches of one image are cut out of it group
by group (:attr:`SPAINet.patch_batch`, default 16), so memory is the input image plus one group's activations
(ViT-B/16, fp32: about 0.1 GB per patch, measured on the CPU) whatever the image size; every patch goes through
the same per-patch maths, so the logits do not depend on the group size (tested) and equal the official ones.

The checkpoint is the official ``save_checkpoint`` dict ``{'model': PatchBasedMFViT.state_dict(), 'optimizer',
'lr_scheduler', 'max_accuracy', 'epoch', 'config' (a yacs ``CfgNode``), ['amp']}``; ``load_pretrained`` reads
``checkpoint['model']`` (``strict=False`` there; strict here). The yacs config is read as plain data (an
``OrderedDict``; no yacs import, no code run) through :func:`read_spai_checkpoint`. The state dict holds the whole
``VisionTransformer`` including modules the SPAI forward never uses (``head``, ``fc_norm``, ``cls_pos_embed``,
``actual_cls_token``, ``cls_blocks``, ``intermediate_fc_norm``); :class:`SPAINet` registers them under the same
names so the key set is checked exactly, and ``mfvit.frequencies_mask`` (an int64 parameter) is used as loaded.
"""

from __future__ import annotations

import collections
import os
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from fakebench.core.errors import CheckpointError

from fakebench.detectors.base import DetectorOutput, LogitDetector, WeightsInfo
from fakebench.detectors.card import IMAGENET_MEAN, IMAGENET_STD, Preset
from fakebench.detectors.catalog_spai import SPAI_CARD

__all__ = ["SPAIConfig", "SPAI_VIT_B16", "SPAINet", "SPAI", "read_spai_checkpoint", "circular_mask",
           "spai_pad", "spai_patches", "frequency_bands"]


@dataclass(frozen=True)
class SPAIConfig:
    """Shape of a SPAI network (``configs/spai.yaml`` over ``spai/config.py``).

    Attributes:
        embed_dim, depth, num_heads, mlp_ratio, patch_size, img_size: the ViT (ViT-B/16: 768, 12, 12, 4, 16, 224);
            ``img_size`` is also the SPAI patch size (``DATA.IMG_SIZE``).
        intermediate_layers: blocks whose tokens are used (``INTERMEDIATE_LAYERS``: all 12).
        proj_dim: ``PROJECTION_DIM`` (1024); ``proj_layers``: ``PROJECTION_LAYERS`` (2).
        attn_embed_dim, attn_heads: the spectral context attention (``PATCH_VIT.ATTN_EMBED_DIM`` 1536, ``NUM_HEADS``
            12).
        cls_mlp_ratio: ``CLS_HEAD.MLP_RATIO`` (3).
        patch_stride: ``PATCH_VIT.PATCH_STRIDE`` (224); minimum_patches: ``PATCH_VIT.MINIMUM_PATCHES`` (4).
        num_classes: columns of the unused ViT ``head`` (``MODEL.NUM_CLASSES`` 2).
    """

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: int = 4
    patch_size: int = 16
    img_size: int = 224
    intermediate_layers: tuple[int, ...] = tuple(range(12))
    proj_dim: int = 1024
    proj_layers: int = 2
    attn_embed_dim: int = 1536
    attn_heads: int = 12
    cls_mlp_ratio: int = 3
    patch_stride: int = 224
    minimum_patches: int = 4
    num_classes: int = 2

    @property
    def cls_vector_dim(self) -> int:
        """``6 N + proj_dim``: the per-patch vector (``build_mf_vit``)."""
        return 6 * len(self.intermediate_layers) + self.proj_dim

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor], path: str | os.PathLike = "",
                        num_heads: int | None = None) -> "SPAIConfig":
        """Read the shapes from an official state dict (``checkpoint['model']``).

        The ViT's head count is not in the tensors: ``num_heads`` (default ``embed_dim // 64``, the head width of
        ViT-B/16). The intermediate layers are not either: the checkpoint must have one projector per block (the
        published ``INTERMEDIATE_LAYERS`` = all blocks), else it is refused.

        Raises:
            CheckpointError: not a SPAI state dict (names the first missing key), or a layer selection that cannot
                be read from it.
        """
        need = ("mfvit.vit.patch_embed.proj.weight", "mfvit.vit.pos_embed", "mfvit.vit.blocks.0.mlp.fc1.weight",
                "mfvit.frequencies_mask", "mfvit.features_processor.original_features_processor.alpha",
                "patch_aggregator", "to_kv.weight", "cls_head.head.0.weight")
        for key in need:
            if key not in state:
                raise CheckpointError(
                    f"Checkpoint {str(path)!r} is not a SPAI checkpoint: no {key!r} (expected spai's save_checkpoint "
                    f"{{'model': PatchBasedMFViT.state_dict(), ...}} with 'mfvit.vit.*', 'mfvit.features_processor.*', "
                    f"'patch_aggregator', 'to_kv.*', 'cls_head.*'; first keys: {sorted(state)[:5]}).")
        conv = state["mfvit.vit.patch_embed.proj.weight"]
        embed, patch = int(conv.shape[0]), int(conv.shape[-1])
        grid = round((state["mfvit.vit.pos_embed"].shape[1] - 1) ** 0.5)
        prefix = "mfvit.vit.blocks."
        depth = len({k[len(prefix):].split(".")[0] for k in state if k.startswith(prefix)})
        n_layers = int(state["mfvit.features_processor.original_features_processor.alpha"].shape[1])
        if n_layers != depth:
            raise CheckpointError(
                f"Checkpoint {str(path)!r} uses {n_layers} of its {depth} ViT blocks; which ones is not stored in the "
                f"weights (MODEL.VIT.INTERMEDIATE_LAYERS), and fakebench only reads checkpoints that use all blocks "
                f"(the published configs/spai.yaml).")
        aggregator = state["patch_aggregator"]
        heads = int(aggregator.shape[0])
        head0 = state["cls_head.head.0.weight"]
        return cls(embed_dim=embed, depth=depth, num_heads=num_heads or max(1, embed // 64),
                   mlp_ratio=int(state["mfvit.vit.blocks.0.mlp.fc1.weight"].shape[0]) // embed, patch_size=patch,
                   img_size=patch * grid, intermediate_layers=tuple(range(depth)),
                   proj_dim=int(state["mfvit.features_processor.original_features_processor.alpha"].shape[2]),
                   proj_layers=len([k for k in state if k.startswith(
                       "mfvit.features_processor.patch_projector.projectors.0.projector.") and k.endswith(".weight")]),
                   attn_embed_dim=heads * int(aggregator.shape[-1]), attn_heads=heads,
                   cls_mlp_ratio=int(head0.shape[0]) // int(head0.shape[1]), patch_stride=patch * grid,
                   num_classes=int(state["mfvit.vit.head.weight"].shape[0]) if "mfvit.vit.head.weight" in state else 2)


#: the published model (configs/spai.yaml): MFM ViT-B/16, all 12 blocks, projection 1024, 4 patches minimum
SPAI_VIT_B16 = SPAIConfig()


# -- filtering and patches ---------------------------------------------------------------------------------------------
def circular_mask(size: int, radius: int) -> torch.Tensor:
    """``spai/models/filters.py`` ``generate_circular_mask(size, radius)``: ``(size, size)`` int64, 1 where the
    Euclidean norm of the centred coordinates (``[size/2-1, ..., 1, 0, 0, 1, ..., size/2-1]`` on both axes) is below
    ``radius``, else 0 (the mask of the centre-shifted spectrum that keeps the low frequencies).

    Raises:
        ValueError: odd ``size`` (the official grid needs an even one).
    """
    if size % 2:
        raise ValueError(f"size must be even, got {size}")
    half = torch.arange(0, size // 2, dtype=torch.float)
    axis = torch.cat([half.flip(0), half])
    grid = torch.stack([axis[None, :].expand(size, -1), axis[:, None].expand(-1, size)], dim=2)
    return (torch.linalg.vector_norm(grid, dim=-1) < radius).long()


def frequency_bands(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Low and high frequency bands of ``x`` (``filters.filter_image_frequencies``, then the clamp of
    ``MFViT.forward``).

    The official code multiplies ``fftshift(fft2(x))`` (shifted over every dimension) by ``mask`` and undoes the
    shift; since ``mask`` is the same for every image and channel this is ``fft2(x) * ifftshift(mask)`` over the two
    spatial dimensions: the same products, so the same values.

    Args:
        x: ``(B, 3, S, S)`` float32 in [0, 1].
        mask: ``(S, S)`` centre-shifted mask (1 = kept in the low band), any real dtype.

    Returns:
        ``(low, high)``, each ``(B, 3, S, S)`` float32 clamped to [0, 1].
    """
    spectrum = torch.fft.fft2(x.float())
    unshifted = torch.fft.ifftshift(mask, dim=(-2, -1))
    low = torch.fft.ifft2(spectrum * unshifted).real
    high = torch.fft.ifft2(spectrum * (1 - unshifted)).real
    return low.clamp(0.0, 1.0).to(x.dtype), high.clamp(0.0, 1.0).to(x.dtype)


def spai_pad(image: np.ndarray, size: int = 224) -> np.ndarray:
    """albumentations 1.4.14 ``PadIfNeeded(min_height=size, min_width=size)`` with its defaults: reflect-101 padding
    (``cv2.BORDER_REFLECT_101``: mirror without repeating the edge, repeated for pads longer than the image) up to
    ``size`` on each short side, ``(size - n) // 2`` before and the rest after.

    Args:
        image: ``(H, W, C)`` array.

    Returns:
        ``(max(H, size), max(W, size), C)`` array of the same dtype (``image`` itself when nothing is padded).
    """
    height, width = image.shape[:2]
    if height >= size and width >= size:
        return image
    pad_h, pad_w = max(size - height, 0), max(size - width, 0)
    for axis, (length, pad) in enumerate(((height, pad_h), (width, pad_w))):
        if pad:  # a 1-pixel side: reflect-101 repeats the pixel (numpy's "reflect" needs 2)
            widths = [(0, 0)] * image.ndim
            widths[axis] = (pad // 2, pad - pad // 2)
            image = np.pad(image, widths, mode="edge" if length == 1 else "reflect")
    return image


def spai_patches(image: torch.Tensor, size: int, stride: int,
                 minimum: int) -> tuple[int, Callable[[int, int], torch.Tensor]]:
    """The patches ``PatchBasedMFViT`` scores for one image, without materialising them all.

    ``utils.patchify_image`` (``unfold`` with ``size``/``stride``, row-major order) when that gives at least
    ``minimum`` patches, else torchvision ``five_crop(image, [size, size])`` (top-left, top-right, bottom-left,
    bottom-right, centre).

    Args:
        image: ``(3, H, W)`` with ``H, W >= size``.

    Returns:
        ``(count, take)``: the number of patches and ``take(start, stop)`` -> ``(stop - start, 3, size, size)``.
    """
    rows = (image.shape[-2] - size) // stride + 1
    cols = (image.shape[-1] - size) // stride + 1
    if rows * cols >= minimum:
        def take(start: int, stop: int) -> torch.Tensor:
            out = []
            for index in range(start, stop):
                row, col = divmod(index, cols)
                out.append(image[:, row * stride:row * stride + size, col * stride:col * stride + size])
            return torch.stack(out)

        return rows * cols, take
    from torchvision.transforms.functional import five_crop

    crops = torch.stack(five_crop(image, [size, size]))
    return crops.shape[0], lambda start, stop: crops[start:stop]


# -- modules (official names) ------------------------------------------------------------------------------------------
class _PatchEmbed(nn.Module):
    def __init__(self, cfg: SPAIConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, cfg.embed_dim, kernel_size=cfg.patch_size, stride=cfg.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class _MFMViT(nn.Module):
    """``vision_transformer.VisionTransformer`` (``use_mean_pooling``, ``use_intermediate_layers``,
    ``return_features``): ``forward`` maps ``(B, 3, S, S)`` to the patch tokens of the intermediate blocks
    ``(B, N, L, D)``. ``fc_norm``, ``head``, ``cls_pos_embed``, ``actual_cls_token``, ``cls_blocks`` and
    ``intermediate_fc_norm`` are in the checkpoint but unused by that forward (as upstream)."""

    def __init__(self, cfg: SPAIConfig) -> None:
        super().__init__()
        from timm.models.beit import Block  # BEiT block: qkv without bias + q_bias/v_bias, pre-norm, GELU MLP

        norm = partial(nn.LayerNorm, eps=1e-6)
        tokens = (cfg.img_size // cfg.patch_size) ** 2 + 1
        self.layers = tuple(cfg.intermediate_layers)
        self.patch_embed = _PatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens, cfg.embed_dim))

        def block() -> nn.Module:
            return Block(dim=cfg.embed_dim, num_heads=cfg.num_heads, qkv_bias=True, mlp_ratio=cfg.mlp_ratio,
                         norm_layer=norm)

        self.blocks = nn.ModuleList([block() for _ in range(cfg.depth)])
        self.fc_norm = norm(cfg.embed_dim)
        self.cls_pos_embed = nn.Parameter(torch.zeros(1, tokens, cfg.embed_dim))
        self.actual_cls_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))
        self.cls_blocks = nn.ModuleList([block()])
        self.intermediate_fc_norm = nn.ModuleList([norm(cfg.embed_dim) for _ in self.layers])
        self.head = nn.Linear(cfg.embed_dim * len(self.layers), cfg.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        out = []
        for index, blk in enumerate(self.blocks):
            x = blk(x)
            if index in self.layers:
                out.append(x[:, 1:])
        return torch.stack(out, dim=1)


class _Projector(nn.Module):
    """``sid.Projector``: [LayerNorm], Dropout, (Linear, GELU|last, Dropout) x layers, LayerNorm."""

    def __init__(self, layers: int, input_dim: int, proj_dim: int, last: type[nn.Module], input_norm: bool) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(input_dim) if input_norm else nn.Identity()
        seq: list[nn.Module] = [nn.Dropout()]
        for i in range(layers):
            seq += [nn.Linear(input_dim if i == 0 else proj_dim, proj_dim), nn.GELU() if i < layers - 1 else last(),
                    nn.Dropout()]
        self.projector = nn.Sequential(*seq)
        self.norm2 = nn.LayerNorm(proj_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm2(self.projector(self.norm1(x)))


class _FeatureSpecificProjector(nn.Module):
    def __init__(self, cfg: SPAIConfig) -> None:
        super().__init__()
        self.projectors = nn.ModuleList([_Projector(cfg.proj_layers, cfg.embed_dim, cfg.proj_dim, nn.Identity, True)
                                         for _ in cfg.intermediate_layers])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([proj(x[:, i]) for i, proj in enumerate(self.projectors)], dim=1)


class _FeatureImportanceProjector(nn.Module):
    def __init__(self, cfg: SPAIConfig) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(1, len(cfg.intermediate_layers), cfg.proj_dim))
        self.proj1 = _Projector(cfg.proj_layers, 2 * cfg.proj_dim, cfg.proj_dim, nn.GELU, False)
        self.proj2 = _Projector(cfg.proj_layers, cfg.proj_dim, cfg.proj_dim, nn.GELU, False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj1(torch.cat([x.mean(dim=2), x.std(dim=2)], dim=-1))
        return self.proj2(torch.sum(torch.softmax(self.alpha, dim=1) * x, dim=1))


class _FrequencyRestorationEstimator(nn.Module):
    """``sid.FrequencyRestorationEstimator`` with the yaml's options (per-feature patch projection, no last
    activation, original-image branch): ``(B, N, L, D)`` x 3 -> ``(B, 6N + proj_dim)``."""

    def __init__(self, cfg: SPAIConfig) -> None:
        super().__init__()
        self.patch_projector = _FeatureSpecificProjector(cfg)
        self.original_features_processor = _FeatureImportanceProjector(cfg)

    def forward(self, x: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        orig, low, high = self.patch_projector(x), self.patch_projector(low), self.patch_projector(high)
        sims = [F.cosine_similarity(orig, low, dim=-1), F.cosine_similarity(orig, high, dim=-1),
                F.cosine_similarity(low, high, dim=-1)]
        stats = [s for sim in sims for s in (sim.mean(dim=-1), sim.std(dim=-1))]
        return torch.cat(stats + [self.original_features_processor(orig)], dim=1)


class _MFViT(nn.Module):
    """``sid.MFViT`` (no classification head inside ``PatchBasedMFViT``): ``(B, 3, S, S)`` in [0, 1] ->
    ``(B, 6N + proj_dim)``."""

    def __init__(self, cfg: SPAIConfig) -> None:
        super().__init__()
        self.vit = _MFMViT(cfg)
        self.features_processor = _FrequencyRestorationEstimator(cfg)
        self.frequencies_mask = nn.Parameter(circular_mask(cfg.img_size, 16), requires_grad=False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(-1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(-1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low, high = frequency_bands(x, self.frequencies_mask)
        feats = [self.vit((t - self.mean) / self.std) for t in (x, low, high)]
        return self.features_processor(*feats)


class _ClassificationHead(nn.Module):
    def __init__(self, dim: int, ratio: int) -> None:
        super().__init__()
        hidden = dim * ratio
        self.head = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(), nn.Linear(hidden, hidden), nn.ReLU(),
                                  nn.Dropout(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)


class SPAINet(nn.Module):
    """The SPAI network with the official ``PatchBasedMFViT`` state-dict layout (module docstring).

    Args:
        cfg: the shapes.
        patch_batch: patches per forward pass of the patch encoder (memory bound; does not change the output).

    ``forward(image)``: ``(3, H, W)`` float32 in [0, 1] with ``H, W >= cfg.img_size`` (after :func:`spai_pad`) ->
    ``()`` logit (``sigmoid`` = P(fake)).
    """

    def __init__(self, cfg: SPAIConfig = SPAI_VIT_B16, patch_batch: int = 16) -> None:
        super().__init__()
        if cfg.attn_embed_dim % cfg.attn_heads:
            raise ValueError(f"attn_embed_dim must be a multiple of attn_heads, got {cfg}")
        self.config = cfg
        self.patch_batch = int(patch_batch)
        self.mfvit = _MFViT(cfg)
        self.heads = cfg.attn_heads
        self.scale = (cfg.attn_embed_dim // cfg.attn_heads) ** -0.5
        self.to_kv = nn.Linear(cfg.cls_vector_dim, cfg.attn_embed_dim * 2, bias=False)
        self.patch_aggregator = nn.Parameter(torch.zeros(cfg.attn_heads, 1, cfg.attn_embed_dim // cfg.attn_heads))
        self.to_out = nn.Sequential(nn.Linear(cfg.attn_embed_dim, cfg.cls_vector_dim, bias=False), nn.Dropout())
        self.norm = nn.LayerNorm(cfg.cls_vector_dim)
        self.cls_head = _ClassificationHead(cfg.cls_vector_dim, cfg.cls_mlp_ratio)

    def patch_features(self, image: torch.Tensor) -> torch.Tensor:
        """``(3, H, W)`` -> ``(L, 6N + proj_dim)``: the vectors of the patches :func:`spai_patches` selects, computed
        :attr:`patch_batch` patches at a time.

        Raises:
            ValueError: ``H`` or ``W`` under ``cfg.img_size`` (pad with :func:`spai_pad` first).
        """
        cfg = self.config
        if min(image.shape[-2:]) < cfg.img_size:
            raise ValueError(f"SPAI needs images of at least {cfg.img_size}x{cfg.img_size} (pad with spai_pad, as the "
                             f"official PadIfNeeded); got {tuple(image.shape[-2:])}")
        count, take = spai_patches(image, cfg.img_size, cfg.patch_stride, cfg.minimum_patches)
        step = max(1, self.patch_batch)
        return torch.cat([self.mfvit(take(i, min(i + step, count))) for i in range(0, count, step)])

    def aggregate(self, feats: torch.Tensor) -> torch.Tensor:
        """``(L, 6N + proj_dim)`` patch vectors of one image -> ``()`` logit (``patches_attention``, ``norm``,
        ``cls_head``)."""
        k, v = self.to_kv(feats[None]).chunk(2, dim=-1)  # (1, L, E) each
        k, v = (t.reshape(1, t.shape[1], self.heads, -1).transpose(1, 2) for t in (k, v))  # (1, h, L, E/h)
        dots = torch.matmul(self.patch_aggregator[None], k.transpose(-1, -2)) * self.scale  # (1, h, 1, L)
        x = torch.matmul(dots.softmax(dim=-1), v)  # (1, h, 1, E/h)
        x = self.to_out(x.transpose(1, 2).reshape(1, 1, -1)).squeeze(1)
        return self.cls_head(self.norm(x)).reshape(())

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.aggregate(self.patch_features(image))


# -- checkpoint --------------------------------------------------------------------------------------------------------
class _YacsConfigAsDict:
    """Stand-in for ``yacs.config.CfgNode`` when reading a checkpoint with ``weights_only=True``: constructing it
    returns an empty ``OrderedDict`` that the unpickler fills with the config's items (and its ``__immutable__``
    flags as attributes). Plain data only; yacs is not imported."""

    def __new__(cls, *args: Any, **kwargs: Any) -> "collections.OrderedDict[str, Any]":  # type: ignore[misc]
        return collections.OrderedDict()


def read_spai_checkpoint(path: str | os.PathLike) -> Any:
    """:func:`fakebench.detectors.checkpoints.read_checkpoint` (``torch.load(weights_only=True)``, ``.xz`` allowed)
    with the ``'config'`` entry of spai's ``save_checkpoint`` (a yacs ``CfgNode``, a dict subclass) read as an
    ``OrderedDict``.

    Raises:
        CheckpointError: as ``read_checkpoint``.
    """
    from fakebench.detectors.checkpoints import read_checkpoint

    with torch.serialization.safe_globals([(_YacsConfigAsDict, "yacs.config.CfgNode")]):
        return read_checkpoint(path)


# -- detector ----------------------------------------------------------------------------------------------------------
#: ``float32(1 / 255)``: albumentations 1.4.14 ``Normalize(mean=0, std=1, max_pixel_value=255)`` (albucore 0.0.16)
#: multiplies by the float32 reciprocal (not a division), which differs from ``x / 255`` in the last bit
_INV255 = float(np.float32(1.0 / 255.0))


class _SPAITransform:
    """PIL image -> ``(3, H', W')`` float32 in [0, 1]: RGB, :func:`spai_pad` to ``size``, ``* float32(1 / 255)``
    (albumentations ``Normalize(mean=0, std=1)``; bit-identical to the official transform on the parity images). A
    class so DataLoader workers can pickle it."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, img: Image.Image) -> torch.Tensor:
        array = spai_pad(np.array(img.convert("RGB")), self.size)
        return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float().mul_(_INV255)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(pad_to={self.size})"


class SPAI(LogitDetector):
    """SPAI detector. Preset ``native`` (official ``TEST.ORIGINAL_RESOLUTION``): native size, reflect-padded to 224
    when smaller, values in [0, 1]; every image is scored on its own patches, whatever its size.

    Output: the official logit; ``prob = sigmoid(logit)`` (``spai/__main__.py`` ``validate``), decision ``> 0.5``.
    """

    name = "spai"
    card = SPAI_CARD
    #: input tensor + its padded copy + the patch group being cut (float32); the encoder's activations are bounded
    #: by :attr:`SPAINet.patch_batch`, not by the image size
    forward_bytes_per_pixel = 48

    @classmethod
    def build_model(cls, config: SPAIConfig = SPAI_VIT_B16) -> SPAINet:
        """The untrained network of ``config`` (the published ViT-B/16 by default)."""
        return SPAINet(config)

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None, *, preset: Preset | str | None = None,
             device: str | torch.device = "cpu", cache_dir: str | os.PathLike | None = None,
             patch_batch: int = 16) -> "SPAI":
        """Load an official SPAI checkpoint (tag or path): spai's ``save_checkpoint`` dict (``'model'`` plus
        optimizer/scheduler/epoch/yacs config), ``{'model': state_dict}`` or the bare state dict; shapes are read
        from it and every key must match.

        Args:
            patch_batch: patches per encoder pass (memory; the output does not depend on it).

        Raises:
            CheckpointError: unreadable file, not a SPAI checkpoint, keys/shapes that do not match (listed), or a
                tag's file that is not the published configuration.
        """
        from fakebench.detectors.checkpoints import (load_strict, require_published, unwrap_state_dict,
                                                    verify_sha256)

        path, spec = cls.resolve_weights(weights, cache_dir)
        sha = verify_sha256(path, spec.sha256 if spec else None)
        state = unwrap_state_dict(read_spai_checkpoint(path), path, nested_keys=("model",))
        config = SPAIConfig.from_state_dict(state, path)
        require_published(path, cls.name, spec, config, SPAI_VIT_B16)
        try:
            model = SPAINet(config, patch_batch=patch_batch)
        except ValueError as exc:
            raise CheckpointError(f"Checkpoint {str(path)!r}: {exc}") from exc
        load_strict(model, state, path, what="SPAI (PatchBasedMFViT) model")
        model.requires_grad_(False)
        info = WeightsInfo.of_file(path, spec, sha)
        return cls(model, preset=preset, weights=info, device=device)

    def transform(self) -> Callable[[Image.Image], torch.Tensor]:
        """PIL image -> ``(3, H', W')`` float32 in [0, 1] (``H' = max(H, 224)``, ``W' = max(W, 224)``): the official
        test transform (``PadIfNeeded(224, 224)``, ``Normalize(mean=0, std=1)``)."""
        return _SPAITransform(self.model.config.img_size)

    def input_note(self, image: torch.Tensor) -> str:
        """Says when the image is scored on its five crops (fewer than ``minimum_patches`` full patches)."""
        cfg = self.model.config
        height, width = image.shape[-2:]
        count = ((height - cfg.img_size) // cfg.patch_stride + 1) * ((width - cfg.img_size) // cfg.patch_stride + 1)
        if count < cfg.minimum_patches:
            return (f"fewer than {cfg.minimum_patches} full {cfg.img_size}px patches: scored on the five "
                    f"{cfg.img_size}px crops (official)")
        return ""

    @torch.inference_mode()
    def predict(self, batch: torch.Tensor) -> DetectorOutput:
        """``(N, 3, H, W)`` [0, 1] images (``H, W >= 224``) -> ``(N,)`` logits and ``prob = sigmoid(logit)``; each
        image is scored on its own patches."""
        x = batch.to(self.device, torch.float32)
        logit = torch.stack([self.model(img) for img in x]).float().cpu()
        return DetectorOutput(prob=torch.sigmoid(logit), logit=logit)

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        cfg = self.model.config
        ident["config"] = {"width": cfg.embed_dim, "depth": cfg.depth, "proj_dim": cfg.proj_dim}
        return ident
