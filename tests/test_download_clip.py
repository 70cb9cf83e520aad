"""Weights of the CLIP-family detectors (RINE, CLIP-D, C2P-CLIP, Community Forensics) through ``fakebench.hub``,
offline against the loopback server: each tag's real source (GitHub raw / Git LFS media / the C2P-CLIP host / the
Hugging Face hub) is served from 127.0.0.1 with the parity fixture's file in the official format, and the detector is
loaded from the tag end to end. Pinned sha256s (RINE 2class, both CLIP-D heads) are enforced.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from _loopback import loopback  # noqa: F401 - pytest fixture

from fakebench.core.errors import WeightsNotFoundError
from fakebench.hub.fetch import ChecksumError, FetchOptions, fetch
from fakebench.hub.sources import Source

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "parity"
HOSTS = ("github.com", "media.githubusercontent.com", "www.now61.com")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("HF_HUB_OFFLINE", "HF_ENDPOINT", "FAKEBENCH_OFFLINE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def hosts(loopback, monkeypatch):
    """Send requests for the official hosts to the loopback server (fakebench's own HTTP code runs), and the hub's
    traffic through HF_ENDPOINT."""
    original = requests.Session.request

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        if parts.hostname in HOSTS:
            url = urlunsplit(("http", f"127.0.0.1:{loopback.port}", parts.path, parts.query, ""))
        return original(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", request)
    from fakebench.hub import fetch as fetch_module

    resolves = fetch_module._resolves
    monkeypatch.setattr(fetch_module, "_resolves", lambda url: urlsplit(url).hostname in HOSTS or resolves(url))
    monkeypatch.setenv("HF_ENDPOINT", loopback.base)
    return loopback


def serve(server, source: Source, data: bytes) -> str:
    """Serve ``data`` where ``source`` points; returns the served path."""
    if source.kind == "hf":
        server.add_hub_file(source.ref, source.filename, data)
        return f"/{source.ref}/resolve/main/{source.filename}"
    path = urlsplit(source.ref).path
    server.add(path, data)
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def with_pin(cls, monkeypatch, tag: str, digest: str) -> None:
    """Pin ``tag`` of ``cls.card`` to ``digest`` (the fixture's, standing in for the official file's)."""
    card = cls.card
    weights = tuple(dataclasses.replace(w, sha256=digest, sources=tuple(dataclasses.replace(s, sha256=digest, size=None)
                                                                         for s in w.sources))
                    if w.tag == tag else w for w in card.weights)
    monkeypatch.setattr(cls, "card", dataclasses.replace(card, weights=weights))


# -- RINE -------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rine_backbone():
    from fakebench.detectors.univfd import load_openai_clip_visual

    return load_openai_clip_visual(FIXTURES / "rine" / "tiny_clip_vit_openai_format.pt")


def test_rine_tag_downloads_from_github_and_loads(hosts, rine_backbone):
    from fakebench.detectors.rine import RINE

    data = (FIXTURES / "rine" / "model_nproj2_trainable_format.pth").read_bytes()
    spec = RINE.card.get_weights("ldm")
    path = serve(hosts, spec.sources[0], data)
    assert path == "/mever-team/rine/raw/9b7fd5857cc205d0412be6aeee0d7611b95bd620/ckpt/model_ldm_trainable.pth"
    det = RINE.load("ldm", backbone=rine_backbone)
    assert det.weights.tag == "ldm" and det.weights.sha256 == sha(data)
    assert det.preset.name == "tencrop224"  # the LDM checkpoint's protocol
    assert Path(det.weights.path).name == "model_ldm_trainable.pth"
    RINE.load("ldm", backbone=rine_backbone)
    assert hosts.count(path, "GET") == 1  # the second load is a cache hit


def test_rine_2class_sha256_is_enforced(hosts, rine_backbone):
    from fakebench.detectors.rine import RINE

    spec = RINE.card.get_weights("2class")
    assert spec.sha256 == "680d301b6d191da85b9dabcebf42cd3df20c5c669fa8320c498f835d02bf5ccb"
    serve(hosts, spec.sources[0], (FIXTURES / "rine" / "model_2class_trainable_format.pth").read_bytes())
    with pytest.raises(ChecksumError, match="size is 638097 bytes, expected 1139686"):  # the pinned size, then sha
        RINE.load("2class", backbone=rine_backbone)
    data = (FIXTURES / "rine" / "model_nproj2_trainable_format.pth").read_bytes()
    padded = data + b"\0" * (1139686 - len(data))  # right size, wrong bytes
    serve(hosts, spec.sources[0], padded)
    with pytest.raises(ChecksumError, match=f"its sha256 is {sha(padded)}, expected {spec.sha256}"):
        RINE.load("2class", backbone=rine_backbone)


def test_rine_sidbench_mirror_is_the_second_source(hosts, monkeypatch, rine_backbone):
    from fakebench.detectors.rine import RINE

    data = (FIXTURES / "rine" / "model_2class_trainable_format.pth").read_bytes()
    with_pin(RINE, monkeypatch, "2class", sha(data))
    spec = RINE.card.get_weights("2class")
    assert spec.sources[1].kind == "hf" and spec.sources[1].filename == "rine/model_2class_trainable.pth"
    serve(hosts, spec.sources[1], data)  # GitHub answers 404
    det = RINE.load("2class", backbone=rine_backbone)
    assert det.weights.sha256 == sha(data)


# -- CLIP-D -----------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clipdet_backbone():
    from fakebench.detectors.clipdet import build_openclip_visual

    folder = FIXTURES / "clipdet"
    return build_openclip_visual(folder / "tiny_openclip_vit.bin", folder / "tiny_openclip_vit.json")


def test_clipdet_lfs_head_is_pinned_and_loads(hosts, monkeypatch, clipdet_backbone):
    from fakebench.detectors.clipdet import CLIPDet

    data = (FIXTURES / "clipdet" / "weights_format.pth").read_bytes()
    spec = CLIPDet.card.get_weights("latent10k_plus")
    assert spec.sha256 == "1c9c9f48a47d975bde67e9924983aa4e4ccda96a15e7e983b6305f0c56d9ee18"
    assert urlsplit(spec.sources[0].ref).hostname == "media.githubusercontent.com"
    for source in spec.sources:
        serve(hosts, source, data)
    with pytest.raises(ChecksumError):  # the fixture is not the official file: the LFS pointer's sha256 refuses it
        CLIPDet.load("latent10k_plus", backbone=clipdet_backbone)
    with_pin(CLIPDet, monkeypatch, "latent10k_plus", sha(data))
    det = CLIPDet.load(backbone=clipdet_backbone)  # the default tag
    assert det.weights.tag == "latent10k_plus" and det.preset.name == "clip224"
    assert Path(det.weights.path).name == "clipdet_latent10k_plus.pth"


def test_clipdet_backbone_comes_from_the_hub_cache(hosts, monkeypatch):
    """The CommonPool backbone file is fetched through fakebench's hub cache; offline, a cache hit is used and a
    miss fails at once with the `hf download` command."""
    import open_clip

    from fakebench.detectors import clipdet

    folder = FIXTURES / "clipdet"
    head = folder / "weights_format.pth"
    name, repo, filename = clipdet.CLIPDET_BACKBONE
    monkeypatch.setenv("FAKEBENCH_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError, match=f"hf download {repo}"):
        clipdet.CLIPDet.load(head)
    monkeypatch.delenv("FAKEBENCH_OFFLINE")
    hosts.add_hub_file(repo, filename, (folder / "tiny_openclip_vit.bin").read_bytes())
    fetch(Source("hf", repo, filename=filename), Path(os.environ["FAKEBENCH_CACHE"]) / "scratch",
          options=FetchOptions(retries=0, progress=False))  # fills the hub cache
    open_clip.add_model_config(folder / "tiny_openclip_vit.json")
    monkeypatch.setattr(clipdet, "CLIPDET_BACKBONE", ("tiny_openclip_vit", repo, filename))  # tiny stand-in
    monkeypatch.setenv("FAKEBENCH_OFFLINE", "1")
    before = hosts.count()
    det = clipdet.CLIPDet.load(head)
    assert det.backbone["name"] == f"open_clip tiny_openclip_vit {repo}" and hosts.count() == before
    assert det.model.visual.proj is None


# -- C2P-CLIP ---------------------------------------------------------------------------------------------------------
def test_c2p_clip_release_zip_downloads_and_loads(hosts, monkeypatch):
    pytest.importorskip("transformers")
    from fakebench.detectors.c2p_clip import C2PCLIP

    data = (FIXTURES / "c2p_clip" / "c2p_clip_tiny_release_format.zip").read_bytes()
    spec = C2PCLIP.card.get_weights("release_20240901")
    path = serve(hosts, spec.sources[0], data)
    assert path == "/f/95OefW/C2P_CLIP_release_20240901.zip"
    det = C2PCLIP.load("release_20240901")
    assert det.weights.sha256 == sha(data) and det.preset.name == "resize224_crop224"
    monkeypatch.setenv("FAKEBENCH_OFFLINE", "1")  # unpinned: the first download's digest guards the cache
    assert C2PCLIP.load().weights.sha256 == sha(data)
    assert hosts.count(path, "GET") == 1


# -- Community Forensics ----------------------------------------------------------------------------------------------
def test_commfor_hub_release_downloads_and_loads(hosts, monkeypatch):
    from fakebench.detectors.commfor import CommFor

    data = (FIXTURES / "commfor" / "commfor_tiny_384" / "model.safetensors").read_bytes()
    spec = CommFor.card.get_weights("vit_s_384")
    assert (spec.sources[0].kind, spec.sources[0].ref) == ("hf", "OwensLab/commfor-model-384")
    path = serve(hosts, spec.sources[0], data)
    det = CommFor.load("vit_s_384")
    assert Path(det.weights.path).name == "commfor-model-384.safetensors"
    assert det.weights.sha256 == sha(data) and det.preset.name == "resize440_crop384"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert CommFor.load("vit_s_384").weights.sha256 == sha(data)
    assert hosts.count(path, "GET") == 1


def test_commfor_224_and_384_do_not_share_a_cache_file():
    from fakebench.detectors.catalog_clip import COMMFOR_CARD

    names = {w.filename for w in COMMFOR_CARD.weights}
    assert names == {"commfor-model-384.safetensors", "commfor-model-224.safetensors"}
    assert [w.preset for w in COMMFOR_CARD.weights] == ["resize440_crop384", "resize256_crop224"]
