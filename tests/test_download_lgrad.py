"""LGrad weights through ``fakebench.hub`` against the loopback server: the classifier tag from the SIDBench HF mirror
(through huggingface_hub with ``HF_ENDPOINT``), the StyleGAN discriminator from its URL, then both from the cache
offline with no request."""

from __future__ import annotations

import dataclasses
import lzma
from pathlib import Path

import pytest

from _loopback import loopback  # noqa: F401 - pytest fixture
from fakebench.core.errors import WeightsNotFoundError
from fakebench.hub.sources import Source

FIX = Path(__file__).parent / "fixtures" / "parity" / "lgrad"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("HF_HUB_OFFLINE", "HF_ENDPOINT", "FAKEBENCH_OFFLINE", "FAKEBENCH_LGRAD_DISCRIMINATOR"):
        monkeypatch.delenv(name, raising=False)


def test_lgrad_tag_and_discriminator_download_then_load_offline(loopback, monkeypatch, tmp_path):
    from fakebench.detectors import lgrad as mod
    from fakebench.detectors.catalog_lgrad import LGRAD_CARD, LGRAD_DISCRIMINATOR

    spec = LGRAD_CARD.get_weights("progan_4class")
    (hf,) = spec.sources
    assert (hf.kind, hf.ref, hf.filename) == ("hf", "dkarageo/sidbench",
                                              "lgrad/LGrad-4class-Trainon-Progan_car_cat_chair_horse.pth")
    clf_bytes = lzma.open(FIX / "tiny_lgrad_classifier.pth.xz").read()
    loopback.add_hub_file("dkarageo/sidbench", hf.filename, clf_bytes)
    monkeypatch.setenv("HF_ENDPOINT", loopback.base)
    disc_bytes = (FIX / "tiny_stylegan256_discriminator.pth").read_bytes()
    url = loopback.add("/karras2019stylegan-bedrooms-256x256_discriminator.pth", disc_bytes)
    monkeypatch.setattr(mod, "LGRAD_DISCRIMINATOR", dataclasses.replace(
        LGRAD_DISCRIMINATOR, sources=(Source("url", url, filename=LGRAD_DISCRIMINATOR.filename),)))

    det = mod.LGrad.load("progan_4class")
    assert det.weights.tag == "progan_4class" and det.preset.name == "official"
    assert Path(det.weights.path).read_bytes() == clf_bytes
    requests_before = loopback.count()
    assert requests_before >= 2

    monkeypatch.setenv("FAKEBENCH_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = mod.LGrad.load("progan_4class")
    assert loopback.count() == requests_before
    assert again.fingerprint() == det.fingerprint()


def test_lgrad_offline_cache_miss_names_the_discriminator(monkeypatch):
    from fakebench.detectors.lgrad import LGrad

    monkeypatch.setenv("FAKEBENCH_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError, match="karras2019stylegan-bedrooms-256x256_discriminator.pth"):
        LGrad.load(FIX / "tiny_lgrad_classifier.pth.xz")
