"""Foundation-model detectors (issue #17 part B): parity with the official code and strict loading.

The fixtures in ``tests/fixtures/parity/<name>/`` were written by ``tools/parity/<name>.py`` running the official
repository's own model and transform code on tiny seeded configurations of the same architectures (see each
fixture's README). Parity tests need the images of ``../shared/data`` and skip without them; loading and shape tests
run everywhere.
"""

from __future__ import annotations

import csv
import lzma
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fakebench.core.errors import CheckpointError

FIXTURES = Path(__file__).parent / "fixtures" / "parity"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _rows(name: str, **match) -> list[dict]:
    rows = list(csv.DictReader(open(FIXTURES / name / "expected.csv")))
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def _plain_copy(xz_path: Path, tmp_path: Path) -> Path:
    """The decompressed fixture checkpoint (a ``.pth`` exactly as the official code saves it)."""
    out = tmp_path / xz_path.name[:-3]
    out.write_bytes(lzma.decompress(xz_path.read_bytes()))
    return out


# -- DRCT --------------------------------------------------------------------------------------------------------------
DRCT_VARIANTS = ("convnext", "clip")


@pytest.fixture(scope="module")
def drct_models():
    from fakebench.detectors.drct import DRCT

    return {v: DRCT.load(FIXTURES / "drct" / f"{v}_tiny.pth.xz") for v in DRCT_VARIANTS}


@pytest.mark.parametrize("variant", DRCT_VARIANTS)
def test_drct_matches_official(shared, drct_models, variant):
    """Official ContrastiveModels + albumentations pipeline (cv2 reads) vs the port (PIL reads): 12 images, JPEG and
    PNG, 32x32 to 1024x1024, odd and sub-crop sizes; |dprob| <= 1e-5 and no decision flips."""
    det = drct_models[variant]
    assert det.preset.name == "pad_crop224" and det.model.config.backbone == variant
    rows = _rows("drct", variant=variant)
    assert len(rows) == 12
    transform = det.transform()
    for row in rows:
        img = Image.open(shared / "data" / row["image"]).convert("RGB")
        assert img.size == (int(row["width"]), int(row["height"]))
        out = det.predict(transform(img).unsqueeze(0))
        expected = float(row["prob"])
        assert abs(out.prob.item() - expected) <= 1e-5, row["image"]
        assert abs(out.logit.item() - float(row["logit"])) <= 1e-4, row["image"]
        assert (out.prob.item() > 0.5) == (expected > 0.5), row["image"]


def test_drct_reads_the_backbone_from_the_checkpoint(drct_models):
    from fakebench.detectors.drct import DRCTConfig

    assert drct_models["convnext"].model.config == DRCTConfig("convnext", (1, 1, 2, 1), (16, 32, 48, 64), 1024, 2)
    clip = drct_models["clip"].model
    assert clip.config.backbone == "clip" and clip.model.fc.in_features == 768 and clip.fc.in_features == 1024


def test_drct_plain_official_file_loads_and_batches_equal_singles(drct_models, tmp_path):
    """The uncompressed .pth (the official format) gives the same outputs; a batch equals one-by-one scoring."""
    from fakebench.detectors.drct import DRCT

    det = DRCT.load(_plain_copy(FIXTURES / "drct" / "convnext_tiny.pth.xz", tmp_path))
    torch.manual_seed(0)
    batch = torch.randn(3, 3, 224, 224)
    together = det.predict(batch)
    alone = torch.cat([det.predict(batch[i:i + 1]).prob for i in range(3)])
    assert torch.allclose(together.prob, alone, atol=1e-6)
    assert torch.allclose(together.prob, drct_models["convnext"].predict(batch).prob, atol=0)
    assert torch.allclose(torch.sigmoid(together.logit), together.prob)
    assert det.weights.tag == "file" and len(det.weights.sha256) == 64


@pytest.mark.parametrize("variant,drop", [("convnext", "model.stages.2.blocks.1.gamma"),
                                          ("clip", "model.model.transformer.resblocks.0.ln_1.weight"),
                                          ("clip", "model.fc.bias")])
def test_drct_missing_key_is_named(tmp_path, variant, drop):
    from fakebench.detectors.drct import DRCT

    state = torch.load(_plain_copy(FIXTURES / "drct" / f"{variant}_tiny.pth.xz", tmp_path), weights_only=True)
    del state[drop]
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="(?i)missing") as info:
        DRCT.load(path)
    assert drop.rsplit(".", 1)[0].split("model.model.")[-1] in str(info.value) and "broken.pth" in str(info.value)


def test_drct_unexpected_key_and_foreign_checkpoint_are_refused(tmp_path):
    from fakebench.detectors.drct import DRCT

    state = torch.load(_plain_copy(FIXTURES / "drct" / "convnext_tiny.pth.xz", tmp_path), weights_only=True)
    state["extra.weight"] = torch.zeros(2)
    torch.save(state, tmp_path / "extra.pth")
    with pytest.raises(CheckpointError, match="1 unexpected: extra.weight"):
        DRCT.load(tmp_path / "extra.pth")
    torch.save({"fc.weight": torch.zeros(1, 768), "fc.bias": torch.zeros(1)}, tmp_path / "univfd_head.pth")
    with pytest.raises(CheckpointError, match="unknown backbone"):
        DRCT.load(tmp_path / "univfd_head.pth")
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="not a DRCT checkpoint"):
        DRCT.load(tmp_path / "other.pth")


def test_drct_transform_pads_centred_and_crops_with_floor_offsets():
    """albumentations' PadIfNeeded/CenterCrop: zero pad top (224 - H) // 2; crop offset (H - 224) // 2, which for
    H = 683 is 229 where torchvision's CenterCrop takes round(229.5) = 230."""
    from fakebench.detectors.card import IMAGENET_MEAN, IMAGENET_STD
    from fakebench.detectors.drct import DRCTTransform

    t = DRCTTransform(224, IMAGENET_MEAN, IMAGENET_STD)
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, size=(683, 300, 3), dtype=np.uint8)
    out = t(Image.fromarray(arr))
    assert out.shape == (3, 224, 224) and out.dtype == torch.float32
    want = (arr[229:453, 38:262].astype(np.float32) / 255 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    assert np.allclose(out.numpy().transpose(1, 2, 0), want, atol=1e-5)
    small = rng.integers(0, 256, size=(101, 30, 3), dtype=np.uint8)
    out = t(Image.fromarray(small)).numpy().transpose(1, 2, 0)
    zero = (0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    assert np.allclose(out[61, 97], (small[0, 0] / 255 - IMAGENET_MEAN) / np.array(IMAGENET_STD), atol=1e-5)
    assert np.allclose(out[60, 97], zero, atol=1e-5) and np.allclose(out[61, 96], zero, atol=1e-5)


def test_drct_card_lists_every_release_and_its_licence():
    from fakebench.detectors import REGISTRY
    from fakebench.detectors.catalog_foundation import DRCT_ZIP_MEMBERS

    card = REGISTRY.card("drct")
    assert [w.tag for w in card.weights] == list(DRCT_ZIP_MEMBERS)
    assert "no LICENSE" in card.licence and card.default_preset == "pad_crop224"
    assert all(w.preset == "pad_crop224" for w in card.weights)


# -- B-Free ------------------------------------------------------------------------------------------------------------
BFREE_CKPT = FIXTURES / "bfree" / "BFREE_tiny" / "model_epoch_best.pth"


@pytest.fixture(scope="module")
def bfree():
    from fakebench.detectors.bfree import BFree

    return BFree.load(BFREE_CKPT)


def test_bfree_matches_official(shared, bfree):
    """Official get_network/Wrapper5crops/get_list_norm (timm 1.0.12) vs the port: 12 images at native size, from
    32x32 (grid tiled 18 times) through 321x481 (tiled one way, cut both ways) to 1024x1024 (five distinct crops)."""
    assert bfree.preset.name == "native" and bfree.model.config.norm_type == "resnet"
    rows = _rows("bfree")
    assert len(rows) == 12
    transform = bfree.transform()
    for row in rows:
        img = Image.open(shared / "data" / row["image"]).convert("RGB")
        out = bfree.predict(transform(img).unsqueeze(0))
        expected = float(row["prob"])
        assert abs(out.prob.item() - expected) <= 1e-5, row["image"]
        assert abs(out.logit.item() - float(row["logit"])) <= 1e-4, row["image"]
        assert (out.prob.item() > 0.5) == (expected > 0.5), row["image"]


def test_bfree_release_folder_and_file_give_the_same_model(bfree):
    from fakebench.detectors.bfree import BFree

    by_folder = BFree.load(BFREE_CKPT.parent)
    assert by_folder.weights.sha256 == bfree.weights.sha256 and by_folder.model.config == bfree.model.config
    assert (bfree.model.config.depth, bfree.model.config.embed_dim, bfree.model.config.num_heads) == (2, 64, 1)


def test_bfree_batch_equals_singles_and_crops_follow_the_official_order(bfree):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 14 * 40, 14 * 45)
    together = bfree.predict(x)
    alone = torch.cat([bfree.predict(x[i:i + 1]).logit for i in range(2)])
    assert torch.allclose(together.logit, alone, atol=1e-5)
    with torch.no_grad():
        crops = bfree.model.crops(x).reshape(5, 2, 36, 36, -1)
        grid = bfree.model.patch_embed.proj(x).permute(0, 2, 3, 1)  # (2, 40, 45, D)
        norm = bfree.model.patch_embed.norm
        assert torch.allclose(crops[0], norm(grid[:, 2:38, 4:40]))  # centre: (40 - 36) // 2, (45 - 36) // 2
        assert torch.allclose(crops[2], norm(grid[:, -36:, :36]))  # bottom-left
        assert torch.allclose(crops[4], norm(grid[:, :36, -36:]))  # top-right


def test_bfree_small_grid_is_tiled_then_cut_in_both_directions(bfree):
    """A 20x50-patch grid is tiled to 40x50 and cut to [:36, :36]: the five crops are then one and the same."""
    x = torch.randn(1, 3, 14 * 20, 14 * 50)
    with torch.no_grad():
        crops = bfree.model.crops(x).reshape(5, 36 * 36, -1)
        grid = bfree.model.patch_embed.proj(x)
    assert all(torch.equal(crops[0], c) for c in crops[1:])
    tiled = torch.cat([grid, grid], dim=2)[..., :36, :36].flatten(2).transpose(1, 2)
    assert torch.allclose(crops[0], bfree.model.patch_embed.norm(tiled)[0])


def test_bfree_refuses_what_it_cannot_score_right(tmp_path, bfree):
    import shutil

    from fakebench.detectors.bfree import BFree

    with pytest.raises(CheckpointError, match="normalises differently"):
        BFree.load(BFREE_CKPT, preset="native_clip")
    lone = tmp_path / "lone" / "model_epoch_best.pth"
    lone.parent.mkdir()
    shutil.copy(BFREE_CKPT, lone)
    with pytest.raises(CheckpointError, match="config.yaml"):
        BFree.load(lone)
    state = torch.load(BFREE_CKPT, weights_only=True)
    del state["model"]["blocks.1.ls2.gamma"]
    torch.save(state, tmp_path / "model_epoch_best.pth")
    shutil.copy(BFREE_CKPT.parent / "config.yaml", tmp_path / "config.yaml")
    with pytest.raises(CheckpointError, match="1 missing: vit.blocks.1.ls2.gamma"):
        BFree.load(tmp_path / "model_epoch_best.pth")
    (tmp_path / "config.yaml").write_text("arch: resnet50\nnorm_type: resnet\n")
    with pytest.raises(CheckpointError, match="timm_c5i504_"):
        BFree.load(tmp_path / "model_epoch_best.pth")
    with pytest.raises(CheckpointError, match="at least 14x14"):
        bfree.predict(torch.zeros(1, 3, 10, 300))


def test_bfree_card_states_the_nonprofit_licence():
    from fakebench.detectors import REGISTRY

    card = REGISTRY.card("bfree")
    assert "NONPROFIT" in card.licence and card.licence.startswith("RESTRICTIVE")
    assert card.weights[0].tag == "dino2reg4" and card.default_preset == "native"


# -- Effort ------------------------------------------------------------------------------------------------------------
EFFORT_CKPT = FIXTURES / "effort" / "effort_tiny.pth"
EFFORT_PRESETS = ("cv2_cubic224", "cv2_linear224")


@pytest.fixture(scope="module")
def effort():
    pytest.importorskip("transformers")
    pytest.importorskip("cv2")
    from fakebench.detectors.effort import Effort

    return Effort.load(EFFORT_CKPT)


@pytest.mark.parametrize("preset", EFFORT_PRESETS)
def test_effort_matches_official(shared, effort, preset):
    """Official EffortDetector + test.py's load_rgb (cubic) / demo.py's preprocess_face (linear), cv2 reads, vs the
    port (PIL reads, cv2 resize): 12 images; |dprob| <= 1e-5, no decision flips."""
    from fakebench.detectors.effort import Effort

    det = Effort(effort.model, preset=preset, weights=effort.weights)
    rows = _rows("effort", preset=preset)
    assert len(rows) == 12
    transform = det.transform()
    for row in rows:
        img = Image.open(shared / "data" / row["image"]).convert("RGB")
        out = det.predict(transform(img).unsqueeze(0))
        expected = float(row["prob"])
        assert abs(out.prob.item() - expected) <= 1e-5, row["image"]
        assert abs(out.logit.item() - float(row["logit"])) <= 1e-4, row["image"]
        assert (out.prob.item() > 0.5) == (expected > 0.5), row["image"]


def test_effort_reads_its_shapes_and_uses_the_residual(effort):
    from fakebench.detectors.effort import SVDResidualLinear

    cfg = effort.model.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.rank_main, cfg.rank_residual) == (64, 2, 63, 1)
    assert effort.preset.name == "cv2_cubic224"
    torch.manual_seed(0)
    x = torch.randn(2, 3, 224, 224)
    before = effort.predict(x).logit
    layer = effort.model.backbone.encoder.layers[0].self_attn.q_proj
    assert isinstance(layer, SVDResidualLinear)
    saved = layer.S_residual.detach().clone()
    with torch.no_grad():
        layer.S_residual.zero_()  # a port that dropped the trained residual would score like this
        without = effort.predict(x).logit
        layer.S_residual.copy_(saved)
    assert not torch.allclose(before, without, atol=1e-4)
    assert torch.allclose(effort.predict(x[:1]).logit, before[:1], atol=1e-5)


def test_effort_checkpoint_layouts(tmp_path, effort):
    from fakebench.detectors.effort import Effort

    state = torch.load(EFFORT_CKPT, weights_only=True)
    bare = {k[len("module."):]: v for k, v in state.items()}
    torch.save({"state_dict": {**bare, "backbone.embeddings.position_ids": torch.arange(257)[None]}},
               tmp_path / "wrapped.pth")
    again = Effort.load(tmp_path / "wrapped.pth")
    x = torch.randn(1, 3, 224, 224)
    assert torch.allclose(again.predict(x).logit, effort.predict(x).logit, atol=0)
    del bare["backbone.encoder.layers.1.self_attn.out_proj.U_residual"]
    torch.save(bare, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="1 missing: backbone.encoder.layers.1.self_attn.out_proj.U_residual"):
        Effort.load(tmp_path / "missing.pth")
    torch.save({"model.vision_model.embeddings.class_embedding": torch.zeros(64), "fc.weight": torch.zeros(1, 64)},
               tmp_path / "ufd.pth")
    with pytest.raises(CheckpointError, match="UnivFD-codebase variant"):
        Effort.load(tmp_path / "ufd.pth")


def test_effort_card_states_the_nc_licence():
    from fakebench.detectors import REGISTRY

    card = REGISTRY.card("effort")
    assert "CC BY-NC 4.0" in card.licence and card.licence.startswith("RESTRICTIVE")
    assert [w.tag for w in card.weights] == ["genimage_sdv14", "chameleon_sdv14"]


# -- through the runner ------------------------------------------------------------------------------------------------
def test_bfree_runs_through_evaluate_with_mixed_native_sizes(tmp_path, bfree):
    """`fakebench evaluate` batches native-size images by size; its predictions equal one-by-one scoring."""
    from conftest import evaluate_sized_folder

    preds = evaluate_sized_folder(tmp_path / "set", tmp_path / "runs", "bfree", BFREE_CKPT, (40, 64, 64, 530))
    assert len(preds) == 8 and preds["error"].isna().all()
    singles = bfree.predict_images([Image.open(p) for p in preds["image"]])
    assert np.allclose(preds["prob"].to_numpy(), singles.prob.numpy(), atol=1e-6)
    assert (preds["note"].fillna("").str.contains("tiled") == preds["image"].str.contains(r"[rf][0-2]\.png")).all()
