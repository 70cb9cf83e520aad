"""Weights fetching for the artifact family through ``fakebench.hub``, offline against the loopback HTTP server.

Each test serves a fixture checkpoint (tests/fixtures/parity/<name>/, decompressed to the official file layout) at a
127.0.0.1 URL under the card's file name, points a copy of the card's weights entry at it, and checks that the
detector's tag resolves through the cache, is sha256-verified, and gives the same outputs as loading the fixture
file directly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import lzma
import os
from pathlib import Path

import pytest
import torch

from _loopback import loopback  # noqa: F401 - pytest fixture
from fakebench.core.errors import CheckpointError, WeightsNotFoundError
from fakebench.hub.sources import Source

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "parity"


@pytest.fixture(autouse=True)
def _online(monkeypatch):
    for name in ("HF_HUB_OFFLINE", "FAKEBENCH_OFFLINE", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


def serve(loopback, monkeypatch, cls, fixture: Path, *, pin: bool):
    """Serve ``fixture`` (decompressed) as the default weights of ``cls`` and patch its card to point there."""
    payload = lzma.decompress(fixture.read_bytes())
    digest = hashlib.sha256(payload).hexdigest()
    spec = cls.card.default_weights
    url = loopback.add(f"/{cls.name}/{spec.filename}", payload)
    source = Source("url", url, filename=spec.filename, sha256=digest if pin else None)
    spec = dataclasses.replace(spec, sources=(source,), sha256=digest if pin else None)
    card = dataclasses.replace(cls.card, weights=(spec,))
    monkeypatch.setattr(cls, "card", card)
    return spec, digest, url


def test_safe_tag_downloads_and_loads(loopback, monkeypatch):
    from fakebench.detectors.safe import SAFE

    spec, digest, url = serve(loopback, monkeypatch, SAFE, FIXTURES / "safe" / "checkpoint-best_format.pth.xz",
                              pin=False)  # the real card pins no sha256: the first download's digest is recorded
    det = SAFE.load("progan_4class")
    path = Path(os.environ["FAKEBENCH_CACHE"]) / "weights" / "safe" / "checkpoint-best.pth"
    assert det.weights.tag == "progan_4class" and Path(det.weights.path) == path and det.weights.sha256 == digest
    assert loopback.count(url.split(str(loopback.port))[1], "GET") == 1
    again = SAFE.load("progan_4class")  # a cache hit: no second request
    assert loopback.count() == 1 and again.weights.sha256 == digest
    x = torch.rand(1, 3, 64, 64)
    direct = SAFE.load(FIXTURES / "safe" / "checkpoint-best_format.pth.xz")
    assert torch.equal(det.predict(x).logit, direct.predict(x).logit)


def test_corvi_tag_is_verified_against_the_pinned_sha256(loopback, monkeypatch):
    from fakebench.detectors.corvi2023 import Corvi2023

    spec, digest, _ = serve(loopback, monkeypatch, Corvi2023, FIXTURES / "corvi2023" / "weights_format.pth.xz",
                            pin=True)
    det = Corvi2023.load("latent", layers="1,1,1,1")
    assert det.weights.tag == "latent" and det.weights.sha256 == digest
    # a cached file that no longer matches the pinned sha256 is fetched again, not trusted
    Path(det.weights.path).write_bytes(b"corrupt")
    assert Corvi2023.load("latent", layers="1,1,1,1").weights.sha256 == digest
    assert loopback.count() == 2


def test_corvi_wrong_bytes_are_refused(loopback, monkeypatch):
    from fakebench.detectors.corvi2023 import Corvi2023
    from fakebench.hub.fetch import ChecksumError

    spec, digest, url = serve(loopback, monkeypatch, Corvi2023, FIXTURES / "corvi2023" / "weights_format.pth.xz",
                              pin=True)
    loopback.add(url.split(str(loopback.port))[1], b"not the release")
    with pytest.raises((ChecksumError, WeightsNotFoundError, CheckpointError), match="sha256"):
        Corvi2023.load("latent", layers="1,1,1,1")


def test_ladeda_drive_folder_is_a_manual_download_with_a_clear_message(monkeypatch):
    from fakebench.detectors.ladeda import LaDeDa

    with pytest.raises(WeightsNotFoundError) as info:
        LaDeDa.load("wildrf")
    message = str(info.value)
    dest = Path(os.environ["FAKEBENCH_CACHE"]) / "weights" / "ladeda" / "WildRF_LaDeDa.pth"
    assert "drive.google.com/drive/folders/1KxNdnPRJJTuqxmzBPiGsg43tXzO8AN2d" in message and str(dest) in message
    # put there by hand, it is used (and its digest recorded)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(lzma.decompress((FIXTURES / "ladeda" / "LaDeDa_format.pth.xz").read_bytes()))
    det = LaDeDa.load("wildrf", layers="1,2,1,1")
    assert det.weights.tag == "wildrf" and Path(det.weights.path) == dest
