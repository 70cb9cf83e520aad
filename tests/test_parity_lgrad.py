"""LGrad: strict loading of both official formats, and parity with the official img2grad + classifier code.

The fixture (``tests/fixtures/parity/lgrad``, made by ``tools/parity/lgrad.py``) holds a tiny random StyleGAN
discriminator (official genforce layout, resolution 256, 1..16 feature maps), a quantised random CNNDetection
ResNet-50 and the logits the official code computed for 12 images of ``../shared/data`` under both presets.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from PIL import Image

from fakebench.core.errors import CheckpointError

FIX = Path(__file__).parent / "fixtures" / "parity" / "lgrad"
DISC = FIX / "tiny_stylegan256_discriminator.pth"
CLF = FIX / "tiny_lgrad_classifier.pth.xz"


@pytest.fixture(scope="module")
def detectors():
    from fakebench.detectors.lgrad import LGrad

    return {p: LGrad.load(CLF, preset=p, discriminator=DISC) for p in ("official", "sidbench")}


def test_discriminator_keys_are_the_official_layout():
    from fakebench.detectors.lgrad import StyleGANDiscriminator

    state = torch.load(DISC, weights_only=True)
    model = StyleGANDiscriminator(256, {256: 1, 128: 2, 64: 4, 32: 8, 16: 16, 8: 16, 4: 16, 2: 16})
    assert sorted(model.state_dict()) == sorted(state)
    # the full-size official file: 16384 // res capped at 512
    full = StyleGANDiscriminator(256)
    assert full.state_dict()["input0.weight"].shape == (64, 3, 1, 1)
    assert full.state_dict()["layer13.weight"].shape == (512, 512 * 16)
    assert "layer1.blur.kernel" in full.state_dict() and "lod" in full.state_dict()


def test_wrong_discriminator_file_names_keys(tmp_path):
    from fakebench.detectors.lgrad import LGrad

    state = torch.load(DISC, weights_only=True)
    del state["layer3.weight"]
    bad = tmp_path / "bad_disc.pth"
    torch.save(state, bad)
    with pytest.raises(CheckpointError, match="layer3.weight"):
        LGrad.load(CLF, discriminator=bad)
    with pytest.raises(CheckpointError):  # a classifier is not a discriminator
        LGrad.load(CLF, discriminator=tmp_path / "missing.pth")


def test_classifier_is_loaded_strictly(tmp_path):
    from fakebench.detectors.lgrad import LGrad

    from fakebench.detectors.checkpoints import read_checkpoint

    state = read_checkpoint(CLF)
    state.pop("fc.bias")
    bad = tmp_path / "clf.pth"
    torch.save({"model": state}, bad)
    with pytest.raises(CheckpointError, match="fc.bias"):
        LGrad.load(bad, discriminator=DISC)


def test_gradient_is_per_image_and_part_of_identity(detectors):
    det = detectors["official"]
    x = torch.rand(3, 3, 256, 256) * 2 - 1
    both = det.gradient_images(x)
    one = det.gradient_images(x[1:2])
    assert both.dtype == torch.uint8 and both.shape == (3, 3, 256, 256)
    assert torch.equal(both[1], one[0])  # minibatch-std never mixes images
    assert both.amin() == 0 and both.amax() == 255
    assert torch.equal(detectors["sidbench"].gradient_images(x[1:2]), one.flip(1))
    assert len(det.discriminator_sha256) == 64
    assert det.identity()["discriminator_sha256"] == det.discriminator_sha256
    assert det.fingerprint() != detectors["sidbench"].fingerprint()


def _expected():
    with open(FIX / "expected.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("preset", ["official", "sidbench"])
def test_parity_with_official_code(shared, detectors, preset):
    det = detectors[preset]
    rows = [r for r in _expected() if r["preset"] == preset]
    assert len(rows) >= 10
    images = [Image.open(shared / "data" / r["image"]).convert("RGB") for r in rows]
    out = det.predict_images(images)
    want = torch.tensor([float(r["prob"]) for r in rows])
    want_logit = torch.tensor([float(r["logit"]) for r in rows])
    assert (out.prob - want).abs().max().item() <= 1e-5
    assert torch.equal(out.prob > 0.5, want > 0.5)
    assert (out.logit - want_logit).abs().max().item() <= 1e-4


def test_robustness_sweep_cli_runs_lgrad_with_tiny_weights(image_tree, tmp_path):
    """``fakebench robustness`` with the fixture weights (the discriminator passed as ``-O discriminator=PATH``)."""
    import json

    from click.testing import CliRunner

    from fakebench.cli.robustness import robustness

    out = tmp_path / "rob"
    res = CliRunner().invoke(robustness, ["--detector", "lgrad", "--weights", str(CLF), "-O", f"discriminator={DISC}",
                                          "--data-dir", str(image_tree), "--perturbation", "jpeg:100,75,50",
                                          "--perturbation", "resize:1,0.5", "--output", str(out), "--limit", "1",
                                          "--workers", "0", "--batch-size", "2", "--quiet"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    saved = json.loads((out / "robustness.json").read_text())
    assert saved["detector"]["name"] == "lgrad"
    rows = [r for r in saved["rows"] if r["dataset"] != "mean"]
    assert rows and all(r["n"] == 2 for r in rows)
    assert {"jpeg", "resize"} <= {r["perturbation"] for r in rows}
    assert len(rows) >= 2 * 5  # 2 generators x (jpeg 100, 75, 50 + resize 1, 0.5)
    assert {r["spec"] for r in rows} == {"jpeg:100", "jpeg:75", "jpeg:50", "resize:1", "resize:0.5"}
    assert all(0.0 <= r["acc"] <= 1.0 for r in rows)
    assert "5 severities: 20 images scored" in res.output
