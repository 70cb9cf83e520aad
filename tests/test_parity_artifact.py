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
