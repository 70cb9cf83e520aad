"""LGrad (Tan et al., CVPR 2023): gradients of a frozen StyleGAN discriminator, classified by a ResNet-50.

Follows ``chuangchuangtan/LGrad`` @ 7cb5973: ``img2gad_pytorch/gen_imggrad.py`` (image -> gradient PNG) and
``CNNDetection/eval_test8gan.py`` (gradient PNG -> ``resnet50(num_classes=1)`` -> sigmoid), with the discriminator
of ``img2gad_pytorch/models/stylegan_discriminator.py`` (genforce's ``StyleGANDiscriminator``, resolution 256,
evaluated at ``lod = 0``). The ``sidbench`` preset follows SIDBench @ b33f51c ``dataset/process.py``
``lgrad_processing``.

Pipeline per image (batch of 1 through the discriminator, as every official script runs it):

1. preset transform (resize or crop to 256, ``Normalize(0.5, 0.5)``) -> ``x`` of shape ``(3, 256, 256)`` in [-1, 1];
2. ``g = d D(x) / d x`` (float32);
3. ``g`` (HWC) min-max scaled over all pixels and channels to [0, 255] and rounded half-to-even to uint8 (what
   ``cv2.imwrite``/``cv2.imencode`` do to a float32 image before the lossless PNG);
4. ``official``: channels kept in RGB order (``img[..., ::-1]`` before the BGR writer); ``sidbench``: reversed;
5. ``ToTensor`` + ImageNet ``Normalize`` -> ResNet-50 -> one logit; ``prob = sigmoid(logit)``.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any, ClassVar, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fakebench.core.errors import CheckpointError
from fakebench.detectors.base import DetectorOutput, LogitDetector, WeightsInfo
from fakebench.detectors.card import IMAGENET_MEAN, IMAGENET_STD, Preset
from fakebench.detectors.catalog_lgrad import LGRAD_CARD, LGRAD_DISCRIMINATOR
from fakebench.detectors.cnnspot import build_resnet50

__all__ = ["StyleGANDiscriminator", "discriminator_from_state_dict", "input_gradient", "gradient_to_uint8", "LGrad"]

_INIT_RES = 4
_FUSED_MIN_RES = 128  # genforce 'auto' fused-scale: strided conv from 128 px up
_GAIN = math.sqrt(2.0)


class _Blur(torch.autograd.Function):
    """Depthwise 3x3 blur whose backward is a conv2d with the flipped kernel (genforce's custom gradient, kept so the
    input gradient is computed by the same kernels as the official code)."""

    @staticmethod
    def forward(ctx, x, kernel):  # noqa: D102
        ctx.save_for_backward(kernel)
        return F.conv2d(x, kernel, None, 1, 1, 1, x.shape[1])

    @staticmethod
    def backward(ctx, dy):  # noqa: D102
        kernel, = ctx.saved_tensors
        return F.conv2d(dy, kernel.flip((2, 3)), None, 1, 1, 1, dy.shape[1]), None


class _Blur2(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        k = torch.tensor([1.0, 2.0, 1.0]).reshape(1, -1)
        k = k.T @ k
        self.register_buffer("kernel", (k / k.sum()).reshape(1, 1, 3, 3).repeat(channels, 1, 1, 1))

    def forward(self, x):
        return _Blur.apply(x, self.kernel)


class _Conv(nn.Module):
    """Equalised-lr conv (+ optional minibatch-std, blur+downsample) + leaky ReLU 0.2; keys ``weight``, ``bias``
    (and ``blur.kernel`` when downsampling)."""

    def __init__(self, cin: int, cout: int, k: int = 3, *, down: bool = False, fused: bool = False, mbstd: bool = False):
        super().__init__()
        self.mbstd = mbstd
        if mbstd:
            cin += 1
        self.down, self.fused = down, fused
        if down:
            self.blur = _Blur2(cin)
        self.weight = nn.Parameter(torch.zeros(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.wscale = _GAIN / np.sqrt(k * k * cin)
        self.padding = k // 2

    def forward(self, x):
        if self.mbstd:  # group size min(4, N), 1 new channel, epsilon 1e-8
            ng = min(4, x.shape[0])
            y = x.view(ng, -1, 1, x.shape[1], x.shape[2], x.shape[3])
            y = y - torch.mean(y, dim=0, keepdim=True)
            y = torch.sqrt(torch.mean(y ** 2, dim=0) + 1e-8)
            y = torch.mean(torch.mean(y, dim=[2, 3, 4], keepdim=True), dim=2)
            x = torch.cat([x, y.repeat(ng, 1, x.shape[2], x.shape[3])], dim=1)
        if self.down:
            x = self.blur(x)
        weight = self.weight * self.wscale
        bias = self.bias * 1.0
        if self.down and self.fused:
            weight = F.pad(weight, (1, 1, 1, 1, 0, 0, 0, 0), "constant", 0.0)
            weight = (weight[:, :, 1:, 1:] + weight[:, :, :-1, 1:] + weight[:, :, 1:, :-1] +
                      weight[:, :, :-1, :-1]) * 0.25
            x = F.conv2d(x, weight, bias, stride=2, padding=1)
        else:
            x = F.conv2d(x, weight, bias, stride=1, padding=self.padding)
            if self.down:
                x = F.avg_pool2d(x, kernel_size=2, stride=2, padding=0)
        return F.leaky_relu(x, 0.2)


class _Dense(nn.Module):
    def __init__(self, cin: int, cout: int, gain: float = _GAIN, linear: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(cout, cin))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.wscale = gain / np.sqrt(cin)
        self.linear = linear

    def forward(self, x):
        if x.ndim != 2:
            x = x.view(x.shape[0], -1)
        x = F.linear(x, self.weight * self.wscale, self.bias * 1.0)
        return x if self.linear else F.leaky_relu(x, 0.2)


class StyleGANDiscriminator(nn.Module):
    """StyleGAN discriminator (Karras et al. 2019) in genforce's PyTorch layout, evaluated at full detail (lod 0).

    Reimplemented from the facts of LGrad @ 7cb5973 ``img2gad_pytorch/models/stylegan_discriminator.py`` (equalised
    learning rate with gain sqrt(2), [1, 2, 1] blur before each downsampling conv, fused strided conv at >= 128 px,
    minibatch-std (group 4, 1 channel) before the 4x4 conv, two dense layers, the last linear with gain 1).

    Args:
        resolution: input size (power of two, 8..1024); LGrad uses 256.
        channels: feature maps per resolution ``{res: nf}`` for ``res`` in ``resolution, ..., 4, 2`` (genforce's
            ``min(fmaps_base // res, fmaps_max)``; 16384 and 512 for the official file).

    Input ``(N, 3, resolution, resolution)`` float32 in [-1, 1] (RGB); output ``(N, 1)`` realness score.
    """

    def __init__(self, resolution: int = 256, channels: Mapping[int, int] | None = None):
        super().__init__()
        if resolution not in (8, 16, 32, 64, 128, 256, 512, 1024):
            raise ValueError(f"StyleGAN discriminator resolution must be a power of two in 8..1024, got {resolution}")
        nf = dict(channels) if channels else {r: min(16384 // r, 512) for r in (2 ** i for i in range(1, 11))}
        self.resolution = resolution
        self.register_buffer("lod", torch.zeros(()))
        self.blocks = int(math.log2(resolution)) - 2
        for b in range(self.blocks + 1):
            res = resolution >> b
            self.add_module(f"input{b}", _Conv(3, nf[res], k=1))
            if res != _INIT_RES:
                self.add_module(f"layer{2 * b}", _Conv(nf[res], nf[res]))
                self.add_module(f"layer{2 * b + 1}", _Conv(nf[res], nf[res // 2], down=True,
                                                           fused=res >= _FUSED_MIN_RES))
            else:
                self.add_module(f"layer{2 * b}", _Conv(nf[res], nf[res], mbstd=True))
                self.add_module(f"layer{2 * b + 1}", _Dense(nf[res] * res * res, nf[res // 2]))
        self.add_module(f"layer{2 * self.blocks + 2}", _Dense(nf[2], 1, gain=1.0, linear=True))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.ndim != 4 or tuple(image.shape[1:]) != (3, self.resolution, self.resolution):
            raise ValueError(f"StyleGAN discriminator needs (N, 3, {self.resolution}, {self.resolution}), "
                             f"got {tuple(image.shape)}")
        if float(self.lod) != 0.0:
            raise CheckpointError(f"StyleGAN discriminator checkpoint has lod={float(self.lod)}; only a fully "
                                  f"trained discriminator (lod 0) is supported")
        x = getattr(self, "input0")(image)
        for b in range(self.blocks + 1):
            x = getattr(self, f"layer{2 * b + 1}")(getattr(self, f"layer{2 * b}")(x))
        return getattr(self, f"layer{2 * self.blocks + 2}")(x)


def discriminator_from_state_dict(state: Mapping[str, torch.Tensor], path: str | os.PathLike,
                                  resolution: int = 256) -> StyleGANDiscriminator:
    """Build a :class:`StyleGANDiscriminator` whose widths are read from ``state`` and load it strictly.

    The widths come from the ``input{b}.weight`` shapes (so a small random discriminator of the same architecture,
    as the parity fixture uses, loads through the same code as the official file); every key and shape is then
    checked by :func:`fakebench.detectors.checkpoints.load_strict`.

    Raises:
        CheckpointError: keys or shapes that are not a resolution-``resolution`` StyleGAN discriminator.
    """
    from fakebench.detectors.checkpoints import load_strict

    blocks = int(math.log2(resolution)) - 2
    channels: dict[int, int] = {}
    try:
        for b in range(blocks + 1):
            channels[resolution >> b] = int(state[f"input{b}.weight"].shape[0])
        channels[2] = int(state[f"layer{2 * blocks + 1}.weight"].shape[0])
    except (KeyError, AttributeError, IndexError) as exc:
        names = sorted(k for k in state if not re.match(r"^(lod|input\d+\.|layer\d+\.)", k))[:5]
        raise CheckpointError(f"Checkpoint {str(path)!r} is not a StyleGAN discriminator state dict at resolution "
                              f"{resolution} (missing {exc}; unexpected keys such as {names}). Pass the genforce "
                              f"file karras2019stylegan-bedrooms-256x256_discriminator.pth.") from None
    model = StyleGANDiscriminator(resolution, channels)
    load_strict(model, state, path, what="StyleGAN discriminator (LGrad img2grad)")
    return model.eval().requires_grad_(False)


def input_gradient(discriminator: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``d sum(D(x)) / d x`` for one image at a time.

    Args:
        discriminator: the StyleGAN discriminator (eval mode).
        x: ``(N, 3, 256, 256)`` float32 in [-1, 1].

    Returns:
        ``(N, 3, 256, 256)`` float32 gradients; image ``i`` only depends on ``x[i]`` (batch of 1 per backward, so
        the minibatch-std layer never mixes images).
    """
    grads = []
    with torch.inference_mode(False), torch.enable_grad():
        for i in range(x.shape[0]):
            xi = x[i:i + 1].clone().requires_grad_(True)
            score = discriminator(xi)
            grads.append(torch.autograd.grad(score.sum(), xi)[0].detach())
    return torch.cat(grads)


def gradient_to_uint8(grad: torch.Tensor) -> np.ndarray:
    """One gradient ``(3, H, W)`` -> the uint8 ``(H, W, 3)`` image the official code writes to PNG.

    Float32 in numpy, as the official ``normlize_np``: subtract the global minimum, divide by the new maximum (unless
    0), multiply by 255; then round half to even and saturate to uint8 (OpenCV ``convertTo(CV_8U)`` before PNG).
    """
    img = grad.permute(1, 2, 0).cpu().numpy().astype(np.float32, copy=True)
    img -= img.min()
    if img.max() != 0:
        img /= img.max()
    img = img * 255.0
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


class LGrad(LogitDetector):
    """LGrad: StyleGAN-discriminator input gradients -> ResNet-50 logit. Presets ``official`` (default) and
    ``sidbench``; see :mod:`fakebench.detectors.lgrad`.

    ``self.model`` is the classifier; ``self.discriminator`` the frozen gradient extractor. :meth:`transform` gives
    the discriminator input ``(3, 256, 256)``; :meth:`predict` runs the gradient step and the classifier. The
    discriminator's sha256 is part of :meth:`identity`, so of the cache key.

    The discriminator file is the card's :data:`~fakebench.detectors.catalog_lgrad.LGRAD_DISCRIMINATOR` (fetched and
    verified through ``fakebench.hub``), or the path in ``FAKEBENCH_LGRAD_DISCRIMINATOR`` / the ``discriminator``
    argument of :meth:`load`.
    """

    name = "lgrad"
    card = LGRAD_CARD
    revision: ClassVar[str] = "1"
    _mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    _std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    @classmethod
    def build_model(cls) -> nn.Module:
        return build_resnet50()

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None, *, preset: Preset | str | None = None,
             device: str | torch.device = "cpu", cache_dir: str | os.PathLike | None = None,
             discriminator: str | os.PathLike | None = None) -> "LGrad":
        """Load the classifier ``weights`` (tag or path) and the StyleGAN discriminator, both strictly.

        Args:
            discriminator: path of the discriminator state dict; default ``$FAKEBENCH_LGRAD_DISCRIMINATOR``, else the
                card's file fetched into the cache (sha256-checked when known).

        Raises:
            CheckpointError, WeightsNotFoundError, UnknownNameError: as :meth:`Detector.load`, for either file.
        """
        from fakebench.detectors.checkpoints import read_checkpoint, unwrap_state_dict, verify_sha256

        model = cls.build_model()
        info = cls.load_into(model, weights, cache_dir=cache_dir)
        disc_path = discriminator or os.environ.get("FAKEBENCH_LGRAD_DISCRIMINATOR")
        if disc_path is None:
            from fakebench.hub.weights import fetch_weights

            disc_path = fetch_weights(LGRAD_CARD, LGRAD_DISCRIMINATOR, cache_dir=cache_dir)
        elif not os.path.isfile(disc_path):
            raise CheckpointError(f"StyleGAN discriminator file {str(disc_path)!r} does not exist; set "
                                  f"FAKEBENCH_LGRAD_DISCRIMINATOR to {LGRAD_DISCRIMINATOR.filename} or unset it to "
                                  f"download it.")
        disc_sha = verify_sha256(disc_path, LGRAD_DISCRIMINATOR.sha256
                                 if os.path.basename(str(disc_path)) == LGRAD_DISCRIMINATOR.filename else None)
        state = unwrap_state_dict(read_checkpoint(disc_path), disc_path)
        disc = discriminator_from_state_dict(state, disc_path)
        return cls(model, disc, preset=preset, weights=info, device=device, discriminator_sha256=disc_sha)

    @classmethod
    def untrained(cls, *, preset: Preset | str | None = None, device: str | torch.device = "cpu") -> "LGrad":
        raise CheckpointError("LGrad has no untrained form: its features come from a pre-trained StyleGAN "
                              "discriminator; use LGrad.load(weights, discriminator=...)")

    def __init__(self, model: nn.Module, discriminator: nn.Module, *, preset: Preset | str | None = None,
                 weights: WeightsInfo, device: str | torch.device = "cpu", discriminator_sha256: str = ""):
        super().__init__(model, preset=preset, weights=weights, device=device)
        self.discriminator = discriminator.eval().to(self.device)
        self.discriminator_sha256 = discriminator_sha256

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        ident["discriminator_sha256"] = self.discriminator_sha256
        return ident

    def gradient_images(self, batch: torch.Tensor) -> torch.Tensor:
        """``(N, 3, 256, 256)`` discriminator inputs -> ``(N, 3, 256, 256)`` uint8 gradient images (CHW), in the
        channel order the classifier sees under the preset."""
        grads = input_gradient(self.discriminator, batch.to(self.device, torch.float32))
        imgs = [torch.from_numpy(gradient_to_uint8(g)) for g in grads]
        out = torch.stack(imgs).permute(0, 3, 1, 2)
        if self.preset.name == "sidbench":
            out = out.flip(1)
        return out.contiguous()

    def predict(self, batch: torch.Tensor) -> DetectorOutput:
        grad_img = self.gradient_images(batch)
        with torch.inference_mode():
            x = ((grad_img.to(self.device, torch.float32) / 255.0) - self._mean.to(self.device)) / self._std.to(
                self.device)
            logit = self.model(x).reshape(-1).float().cpu()
        return DetectorOutput(prob=torch.sigmoid(logit), logit=logit)

    def to(self, device: str | torch.device) -> "LGrad":
        super().to(device)
        self.discriminator.to(self.device)
        return self
