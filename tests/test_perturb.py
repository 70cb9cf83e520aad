"""Perturbations for the robustness sweep: parsing, determinism (also across processes), label blindness, and that
each one changes the image as its docstring says."""

from __future__ import annotations

import hashlib
import inspect
import io
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from fakebench.analysis import perturb
from fakebench.analysis.perturb import Perturbation, parse_perturbation
from fakebench.core.errors import FakebenchError


def _image(seed: int = 0, size: tuple[int, int] = (96, 64)) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([yy * 2.0, xx * 2.0, (xx + yy) * 1.0], -1) + rng.normal(0, 20, (h, w, 3))
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")


def _hf_energy(img: Image.Image) -> float:
    arr = np.asarray(img, dtype=np.float64)
    return float(np.abs(np.diff(arr, axis=0)).mean() + np.abs(np.diff(arr, axis=1)).mean())


def test_parse_specs():
    sweep = parse_perturbation("jpeg:100,90,75")
    assert [p.spec for p in sweep] == ["jpeg:100", "jpeg:90", "jpeg:75"]
    assert [p.severity for p in sweep] == [100.0, 90.0, 75.0] and {p.kind for p in sweep} == {"jpeg"}
    assert [p.spec for p in parse_perturbation(" blur: 0.5, 1 ,2")] == ["blur:0.5", "blur:1", "blur:2"]
    (reenc,) = parse_perturbation("reencode:jpeg90,512")
    assert reenc.kind == "reencode" and reenc.spec == "reencode:jpeg90,512"
    assert parse_perturbation("none")[0].kind == "none"


@pytest.mark.parametrize("text", ["jpeg", "jpeg:", "jpeg:abc", "jpeg:0", "jpeg:101", "blur:-1", "crop:1.5", "crop:0",
                                  "unknown:1", "downscale:0", "noise:-2", "reencode:gif80,512", "reencode:jpeg90",
                                  "social:0", "webp:150"])
def test_bad_specs_are_refused(text):
    with pytest.raises(FakebenchError):
        parse_perturbation(text)


ALL = ["jpeg:75", "webp:50", "blur:1.5", "downscale:0.5", "resize:0.5", "crop:0.75", "noise:5", "social:48",
       "reencode:jpeg90,40", "reencode:png,40", "none"]


@pytest.mark.parametrize("text", ALL)
def test_deterministic_and_rgb(text):
    (p,) = parse_perturbation(text)
    img = _image()
    a, b = p(img), p(img.copy())
    assert a.mode == "RGB" and a.tobytes() == b.tobytes()
    assert img.tobytes() == _image().tobytes()  # input untouched


def test_label_blind():
    """No perturbation takes a label or any argument besides the image."""
    for text in ALL:
        (p,) = parse_perturbation(text)
        assert list(inspect.signature(p.__call__).parameters) == ["image"]


def test_noise_is_the_same_in_another_process():
    (p,) = parse_perturbation("noise:10")
    here = hashlib.sha256(p(_image(3)).tobytes()).hexdigest()
    code = textwrap.dedent("""
        import hashlib, numpy as np
        from PIL import Image
        from fakebench.analysis.perturb import parse_perturbation
        rng = np.random.default_rng(3)
        yy, xx = np.mgrid[0:64, 0:96]
        base = np.stack([yy * 2.0, xx * 2.0, (xx + yy) * 1.0], -1) + rng.normal(0, 20, (64, 96, 3))
        img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
        print(hashlib.sha256(parse_perturbation("noise:10")[0](img).tobytes()).hexdigest())
    """)
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert there == here


def test_noise_depends_on_image_and_spec_and_has_the_stated_sigma():
    img = _image(1, (128, 128))
    flat = Image.new("RGB", (128, 128), (128, 128, 128))
    (n5,) = parse_perturbation("noise:5")
    (n10,) = parse_perturbation("noise:10")
    diff = np.asarray(n10(flat), float) - 128
    assert abs(diff.std() - 10) < 0.3
    d5 = np.asarray(n5(flat), float) - 128
    assert abs(d5.std() - 5) < 0.2
    assert not np.array_equal(np.sign(diff), np.sign(d5))  # different seed per spec
    other = np.asarray(n10(img), float) - np.asarray(img, float)
    assert not np.allclose(other[:10, :10], diff[:10, :10])


def test_jpeg_lowers_quality():
    img = _image(2, (128, 128))
    sizes, errors = [], []
    for q in (100, 90, 75, 50, 30):
        out = parse_perturbation(f"jpeg:{q}")[0](img)
        buf = io.BytesIO()
        Image.fromarray(np.asarray(out)).save(buf, "PNG")
        errors.append(np.abs(np.asarray(out, float) - np.asarray(img, float)).mean())
        enc = io.BytesIO()
        img.save(enc, "JPEG", quality=q, subsampling=2)
        sizes.append(len(enc.getvalue()))
        # the perturbation is exactly PIL's JPEG encode/decode at that quality
        assert out.tobytes() == Image.open(io.BytesIO(enc.getvalue())).convert("RGB").tobytes()
    assert sizes == sorted(sizes, reverse=True) and errors == sorted(errors)


def test_webp_lowers_quality():
    img = _image(2, (128, 128))
    errs = [np.abs(np.asarray(parse_perturbation(f"webp:{q}")[0](img), float) - np.asarray(img, float)).mean()
            for q in (90, 50, 10)]
    assert errs == sorted(errs) and errs[0] > 0


def test_crop_size():
    img = _image(0, (200, 100))
    out = parse_perturbation("crop:0.75")[0](img)
    assert out.size == (150, 75)
    # centred: the crop equals the middle of the input
    assert out.tobytes() == img.crop((25, 12, 175, 87)).tobytes()


def test_blur_lowers_high_frequency_energy():
    img = _image(4, (96, 96))
    energies = [_hf_energy(parse_perturbation(f"blur:{s}")[0](img)) for s in (0.5, 1, 2)]
    assert _hf_energy(img) > energies[0] > energies[1] > energies[2]
    assert parse_perturbation("blur:1")[0](img).size == img.size


def test_downscale_restores_size_and_resize_does_not():
    img = _image(0, (96, 64))
    down = parse_perturbation("downscale:0.5")[0](img)
    small = parse_perturbation("resize:0.5")[0](img)
    assert down.size == (96, 64) and small.size == (48, 32)
    assert _hf_energy(down) < _hf_energy(img)


def test_social_chain():
    big = _image(0, (200, 100))
    out = parse_perturbation("social:80")[0](big)
    assert out.size == (80, 40)
    small = _image(0, (60, 40))
    out = parse_perturbation("social:80")[0](small)
    assert out.size == (60, 40) and out.tobytes() != small.tobytes()  # no upscale, but JPEG-compressed


def test_reencode_makes_every_image_the_same_size():
    for size in ((200, 100), (60, 90)):
        out = parse_perturbation("reencode:jpeg90,48")[0](_image(0, size))
        assert out.size == (48, 48)
    png = parse_perturbation("reencode:png,48")[0](_image(0, (48, 48)))
    assert png.tobytes() == _image(0, (48, 48)).tobytes()  # lossless codec, already the size: unchanged


def test_non_rgb_input_is_refused():
    with pytest.raises(FakebenchError):
        parse_perturbation("jpeg:90")[0](Image.new("L", (8, 8)))


def test_perturbation_is_picklable():
    import pickle

    p = parse_perturbation("noise:3")[0]
    assert pickle.loads(pickle.dumps(p)) == p
    assert isinstance(p, Perturbation) and perturb.PERTURB_VERSION
