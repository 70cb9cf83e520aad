"""Bad input gets a clear message naming the file and the fix, and loses nothing."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from fakebench.data.images import UnreadableImage, discover_data_dir, discover_folder, discover_real_fake, load_image
from fakebench.core.errors import CheckpointError, DataError, UnknownNameError, WeightsNotFoundError
from conftest import make_image


def test_truncated_and_non_image_files(tmp_path):
    good = make_image(tmp_path / "ok.jpg", "real").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(good[: len(good) // 3])
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(UnreadableImage, match=r"cut\.jpg: cannot decode"):
        load_image(tmp_path / "cut.jpg")
    with pytest.raises(UnreadableImage, match=r"text\.png: not an image"):
        load_image(tmp_path / "text.png")
    with pytest.raises(UnreadableImage, match="file not found"):
        load_image(tmp_path / "missing.png")


@pytest.mark.parametrize("mode,note", [("L", ""), ("CMYK", "CMYK converted to RGB"), ("RGBA", "alpha channel dropped"),
                                       ("P", "")])
def test_modes_become_rgb(tmp_path, mode, note):
    path = make_image(tmp_path / f"img.{'jpg' if mode == 'CMYK' else 'png'}", "real", mode=mode)
    img, got = load_image(path)
    assert img.mode == "RGB" and img.size == (64, 64)
    assert got == note


def test_16bit_is_scaled_not_clipped(tmp_path):
    arr = np.array([[0, 32768, 65535]], dtype=np.uint16).repeat(4, 0)
    Image.fromarray(arr).save(tmp_path / "deep.png")
    img, note = load_image(tmp_path / "deep.png")
    assert "scaled to 8 bits" in note
    assert np.asarray(img)[0, :, 0].tolist() == [0, 128, 255]


def test_crop_box_outside_image(tmp_path):
    path = make_image(tmp_path / "small.png", "real", size=64)
    with pytest.raises(UnreadableImage, match=r"crop box \(50, 50, 306, 306\) lies outside the 64x64 image"):
        load_image(path, (50, 50, 306, 306))


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=f"No image files .* found in {tmp_path / 'empty'}"):
        discover_folder(tmp_path / "empty", 0)
    with pytest.raises(DataError, match="Expected .*0_real"):
        discover_real_fake(tmp_path / "empty")
    with pytest.raises(DataError, match=f"{tmp_path / 'nope'} does not exist"):
        discover_data_dir(tmp_path / "nope")


def test_image_smaller_than_crop_is_padded_and_reported(tmp_path, image_tree):
    """CNNSpot's crop224 preset on 64x64 images zero-pads (as torchvision CenterCrop in the official code) and says so."""
    from fakebench.eval.harness import run_evaluation, sets_from_data_dir
    from fakebench.detectors.cnnspot import CNNSpot

    torch.manual_seed(0)
    det = CNNSpot.untrained(preset="crop224")
    _, results = run_evaluation(det, sets_from_data_dir(image_tree), output=tmp_path / "out", data_label="t",
                                num_workers=0, progress=False, use_cache=False)
    assert any("smaller than the 224px crop" in w for w in results["warnings"])
    assert results["detector"]["weights"]["tag"] == "random-init"


# -- checkpoints ---------------------------------------------------------------------------------------------------
def test_missing_checkpoint(tmp_path):
    from fakebench.detectors.npr import NPR

    with pytest.raises(WeightsNotFoundError, match=r"missing\.pth' does not exist.*progan_4class"):
        NPR.load(str(tmp_path / "missing.pth"))
    with pytest.raises(UnknownNameError, match="Did you mean 'progan_4class'"):
        NPR.load("progan_4clas")


def test_wrong_architecture_lists_keys(npr_checkpoint):
    from fakebench.detectors.cnnspot import CNNSpot

    with pytest.raises(CheckpointError) as info:
        CNNSpot.load(npr_checkpoint)
    message = str(info.value)
    assert str(npr_checkpoint) in message and "missing: " in message and "unexpected: fc1.weight" in message
    assert "mis-shaped: conv1.weight" in message and "--weights" in message


def test_corrupt_and_unsafe_checkpoints(tmp_path, npr_checkpoint):
    from fakebench.detectors.npr import NPR

    data = npr_checkpoint.read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pth.*corrupt, truncated"):
        NPR.load(tmp_path / "cut.pth")

    class Evil:
        def __reduce__(self):
            return (print, ("pickled code ran",))

    torch.save({"model": Evil()}, tmp_path / "evil.pth", _use_new_zipfile_serialization=True)
    with pytest.raises(CheckpointError, match=r"evil\.pth.*weights_only=True"):
        NPR.load(tmp_path / "evil.pth")
    (tmp_path / "plain.pkl").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="plain.pkl"):
        NPR.load(tmp_path / "plain.pkl")


def test_sha256_mismatch_for_a_known_release(tmp_path):
    """A file named like the official UnivFD head but with other bytes is refused (the card knows its sha256)."""
    from fakebench.detectors.univfd import UnivFD

    torch.save({"weight": torch.zeros(1, 768), "bias": torch.zeros(1)}, tmp_path / "fc_weights.pth")
    backbone = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 768))
    with pytest.raises(CheckpointError, match=r"fc_weights\.pth' has sha256 [0-9a-f]{64}, expected 4771007"):
        UnivFD.load(tmp_path / "fc_weights.pth", backbone=backbone)


def test_no_silent_random_weights_offline(monkeypatch, tmp_path):
    """Offline with an empty cache, a weights tag is an error that says where to put the file -- never random init."""
    monkeypatch.setenv("FAKEBENCH_OFFLINE", "1")
    from fakebench.detectors.npr import NPR

    with pytest.raises(WeightsNotFoundError) as info:
        NPR.load("paper")
    assert "NPR.pth" in str(info.value)


def test_univfd_backbone_offline_is_a_clear_error(monkeypatch, shared):
    """No CLIP weights cached and HF offline: an error naming the backbone and how to supply it, no random ViT."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from fakebench.detectors.univfd import UnivFD

    with pytest.raises(WeightsNotFoundError, match=r"OpenAI CLIP ViT-L/14 backbone .*-O backbone=PATH"):
        UnivFD.load(shared / "data" / "weights" / "univfd" / "fc_weights.pth")


@pytest.mark.parametrize("kind", ["pickle", "pickle-numpy", "html", "lfs", "text", "safetensors"])
def test_a_file_that_is_no_torch_checkpoint_is_named_for_what_it_is(kind, tmp_path):
    """Issue #20 item 6: a plain pickle, an HTML page (a download that returned a login or quota page), a text file
    or a safetensors file given to --weights is called what it is, not "corrupt" with torch's opcode text."""
    from fakebench.detectors.npr import NPR

    path = tmp_path / "model.pth"
    expected = {"pickle": "plain Python pickle", "pickle-numpy": "plain Python pickle", "html": "HTML page",
                "lfs": "Git LFS pointer", "text": "text file", "safetensors": "safetensors file"}[kind]
    if kind == "pickle":
        path.write_bytes(pickle.dumps({"conv1.weight": [1.0, 2.0]}, protocol=4))
    elif kind == "pickle-numpy":
        path.write_bytes(pickle.dumps({"conv1.weight": np.zeros(3)}, protocol=2))
    elif kind == "html":
        path.write_text("\n  <!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head></html>")
    elif kind == "lfs":
        path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n")
    elif kind == "text":
        path.write_text("conv1.weight 0.1 0.2\n")
    else:
        from safetensors.torch import save_file

        save_file({"conv1.weight": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError) as info:
        NPR.load(path)
    message = str(info.value)
    assert str(path) in message and expected in message, message
    assert "corrupt" not in message and "opcode" not in message and "\n" not in message
