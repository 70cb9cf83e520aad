"""Weights fetching of the foundation-model detectors (issue #17 part B) through ``fakebench.hub``, offline: the card's
sources are pointed at the loopback HTTP server (tests/_loopback.py), and the real fetch/extract code runs."""

from __future__ import annotations

import dataclasses
import io
import lzma
import os
import zipfile
from pathlib import Path

import pytest

from _loopback import loopback  # noqa: F401 - pytest fixture
from test_download import drive  # noqa: F401 - pytest fixture: gdown's Google hosts served by the loopback server
from fakebench.core.errors import CheckpointError, WeightsNotFoundError

FIXTURES = Path(__file__).parent / "fixtures" / "parity"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("HF_HUB_OFFLINE", "HF_ENDPOINT", "FAKEBENCH_OFFLINE"):
        monkeypatch.delenv(name, raising=False)


def _point_card_at(monkeypatch, cls, url: str) -> None:
    """Replace every source URL of ``cls.card`` by ``url`` (same kind, file name and archive field)."""
    card = cls.card
    weights = tuple(dataclasses.replace(w, sources=tuple(dataclasses.replace(s, ref=url) for s in w.sources))
                    for w in card.weights)
    monkeypatch.setattr(cls, "card", dataclasses.replace(card, weights=weights))


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_drct_tag_fetches_the_archive_once_and_extracts_its_member(loopback, monkeypatch):
    from fakebench.detectors.drct import DRCT

    ckpt = lzma.decompress((FIXTURES / "drct" / "convnext_tiny.pth.xz").read_bytes())
    other = b"not this one"
    archive = _zip({"pretrained/DRCT-2M/sdv14/convnext_base_in22k_224_drct_amp_crop/14_acc0.9996.pth": ckpt,
                    "pretrained/DRCT-2M/sdv2/convnext_base_in22k_224_drct_amp_crop/16_acc0.9993.pth": other})
    _point_card_at(monkeypatch, DRCT, loopback.add("/pretrained.zip", archive))
    cache = Path(os.environ["FAKEBENCH_CACHE"])
    path, spec = DRCT.resolve_weights("convb_sdv14")
    assert spec.tag == "convb_sdv14"
    assert path == cache / "weights" / "drct" / "convb_sdv14" / "14_acc0.9996.pth"
    assert path.read_bytes() == ckpt
    assert (cache / "weights" / "drct" / "pretrained.zip").read_bytes() == archive
    path2, _ = DRCT.resolve_weights("convb_sdv2")
    assert path2.read_bytes() == other
    assert loopback.count() == 1  # one archive for every tag
    # the tag promises the published ConvNeXt-B: a tiny network under its name is refused, not silently used
    with pytest.raises(CheckpointError, match="expected the published convnext"):
        DRCT.load("convb_sdv14")


def test_drct_archive_without_the_member_says_what_it_holds(loopback, monkeypatch):
    from fakebench.detectors.drct import DRCT

    _point_card_at(monkeypatch, DRCT, loopback.add("/pretrained.zip", _zip({"pretrained/x/other.pth": b"x"})))
    with pytest.raises(WeightsNotFoundError, match="other.pth") as info:
        DRCT.resolve_weights("clip_sdv14")
    assert "13_acc0.9664.pth" in str(info.value) and "--weights PATH" in str(info.value)


def test_drct_offline_cache_miss_names_the_archive_and_the_host(monkeypatch):
    from fakebench.detectors.drct import DRCT

    monkeypatch.setenv("FAKEBENCH_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError) as info:
        DRCT.resolve_weights("clip_sdv2")
    assert "drct.clip_sdv2" in str(info.value) and "pretrained.zip" in str(info.value)
    assert "modelscope.cn" in str(info.value)


def test_bfree_release_zip_is_md5_checked_and_extracted(loopback, monkeypatch):
    import hashlib

    from fakebench.detectors import bfree as bfree_module
    from fakebench.detectors.bfree import BFree

    folder = FIXTURES / "bfree" / "BFREE_tiny"
    archive = _zip({"BFREE_dino2reg4/": b"", "BFREE_dino2reg4/config.yaml": (folder / "config.yaml").read_bytes(),
                    "BFREE_dino2reg4/model_epoch_best.pth": (folder / "model_epoch_best.pth").read_bytes()})
    _point_card_at(monkeypatch, BFree, loopback.add("/BFREE_dino2reg4.zip", archive))
    cache = Path(os.environ["FAKEBENCH_CACHE"])
    # the published MD5 is that of the real release: this zip is refused ...
    with pytest.raises(CheckpointError, match="f3f53fa647848b16cf81c913f148a198"):
        BFree.resolve_weights("dino2reg4")
    # ... and accepted when the expected MD5 is its own
    monkeypatch.setitem(bfree_module.BFREE_ZIP_MD5, "dino2reg4", hashlib.md5(archive).hexdigest())
    path, spec = BFree.resolve_weights("dino2reg4")
    assert spec.tag == "dino2reg4"
    assert path == cache / "weights" / "bfree" / "BFREE_dino2reg4" / "model_epoch_best.pth"
    assert path.read_bytes() == (folder / "model_epoch_best.pth").read_bytes()
    assert loopback.count() == 1
    # the tag promises the published ViT-B: the tiny ViT under its name is refused
    with pytest.raises(CheckpointError, match=r"expected the published \(12, 768\)"):
        BFree.load("dino2reg4")


def test_bfree_offline_cache_miss_names_the_grip_url(monkeypatch):
    from fakebench.detectors.bfree import BFree

    monkeypatch.setenv("FAKEBENCH_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError) as info:
        BFree.resolve_weights("dino2reg4")
    assert "bfree.dino2reg4" in str(info.value) and "grip.unina.it" in str(info.value)


def test_effort_tag_downloads_from_drive_with_gdown(drive):
    from fakebench.detectors.effort import Effort

    ckpt = (FIXTURES / "effort" / "effort_tiny.pth").read_bytes()
    drive.add_drive_file("1UXf1hC9FC1yV93uKwXSkdtepsgpIAU9d", "upstream.pth", ckpt)
    path, spec = Effort.resolve_weights("genimage_sdv14")
    assert spec.tag == "genimage_sdv14" and path.name == "effort_genimage_sdv14.pth"
    assert path.read_bytes() == ckpt
    with pytest.raises(CheckpointError, match="expected the published ViT-L/14"):
        Effort.load("genimage_sdv14")
