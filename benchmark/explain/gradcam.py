"""Grad-CAM heatmaps of the fake logit for the CNN and CLIP detectors (NPR, CNNSpot, UnivFD).

Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization",
ICCV 2017): with activations ``A_k`` of a target layer and the gradient of the score ``y`` (the fake logit; its
negative for ``target='real'``), the channel weights are ``alpha_k = mean_ij dy/dA_k[i, j]`` and the map is
``ReLU(sum_k alpha_k A_k)``, bilinearly up-sampled to the input size and min-max scaled to [0, 1]. The computation is
done by the ``grad-cam`` package (``pytorch_grad_cam.GradCAM``, jacobgil/pytorch-grad-cam) on the detector's own
network, with these target layers:

* **NPR** (:class:`fakebench.detectors.npr.NPRNet`): ``layer2``, the last residual stage NPR keeps (stride 8);
* **CNNSpot** (torchvision ResNet-50): ``layer4``, the last residual stage (stride 32);
* **UnivFD** (CLIP ViT): ``ln_1`` of the last transformer block, i.e. the normalised tokens entering its attention.
  The block's own output cannot be used: only its CLS token reaches the head, so the patch tokens there get zero
  gradient. The patch tokens (the last ``gh * gw`` of the sequence, after the CLS token) are reshaped to a
  ``(D, gh, gw)`` grid (the reshape of the grad-cam ViT recipe).

* **Any other detector** that defines ``gradcam_layer()`` returning ``(module, name, grid)``: that module, with its
  output reshaped from ViT tokens to the ``grid`` when ``grid`` is not ``None`` (RINE, CLIP-D, C2P-CLIP and Community
  Forensics use this for the ``ln_1``/``norm1`` of their last block, as UnivFD).

The map is for the preprocessed input the detector sees (after the preset's resize/crop/zero-padding), so overlay it on
:func:`input_view`, not on the original file when the preset crops or resizes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from fakebench.core.errors import DataError, FakebenchError
from PIL import Image

__all__ = ["TargetLayer", "default_target_layer", "gradcam", "input_view", "overlay"]


class TargetLayer:
    """A Grad-CAM target: the module whose output is explained, its name, and an optional reshape of its output to
    ``(N, C, h, w)`` (for ViT tokens)."""

    def __init__(self, module: torch.nn.Module, name: str,
                 reshape: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self.module = module
        self.name = name
        self.reshape = reshape


def _vit_tokens_to_grid(grid: tuple[int, int]) -> Callable[[torch.Tensor], torch.Tensor]:
    gh, gw = int(grid[0]), int(grid[1])

    def reshape(tokens: torch.Tensor) -> torch.Tensor:
        if tokens.ndim != 3:
            raise FakebenchError(f"Expected ViT tokens (N, L, D), got shape {tuple(tokens.shape)}.")
        if tokens.shape[1] < gh * gw + 1 and tokens.shape[0] >= gh * gw + 1:  # sequence-first (L, N, D) layout
            tokens = tokens.transpose(0, 1)
        patches = tokens[:, -gh * gw:, :]  # drop the CLS (and any register) tokens in front
        return patches.reshape(tokens.shape[0], gh, gw, tokens.shape[2]).permute(0, 3, 1, 2)

    return reshape


def default_target_layer(detector: Any) -> TargetLayer:
    """The default Grad-CAM target layer of a detector (see the module docstring).

    Raises:
        FakebenchError: the detector is not one of the CNN/CLIP detectors (e.g. AntifakePrompt, a generative VLM).
    """
    from fakebench.detectors.npr import NPRNet
    from fakebench.detectors.univfd import UnivFDNet
    from torchvision.models.resnet import ResNet

    model = getattr(detector, "model", None)
    if isinstance(model, NPRNet):
        return TargetLayer(model.layer2, "layer2")
    if isinstance(model, ResNet):
        return TargetLayer(model.layer4, "layer4")
    if isinstance(model, UnivFDNet):
        visual = model.visual
        blocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
        grid = getattr(visual, "grid_size", None)
        if blocks is None or grid is None or not hasattr(blocks[-1], "ln_1"):
            raise FakebenchError(f"Grad-CAM for UnivFD needs an open_clip ViT backbone; got {type(visual).__name__}.")
        return TargetLayer(blocks[-1].ln_1, f"visual.transformer.resblocks.{len(blocks) - 1}.ln_1",
                           _vit_tokens_to_grid(grid))
    layer = getattr(detector, "gradcam_layer", None)
    if callable(layer):  # the detector names its own target (model layer; no import of this module needed)
        module, name, grid = layer()
        return TargetLayer(module, name, _vit_tokens_to_grid(grid) if grid is not None else None)
    name = getattr(detector, "name", type(detector).__name__)
    raise FakebenchError(f"Grad-CAM is available for the CNN/CLIP detectors npr, cnnspot and univfd, not {name!r}; "
                         f"for another network pass target_layer=<module>.")


def gradcam(detector: Any, image: Image.Image, *, target: str = "fake",
            target_layer: torch.nn.Module | TargetLayer | None = None) -> np.ndarray:
    """Grad-CAM heatmap of one image for a logit detector.

    Args:
        detector: a :class:`~fakebench.detectors.base.LogitDetector` (NPR, CNNSpot, UnivFD); its network
            ``detector.model`` maps ``(1, 3, H, W)`` to one logit.
        image: PIL image (converted to RGB), preprocessed with the detector's own transform (its preset).
        target: ``'fake'`` explains the fake logit, ``'real'`` its negative.
        target_layer: override of :func:`default_target_layer` (a module with ``(N, C, h, w)`` output, or a
            :class:`TargetLayer`).

    Returns:
        ``(H, W)`` float32 array in [0, 1] at the preprocessed input's size (all zeros when no location raises the
        score: the ReLU of Grad-CAM removes everything).

    Raises:
        FakebenchError: unsupported detector, bad ``target``, or the ``grad-cam`` package is missing.
    """
    if target not in ("fake", "real"):
        raise FakebenchError(f"target must be 'fake' or 'real', got {target!r}.")
    if target_layer is None:
        layer = default_target_layer(detector)
    elif isinstance(target_layer, TargetLayer):
        layer = target_layer
    else:
        layer = TargetLayer(target_layer, type(target_layer).__name__)
    try:
        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget
    except ImportError as exc:
        raise FakebenchError("Grad-CAM needs the grad-cam package: pip install 'fakebench[explain]' "
                             "(or pip install grad-cam).") from exc
    model = detector.model
    x = detector.transform()(image.convert("RGB")).unsqueeze(0).to(detector.device, torch.float32)
    x.requires_grad_(True)  # UnivFD's backbone is frozen: without this no activation would carry a gradient
    cam_method = GradCAM(model=model, target_layers=[layer.module], reshape_transform=layer.reshape)
    with torch.enable_grad(), cam_method as cam:
        heat = cam(input_tensor=x, targets=[BinaryClassifierOutputTarget(1 if target == "fake" else 0)])
    model.zero_grad(set_to_none=True)
    heat = np.nan_to_num(np.asarray(heat[0], dtype=np.float32), nan=0.0)
    return np.clip(heat, 0.0, 1.0)


def input_view(detector: Any, image: Image.Image) -> Image.Image:
    """The image as the detector sees it: its transform's output, de-normalised to 8-bit RGB.

    Args:
        detector: a detector whose :attr:`preset` has ``mean``/``std`` (all hosted detectors).
        image: PIL image.

    Returns:
        RGB PIL image of the preprocessed size (center crop included; where ``CenterCrop`` pads a small image, the
        padding is black, as torchvision fills it with zeros before normalisation).
    """
    x = detector.transform()(image.convert("RGB"))
    mean = torch.tensor(detector.preset.mean, dtype=x.dtype)[:, None, None]
    std = torch.tensor(detector.preset.std, dtype=x.dtype)[:, None, None]
    arr = ((x * std + mean).clamp(0, 1) * 255.0).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(arr, "RGB")


def overlay(image: Image.Image, heatmap: np.ndarray, *, alpha: float = 0.5, colormap: str = "jet") -> Image.Image:
    """Blend a heatmap, coloured with a matplotlib colormap, over an image of the same size.

    Args:
        image: PIL image of size ``(W, H)``.
        heatmap: ``(H, W)`` float array in [0, 1] (e.g. from :func:`gradcam`).
        alpha: heatmap weight in [0, 1] (0 returns the image, 1 the coloured map).
        colormap: matplotlib colormap name (``jet``: blue = 0, red = 1).

    Returns:
        RGB PIL image of size ``(W, H)``.

    Raises:
        DataError: size mismatch (use :func:`input_view` for cropped or resized presets) or values outside [0, 1].
        FakebenchError: ``alpha`` outside [0, 1].
    """
    from matplotlib import colormaps

    heat = np.asarray(heatmap, dtype=np.float32)
    rgb = image.convert("RGB")
    if heat.shape != (rgb.height, rgb.width):
        raise DataError(f"Heatmap of shape {heat.shape} does not fit the {rgb.width}x{rgb.height} image; overlay it "
                        f"on input_view(detector, image), the image at the detector's input size.")
    if not np.isfinite(heat).all() or heat.min() < 0.0 or heat.max() > 1.0:
        raise DataError("Heatmap values must be finite and lie in [0, 1]; scale it first.")
    if not 0.0 <= alpha <= 1.0:
        raise FakebenchError(f"alpha must lie in [0, 1], got {alpha}.")
    colours = colormaps[colormap](heat)[..., :3].astype(np.float32)
    blend = (1.0 - alpha) * np.asarray(rgb, np.float32) / 255.0 + alpha * colours
    return Image.fromarray(np.clip(np.round(blend * 255.0), 0, 255).astype(np.uint8), "RGB")
