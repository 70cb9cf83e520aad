"""The runner's data path: workers hand over uint8 tensors and the batch is normalised in the main process; this must
give bit for bit the tensors of the per-image transform (``build_transform``) for every preset of every card, and the
runner's predictions must not change."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fakebench.detectors import BUILTIN_DETECTORS
from fakebench.detectors.preprocess import BatchNormalize, build_transform, split_transform

PRESETS = [pytest.param(preset, id=f"{name}-{preset.name}") for name, (_, card) in BUILTIN_DETECTORS.items()
           for preset in card.presets]


def _image(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("size", [(128, 128), (257, 191), (100, 333), (64, 48)])
def test_split_transform_is_bit_identical(preset, size):
    img = _image(*size, seed=size[0] * 7 + size[1])
    reference = build_transform(preset)(img)
    per_image, per_batch = split_transform(preset)
    small = per_image(img)
    assert small.dtype == torch.uint8 and small.shape == reference.shape
    out = per_batch(torch.stack([small, small]))
    assert out.dtype == torch.float32
    assert torch.equal(out[0], reference) and torch.equal(out[1], reference)


def test_batch_normalize_refuses_float_input():
    with pytest.raises(TypeError, match="uint8"):
        BatchNormalize((0.5,) * 3, (0.5,) * 3)(torch.zeros(1, 3, 2, 2))


def test_runner_predictions_equal_the_per_image_transform(tmp_path, npr_checkpoint, image_tree):
    """The runner (split path, DataLoader worker) gives the logits of predict() on build_transform's tensors."""
    from fakebench.api import load_detector
    from fakebench.data.images import discover_data_dir, load_image
    from fakebench.eval.runner import collect_predictions

    det = load_detector("npr", str(npr_checkpoint), preset="native")
    records = discover_data_dir(image_tree)
    frame, stats = collect_predictions(det, records, tmp_path / "p.csv", num_workers=1, progress=False)
    assert stats.computed == len(records)
    transform = det.transform()
    for record, logit in zip(records, frame["logit"]):
        img, _ = load_image(record.path)
        expected = det.predict(transform(img).unsqueeze(0)).logit.item()
        assert logit == pytest.approx(expected, abs=1e-5)  # batching changes float rounding only


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P", "1", "I;16", "I", "F"])
def test_to_uint8_equals_torchvision_pil_to_tensor(mode):
    """The native preset's per-image step needs no torchvision: the image array, channels first, for every PIL mode
    (non-uint8 modes go through torchvision's own function)."""
    from torchvision.transforms.functional import pil_to_tensor

    from fakebench.detectors.preprocess import ToUint8

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)).convert(mode)
    ours, theirs = ToUint8()(img), pil_to_tensor(img)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape and torch.equal(ours, theirs)
