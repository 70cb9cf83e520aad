"""AIDE (Yan et al., ICLR 2025): DCT-selected patch experts with SRM filters and ResNet-50, fused with a frozen
OpenCLIP ConvNeXt-XXL semantic expert.

Follows ``shilinyan99/AIDE`` @ 6725b71 (MIT):

* ``data/dct.py`` ``DCT_base_Rec_Module`` (window 32, stride 16, ``grade_N`` 6, output 256), on the ``ToTensor``
  image ``x`` (3 x H x W, [0, 1], native size): ``unfold`` into the ``L`` 32 x 32 windows (row-major), their
  orthonormal 2-D DCT ``D @ x @ D^T`` (``D`` the DCT-II matrix built in float64 and cast to float32), the level
  filter (band 0..64: all ones for a 32 window) and its inverse ``D^T @ . @ D``; the grade of a window is
  ``sum_k 2^k * sum(log(|DCT| + 1) * band_k) / |band_k|`` over the 6 anti-diagonal bands ``band_k = {(i, j):
  64k/6 <= i + j <= 64(k+1)/6}``; ``torch.sort`` of the grades (ascending) gives the lowest window, the second
  lowest, the highest and the second highest (the first again when ``L`` is 1). :func:`aide_windows` reproduces it.
* ``data/datasets.py`` ``TestDataset``: each of the four reconstructed windows and the whole image go through
  ``transform_train`` = ``Resize([256, 256])`` + ImageNet ``Normalize``; with torchvision 0.12 (``requirements.txt``)
  a tensor ``Resize`` is bilinear without antialiasing (torchvision >= 0.17 would antialias), so here
  ``F.interpolate(mode='bilinear', align_corners=False, antialias=False)`` and ``sub_(mean).div_(std)``. The input
  is ``(5, 3, 256, 256)``: lowest, highest, second lowest, second highest window, whole image.
* ``models/AIDE.py`` ``AIDE_Model.forward``: the 30 SRM filters (``HPF``, a 5x5 ``Conv2d(3, 30)``) on each window;
  ``model_min`` (ResNet-50 with a 30-channel stem, global average pooled, its ``fc`` unused) on the low windows,
  ``model_max`` on the high ones, the four 2048-d features averaged; the whole image re-normalised from ImageNet to
  CLIP statistics (``x * (std_in / std_clip) + (mean_in - mean_clip) / std_clip``) through the OpenCLIP
  ``convnext_xxlarge`` trunk (timm ConvNeXt, ``norm_eps`` 1e-5, its head's pooling and flattening removed:
  ``3072 x 8 x 8`` after the head's LayerNorm), averaged, ``convnext_proj`` (Linear 3072 -> 256); concatenated
  (256 + 2048) into ``fc`` (Linear 2304 -> 1024, GELU, Linear 1024 -> 2).
* ``engine_finetune.py`` ``evaluate``: ``softmax(output)[:, 1]`` is the fake probability, accuracy at ``> 0.5``.
  Here ``logit = output[1] - output[0]`` so ``sigmoid(logit)`` is that probability.

The checkpoint is ``utils.py`` ``save_model``'s dict (``'model'`` plus optimizer, epoch, scaler and the argparse
``args``, allow-listed by :func:`read_aide_checkpoint`); ``'model'`` holds the whole network including the
frozen ConvNeXt trunk, so nothing else is fetched. The trunk's shape (stage depths and widths) is read from the keys.

Memory: the official code scores all ``L`` windows at once (``L ~ H W / 256``; about 200 bytes per image pixel). Up
to :data:`FULL_GRADE_WINDOWS` windows (a 2048 x 2048 image) the grades are computed in one call with the official
shapes; above it, in bands of window rows, which bounds memory (the per-window arithmetic is the same; BLAS may
block the larger batched products differently in the last bit).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from fakebench.core.errors import CheckpointError, DataError
from fakebench.detectors.base import DetectorOutput, LogitDetector, WeightsInfo
from fakebench.detectors.card import IMAGENET_MEAN, IMAGENET_STD, Preset, WeightsSpec
from fakebench.detectors.catalog_aide import AIDE_CARD

__all__ = ["AIDE", "AIDENet", "AIDEConfig", "AIDE_CONVNEXT_XXL", "aide_windows", "aide_inputs", "dct_matrix",
           "read_aide_checkpoint", "FULL_GRADE_WINDOWS"]

#: CLIP mean/std (the semantic expert's statistics, ``models/AIDE.py``).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
#: Window size, stride, number of grades and output size of ``DCT_base_Rec_Module`` (official defaults).
WINDOW, STRIDE, GRADES, SIZE = 32, 16, 6, 256
#: Windows scored in one call (the official shapes) before the scoring goes band by band.
FULL_GRADE_WINDOWS = 16384


# -- the DCT window selection (data/dct.py) ----------------------------------------------------------------------------
def dct_matrix(size: int = WINDOW) -> torch.Tensor:
    """The orthonormal DCT-II matrix ``(size, size)`` float32, entries computed in float64 as ``dct.py`` ``DCT_mat``
    (``sqrt(1/n)`` for row 0, ``sqrt(2/n)`` otherwise, times ``cos((j + 0.5) pi i / n)``), then cast."""
    rows = [[(np.sqrt(1.0 / size) if i == 0 else np.sqrt(2.0 / size)) * np.cos((j + 0.5) * np.pi * i / size)
             for j in range(size)] for i in range(size)]
    return torch.tensor(rows).float()


def _band(start: float, end: float, size: int) -> torch.Tensor:
    """``dct.py`` ``generate_filter``: 1 where ``start <= i + j <= end``, float32 ``(size, size)``."""
    return torch.tensor([[0.0 if i + j > end or i + j < start else 1.0 for j in range(size)] for i in range(size)])


class _DCTTables:
    """The DCT matrix, its transpose, the level filter and the 6 normalised grade bands (built once per process)."""

    def __init__(self) -> None:
        self.d = dct_matrix(WINDOW)
        self.dt = torch.transpose(dct_matrix(WINDOW), 0, 1)
        self.level = _band(0, WINDOW * 2, WINDOW)
        self.bands = [_band(WINDOW * 2.0 / GRADES * i, WINDOW * 2.0 / GRADES * (i + 1), WINDOW)
                      for i in range(GRADES)]
        self.sizes = [torch.sum(b) for b in self.bands]


_TABLES: _DCTTables | None = None


def _tables() -> _DCTTables:
    global _TABLES
    if _TABLES is None:
        _TABLES = _DCTTables()
    return _TABLES


def _grades(windows: torch.Tensor, t: _DCTTables) -> torch.Tensor:
    """``(L, C, 32, 32)`` windows -> ``(L,)`` float32 grades, the official operations in their order."""
    x_dct = t.d @ windows @ t.dt
    log_dct = torch.log(torch.abs(x_dct) + 1)  # the official loop recomputes it per band; the values are the same
    grade = torch.zeros(windows.shape[0])
    w, k = 1, 2
    for band, size in zip(t.bands, t.sizes):
        grade += w * torch.sum(log_dct * band / size, dim=[1, 2, 3])
        w *= k
    return grade


def _unfold(image: torch.Tensor) -> torch.Tensor:
    """``(C, H, W)`` -> ``(L, C, 32, 32)`` windows (stride 16, row-major), as ``nn.Unfold`` then ``reshape``."""
    c = image.shape[0]
    cols = F.unfold(image.unsqueeze(0), kernel_size=(WINDOW, WINDOW), stride=STRIDE).squeeze(0)
    return cols.transpose(0, 1).reshape(cols.shape[1], c, WINDOW, WINDOW)


def aide_windows(image: torch.Tensor, *, full_limit: int = FULL_GRADE_WINDOWS) -> torch.Tensor:
    """The four DCT-selected windows of ``DCT_base_Rec_Module`` (see the module docstring).

    Args:
        image: ``(3, H, W)`` float32 in [0, 1] (``ToTensor``), ``H, W >= 32``.
        full_limit: windows scored in one call; more are scored in bands of window rows (memory bound).

    Returns:
        ``(4, 3, 32, 32)`` float32: lowest, highest, second lowest, second highest grade window, each passed through
        the level filter and the inverse DCT, as ``forward`` returns ``x_minmin, x_maxmax, x_minmin1, x_maxmax1``.

    Raises:
        ValueError: a side under 32 pixels (no window; the official module fails there too).
    """
    c, h, w = image.shape
    if h < WINDOW or w < WINDOW:
        raise ValueError(f"AIDE needs images of at least {WINDOW}x{WINDOW} pixels (its DCT windows); got {w}x{h}")
    t = _tables()
    rows, cols = (h - WINDOW) // STRIDE + 1, (w - WINDOW) // STRIDE + 1
    if rows * cols <= full_limit:
        grade = _grades(_unfold(image), t)
    else:  # bands of window rows: window r covers image rows [16 r, 16 r + 32)
        step = max(1, full_limit // cols)
        grade = torch.cat([_grades(_unfold(image[:, STRIDE * r0:STRIDE * (min(r0 + step, rows) - 1) + WINDOW]), t)
                           for r0 in range(0, rows, step)])
    _, idx = torch.sort(grade)
    high = torch.flip(idx, dims=[0])
    second = 1 if len(idx) > 1 else 0
    picks = [idx[0], high[0], idx[second], high[second]]
    out = []
    for p in picks:
        r, q = divmod(int(p), cols)
        window = image[:, STRIDE * r:STRIDE * r + WINDOW, STRIDE * q:STRIDE * q + WINDOW].unsqueeze(0)
        x_dct = t.d @ window @ t.dt
        out.append((t.dt @ (x_dct * t.level) @ t.d)[0])
    return torch.stack(out)


def _resize_normalise(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """torchvision 0.12 ``Resize([256, 256])`` on a float tensor (bilinear, no antialiasing) then ``Normalize``."""
    batched = x if x.dim() == 4 else x.unsqueeze(0)
    out = F.interpolate(batched, size=[SIZE, SIZE], mode="bilinear", align_corners=False, antialias=False)
    out = out.sub_(mean).div_(std)
    return out if x.dim() == 4 else out[0]


def aide_inputs(image: torch.Tensor) -> torch.Tensor:
    """``(3, H, W)`` [0, 1] image -> ``(5, 3, 256, 256)`` network input of ``TestDataset.__getitem__``.

    Raises:
        ValueError: a side under 32 pixels.
    """
    mean = torch.tensor(IMAGENET_MEAN).view(-1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(-1, 1, 1)
    windows = aide_windows(image)
    parts = [_resize_normalise(windows[i], mean, std) for i in range(4)]
    return torch.stack(parts + [_resize_normalise(image, mean, std)])


# -- the network (models/AIDE.py) --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AIDEConfig:
    """The ConvNeXt trunk's shape (the rest of the network is fixed).

    Attributes:
        depths: blocks per stage; ``dims``: channels per stage (the last must be 3072, which ``convnext_proj`` and
            the official shape check expect).
    """

    depths: tuple[int, ...]
    dims: tuple[int, ...]

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor], path: str | os.PathLike = "") -> "AIDEConfig":
        """Read the trunk shape from an AIDE state dict.

        Raises:
            CheckpointError: no ConvNeXt trunk keys, or a shape AIDE cannot have.
        """
        prefix = "openclip_convnext_xxl."
        if f"{prefix}stem.0.weight" not in state:
            raise CheckpointError(f"Checkpoint {str(path)!r} is not an AIDE checkpoint: no '{prefix}stem.0.weight' "
                                  f"(the ConvNeXt-XXL trunk); its first keys are {list(state)[:5]}.")
        stages = sorted({int(k.split(".")[2]) for k in state if k.startswith(f"{prefix}stages.")})
        depths, dims = [], []
        for s in stages:
            blocks = {int(k.split(".")[4]) for k in state if k.startswith(f"{prefix}stages.{s}.blocks.")}
            depths.append(len(blocks))
            if s == 0:
                dims.append(int(state[f"{prefix}stem.0.weight"].shape[0]))
            else:
                dims.append(int(state[f"{prefix}stages.{s}.downsample.1.weight"].shape[0]))
        if not dims or dims[-1] != 3072:
            raise CheckpointError(f"Checkpoint {str(path)!r}: ConvNeXt trunk widths {dims}; AIDE's projection expects "
                                  f"3072 channels at the last stage.")
        return cls(tuple(depths), tuple(dims))


#: OpenCLIP ``convnext_xxlarge`` (timm): the published trunk.
AIDE_CONVNEXT_XXL = AIDEConfig(depths=(3, 4, 30, 3), dims=(384, 768, 1536, 3072))


def _resnet50_30ch() -> nn.Module:
    """``models/AIDE.py`` ``ResNet(Bottleneck, [3, 4, 6, 3])``: torchvision's ResNet-50 layout (same module names,
    stride on the 3x3 conv) with a 30-channel stem; ``fc`` (2048 -> 1000) exists in the checkpoint but is unused."""
    from torchvision.models import resnet50

    net = resnet50(weights=None)
    net.conv1 = nn.Conv2d(30, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return net


def _resnet_features(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    x = net.layer4(net.layer3(net.layer2(net.layer1(x))))
    return net.avgpool(x).view(x.size(0), -1)


class _Mlp(nn.Module):
    def __init__(self, d_in: int, hidden: int, d_out: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class AIDENet(nn.Module):
    """The AIDE network with the official ``AIDE_Model`` state-dict layout (module docstring).

    ``forward(x)``: ``(N, 5, 3, 256, 256)`` float32 (:func:`aide_inputs`) -> ``(N, 2)`` logits (real, fake).
    """

    def __init__(self, config: AIDEConfig = AIDE_CONVNEXT_XXL) -> None:
        super().__init__()
        import timm

        self.config = config
        self.hpf = nn.Module()
        self.hpf.hpf = nn.Conv2d(3, 30, kernel_size=5, padding=2, bias=False)
        self.hpf.hpf.weight.requires_grad_(False)
        self.model_min = _resnet50_30ch()
        self.model_max = _resnet50_30ch()
        self.fc = _Mlp(2048 + 256, 1024, 2)
        # as open_clip's TimmModel builds it for convnext_xxlarge (timm_pool '', timm_proj 'linear'), then AIDE
        trunk = timm.create_model("convnext_xxlarge", pretrained=False, depths=config.depths, dims=config.dims,
                                  drop_path_rate=0.1)
        trunk.reset_classifier(0)
        trunk.head.global_pool = nn.Identity()
        trunk.head.flatten = nn.Identity()
        self.openclip_convnext_xxl = trunk
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.convnext_proj = nn.Sequential(nn.Linear(3072, 256))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hp = [self.hpf.hpf(x[:, i]) for i in range(4)]
        tokens = x[:, 4]
        clip_mean = torch.tensor(CLIP_MEAN).to(tokens).view(3, 1, 1)
        clip_std = torch.tensor(CLIP_STD).to(tokens).view(3, 1, 1)
        in_mean = torch.tensor(IMAGENET_MEAN).to(tokens).view(3, 1, 1)
        in_std = torch.tensor(IMAGENET_STD).to(tokens).view(3, 1, 1)
        feats = self.openclip_convnext_xxl(tokens * (in_std / clip_std) + (in_mean - clip_mean) / clip_std)
        x_0 = self.convnext_proj(self.avgpool(feats).view(tokens.size(0), -1))
        x_1 = (_resnet_features(self.model_min, hp[0]) + _resnet_features(self.model_max, hp[1])
               + _resnet_features(self.model_min, hp[2]) + _resnet_features(self.model_max, hp[3])) / 4
        return self.fc(torch.cat([x_0, x_1], dim=1))


# -- checkpoint --------------------------------------------------------------------------------------------------------
def read_aide_checkpoint(path: str | os.PathLike) -> Any:
    """:func:`fakebench.detectors.checkpoints.read_checkpoint` (``weights_only=True``, ``.xz`` allowed) with
    ``argparse.Namespace`` (the ``'args'`` entry of AIDE's ``save_model``: plain attributes) allow-listed, as for
    SAFE's files; nothing else is.

    Raises:
        CheckpointError: as ``read_checkpoint``.
    """
    from fakebench.detectors.checkpoints import read_checkpoint

    with torch.serialization.safe_globals([argparse.Namespace]):
        return read_checkpoint(path)


def _find_member(folder: os.PathLike, name: str) -> str | None:
    hits = sorted(p for p in Path(folder).rglob(name) if p.is_file())
    return str(hits[0]) if hits else None


# -- detector ----------------------------------------------------------------------------------------------------------
class AIDE(LogitDetector):
    """AIDE detector. Preset ``native_dct`` (the official test transform): the native-size image in [0, 1]
    (``ToTensor``: the preset's mean 0, std 1, through the runner's ordinary transform); the detector picks its four
    DCT windows, squashes the image to 256x256 and applies the ImageNet statistics itself (:func:`aide_inputs`).

    Output: ``logit = z_fake - z_real`` of the two-way head, so ``sigmoid(logit)`` equals the official
    ``softmax[:, 1]``; decision ``> 0.5``.
    """

    name = "aide"
    card = AIDE_CARD
    #: input image + the DCT scoring of its windows (4x overlap, 3 channels, float32, a few temporaries)
    forward_bytes_per_pixel = 200

    @classmethod
    def build_model(cls, config: AIDEConfig = AIDE_CONVNEXT_XXL) -> AIDENet:
        """The untrained network of ``config`` (the published ConvNeXt-XXL trunk by default)."""
        return AIDENet(config)

    @classmethod
    def resolve_weights(cls, weights: str | os.PathLike | None,
                        cache_dir: str | os.PathLike | None = None) -> tuple[Path, WeightsSpec | None]:
        """A file path is used as is; a tag is looked for at ``<cache>/weights/aide/<file>`` (put there by hand) and
        otherwise taken from the official Drive folder, downloaded once.

        Raises:
            WeightsNotFoundError: the folder cannot be fetched, or holds no file of that name (its files listed).
        """
        from fakebench.core.errors import WeightsNotFoundError
        from fakebench.hub.fetch import SourceUnavailable, fetch
        from fakebench.hub.weights import weights_path

        if weights is not None and (Path(weights).expanduser().is_file() or not cls.card.has_weights(str(weights))):
            return super().resolve_weights(weights, cache_dir)
        spec = cls.card.get_weights(str(weights)) if weights is not None else cls.card.default_weights
        target = weights_path(cls.card, spec, cache_dir)
        if target.is_file():
            return target, spec
        (source,) = spec.sources
        try:
            folder = fetch(source, target.parent, filename="drive_folder", what=f"weights aide.{spec.tag}",
                           cache_dir=cache_dir)
        except SourceUnavailable as exc:
            raise WeightsNotFoundError(
                f"Weights aide.{spec.tag} are not in the cache and cannot be downloaded:\n  {exc.reason}\n"
                f"Download {spec.filename} by hand from the folder\n  {source.url}\n"
                f"and save it as {target}, or pass a checkpoint file with --weights PATH.") from exc
        member = _find_member(folder, spec.filename)
        if member is None:
            files = sorted(p.name for p in Path(folder).rglob("*") if p.is_file())
            raise WeightsNotFoundError(f"The AIDE Drive folder ({folder}) holds no {spec.filename}; it holds "
                                       f"{files}. Pass the checkpoint you want with --weights PATH.")
        return Path(member), spec

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None, *, preset: Preset | str | None = None,
             device: str | torch.device = "cpu", cache_dir: str | os.PathLike | None = None) -> "AIDE":
        """Load an official AIDE checkpoint (tag or path): ``save_model``'s dict, ``{'model': state_dict}`` or the
        bare state dict; the trunk shape is read from it and every key must match.

        Raises:
            CheckpointError: unreadable file, not an AIDE checkpoint, keys/shapes that do not match (listed), or a
                tag's file whose trunk is not ConvNeXt-XXL.
            WeightsNotFoundError: a tag that cannot be fetched.
        """
        from fakebench.core.files import sha256_file
        from fakebench.detectors.checkpoints import load_strict, require_published, unwrap_state_dict

        path, spec = cls.resolve_weights(weights, cache_dir)
        state = unwrap_state_dict(read_aide_checkpoint(path), path, nested_keys=("model",))
        config = AIDEConfig.from_state_dict(state, path)
        require_published(path, cls.name, spec, config, AIDE_CONVNEXT_XXL, name="ConvNeXt-XXL trunk")
        model = AIDENet(config)
        load_strict(model, state, path, what="AIDE (AIDE_Model) network")
        model.requires_grad_(False)
        info = WeightsInfo.of_file(path, spec, sha256_file(path))
        return cls(model, preset=preset, weights=info, device=device)

    @torch.inference_mode()
    def predict(self, batch: torch.Tensor) -> DetectorOutput:
        """``(N, 3, H, W)`` [0, 1] images (``H, W >= 32``) -> ``(N,)`` logits ``z_fake - z_real`` and
        ``prob = sigmoid(logit)``.

        Raises:
            DataError: an image under 32 pixels on a side (the runner records it for that image alone).
        """
        try:
            x = torch.stack([aide_inputs(img) for img in batch.float().cpu()])
        except ValueError as exc:
            raise DataError(str(exc)) from exc
        z = self.model(x.to(self.device)).float().cpu()
        logit = z[:, 1] - z[:, 0]
        return DetectorOutput(prob=torch.sigmoid(logit), logit=logit)

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        ident["config"] = {"depths": list(self.model.config.depths), "dims": list(self.model.config.dims)}
        return ident

