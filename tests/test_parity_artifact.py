"""Parity of the artifact/frequency family (SAFE, Corvi2023, LaDeDa, Tiny-LaDeDa) with their official code.

The fixtures in ``tests/fixtures/parity/<name>/`` were made by ``tools/parity/<name>.py``, which RUNS the official
model and test transform on seeded random weights saved in the official checkpoint format (see each fixture's
README). Here fakebench's own loader and code must reproduce them: the wavelet step bit for bit on fixed inputs,
then every image end to end with |delta prob| <= 1e-5 and no decision flip, per preset. Strict-loading and shape
tests run without ``../shared``; the end-to-end ones read the images from ``../shared/data`` and skip without it.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest
import torch
from PIL import Image

from fakebench.core.errors import CheckpointError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "parity"


def expected_rows(name: str) -> dict[str, list[dict]]:
    """``{preset: [row, ...]}`` from ``tests/fixtures/parity/<name>/expected.csv``."""
    by_preset = defaultdict(list)
    with open(FIXTURES / name / "expected.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            by_preset[row["preset"]].append(row)
    return dict(by_preset)


def check_rows(det, rows, data: Path, expected_logit) -> None:
    """Score every row's image with ``det`` (its preset's transform, batch of one) and compare."""
    transform = det.transform()
    worst = 0.0
    for row in rows:
        image = Image.open(data / row["image"]).convert("RGB")
        out = det.predict(transform(image).unsqueeze(0))
        prob, want = out.prob.item(), float(row["prob"])
        worst = max(worst, abs(prob - want))
        assert abs(prob - want) <= 1e-5, (det.preset.name, row["image"], prob, want)
        assert (prob > 0.5) == (want > 0.5), ("decision flip", det.preset.name, row["image"])
        assert abs(out.logit.item() - expected_logit(row)) < 1e-4, (det.preset.name, row["image"])
    assert len(rows) >= 10


# -- SAFE ------------------------------------------------------------------------------------------------------------
SAFE_CKPT = FIXTURES / "safe" / "checkpoint-best_format.pth.xz"


@pytest.fixture(scope="module")
def safe_cases():
    return torch.load(FIXTURES / "safe" / "dwt_cases.pt", weights_only=True)


def test_dwt_is_bit_identical_to_pytorch_wavelets(safe_cases):
    """All four bands of the one-level bior1.3 symmetric DWT equal the official pytorch_wavelets output exactly."""
    from fakebench.detectors.wavelets import dwt2_level1

    for case in safe_cases:
        low, highs = dwt2_level1(case["x"], "bior1.3")
        assert low.shape == case["low"].shape and highs.shape == case["highs"].shape
        assert torch.equal(low, case["low"]), tuple(case["x"].shape)
        assert torch.equal(highs, case["highs"]), tuple(case["x"].shape)


def test_safe_network_input_is_bit_identical_to_official(safe_cases):
    """The HH band resized back to the input size equals the official ResNet._preprocess_dwt exactly."""
    from fakebench.detectors.safe import safe_dwt_input

    for case in safe_cases:
        assert torch.equal(safe_dwt_input(case["x"]), case["model_input"]), tuple(case["x"].shape)


def test_symmetric_extension_repeats_edge_samples():
    from fakebench.detectors.wavelets import symmetric_indices

    assert symmetric_indices(4, 2, 3).tolist() == [1, 0, 0, 1, 2, 3, 3, 2, 1]
    assert symmetric_indices(1, 2, 2).tolist() == [0] * 5


def test_safe_checkpoint_loads_strictly_with_its_training_wrapper():
    """The official save_model layout (with an argparse.Namespace under 'args') loads with weights_only=True."""
    from fakebench.detectors.safe import SAFE

    det = SAFE.load(SAFE_CKPT)
    assert det.preset.name == "crop256" and det.weights.tag == "file"
    out = det.predict(torch.rand(2, 3, 64, 48))
    assert out.prob.shape == out.logit.shape == (2,)
    assert torch.allclose(out.prob, torch.sigmoid(out.logit))


def test_safe_wrong_checkpoint_lists_the_keys(tmp_path):
    from fakebench.detectors.safe import SAFENet, SAFE

    state = SAFENet().state_dict()
    state.pop("fc1.bias")
    state["fc.weight"] = torch.zeros(1, 512)
    torch.save({"model": state}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match=r"1 missing: fc1\.bias; 1 unexpected: fc\.weight"):
        SAFE.load(tmp_path / "bad.pth")


class Opaque:
    """A class weights_only does not know: loading it would mean running pickled code."""


def test_safe_refuses_pickled_code_besides_namespace(tmp_path):
    from fakebench.detectors.safe import SAFE, SAFENet

    torch.save({"model": SAFENet().state_dict(), "args": Opaque()}, tmp_path / "code.pth")
    with pytest.raises(CheckpointError, match="would execute code"):
        SAFE.load(tmp_path / "code.pth")


@pytest.mark.parametrize("preset", ["crop256", "native", "resize256"])
def test_safe_matches_official(shared, preset):
    from fakebench.detectors.safe import SAFE

    det = SAFE.load(SAFE_CKPT, preset=preset)
    check_rows(det, expected_rows("safe")[preset], shared / "data",
               lambda row: float(row["logit_fake"]) - float(row["logit_real"]))


# -- Corvi2023 -------------------------------------------------------------------------------------------------------
CORVI_CKPT = FIXTURES / "corvi2023" / "weights_format.pth.xz"


@pytest.fixture(scope="module")
def corvi():
    from fakebench.detectors.corvi2023 import Corvi2023

    return Corvi2023.load(CORVI_CKPT, layers="1,1,1,1")


def test_corvi_has_no_first_downsampling(corvi):
    assert corvi.model.conv1.stride == (1, 1) and corvi.model.maxpool.stride == 1
    assert corvi.preset.name == "native" and corvi.preset.resize is None and corvi.preset.crop is None


def test_corvi_llr_is_the_logit(corvi):
    out = corvi.predict(torch.rand(2, 3, 40, 24))
    assert out.logit.shape == (2,) and torch.allclose(out.prob, torch.sigmoid(out.logit))
    assert torch.equal(out.prob > 0.5, out.logit > 0)  # the official rule: LLR > 0 is synthetic


def test_corvi_full_depth_refuses_the_shallow_checkpoint():
    from fakebench.detectors.corvi2023 import Corvi2023

    with pytest.raises(CheckpointError, match=r"missing: layer1\.1\.conv1\.weight"):
        Corvi2023.load(CORVI_CKPT)


def test_corvi_card_pins_the_lfs_object():
    from fakebench.detectors.catalog_artifact import CORVI2023_CARD

    spec = CORVI2023_CARD.default_weights
    assert spec.sha256 == "0168451e84a2a35d0b141ad4f2e361a74efdd06eb8d11434087f8a0bb6e3abad"
    assert all(s.size == 282549121 for s in spec.sources)


def test_corvi_gradcam_explains_the_llr(corvi):
    """Corvi2023 is a torchvision ResNet, so ``fakebench explain --explainer gradcam`` targets its layer4."""
    pytest.importorskip("pytorch_grad_cam")
    import numpy as np

    from fakebench.explain.gradcam import gradcam

    rng = np.random.default_rng(0)
    heat = gradcam(corvi, Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)))
    assert heat.shape == (40, 56) and heat.dtype == np.float32 and 0.0 <= heat.min() <= heat.max() <= 1.0


def test_corvi_matches_official(shared, corvi):
    check_rows(corvi, expected_rows("corvi2023")["native"], shared / "data", lambda row: float(row["llr"]))


# -- LaDeDa ----------------------------------------------------------------------------------------------------------
LADEDA_CKPT = FIXTURES / "ladeda" / "LaDeDa_format.pth.xz"


@pytest.fixture(scope="module")
def ladeda():
    from fakebench.detectors.ladeda import LaDeDa

    return LaDeDa.load(LADEDA_CKPT, layers="1,2,1,1")


def test_ladeda_receptive_field_is_9x9(ladeda):
    """Output position k of the last map sees input pixels 8k..8k+8 only (a 9x9 patch, stride 8): changing the 2x2
    block at pixels 40-41 changes positions 4 and 5 on each axis and nothing else."""
    net = ladeda.model

    def features(x):
        from fakebench.detectors.npr import npr_residual

        x = net.relu(net.bn1(net.conv2(net.conv1(npr_residual(x)))))
        return net.layer4(net.layer3(net.layer2(net.layer1(x))))

    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        base = features(x)
    y = x.clone()
    y[..., 40:42, 40:42] += 1.0  # one 2x2 NPR block
    with torch.no_grad():
        changed = (features(y) - base).abs().sum(dim=1)[0] > 0
    assert changed.shape == (7, 7) and changed.any()
    assert set(changed.nonzero()[:, 0].tolist()) <= {4, 5} and set(changed.nonzero()[:, 1].tolist()) <= {4, 5}


def test_ladeda_refuses_non_square_inputs(ladeda):
    with pytest.raises(ValueError, match="square"):
        ladeda.predict(torch.rand(1, 3, 64, 48))


def test_ladeda_full_depth_refuses_the_shallow_checkpoint():
    from fakebench.detectors.ladeda import LaDeDa

    with pytest.raises(CheckpointError, match="missing"):
        LaDeDa.load(LADEDA_CKPT)


def test_ladeda_matches_official(shared, ladeda):
    check_rows(ladeda, expected_rows("ladeda")["resize256"], shared / "data", lambda row: float(row["logit"]))


# -- every detector runs a robustness sweep (JPEG and resize) through the CLI -----------------------------------------
@pytest.mark.parametrize("name,checkpoint,options", [
    ("safe", SAFE_CKPT, []),
    ("corvi2023", CORVI_CKPT, ["-O", "layers=1,1,1,1"]),
    ("ladeda", LADEDA_CKPT, ["-O", "layers=1,2,1,1"]),
])
def test_robustness_sweep_runs(name, checkpoint, options, tmp_path):
    """``fakebench robustness --perturbation jpeg:100,75,50 --perturbation resize:1,0.5`` on 2 images (1 real, 1 fake)."""
    import json

    from click.testing import CliRunner

    from conftest import make_image
    from fakebench.cli.robustness import robustness

    image_tree = tmp_path / "testset"
    make_image(image_tree / "gen" / "0_real" / "r.png", "real", seed=1)
    make_image(image_tree / "gen" / "1_fake" / "f.png", "fake", seed=2)

    out = tmp_path / name
    res = CliRunner().invoke(robustness, ["--detector", name, "--weights", str(checkpoint), *options, "--data-dir",
                                          str(image_tree), "--perturbation", "jpeg:100,75,50", "--perturbation",
                                          "resize:1,0.5", "--output", str(out), "--workers", "0",
                                          "--quiet"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    saved = json.loads((out / "robustness.json").read_text())
    assert saved["detector"]["name"] == name
    assert {r["n"] for r in saved["rows"] if r["dataset"] != "mean"} == {2}
    assert "jpeg:50" in res.output and "resize:0.5" in res.output, res.output
