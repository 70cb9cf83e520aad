"""FatFormer (issue #17, CLIP family): parity with the official code, strict loading, weights download, the runner.

``tests/fixtures/parity/fatformer/`` was written by ``tools/parity/fatformer.py`` running the official
``Michel-liu/FatFormer`` @ febc24c model and test transform on a tiny seeded configuration (README there). The parity
test needs ``../shared/data`` and skips without it; everything else runs everywhere.
"""

from __future__ import annotations

import csv
import io
import lzma
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from _loopback import loopback  # noqa: F401 - pytest fixture
from test_download import drive  # noqa: F401 - pytest fixture: gdown's Google hosts served by the loopback server
from fakebench.core.errors import CheckpointError

FIXTURE = Path(__file__).parent / "fixtures" / "parity" / "fatformer"
CKPT = FIXTURE / "fatformer_tiny.pth.xz"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def fatformer():
    from fakebench.detectors.fatformer import FatFormer

    return FatFormer.load(CKPT)


@pytest.fixture(scope="module")
def plain_state() -> dict[str, torch.Tensor]:
    """The fixture's state dict (``checkpoint['model']``)."""
    return torch.load(io.BytesIO(lzma.decompress(CKPT.read_bytes())), weights_only=True)["model"]


def test_fatformer_matches_official(shared, fatformer):
    """Official CLIPModel + Dataset_Creator test transform vs the port, 12 images (32x32 to 1024x1024, odd,
    non-square, JPEG and PNG), scored as one batch: |dprob| <= 1e-5, |dlogit| <= 1e-4, no decision flips."""
    rows = list(csv.DictReader(open(FIXTURE / "expected.csv")))
    assert len(rows) == 12 and {r["preset"] for r in rows} == {fatformer.preset.name}
    transform = fatformer.transform()
    images = []
    for row in rows:
        img = Image.open(shared / "data" / row["image"]).convert("RGB")
        assert (img.width, img.height) == (int(row["width"]), int(row["height"]))
        images.append(transform(img))
    out = fatformer.predict(torch.stack(images))
    expected = np.array([float(r["prob"]) for r in rows])
    assert np.abs(out.prob.numpy() - expected).max() <= 1e-5
    assert np.abs(out.logit.numpy() - np.array([float(r["logit"]) for r in rows])).max() <= 1e-4
    assert ((out.prob.numpy() > 0.5) == (expected > 0.5)).all()
    assert 0 < (expected > 0.5).sum() < len(rows)  # the fixture exercises both decisions


def test_haar_dwt_and_inverse_match_pytorch_wavelets():
    """fakebench's DWT (wavelets.dwt2_level1, 'haar') and haar_idwt2 vs pytorch_wavelets DWTForward(J=1,
    wave='haar') / DWTInverse(wave='haar') outputs stored by the parity script."""
    from fakebench.detectors.fatformer import haar_idwt2
    from fakebench.detectors.wavelets import dwt2_level1

    ref = torch.load(FIXTURE / "wavelets_haar.pt", weights_only=True)
    low, highs = dwt2_level1(ref["x"], "haar")
    assert torch.equal(low, ref["low"]) and torch.equal(highs, ref["highs"])
    back = haar_idwt2(low + 0.5, highs * 1.5)
    assert torch.allclose(back, ref["inverse_of_low+0.5_highs*1.5"], atol=2e-6, rtol=0)
    assert torch.allclose(haar_idwt2(low, highs), ref["x"], atol=2e-6, rtol=0)  # perfect reconstruction


def test_fatformer_reads_its_shapes_and_uses_every_branch(fatformer):
    """Shapes come from the checkpoint; the adapter's frequency branch, the learned context and the text-guided
    interactor all change the output (a port that dropped one would score differently); batch = one by one."""
    from fakebench.detectors.fatformer import FatFormerConfig

    assert fatformer.model.config == FatFormerConfig(
        vision_width=128, vision_layers=2, patch_size=14, image_size=224, adapter_blocks=(1,), text_width=72,
        text_layers=1, context_length=77, vocab_size=49408, embed_dim=72, n_ctx=8)
    assert fatformer.preset.name == "resize256_crop224" and fatformer.model.eos.tolist() == [11, 11]
    torch.manual_seed(0)
    x = torch.randn(2, 3, 224, 224)
    before = fatformer.predict(x).logit
    assert torch.allclose(fatformer.predict(x[1:]).logit, before[1:], atol=1e-5)
    model = fatformer.model
    for param in (model.clip_model.visual.transformer.resblocks[1].forgery_aware_adapter.freq_scale,
                  model.language_guided_alignment.ctx, model.text_guided_interactor.out_proj.weight):
        saved = param.detach().clone()
        with torch.no_grad():
            param.zero_()
            changed = fatformer.predict(x).logit
            param.copy_(saved)
        assert not torch.allclose(before, changed, atol=1e-4)
    assert torch.equal(fatformer.predict(x).logit, before)


def test_fatformer_checkpoint_layouts(tmp_path, fatformer, plain_state):
    from fakebench.detectors.fatformer import FatFormer

    x = torch.randn(1, 3, 224, 224)
    torch.save(dict(plain_state), tmp_path / "bare.pth")  # without the {'model': ...} wrapper
    assert torch.equal(FatFormer.load(tmp_path / "bare.pth").predict(x).logit, fatformer.predict(x).logit)
    missing = {k: v for k, v in plain_state.items() if k != "language_guided_alignment.token_suffix"}
    torch.save({"model": missing}, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="1 missing: language_guided_alignment.token_suffix"):
        FatFormer.load(tmp_path / "missing.pth")
    # aliased entries load as in the official load_state_dict: the later module (image_encoder) wins
    key = "transformer.resblocks.1.forgery_aware_adapter.dwt_transform.h1_row"
    torch.save({"model": {**plain_state, f"clip_model.visual.{key}": -plain_state[f"image_encoder.{key}"]}},
               tmp_path / "shadowed.pth")
    assert torch.equal(FatFormer.load(tmp_path / "shadowed.pth").predict(x).logit, fatformer.predict(x).logit)
    torch.save({"model": {**plain_state, f"image_encoder.{key}": -plain_state[f"image_encoder.{key}"]}},
               tmp_path / "filters.pth")
    with pytest.raises(CheckpointError, match="not the Haar filters"):
        FatFormer.load(tmp_path / "filters.pth")
    torch.save({"model": {"visual.proj": torch.zeros(4, 4)}}, tmp_path / "clip.pth")
    with pytest.raises(CheckpointError, match="not a FatFormer checkpoint"):
        FatFormer.load(tmp_path / "clip.pth")


def test_fatformer_card_and_listing():
    from click.testing import CliRunner

    from cli import main
    from fakebench.detectors import REGISTRY
    from fakebench.detectors.catalog_fatformer import FATFORMER_DRIVE_ID

    card = REGISTRY.card("fatformer")
    assert card.licence.startswith("Apache-2.0") and "febc24c" in card.repo
    assert [w.tag for w in card.weights] == ["progan_4class"]
    assert card.weights[0].sources[0].kind == "gdrive" and card.weights[0].sources[0].ref == FATFORMER_DRIVE_ID
    preset = card.get_preset("resize256_crop224")
    assert (preset.resize, preset.resize_mode, preset.crop, preset.mean) == (256, "square", 224, (0.485, 0.456, 0.406))
    res = CliRunner().invoke(main, ["list", "detectors"], catch_exceptions=False)
    assert res.exit_code == 0
    lines = res.output.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("fatformer "))
    assert lines[at + 2].strip().startswith("licence: Apache-2.0")


def test_fatformer_tag_downloads_from_drive_and_refuses_a_non_vit_l14_file(drive):
    from fakebench.detectors.fatformer import FatFormer

    payload = CKPT.read_bytes()
    ckpt = lzma.decompress(payload)
    drive.add_drive_file("1Q_Kgq4ygDf8XEHgAf-SgDN6Ru_IOTLkj", "upstream.pth", ckpt)
    path, spec = FatFormer.resolve_weights("progan_4class")
    assert spec.tag == "progan_4class" and path.name == "fatformer_progan_4class.pth"
    assert path.read_bytes() == ckpt
    with pytest.raises(CheckpointError, match="expected the published ViT-L/14"):
        FatFormer.load("progan_4class")


def test_fatformer_runs_through_evaluate(tmp_path, fatformer):
    """`fakebench evaluate --detector fatformer --weights <fixture>`: every image scored, equal to direct scoring."""
    from conftest import evaluate_sized_folder

    preds = evaluate_sized_folder(tmp_path / "set", tmp_path / "runs", "fatformer", CKPT, (40, 301))
    assert len(preds) == 4 and preds["error"].isna().all()
    direct = fatformer.predict_images([Image.open(p).convert("RGB") for p in preds["image"]])
    assert np.allclose(preds["prob"].to_numpy(), direct.prob.numpy(), atol=1e-6)


def test_fatformer_full_size_layout_matches_the_official_model():
    """fakebench's ViT-L/14 network (meta device: no weights) has exactly the keys and shapes of the official
    full-size CLIPModel (README command: --num_vit_adapter 3, --num_context_embedding 8), as the parity script
    recorded them; its shapes read back as VIT_L14."""
    import json

    from fakebench.detectors.fatformer import VIT_L14, FatFormerConfig, FatFormerNet

    official = json.loads((FIXTURE / "full_size_layout.json").read_text())
    with torch.device("meta"):
        state = FatFormerNet(VIT_L14).state_dict()
    assert {k: list(v.shape) for k, v in state.items()} == official
    assert FatFormerConfig.from_state_dict(state) == VIT_L14
