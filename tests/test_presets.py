"""Every CNN/CLIP preset against an explicit torchvision pipeline written from the official code, and NPR's forward
order (issue 12, "Protocol presets").

Each reference transform below is built from torchvision/PIL calls exactly as the official repositories compose them
(NPR ``test.py``/``data/datasets.py`` and README GenImage recipe, CNNDetection ``data/datasets.py``/``eval.py``, UnivFD
``validate.py`` at 1abc486 and at its first release d4914f7, OpenAI CLIP ``preprocess``), independently of
:func:`fakebench.detectors.preprocess.build_transform`; outputs must be bit-identical.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from fakebench.detectors.card import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD, Preset
from fakebench.detectors.catalog import CNNSPOT_CARD, NPR_CARD, UNIVFD_CARD
from fakebench.detectors.preprocess import build_transform

_IMAGENET = T.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD)
_CLIP = T.Normalize(mean=CLIP_MEAN, std=CLIP_STD)


def _official_translate_duplicate(img: Image.Image, crop: int) -> Image.Image:
    """NPR README, GenImage recipe: an image whose shorter side is under ``crop`` is pasted repeatedly onto a canvas of
    ``ceil(crop / w) * w`` by ``ceil(crop / h) * h`` pixels (left to right, top to bottom); others pass unchanged."""
    if min(img.size) >= crop:
        return img
    w, h = img.size
    canvas = Image.new("RGB", (w * math.ceil(crop / w), h * math.ceil(crop / h)))
    for left in range(0, canvas.width, w):
        for top in range(0, canvas.height, h):
            canvas.paste(img, (left, top))
    return canvas


#: (card, preset name) -> the official pipeline, written out with torchvision.
OFFICIAL = {
    # NPR data/datasets.py: Resize((loadSize, loadSize)) unless no_resize, CenterCrop(cropSize) unless no_crop.
    ("npr", "native"): T.Compose([T.ToTensor(), _IMAGENET]),
    ("npr", "resize256"): T.Compose([T.Resize((256, 256)), T.ToTensor(), _IMAGENET]),
    ("npr", "resize256_crop224"): T.Compose([T.Resize((256, 256)), T.CenterCrop(224), T.ToTensor(), _IMAGENET]),
    # NPR README "GenImage": rz_func replaced by translate_duplicate(img, cropSize), no_crop=False at test time.
    ("npr", "genimage"): T.Compose([T.Lambda(lambda img: _official_translate_duplicate(img, 224)), T.CenterCrop(224),
                                    T.ToTensor(), _IMAGENET]),
    # CNNDetection eval.py forces no_resize; CenterCrop(224) unless --no_crop; custom_resize = TF.resize(img, 256).
    ("cnnspot", "crop224"): T.Compose([T.CenterCrop(224), T.ToTensor(), _IMAGENET]),
    ("cnnspot", "native"): T.Compose([T.ToTensor(), _IMAGENET]),
    ("cnnspot", "resize256_crop224"): T.Compose([T.Lambda(lambda img: TF.resize(img, 256, interpolation=InterpolationMode.BILINEAR)),
                                                 T.CenterCrop(224), T.ToTensor(), _IMAGENET]),
    # UnivFD validate.py @ 1abc486: CenterCrop(224) only; @ d4914f7 (first release): Resize(256) then CenterCrop(224).
    ("univfd", "crop224"): T.Compose([T.CenterCrop(224), T.ToTensor(), _CLIP]),
    ("univfd", "resize256_crop224"): T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), _CLIP]),
    # OpenAI CLIP preprocess: Resize(224, bicubic), CenterCrop(224), ToTensor, Normalize(CLIP).
    ("univfd", "clip"): T.Compose([T.Resize(224, interpolation=InterpolationMode.BICUBIC), T.CenterCrop(224),
                                   T.ToTensor(), _CLIP]),
}
CARDS = {card.name: card for card in (NPR_CARD, CNNSPOT_CARD, UNIVFD_CARD)}
#: Sizes (W, H): larger and smaller than the crop, one side short, odd, square, very wide.
SIZES = [(320, 256), (224, 224), (300, 181), (100, 150), (181, 300), (97, 37)]


def _image(size: tuple[int, int], seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def test_every_cnn_clip_preset_has_an_official_reference():
    declared = {(name, p.name) for name, card in CARDS.items() for p in card.presets}
    assert declared == set(OFFICIAL)


@pytest.mark.parametrize("key", sorted(OFFICIAL), ids=lambda k: f"{k[0]}-{k[1]}")
def test_preset_equals_the_official_pipeline(key):
    ours = build_transform(CARDS[key[0]].get_preset(key[1]))
    for i, size in enumerate(SIZES):
        img = _image(size, i)
        expected, got = OFFICIAL[key](img), ours(img)
        assert got.dtype == torch.float32 and torch.equal(got, expected), (key, size)


def test_npr_genimage_tiles_short_images_instead_of_padding():
    preset = NPR_CARD.get_preset("genimage")
    assert preset.tile == 224 and preset.crop == 224 and preset.resize is None
    assert preset.pads_below is None  # tiled images are never smaller than the crop
    assert NPR_CARD.get_preset("native").pads_below is None
    assert CNNSPOT_CARD.get_preset("crop224").pads_below == 224
    assert UNIVFD_CARD.get_preset("resize256_crop224").pads_below is None
    img = _image((100, 60), 3)
    out = build_transform(preset)(img)
    assert out.shape == (3, 224, 224)
    # 100x60 is tiled to 300x240; the 224 centre crop starts at (38, 8), so the content repeats every 100 / 60 pixels
    assert torch.equal(out[:, :, 0:62], out[:, :, 100:162]) and torch.equal(out[:, 0:100, :], out[:, 60:160, :])


def test_univfd_first_release_preset_is_declared_with_its_source():
    preset = UNIVFD_CARD.get_preset("resize256_crop224")
    assert (preset.resize, preset.resize_mode, preset.interpolation, preset.crop) == (256, "shorter", "bilinear", 224)
    assert (preset.mean, preset.std) == (CLIP_MEAN, CLIP_STD)
    assert "d4914f7" in preset.source and "validate.py" in preset.source


def test_tile_field_keeps_existing_preset_identities():
    """``tile`` is left out of ``to_dict`` when unset, so the fingerprints (cache keys) of existing presets stay."""
    assert "tile" not in NPR_CARD.get_preset("native").to_dict()
    assert NPR_CARD.get_preset("genimage").to_dict()["tile"] == 224
    with pytest.raises(ValueError, match="tile"):
        Preset("bad", tile=0)


# -- NPR forward order ------------------------------------------------------------------------------------------------
def _official_order(net, x: torch.Tensor) -> torch.Tensor:
    """networks/resnet.py forward, in the official operation order: NPR = x - interpolate(x, 0.5) then conv1 of
    ``NPR*2.0/3.0`` (left to right: times 2, then divided by 3)."""
    down = F.interpolate(x, scale_factor=0.5, mode="nearest", recompute_scale_factor=True)
    npr = x - F.interpolate(down, scale_factor=1 / 0.5, mode="nearest", recompute_scale_factor=True)
    h = net.maxpool(net.relu(net.bn1(net.conv1(npr * 2.0 / 3.0))))
    h = net.layer2(net.layer1(h))
    return net.fc1(torch.flatten(net.avgpool(h), 1))


def test_npr_scales_the_residual_in_the_official_order_bit_for_bit():
    from fakebench.detectors.npr import NPRNet

    torch.manual_seed(0)
    net = NPRNet().eval()
    x = torch.randn(1, 3, 64, 96)
    seen = []
    hook = net.conv1.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    with torch.no_grad():
        out = net(x)
        expected = _official_order(net, x)
    hook.remove()
    down = F.interpolate(x, scale_factor=0.5, mode="nearest", recompute_scale_factor=True)
    residual = x - F.interpolate(down, scale_factor=2.0, mode="nearest", recompute_scale_factor=True)
    assert torch.equal(seen[0], residual * 2.0 / 3.0)
    assert not torch.equal(residual * 2.0 / 3.0, residual * (2.0 / 3.0))  # the two orders really differ here
    assert torch.equal(out, expected)


@pytest.mark.parametrize("height,width,row,column", [(64, 96, False, False), (65, 96, True, False),
                                                    (64, 97, False, True), (33, 47, True, True)])
def test_npr_odd_size_trim_leaves_a_note(height, width, row, column):
    from fakebench.detectors.npr import NPR, odd_size_note

    got = NPR.untrained().input_note(torch.zeros(3, height, width))
    assert got == odd_size_note(height, width)
    if not (row or column):
        assert got == ""
        return
    assert f"{width}x{height}" in got and "trimmed" in got and "NPR README" in got
    assert ("last row" in got) == row and ("last column" in got) == column
