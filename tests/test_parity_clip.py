"""Parity of the CLIP-family ports (RINE, CLIP-D, C2P-CLIP, Community Forensics) with their official code.

Each fixture under ``tests/fixtures/parity/<name>/`` was made by ``tools/parity/<name>.py`` running the OFFICIAL code
(a checkout at the recorded commit) on a tiny seeded configuration of the real architecture: the checkpoint in the
official format and the official outputs on 12 images of ``../shared/data`` (mixed, odd, non-square and sub-crop
sizes). fakebench must load the checkpoint with its own loader and give |delta prob| <= 1e-5 and no flipped decision
for every preset. Strict-loading and shape tests need no ``../shared``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from PIL import Image

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "parity"


def expected_rows(name: str) -> list[dict]:
    return list(csv.DictReader(open(FIXTURES / name / "expected.csv")))


def check_parity(det, rows: list[dict], data: Path, *, refused=(ValueError,)) -> int:
    """Score each row's image with ``det`` (its preset) and compare; returns the number of rows checked."""
    transform = det.transform()
    checked = 0
    for row in rows:
        img = Image.open(data / row["image"]).convert("RGB")
        assert (img.width, img.height) == (int(row["width"]), int(row["height"])), row["image"]
        x = transform(img).unsqueeze(0)
        if row["logit"] == "":  # the official code refuses this input: so must the port
            with pytest.raises(refused):
                det.predict(x)
            continue
        out = det.predict(x)
        prob, logit = out.prob.item(), out.logit.item()
        assert abs(prob - float(row["prob"])) <= 1e-5, (row["image"], prob, row["prob"])
        assert (prob > 0.5) == (float(row["prob"]) > 0.5), row["image"]
        assert abs(logit - float(row["logit"])) < 1e-4, (row["image"], logit, row["logit"])
        checked += 1
    return checked


# -- RINE ---------------------------------------------------------------------------------------------------------------
RINE_DIR = FIXTURES / "rine"


@pytest.fixture(scope="module")
def rine_backbone():
    from fakebench.detectors.univfd import load_openai_clip_visual

    return load_openai_clip_visual(RINE_DIR / "tiny_clip_vit_openai_format.pt")


@pytest.mark.parametrize("config,preset", [("2class", "crop224"), ("2class", "tencrop224"),
                                           ("nproj2", "crop224"), ("nproj2", "tencrop224")])
def test_rine_matches_official(shared, rine_backbone, config, preset):
    from fakebench.detectors.rine import RINE

    det = RINE.load(RINE_DIR / f"model_{config}_trainable_format.pth", preset=preset, backbone=rine_backbone)
    rows = [r for r in expected_rows("rine") if r["config"] == config and r["preset"] == preset]
    assert len(rows) == 12
    checked = check_parity(det, rows, shared / "data")
    assert checked == (12 if preset == "crop224" else 9)  # three images are under 224 px: TenCrop refuses them


def test_rine_reads_the_config_from_the_checkpoint(rine_backbone):
    from fakebench.detectors.rine import RINE

    two = RINE.load(RINE_DIR / "model_2class_trainable_format.pth", backbone=rine_backbone)
    small = RINE.load(RINE_DIR / "model_nproj2_trainable_format.pth", backbone=rine_backbone)
    assert two.model.head.alpha.shape == (1, 4, 128) and len(two.model.head.proj1) == 1 + 3 * 4
    assert small.model.head.alpha.shape == (1, 4, 32) and len(small.model.head.proj1) == 1 + 3 * 2
    assert two.preset.name == "crop224" and two.weights.tag == "file"


def test_rine_official_card_configs_match_the_loader():
    """The card's (nproj, proj_dim) per checkpoint is what rine_config reads from a file of that layout (keys and
    shapes of the real 2class file: alpha [1, 24, 128], proj1.1.weight [128, 1024], ..., head.6.bias [1])."""
    from fakebench.detectors.catalog_clip import RINE_CARD, RINE_CONFIGS
    from fakebench.detectors.rine import RINEHead, rine_config

    assert [w.tag for w in RINE_CARD.weights] == ["4class", "1class", "2class", "ldm"]
    for tag, (nproj, proj_dim) in RINE_CONFIGS.items():
        state = RINEHead(24, 1024, nproj, proj_dim).state_dict() if proj_dim == 128 else \
            {k: torch.empty(v.shape, device="meta") for k, v in
             RINEHead(24, 1024, nproj, 8).state_dict().items()}  # same key set, small tensors
        config = rine_config(state)
        assert config["nproj"] == nproj and config["n_blocks"] == 24 and config["width"] == 1024
    real = RINEHead(24, 1024, 4, 128).state_dict()
    assert sorted(real)[:3] == ["alpha", "head.0.bias", "head.0.weight"] and len(real) == 23


def test_rine_wrong_checkpoint_lists_the_keys(tmp_path, rine_backbone):
    from fakebench.core.errors import CheckpointError
    from fakebench.detectors.rine import RINE

    state = torch.load(RINE_DIR / "model_2class_trainable_format.pth", weights_only=True)
    del state["head.6.bias"]
    state["extra.weight"] = torch.zeros(1)
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    with pytest.raises(CheckpointError, match=r"1 missing: head\.6\.bias; 1 unexpected: extra\.weight"):
        RINE.load(bad, backbone=rine_backbone)


def test_rine_head_and_backbone_must_agree(tmp_path, rine_backbone):
    from fakebench.core.errors import CheckpointError
    from fakebench.detectors.rine import RINE, RINEHead

    path = tmp_path / "wide.pth"
    torch.save(RINEHead(24, 1024, 2, 16).state_dict(), path)  # a ViT-L/14 head on the 4-block tiny ViT
    with pytest.raises(CheckpointError, match="expects 24 blocks of width 1024, but the CLIP backbone has 4 blocks"):
        RINE.load(path, backbone=rine_backbone)


def test_rine_tencrop_refuses_small_images_and_batches(rine_backbone):
    from fakebench.detectors.rine import RINE, ten_crop

    det = RINE.load(RINE_DIR / "model_nproj2_trainable_format.pth", preset="tencrop224", backbone=rine_backbone)
    with pytest.raises(ValueError, match="at least 224x224 pixels, got 200x300"):
        det.predict(torch.zeros(1, 3, 300, 200))
    assert "refused" in det.input_note(torch.zeros(3, 100, 300))
    torch.manual_seed(0)
    x = torch.randn(2, 3, 240, 256)
    assert ten_crop(x).shape == (20, 3, 224, 224)
    together = det.predict(x).logit
    alone = torch.cat([det.predict(x[i:i + 1]).logit for i in range(2)])
    assert torch.allclose(together, alone, atol=1e-5)
    assert all(not b.ln_2._forward_hooks for b in rine_backbone.transformer.resblocks)  # no hooks left behind


# -- CLIP-D -------------------------------------------------------------------------------------------------------------
CLIPDET_DIR = FIXTURES / "clipdet"


@pytest.fixture(scope="module")
def clipdet_backbone():
    from fakebench.detectors.clipdet import build_openclip_visual

    return build_openclip_visual(CLIPDET_DIR / "tiny_openclip_vit.bin", CLIPDET_DIR / "tiny_openclip_vit.json")


def test_clipdet_matches_official(shared, clipdet_backbone):
    from fakebench.detectors.clipdet import CLIPDet

    det = CLIPDet.load(CLIPDET_DIR / "weights_format.pth", backbone=clipdet_backbone)
    assert det.preset.name == "clip224"
    assert check_parity(det, expected_rows("clipdet"), shared / "data") == 12


def test_clipdet_loads_both_official_head_layouts(tmp_path, clipdet_backbone):
    """networks.load_weights accepts {'model': ...} with or without DataParallel's 'module.' prefix."""
    from fakebench.detectors.clipdet import CLIPDet

    state = torch.load(CLIPDET_DIR / "weights_format.pth", weights_only=True)["model"]
    prefixed = tmp_path / "weights.pth"
    torch.save({"model": {"module." + k: v for k, v in state.items()}}, prefixed)
    det = CLIPDet.load(prefixed, backbone=clipdet_backbone)
    assert torch.equal(det.model.fc.weight, state["fc.weight"])
    assert det.model.visual.proj is None  # next-to-last features


def test_clipdet_wrong_head_lists_the_keys(tmp_path, clipdet_backbone):
    from fakebench.core.errors import CheckpointError
    from fakebench.detectors.clipdet import CLIPDet

    bad = tmp_path / "weights.pth"
    torch.save({"model": {"fc.weight": torch.zeros(1, 768), "fc.bias": torch.zeros(1)}}, bad)  # projected width
    with pytest.raises(CheckpointError, match=r"mis-shaped: fc\.weight: file \(1, 768\) vs model \(1, 64\)"):
        CLIPDet.load(bad, backbone=clipdet_backbone)


def test_clipdet_backbone_file_must_fit(tmp_path):
    from fakebench.core.errors import CheckpointError
    from fakebench.detectors.clipdet import build_openclip_visual

    state = torch.load(CLIPDET_DIR / "tiny_openclip_vit.bin", weights_only=True)
    del state["visual.ln_post.weight"]
    bad = tmp_path / "bb.bin"
    torch.save(state, bad)
    with pytest.raises(CheckpointError, match="does not fit open_clip model"):
        build_openclip_visual(bad, CLIPDET_DIR / "tiny_openclip_vit.json")


# -- C2P-CLIP -----------------------------------------------------------------------------------------------------------
C2P_DIR = FIXTURES / "c2p_clip"
C2P_RELEASE = C2P_DIR / "c2p_clip_tiny_release_format.zip"


@pytest.fixture(scope="module")
def c2p_detector():
    pytest.importorskip("transformers")
    from fakebench.detectors.c2p_clip import C2PCLIP

    return C2PCLIP.load(C2P_RELEASE)


def test_c2p_clip_matches_official(shared, c2p_detector):
    assert c2p_detector.preset.name == "resize224_crop224"
    assert check_parity(c2p_detector, expected_rows("c2p_clip"), shared / "data") == 12


def test_c2p_clip_reads_the_tower_shape_from_the_release(c2p_detector):
    import json

    from fakebench.detectors.c2p_clip import read_release, vision_config_from_state_dict

    config = vision_config_from_state_dict(read_release(C2P_RELEASE))
    tiny = json.loads((C2P_DIR / "tiny_clip_config.json").read_text())
    for key, value in tiny["vision_config"].items():
        assert config[key] == value, key
    assert config["projection_dim"] == 768
    assert sum(p.numel() for p in c2p_detector.model.parameters()) > 0
    assert not any(p.requires_grad for p in c2p_detector.model.parameters())


def test_c2p_clip_extracted_file_and_wrong_files(tmp_path, c2p_detector):
    """The torch file inside the zip loads too; a missing fc or a zip of two files fails with one clear line."""
    import zipfile

    from fakebench.core.errors import CheckpointError
    from fakebench.detectors.c2p_clip import C2PCLIP, read_release

    state = read_release(C2P_RELEASE)
    plain = tmp_path / "c2p.pth"
    torch.save(state, plain)
    det = C2PCLIP.load(plain)
    x = torch.randn(1, 3, 224, 224)
    assert torch.equal(det.predict(x).logit, c2p_detector.predict(x).logit)
    del state["model.fc.bias"]
    torch.save(state, plain)
    with pytest.raises(CheckpointError, match=r"1 missing: model\.fc\.bias"):
        C2PCLIP.load(plain)
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as zf:
        zf.writestr("a.txt", "x")
        zf.writestr("b.txt", "y")
    with pytest.raises(CheckpointError):
        C2PCLIP.load(two)


# -- Community Forensics ------------------------------------------------------------------------------------------------
COMMFOR_DIR = FIXTURES / "commfor"
COMMFOR_FILE = COMMFOR_DIR / "commfor_tiny_384" / "model.safetensors"


@pytest.fixture(scope="module")
def commfor_detector():
    from fakebench.detectors.commfor import CommFor

    return CommFor.load(COMMFOR_FILE)


def test_commfor_matches_official(shared, commfor_detector):
    assert commfor_detector.preset.name == "resize440_crop384"  # chosen from the checkpoint's 384-px input
    assert check_parity(commfor_detector, expected_rows("commfor"), shared / "data") == 12


def test_commfor_224_preset_matches_the_official_transform(shared):
    """The 224 model's protocol: fakebench's resize256_crop224 gives the official get_transform(input_size=224)
    tensors (per-image mean and L2 norm recorded by tools/parity/commfor.py)."""
    from fakebench.detectors.catalog_clip import COMMFOR_CARD
    from fakebench.detectors.preprocess import build_transform

    transform = build_transform(COMMFOR_CARD.get_preset("resize256_crop224"))
    rows = list(csv.DictReader(open(COMMFOR_DIR / "transform224.csv")))
    assert len(rows) == 12
    for row in rows:
        t = transform(Image.open(shared / "data" / row["image"]).convert("RGB")).double()
        assert "x".join(map(str, t.shape)) == row["shape"] == "3x224x224"
        assert abs(float(t.mean()) - float(row["mean"])) < 1e-6, row["image"]
        assert abs(float(t.norm()) - float(row["l2"])) < 1e-3, row["image"]


def test_commfor_reads_the_shape_and_refuses_a_wrong_preset(commfor_detector):
    import json

    from fakebench.core.errors import CheckpointError
    from fakebench.detectors.commfor import CommFor

    config = json.loads((COMMFOR_DIR / "commfor_tiny_384" / "config.json").read_text())
    assert config["input_size"] == commfor_detector.model.img_size == 384
    assert len(commfor_detector.model.vit.blocks) == 1 and commfor_detector.model.vit.embed_dim == 384
    with pytest.raises(CheckpointError, match="384-px model but preset 'resize256_crop224' crops 224"):
        CommFor.load(COMMFOR_FILE, preset="resize256_crop224")


def test_commfor_pytorch_checkpoint_and_wrong_keys(tmp_path, commfor_detector):
    """The Dropbox/train.py layout {'model': state} with torch.compile's '_orig_mod.' prefix loads the same tensors;
    a missing head fails with the key list."""
    from safetensors.torch import load_file

    from fakebench.core.errors import CheckpointError
    from fakebench.detectors.commfor import CommFor

    state = load_file(str(COMMFOR_FILE))
    ckpt = tmp_path / "commfor.pt"
    torch.save({"model": {"_orig_mod." + k: v for k, v in state.items()}, "epoch": 3}, ckpt)
    det = CommFor.load(ckpt)
    x = torch.randn(1, 3, 384, 384)
    assert torch.equal(det.predict(x).logit, commfor_detector.predict(x).logit)
    del state["vit.head.bias"]
    torch.save({"model": state}, ckpt)
    with pytest.raises(CheckpointError, match=r"1 missing: vit\.head\.bias"):
        CommFor.load(ckpt)


# -- Grad-CAM on the tiny configurations --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["rine", "clipdet", "c2p_clip", "commfor"])
def test_gradcam_on_the_clip_family(name, request):
    pytest.importorskip("pytorch_grad_cam")
    import numpy as np

    from fakebench.explain.gradcam import gradcam

    if name == "rine":
        from fakebench.detectors.rine import RINE

        det = RINE.load(RINE_DIR / "model_2class_trainable_format.pth",
                        backbone=request.getfixturevalue("rine_backbone"))
    elif name == "clipdet":
        from fakebench.detectors.clipdet import CLIPDet

        det = CLIPDet.load(CLIPDET_DIR / "weights_format.pth", backbone=request.getfixturevalue("clipdet_backbone"))
    elif name == "c2p_clip":
        det = request.getfixturevalue("c2p_detector")
    else:
        det = request.getfixturevalue("commfor_detector")
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (300, 260, 3), dtype=np.uint8), "RGB")
    heat = gradcam(det, img)
    crop = det.preset.crop
    assert heat.shape == (crop, crop) and heat.dtype == np.float32
    assert np.isfinite(heat).all() and heat.min() >= 0.0 and heat.max() <= 1.0
    assert heat.max() - heat.min() > 0.1  # the patch tokens carry gradient
    before = det.predict(det.transform()(img).unsqueeze(0)).logit
    assert torch.equal(before, det.predict(det.transform()(img).unsqueeze(0)).logit)  # hooks left nothing behind
