"""SPAI (issue #18): parity with the official code, patch selection, filtering, padding, strict loading, download,
the runner.

``tests/fixtures/parity/spai/`` was written by ``tools/parity/spai.py`` running the official ``mever-team/spai`` @
8ff7b3b model (``PatchBasedMFViT`` from ``configs/spai.yaml``, made tiny), checkpoint loader and test transform on a
seeded configuration (README there). The parity test needs ``../shared/data`` and skips without it; everything else
runs everywhere.
"""

from __future__ import annotations

import argparse
import collections
import csv
import lzma
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from _loopback import loopback  # noqa: F401 - pytest fixture
from test_download import drive  # noqa: F401 - pytest fixture: gdown's Google hosts served by the loopback server
from fakebench.core.errors import CheckpointError

FIXTURE = Path(__file__).parent / "fixtures" / "parity" / "spai"
CKPT = FIXTURE / "spai_tiny.pth.xz"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def spai():
    from fakebench.detectors.spai import SPAI

    return SPAI.load(CKPT)


@pytest.fixture(scope="module")
def checkpoint() -> dict:
    """The fixture's whole save_checkpoint dict (yacs config read as plain data)."""
    from fakebench.detectors.spai import read_spai_checkpoint

    return read_spai_checkpoint(CKPT)


def test_spai_matches_official(shared, spai):
    """Official PatchBasedMFViT + build_transform(is_train=False) vs the port on 12 images (32x32 and 128x128
    reflect-padded, 256/356/321x481 on five crops, 512x512 to 1024x683 and 640x1141 on 4-12 patches; JPEG and PNG):
    |dprob| <= 1e-5, |dlogit| <= 1e-4, no decision flips."""
    rows = list(csv.DictReader(open(FIXTURE / "expected.csv")))
    assert len(rows) == 12 and {r["preset"] for r in rows} == {spai.preset.name}
    images = []
    for row in rows:
        img = Image.open(shared / "data" / row["image"]).convert("RGB")
        assert (img.width, img.height) == (int(row["width"]), int(row["height"]))
        images.append(img)
    out = spai.predict_images(images)
    expected = np.array([float(r["prob"]) for r in rows])
    assert np.abs(out.prob.numpy() - expected).max() <= 1e-5
    assert np.abs(out.logit.numpy() - np.array([float(r["logit"]) for r in rows])).max() <= 1e-4
    assert ((out.prob.numpy() > 0.5) == (expected > 0.5)).all()
    assert 0 < (expected > 0.5).sum() < len(rows)  # the fixture exercises both decisions


def test_spai_patch_selection_is_the_official_rule():
    """unfold patches (row-major, stride 224, remainder dropped) when there are >= 4, else torchvision five_crop."""
    from torchvision.transforms.functional import five_crop

    from fakebench.detectors.spai import spai_patches

    gen = torch.Generator().manual_seed(0)
    for height, width, count in ((683, 1024, 12), (448, 448, 4), (1141, 640, 10), (224, 224, 5), (447, 1000, 4),
                                 (447, 800, 5), (481, 321, 5), (256, 256, 5)):
        img = torch.rand(3, height, width, generator=gen)
        n, take = spai_patches(img, 224, 224, 4)
        assert n == count
        unfolded = img[None].unfold(2, 224, 224).unfold(3, 224, 224).permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, 224, 224)
        official = unfolded if unfolded.shape[0] >= 4 else torch.stack(five_crop(img, [224, 224]))
        assert torch.equal(take(0, n), official)
        assert torch.equal(torch.cat([take(i, min(i + 3, n)) for i in range(0, n, 3)]), official)


def test_frequency_bands_equal_the_official_filter():
    """filters.filter_image_frequencies (fftshift/ifftshift over EVERY dimension, mask product) + the clamp of
    MFViT.forward, written out here, vs frequency_bands: bit-identical; the mask is the official circular mask."""
    from fakebench.detectors.spai import circular_mask, frequency_bands

    mask = circular_mask(224, 16)
    assert mask.dtype == torch.int64 and int(mask.sum()) == 856 and mask[111, 111] == 1 and mask[0, 0] == 0
    coords = torch.cat([torch.arange(112.0).flip(0), torch.arange(112.0)])
    radius = (coords[None, :] ** 2 + coords[:, None] ** 2).sqrt()
    assert torch.equal(mask, (radius < 16).long())
    x = torch.rand(3, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    spectrum = torch.fft.fftshift(torch.fft.fft2(x))
    low = torch.fft.ifft2(torch.fft.ifftshift(spectrum * mask)).real.clamp(0, 1)
    high = torch.fft.ifft2(torch.fft.ifftshift(spectrum * (1 - mask))).real.clamp(0, 1)
    ours = frequency_bands(x, mask)
    assert torch.equal(ours[0], low) and torch.equal(ours[1], high)


def test_spai_pad_is_reflect_101_centred():
    """PadIfNeeded(224, 224) defaults: cv2.BORDER_REFLECT_101, (224 - n) // 2 before, the rest after; pads longer
    than the image and 1-pixel sides included. The parity script checks the same against albumentations itself."""
    cv2 = pytest.importorskip("cv2")
    from fakebench.detectors.spai import spai_pad

    rng = np.random.default_rng(0)
    for height, width in ((37, 201), (1, 300), (1, 50), (60, 1), (1, 1), (223, 225), (2, 2), (30, 493), (224, 224),
                          (500, 600)):
        img = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        top, left = max(224 - height, 0) // 2, max(224 - width, 0) // 2
        ref = cv2.copyMakeBorder(img, top, max(224 - height, 0) - top, left, max(224 - width, 0) - left,
                                 cv2.BORDER_REFLECT_101)
        assert np.array_equal(spai_pad(img), ref), (height, width)


def test_spai_memory_is_bounded_by_patch_batch(spai):
    """The patches are cut group by group: the encoder never sees more than patch_batch of them, and the logit does
    not depend on the group size (official: FEATURE_EXTRACTION_BATCH groups over all materialised patches)."""
    model = spai.model
    img = torch.rand(3, 1120, 900, generator=torch.Generator().manual_seed(2))  # 5 x 4 = 20 patches
    seen = []
    hook = model.mfvit.register_forward_pre_hook(lambda mod, args: seen.append(args[0].shape[0]))
    saved = model.patch_batch
    try:
        logits = {}
        for size in (6, 1, 400):
            model.patch_batch, seen[:] = size, []
            with torch.inference_mode():
                logits[size] = model(img)
            assert max(seen) == min(size, 20) and sum(seen) == 20
    finally:
        model.patch_batch = saved
        hook.remove()
    assert torch.allclose(logits[6], logits[400], atol=1e-6) and torch.allclose(logits[1], logits[400], atol=1e-6)


def test_spai_transform_and_notes(spai):
    """Native size, sides under 224 padded, values in [0, 1] (k * float32(1/255)); the note names the five-crop case;
    images smaller than 224 reach the model only through the transform."""
    tr = spai.transform()
    small = tr(Image.new("RGB", (40, 300), (255, 0, 51)))
    assert small.shape == (3, 300, 224) and small.dtype == torch.float32
    assert small[0].eq(1.0).all() and small[2].eq(np.float32(51) * np.float32(1 / 255)).all()
    assert "five" in spai.input_note(small) and spai.input_note(torch.zeros(3, 448, 448)) == ""
    with pytest.raises(ValueError, match="at least 224x224"):
        spai.model(torch.zeros(3, 100, 300))


def test_spai_checkpoint_layouts(tmp_path, spai, checkpoint):
    """The official save_checkpoint dict (with its yacs CfgNode, read as an OrderedDict under weights_only=True), a
    {'model': ...} dict and the bare state dict load alike; wrong key sets fail with the keys listed; pickled code
    is still refused."""
    from fakebench.detectors.spai import SPAI

    assert set(checkpoint) == {"model", "optimizer", "lr_scheduler", "max_accuracy", "epoch", "config"}
    assert isinstance(checkpoint["config"], collections.OrderedDict)
    assert checkpoint["config"]["MODEL"]["RESOLUTION_MODE"] == "arbitrary"
    assert checkpoint["config"]["MODEL"]["PATCH_VIT"]["MINIMUM_PATCHES"] == 4
    state = checkpoint["model"]
    x = torch.rand(1, 3, 230, 470, generator=torch.Generator().manual_seed(3))
    ref = spai.predict(x).logit
    torch.save(dict(state), tmp_path / "bare.pth")
    torch.save({"model": dict(state)}, tmp_path / "wrapped.pth")
    for name in ("bare.pth", "wrapped.pth"):
        assert torch.equal(SPAI.load(tmp_path / name).predict(x).logit, ref)
    missing = {k: v for k, v in state.items() if k != "mfvit.vit.cls_pos_embed"}
    torch.save({"model": missing}, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="1 missing: mfvit.vit.cls_pos_embed"):
        SPAI.load(tmp_path / "missing.pth")
    torch.save({"model": {**state, "extra.weight": torch.zeros(2)}}, tmp_path / "extra.pth")
    with pytest.raises(CheckpointError, match="1 unexpected: extra.weight"):
        SPAI.load(tmp_path / "extra.pth")
    torch.save({"model": {"blocks.0.attn.qkv.weight": torch.zeros(4, 4)}}, tmp_path / "vit.pth")
    with pytest.raises(CheckpointError, match="not a SPAI checkpoint"):
        SPAI.load(tmp_path / "vit.pth")
    torch.save({"model": dict(state), "args": argparse.Namespace(a=1)}, tmp_path / "code.pth")
    with pytest.raises(CheckpointError, match="would execute code"):
        SPAI.load(tmp_path / "code.pth")


def test_spai_reads_its_shapes_and_uses_every_branch(spai):
    """Shapes come from the checkpoint; the frequency mask, the spectral context vector and the patch attention
    all change the output (a port that dropped one would score differently)."""
    from fakebench.detectors.spai import SPAIConfig

    assert spai.model.config == SPAIConfig(embed_dim=128, depth=2, num_heads=2, intermediate_layers=(0, 1),
                                           proj_dim=16, attn_embed_dim=24, attn_heads=2)
    model = spai.model
    x = torch.rand(1, 3, 460, 450, generator=torch.Generator().manual_seed(4))
    before = spai.predict(x).logit
    for tensor, value in ((model.mfvit.frequencies_mask, 1),
                          (model.mfvit.features_processor.original_features_processor.proj2.norm2.weight, 0),
                          (model.patch_aggregator, 0)):
        saved = tensor.detach().clone()
        with torch.no_grad():
            tensor.fill_(value)
            changed = spai.predict(x).logit
            tensor.copy_(saved)
        assert not torch.allclose(before, changed, atol=1e-4)
    assert torch.equal(spai.predict(x).logit, before)


def test_spai_card_and_listing():
    from click.testing import CliRunner

    from cli import main
    from fakebench.detectors import REGISTRY
    from fakebench.detectors.catalog_spai import SPAI_DRIVE_ID

    card = REGISTRY.card("spai")
    assert card.licence.startswith("Apache-2.0") and "8ff7b3b" in card.repo
    assert [w.tag for w in card.weights] == ["ldm"] and card.weights[0].filename == "spai.pth"
    assert card.weights[0].sources[0].kind == "gdrive" and card.weights[0].sources[0].ref == SPAI_DRIVE_ID
    preset = card.get_preset("native")
    assert (preset.resize, preset.crop, preset.mean, preset.std) == (None, None, (0.0,) * 3, (1.0,) * 3)
    assert not preset.fixed_size and preset.pads_below is None
    res = CliRunner().invoke(main, ["list", "detectors"], catch_exceptions=False)
    assert res.exit_code == 0
    lines = res.output.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("spai "))
    assert any(ln.strip().startswith("licence: Apache-2.0") for ln in lines[at + 1:at + 4])


def test_spai_tag_downloads_from_drive_and_refuses_a_non_vit_b_file(drive):
    from fakebench.detectors.spai import SPAI

    ckpt = lzma.decompress(CKPT.read_bytes())
    drive.add_drive_file("1vvXmZqs6TVJdj8iF1oJ4L_fcgdQrp_YI", "spai.pth", ckpt)
    path, spec = SPAI.resolve_weights("ldm")
    assert spec.tag == "ldm" and path.name == "spai.pth" and path.read_bytes() == ckpt
    with pytest.raises(CheckpointError, match="expected the published"):
        SPAI.load("ldm")


def test_spai_runs_through_evaluate(tmp_path, spai):
    """`fakebench evaluate --detector spai --weights <fixture>`: native sizes (40 px padded, 301 px on five crops),
    every image scored, equal to direct scoring."""
    from conftest import evaluate_sized_folder

    preds = evaluate_sized_folder(tmp_path / "set", tmp_path / "runs", "spai", CKPT, (40, 301))
    assert len(preds) == 4 and preds["error"].isna().all()
    direct = spai.predict_images([Image.open(p).convert("RGB") for p in preds["image"]])
    assert np.allclose(preds["prob"].to_numpy(), direct.prob.numpy(), atol=1e-6)


def test_spai_full_size_layout_matches_the_official_model():
    """fakebench's published network (meta device: no weights) has exactly the keys and shapes of the official
    full-size PatchBasedMFViT (configs/spai.yaml), as the parity script recorded them; they read back as
    SPAI_VIT_B16."""
    import json

    from fakebench.detectors.spai import SPAI_VIT_B16, SPAIConfig, SPAINet

    official = json.loads((FIXTURE / "full_size_layout.json").read_text())
    with torch.device("meta"):
        state = SPAINet(SPAI_VIT_B16).state_dict()
    assert {k: list(v.shape) for k, v in state.items()} == official
    assert SPAIConfig.from_state_dict(state) == SPAI_VIT_B16
