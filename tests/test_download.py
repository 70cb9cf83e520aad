"""Downloads against a real HTTP server on 127.0.0.1: verified, resumable, safe, and explicit when offline.

Nothing here touches the network or the user's cache: ``tests/_loopback.py`` runs a stdlib HTTP server in a thread
(with Range support, cut-short transfers and request counting), conftest gives every test its own
``FAKEBENCH_CACHE``, and gdown and huggingface_hub run their own code against the loopback server (gdown through a
requests-level redirect of the Google hosts, the hub through ``HF_ENDPOINT``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import tarfile
import zipfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
import yaml
from click.testing import CliRunner

from _loopback import LoopbackServer, loopback  # noqa: F401 - loopback is a pytest fixture
from fakebench.hub.archive import CorruptArchiveError, UnsafeArchiveError, safe_extract
from fakebench.cli.download import download
from fakebench.hub.fetch import MARKER, ChecksumError, FetchOptions, ManualDownloadRequired, SourceUnavailable, fetch, fetch_hub_snapshot, hub_cache_dir
from fakebench.data.download import download_dataset, download_datasets
from fakebench.hub.weights import fetch_weights, weights_path
from fakebench.core.errors import DataError, DownloadError, WeightsNotFoundError
from fakebench.data.manifest import load_manifest
from fakebench.hub.sources import Source
from fakebench.detectors import REGISTRY
from fakebench.detectors.card import DetectorCard, Preset, WeightsSpec

FAST = FetchOptions(retries=2, backoff=0.0, timeout=10, progress=False)
PAYLOAD = bytes(range(256)) * 800  # 204,800 bytes
DRIVE_ID = "1AbCdEfGhIjKlMnOpQrStUvWxYz0"  # gdown wants ids of 25+ characters


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("HF_HUB_OFFLINE", "HF_ENDPOINT", "FAKEBENCH_OFFLINE", "FAKEBENCH_DATA"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def cache() -> Path:
    """The per-test FAKEBENCH_CACHE set by conftest."""
    return Path(os.environ["FAKEBENCH_CACHE"])


# -- builders ----------------------------------------------------------------------------------------------------------
def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def tar_bytes(members: dict[str, bytes], links: dict[str, str] | None = None,
              hardlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for kind, table in ((tarfile.SYMTYPE, links or {}), (tarfile.LNKTYPE, hardlinks or {})):
            for name, target in table.items():
                info = tarfile.TarInfo(name)
                info.type, info.linkname = kind, target
                tf.addfile(info)
    return buf.getvalue()


def images(prefix: str, n: int, ext: str = ".png") -> dict[str, bytes]:
    return {f"{prefix}/img{i}{ext}": f"{prefix}{i}".encode() for i in range(n)}


def toy_card(*sources: Source, sha256: str | None = None, name: str = "toy") -> tuple[DetectorCard, WeightsSpec]:
    spec = WeightsSpec(tag="v1", filename="toy.pth", sources=sources, sha256=sha256)
    card = DetectorCard(name=name, title="Toy", paper="-", paper_url="-", repo="https://example.invalid/toy",
                        licence="-", architecture="-", score="-", weights=(spec,), presets=(Preset("native"),),
                        default_preset="native")
    return card, spec


SUITE_ARCHIVE = zip_bytes({**images("gan/0_real", 2), **images("gan/1_fake", 3), **images("real", 2, ".jpg"),
                           "README.txt": b"not an image"})


def write_manifest(tmp_path: Path, suite_sources: list[dict], datasets: list[dict] | None = None) -> Path:
    datasets = datasets if datasets is not None else [
        {"name": "toy-gan", "suite": "toy", "generator": "GAN", "family": "gan", "labels": "mixed",
         "layout": "real_fake", "path": "toy/gan", "expected_count": {"real": 2, "fake": 3}},
        {"name": "toy-real", "suite": "toy", "generator": "COCO", "family": "real", "labels": "real",
         "layout": "folder", "path": "toy/real", "expected_count": {"real": 2, "fake": None}},
    ]
    data = {"schema_version": 1, "suites": {"toy": {"title": "Toy", "path": "toy", "sources": suite_sources}},
            "datasets": datasets}
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def leftovers(root: Path) -> list[str]:
    """Hidden staging folders or half files left under ``root``."""
    return [p.name for p in root.rglob("*") if ".partial" in p.name or p.name.endswith(".part")]


# -- plain URLs: verification and cache --------------------------------------------------------------------------------
def test_good_file_is_verified_and_nothing_partial_is_left(loopback, tmp_path):
    url = loopback.add("/w.bin", PAYLOAD)
    path = fetch(Source("url", url, sha256=sha(PAYLOAD)), tmp_path, options=FAST)
    assert path == tmp_path / "w.bin" and path.read_bytes() == PAYLOAD
    assert loopback.count("/w.bin", "GET") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.bin"]  # no .part, no sidecar when the sha is pinned


def test_wrong_sha256_is_an_error_and_the_file_is_removed(loopback, tmp_path):
    url = loopback.add("/w.bin", PAYLOAD)
    wrong = sha(b"something else")
    with pytest.raises(ChecksumError, match=wrong) as info:
        fetch(Source("url", url, sha256=wrong), tmp_path, options=FAST)
    assert sha(PAYLOAD) in str(info.value) and url in str(info.value)
    assert not (tmp_path / "w.bin").exists() and leftovers(tmp_path) == []
    assert loopback.count("/w.bin", "GET") == 1


def test_valid_cache_makes_no_request(loopback, tmp_path):
    source = Source("url", loopback.add("/w.bin", PAYLOAD), sha256=sha(PAYLOAD))
    fetch(source, tmp_path, options=FAST)
    fetch(source, tmp_path, options=FAST)
    assert loopback.count() == 1


def test_corrupt_cache_is_fetched_once_more(loopback, tmp_path):
    source = Source("url", loopback.add("/w.bin", PAYLOAD), sha256=sha(PAYLOAD))
    (tmp_path / "w.bin").write_bytes(PAYLOAD[:-1] + b"!")
    assert fetch(source, tmp_path, options=FAST).read_bytes() == PAYLOAD
    assert loopback.count("/w.bin", "GET") == 1


def test_corrupt_cache_and_bad_source_fail_after_one_refetch(loopback, tmp_path):
    source = Source("url", loopback.add("/w.bin", b"bad bytes"), sha256=sha(PAYLOAD))
    (tmp_path / "w.bin").write_bytes(b"corrupt")
    with pytest.raises(ChecksumError):
        fetch(source, tmp_path, options=FAST)
    assert loopback.count("/w.bin", "GET") == 1
    assert not (tmp_path / "w.bin").exists()


def test_wrong_size_is_an_error(loopback, tmp_path):
    url = loopback.add("/w.bin", PAYLOAD)
    with pytest.raises(ChecksumError, match=f"size is {len(PAYLOAD)} bytes, expected 10"):
        fetch(Source("url", url, size=10), tmp_path, options=FAST)


def test_unknown_sha_is_recorded_at_first_download_and_checked_later(loopback, tmp_path):
    source = Source("url", loopback.add("/w.bin", PAYLOAD))
    path = fetch(source, tmp_path, options=FAST)
    assert (tmp_path / "w.bin.sha256").read_text().strip() == sha(PAYLOAD)
    path.write_bytes(b"tampered")
    assert fetch(source, tmp_path, options=FAST).read_bytes() == PAYLOAD
    assert loopback.count("/w.bin", "GET") == 2


# -- resume and retries ------------------------------------------------------------------------------------------------
def test_interrupted_transfer_is_resumed_with_a_range_request(loopback, tmp_path):
    url = loopback.add("/w.bin", PAYLOAD, drops=1, drop_after=100_000)
    path = fetch(Source("url", url, sha256=sha(PAYLOAD)), tmp_path, options=FAST)
    assert sha(path.read_bytes()) == sha(PAYLOAD)
    (resume,) = loopback.ranges("/w.bin")  # one Range request, for the bytes after those received before the cut
    assert 0 < int(resume.removeprefix("bytes=").rstrip("-")) <= 100_000
    assert loopback.count("/w.bin", "GET") == 2


def test_partial_file_of_an_earlier_run_is_resumed(loopback, tmp_path):
    url = loopback.add("/w.bin", PAYLOAD)
    (tmp_path / "w.bin.part").write_bytes(PAYLOAD[:50_000])
    path = fetch(Source("url", url, sha256=sha(PAYLOAD)), tmp_path, options=FAST)
    assert path.read_bytes() == PAYLOAD and loopback.ranges("/w.bin") == ["bytes=50000-"]


def test_stale_partial_file_is_replaced_by_a_full_download(loopback, tmp_path):
    url = loopback.add("/w.bin", PAYLOAD)
    (tmp_path / "w.bin.part").write_bytes(b"x" * 50_000)  # bytes of another version of the file
    path = fetch(Source("url", url, sha256=sha(PAYLOAD)), tmp_path, options=FAST)
    assert path.read_bytes() == PAYLOAD
    assert loopback.count("/w.bin", "GET") == 2 and loopback.ranges("/w.bin") == ["bytes=50000-"]


def test_server_ignoring_range_restarts_from_zero(loopback, tmp_path):
    url = loopback.add("/w.bin", PAYLOAD, ranges=False)
    (tmp_path / "w.bin.part").write_bytes(PAYLOAD[:50_000])
    assert fetch(Source("url", url, sha256=sha(PAYLOAD)), tmp_path, options=FAST).read_bytes() == PAYLOAD


def test_transient_errors_are_retried_then_reported(loopback, tmp_path):
    url = loopback.add("/w.bin", PAYLOAD, fail_with=[503, 502])
    assert fetch(Source("url", url), tmp_path / "a", options=FAST).read_bytes() == PAYLOAD
    assert loopback.count("/w.bin", "GET") == 3
    loopback.add("/x.bin", PAYLOAD, fail_with=[503] * 5)
    with pytest.raises(SourceUnavailable, match="HTTP 503.*gave up after 3 attempts") as info:
        fetch(Source("url", loopback.url("/x.bin")), tmp_path / "b", options=FAST)
    assert str(tmp_path / "b" / "x.bin") in str(info.value)


def test_http_404_is_not_retried(loopback, tmp_path):
    with pytest.raises(SourceUnavailable, match="HTTP 404"):
        fetch(Source("url", loopback.url("/missing.bin")), tmp_path, options=FAST)
    assert loopback.count() == 1


# -- detector weights --------------------------------------------------------------------------------------------------
def test_fetch_weights_caches_under_the_resolved_root(loopback, cache):
    card, spec = toy_card(Source("url", loopback.add("/toy.pth", PAYLOAD)), sha256=sha(PAYLOAD))
    path = fetch_weights(card, spec, options=FAST)
    assert path == cache / "weights" / "toy" / "toy.pth" == weights_path(card, spec)
    assert path.read_bytes() == PAYLOAD
    fetch_weights(card, spec, options=FAST)
    assert loopback.count() == 1


def test_next_source_is_tried_when_one_fails(loopback):
    card, spec = toy_card(Source("url", loopback.url("/gone.pth")), Source("url", loopback.add("/toy.pth", PAYLOAD)),
                          sha256=sha(PAYLOAD))
    assert fetch_weights(card, spec, options=FAST).read_bytes() == PAYLOAD


@pytest.mark.parametrize("flag", ["FAKEBENCH_OFFLINE", "HF_HUB_OFFLINE"])
def test_offline_cache_miss_says_what_where_and_from_where(loopback, monkeypatch, cache, flag):
    url = loopback.add("/toy.pth", PAYLOAD)
    card, spec = toy_card(Source("url", url), sha256=sha(PAYLOAD))
    monkeypatch.setenv(flag, "1")
    with pytest.raises(WeightsNotFoundError) as info:
        fetch_weights(card, spec, options=FAST)
    message = str(info.value)
    for part in ("toy.v1", "toy.pth", sha(PAYLOAD), str(cache / "weights" / "toy" / "toy.pth"), url, flag):
        assert part in message
    assert loopback.count() == 0
    lines = message.replace(str(cache), "CACHE").replace(url, "URL").replace(sha(PAYLOAD), "SHA").splitlines()
    assert len(lines) >= 3 and max(len(line) for line in lines) <= 120, message  # issue #20: a short list


def test_offline_cache_hit_is_used_without_network(loopback, monkeypatch):
    card, spec = toy_card(Source("url", loopback.add("/toy.pth", PAYLOAD)), sha256=sha(PAYLOAD))
    target = weights_path(card, spec)
    target.parent.mkdir(parents=True)
    target.write_bytes(PAYLOAD)  # put there by hand, as the offline message says
    monkeypatch.setenv("FAKEBENCH_OFFLINE", "1")
    assert fetch_weights(card, spec, options=FAST) == target
    assert loopback.count() == 0


def test_unreachable_source_is_weights_not_found(tmp_path):
    with LoopbackServer() as server:
        url = server.url("/toy.pth")  # the port is closed once the server stops
    card, spec = toy_card(Source("url", url))
    with pytest.raises(WeightsNotFoundError, match="gave up after 3 attempts") as info:
        fetch_weights(card, spec, cache_dir=tmp_path, options=FAST)
    assert str(tmp_path / "weights" / "toy" / "toy.pth") in str(info.value) and "sha256 not pinned" in str(info.value)


def test_real_detector_resolves_weights_through_fetch_weights(monkeypatch, cache):
    from fakebench.detectors.npr import NPR

    monkeypatch.setenv("FAKEBENCH_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError) as info:
        NPR.resolve_weights("progan_4class")
    message = str(info.value)
    assert "npr.progan_4class" in message and "github.com/chuangchuangtan/NPR-DeepfakeDetection/raw/" in message
    assert str(cache / "weights" / "npr" / "model_epoch_last_3090.pth") in message


# -- Google Drive through gdown ----------------------------------------------------------------------------------------
@pytest.fixture
def drive(loopback, monkeypatch):
    """Send gdown's requests for the Google hosts to the loopback server (transport level; gdown's code runs)."""
    original = requests.Session.request

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        if parts.hostname in ("drive.google.com", "docs.google.com", "drive.usercontent.google.com"):
            url = urlunsplit(("http", f"127.0.0.1:{loopback.port}", parts.path, parts.query, ""))
        return original(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", request)
    # the Google hosts "resolve" here because their traffic is served by the loopback server
    from fakebench.hub import fetch as fetch_module

    resolves = fetch_module._resolves
    monkeypatch.setattr(fetch_module, "_resolves", lambda url: urlsplit(url).hostname in (
        "drive.google.com", "docs.google.com", "drive.usercontent.google.com") or resolves(url))
    return loopback


def test_drive_file_is_fetched_with_gdown_and_verified(drive, tmp_path):
    drive.add_drive_file(DRIVE_ID, "upstream-name.pth", PAYLOAD)
    path = fetch(Source("gdrive", DRIVE_ID, filename="w.pth", sha256=sha(PAYLOAD)), tmp_path, options=FAST)
    assert path == tmp_path / "w.pth" and path.read_bytes() == PAYLOAD
    assert drive.count(f"/uc?id={DRIVE_ID}", "GET") == 1
    fetch(Source("gdrive", DRIVE_ID, filename="w.pth", sha256=sha(PAYLOAD)), tmp_path, options=FAST)
    assert drive.count() == 1


def test_drive_quota_page_gives_a_clear_message(drive, cache):
    drive.add_drive_quota_page(DRIVE_ID)
    card, spec = toy_card(Source("gdrive", DRIVE_ID))
    with pytest.raises(WeightsNotFoundError, match="quota") as info:
        fetch_weights(card, spec, options=FAST)
    message = str(info.value)
    assert f"https://drive.google.com/uc?id={DRIVE_ID}" in message and str(weights_path(card, spec)) in message
    assert not weights_path(card, spec).exists()


def test_drive_folder_of_archives_installs_a_dataset(drive, tmp_path):
    archive = zip_bytes({**images("gan/0_real", 2), **images("gan/1_fake", 3), **images("real", 2, ".jpg")})
    drive.add_drive_folder("1FolderIdFolderIdFolderId00", "toy-release", {"toy.zip": (DRIVE_ID, archive)})
    manifest = load_manifest(write_manifest(tmp_path, [{"kind": "gdrive_folder", "ref": "1FolderIdFolderIdFolderId00",
                                                        "archive": "zip"}]))
    report = download_datasets(manifest, suites=["toy"], data_root=tmp_path / "data", options=FAST).check()
    assert report.installed == [tmp_path / "data" / "toy"]
    assert len(list((tmp_path / "data" / "toy" / "gan" / "1_fake").iterdir())) == 3


def test_unnamed_drive_archive_is_recognised_and_unwrapped(drive, tmp_path):
    """As the real manifest's ForenSynths Drive file: no file name, no archive field, one wrapping folder."""
    members = {**images("gan/0_real", 2), **images("gan/1_fake", 3), **images("real", 2, ".jpg")}
    wrapped = zip_bytes({f"CNN_synth_testset/{name}": data for name, data in members.items()})
    drive.add_drive_file(DRIVE_ID, "CNN_synth_testset.zip", wrapped)
    manifest = load_manifest(write_manifest(tmp_path, [{"kind": "url", "ref": drive.url("/gone.zip")},
                                                       {"kind": "gdrive", "ref": DRIVE_ID}]))
    report = download_datasets(manifest, names=["toy-real"], data_root=tmp_path / "data", options=FAST).check()
    root = tmp_path / "data" / "toy"
    assert report.installed == [root] and (root / "gan" / "1_fake" / "img2.png").is_file()
    assert json.loads((root / MARKER).read_text())["source"]["kind"] == "gdrive"


# -- Hugging Face hub --------------------------------------------------------------------------------------------------
def test_hub_file_downloads_through_huggingface_hub_then_serves_offline(loopback, monkeypatch, cache, tmp_path):
    loopback.add_hub_file("org/toy", "w.bin", PAYLOAD)
    monkeypatch.setenv("HF_ENDPOINT", loopback.base)
    source = Source("hf", "org/toy", filename="w.bin", sha256=sha(PAYLOAD))
    path = fetch(source, tmp_path / "a", options=FAST)
    assert path.read_bytes() == PAYLOAD
    assert (hub_cache_dir() / "models--org--toy" / "snapshots" / ("a" * 40) / "w.bin").is_file()
    assert loopback.count("/org/toy/resolve/main/w.bin", "GET") == 1
    before = loopback.count()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a fresh destination is served from the hub cache
    assert fetch(source, tmp_path / "b", options=FAST).read_bytes() == PAYLOAD
    assert loopback.count() == before
    snapshot = fetch_hub_snapshot("org/toy", what="toy base model")
    assert (snapshot / "w.bin").read_bytes() == PAYLOAD


def test_cli_hub_repo_comes_from_the_hub_cache_offline(loopback, monkeypatch, tmp_path):
    loopback.add_hub_file("org/toy", "config.json", b"{}")
    monkeypatch.setenv("HF_ENDPOINT", loopback.base)
    fetch(Source("hf", "org/toy", filename="config.json"), tmp_path, options=FAST)  # fills the hub cache
    monkeypatch.setenv("FAKEBENCH_OFFLINE", "1")
    result = CliRunner().invoke(download, ["--hub-repo", "org/toy"])
    assert result.exit_code == 0, result.output
    assert f"hub: {hub_cache_dir() / 'models--org--toy' / 'snapshots' / ('a' * 40)}" in result.output
    missing = CliRunner().invoke(download, ["--hub-repo", "org/other"])
    assert missing.exit_code == 1 and "hf download org/other" in missing.output


def test_hub_offline_cache_miss(loopback, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_ENDPOINT", loopback.base)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SourceUnavailable, match=r"HF_HUB_OFFLINE=1\) and the file is not in the hub cache"):
        fetch(Source("hf", "org/toy", filename="w.bin"), tmp_path, options=FAST)
    with pytest.raises(WeightsNotFoundError, match="hf download org/toy"):
        fetch_hub_snapshot("org/toy", what="toy base model")
    assert loopback.count() == 0


# -- safe extraction ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("member", ["../evil.txt", "ok/../../evil.txt", "/tmp/fakebench-evil.txt", "..\\evil.txt"])
def test_zip_members_escaping_the_folder_are_refused_before_writing(tmp_path, member):
    archive = tmp_path / "a.zip"
    archive.write_bytes(zip_bytes({"ok/a.png": b"a", member: b"evil"}))
    dest = tmp_path / "out" / "inner"
    dest.mkdir(parents=True)
    with pytest.raises(UnsafeArchiveError, match="climbs out"):
        safe_extract(archive, dest)
    assert list(dest.iterdir()) == [] and not (tmp_path / "out" / "evil.txt").exists()
    assert not Path("/tmp/fakebench-evil.txt").exists()


@pytest.mark.parametrize("links,hardlinks", [({"a/link": "../../outside"}, {}), ({"a/link": "/etc"}, {}),
                                             ({}, {"a/hard": "../outside"})])
def test_tar_links_pointing_outside_are_refused(tmp_path, links, hardlinks):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(tar_bytes({"a/x.png": b"x"}, links=links, hardlinks=hardlinks))
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(UnsafeArchiveError, match="link pointing outside"):
        safe_extract(archive, dest)
    assert list(dest.iterdir()) == []


def test_links_inside_the_folder_are_kept(tmp_path):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(tar_bytes({"a/x.png": b"x"}, links={"a/y.png": "x.png"}))
    dest = tmp_path / "out"
    dest.mkdir()
    safe_extract(archive, dest)
    assert (dest / "a" / "y.png").is_symlink() and (dest / "a" / "y.png").read_bytes() == b"x"


def test_zip_symlink_pointing_outside_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("a/link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "../../etc/passwd")
    (tmp_path / "a.zip").write_bytes(buf.getvalue())
    (tmp_path / "out").mkdir()
    with pytest.raises(UnsafeArchiveError, match="link pointing outside"):
        safe_extract(tmp_path / "a.zip", tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


# -- datasets ----------------------------------------------------------------------------------------------------------
def test_cli_downloads_a_dataset_verifies_counts_and_reuses_it(loopback, tmp_path, cache):
    url = loopback.add("/toy.zip", SUITE_ARCHIVE)
    manifest = write_manifest(tmp_path, [{"kind": "url", "ref": url, "filename": "toy.zip", "archive": "zip",
                                          "sha256": sha(SUITE_ARCHIVE)}])
    args = ["--dataset", "toy-gan", "--manifest", str(manifest), "--data-root", str(tmp_path / "data"), "-q"]
    result = CliRunner().invoke(download, args)
    assert result.exit_code == 0, result.output
    root = tmp_path / "data" / "toy"
    assert f"data: {root}" in result.output
    assert len(list((root / "gan" / "0_real").iterdir())) == 2 and len(list((root / "real").iterdir())) == 2
    marker = json.loads((root / MARKER).read_text())
    assert marker["counts"] == {"toy-gan": {"real": 2, "fake": 3}, "toy-real": {"real": 2, "fake": 0}}
    assert marker["sha256"] == sha(SUITE_ARCHIVE)
    assert (cache / "downloads" / "toy" / "toy.zip").is_file() and leftovers(tmp_path / "data") == []
    again = CliRunner().invoke(download, args[:2] + ["--dataset", "toy-real"] + args[2:])
    assert again.exit_code == 0, again.output
    assert loopback.count() == 1


def test_dataset_with_its_own_source(loopback, tmp_path):
    url = loopback.add("/sd.tar.gz", tar_bytes(images("sd", 3)))
    manifest = load_manifest(write_manifest(tmp_path, [], [
        {"name": "toy-sd", "suite": "toy", "generator": "SD", "family": "diffusion", "labels": "fake",
         "layout": "folder", "path": "toy/sd", "expected_count": {"real": None, "fake": 3},
         "sources": [{"kind": "url", "ref": url, "archive": "tar.gz"}]}]))
    entry = manifest.get("toy-sd")
    folder = download_dataset(entry, data_root=tmp_path / "data", options=FAST)
    assert folder == tmp_path / "data" / "toy" / "sd" and len(list((folder / "sd").iterdir())) == 3


def test_wrong_image_count_installs_nothing(loopback, tmp_path, cache):
    url = loopback.add("/toy.zip", SUITE_ARCHIVE)
    manifest = write_manifest(tmp_path, [{"kind": "url", "ref": url, "archive": "zip"}], [
        {"name": "toy-gan", "suite": "toy", "generator": "GAN", "family": "gan", "labels": "mixed",
         "layout": "real_fake", "path": "toy/gan", "expected_count": {"real": 2, "fake": 4}}])
    data = tmp_path / "data"
    result = CliRunner().invoke(download, ["--dataset", "toy-gan", "--manifest", str(manifest), "--data-root",
                                           str(data), "-q"])
    assert result.exit_code == 1
    assert "toy-gan: 3 fake images in toy/gan, expected 4" in result.output and "nothing was installed" in result.output
    assert not (data / "toy").exists() and leftovers(data) == []
    assert (cache / "downloads" / "toy" / "toy.zip").is_file()  # kept: a corrected manifest needs no new download
    entry = load_manifest(manifest).get("toy-gan")
    with pytest.raises(DataError, match="expected 4"):
        download_dataset(entry, suite=load_manifest(manifest).suites["toy"], data_root=data, options=FAST)
    assert loopback.count() == 1 and not (data / "toy").exists()


def test_unsafe_archive_installs_nothing_and_writes_nothing_outside(loopback, tmp_path):
    archive = zip_bytes({**images("gan/0_real", 2), "../../escaped.txt": b"evil"})
    url = loopback.add("/toy.zip", archive)
    manifest = load_manifest(write_manifest(tmp_path, [{"kind": "url", "ref": url, "archive": "zip"}]))
    data = tmp_path / "data"
    with pytest.raises(UnsafeArchiveError):
        download_dataset(manifest.get("toy-gan"), suite=manifest.suites["toy"], data_root=data, options=FAST)
    assert not (tmp_path / "escaped.txt").exists() and not (data / "escaped.txt").exists()
    assert not (data / "toy").exists() and leftovers(data) == []


def test_archive_with_symlink_out_installs_nothing(loopback, tmp_path):
    archive = tar_bytes(images("gan/1_fake", 3), links={"gan/0_real/x.png": "../../../../etc/hostname"})
    url = loopback.add("/toy.tar.gz", archive)
    manifest = load_manifest(write_manifest(tmp_path, [{"kind": "url", "ref": url, "archive": "tar.gz"}]))
    with pytest.raises(UnsafeArchiveError, match="link pointing outside"):
        download_dataset(manifest.get("toy-gan"), suite=manifest.suites["toy"], data_root=tmp_path / "data",
                         options=FAST)
    assert not (tmp_path / "data" / "toy").exists() and leftovers(tmp_path / "data") == []


def test_truncated_archive_is_dropped_from_the_cache(loopback, tmp_path, cache):
    url = loopback.add("/toy.tar.gz", tar_bytes(images("gan/1_fake", 30))[:200])
    manifest = load_manifest(write_manifest(tmp_path, [{"kind": "url", "ref": url, "archive": "tar.gz"}]))
    with pytest.raises(CorruptArchiveError, match="removed from the cache"):
        download_dataset(manifest.get("toy-gan"), suite=manifest.suites["toy"], data_root=tmp_path / "data",
                         options=FAST)
    assert not (tmp_path / "data" / "toy").exists()
    assert not (cache / "downloads" / "toy" / "toy.tar.gz").exists()


def test_existing_unverified_folder_is_never_overwritten(loopback, tmp_path):
    url = loopback.add("/toy.zip", SUITE_ARCHIVE)
    manifest = load_manifest(write_manifest(tmp_path, [{"kind": "url", "ref": url, "archive": "zip"}]))
    mine = tmp_path / "data" / "toy" / "gan" / "0_real" / "mine.png"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"user data")
    with pytest.raises(DownloadError, match="move them away"):
        download_dataset(manifest.get("toy-gan"), suite=manifest.suites["toy"], siblings=manifest.datasets.values(),
                         data_root=tmp_path / "data", options=FAST)
    assert mine.read_bytes() == b"user data" and loopback.count() == 0


def test_manual_dataset_explains_then_adopts_a_verified_manual_install(tmp_path):
    manifest = write_manifest(tmp_path, [{"kind": "manual", "ref": "http://nas.example/sharing/QSdwPi5Gx",
                                          "notes": "Synology share, needs a browser"}])
    data = tmp_path / "data"
    args = ["--manifest", str(manifest), "--data-root", str(data)]
    result = CliRunner().invoke(download, ["--dataset", "toy-gan", *args])
    assert result.exit_code == 1
    assert "http://nas.example/sharing/QSdwPi5Gx" in result.output and str(data / "toy" / "gan") in result.output
    listed = CliRunner().invoke(download, ["--all", *args])  # --all lists what needs a manual download, goes on
    assert listed.exit_code == 0, listed.output
    assert "manual download needed for 2 dataset(s)" in listed.output
    assert f"toy-real: {data / 'toy' / 'real'}" in listed.output
    for name in [*images("gan/0_real", 2), *images("gan/1_fake", 3)]:  # only one set placed by hand
        (data / "toy" / name).parent.mkdir(parents=True, exist_ok=True)
        (data / "toy" / name).write_bytes(b"img")
    result = CliRunner().invoke(download, ["--dataset", "toy-gan", *args])
    assert result.exit_code == 0, result.output
    marker = json.loads((data / "toy" / "gan" / MARKER).read_text())
    assert marker["source"] == "placed by hand" and marker["counts"] == {"toy-gan": {"real": 2, "fake": 3}}


def test_manual_source_raises_manual_download_required(tmp_path):
    manifest = load_manifest(write_manifest(tmp_path, [{"kind": "manual", "ref": "NAS share"}]))
    with pytest.raises(ManualDownloadRequired, match=r"toy/real \(expected images: toy-real 2 real\)"):
        download_dataset(manifest.get("toy-real"), suite=manifest.suites["toy"], data_root=tmp_path / "data")


def test_count_mismatch_of_a_manual_install_is_reported(tmp_path):
    manifest = load_manifest(write_manifest(tmp_path, [{"kind": "manual", "ref": "NAS share"}]))
    (tmp_path / "data" / "toy" / "real").mkdir(parents=True)
    (tmp_path / "data" / "toy" / "real" / "only.jpg").write_bytes(b"img")
    with pytest.raises(DownloadError, match="toy-real: 1 real images in toy/real, expected 2"):
        download_dataset(manifest.get("toy-real"), suite=manifest.suites["toy"], data_root=tmp_path / "data")


def test_offline_dataset_download_says_where_to_put_the_archive(loopback, monkeypatch, tmp_path, cache):
    url = loopback.add("/toy.zip", SUITE_ARCHIVE)
    manifest = load_manifest(write_manifest(tmp_path, [{"kind": "url", "ref": url, "archive": "zip",
                                                        "sha256": sha(SUITE_ARCHIVE)}]))
    monkeypatch.setenv("FAKEBENCH_OFFLINE", "1")
    with pytest.raises(SourceUnavailable) as info:
        download_dataset(manifest.get("toy-gan"), suite=manifest.suites["toy"], data_root=tmp_path / "data")
    assert url in str(info.value) and str(cache / "downloads" / "toy") in str(info.value)
    assert not (cache / "downloads").exists()  # nothing was attempted
    # issue #20: a short list (one mirror per item, its path on its own line), never one long line
    lines = str(info.value).replace(str(cache), "CACHE").replace(str(tmp_path), "TMP").replace(url, "URL").splitlines()
    assert len(lines) >= 3 and max(len(line) for line in lines) <= 120, str(info.value)
    (cache / "downloads" / "toy").mkdir(parents=True)
    (cache / "downloads" / "toy" / "toy.zip").write_bytes(SUITE_ARCHIVE)  # fetched by hand, as told
    download_dataset(manifest.get("toy-gan"), suite=manifest.suites["toy"], data_root=tmp_path / "data")
    assert (tmp_path / "data" / "toy" / MARKER).is_file() and loopback.count() == 0


def test_delete_archives_after_install(loopback, tmp_path, cache):
    url = loopback.add("/toy.zip", SUITE_ARCHIVE)
    manifest = load_manifest(write_manifest(tmp_path, [{"kind": "url", "ref": url, "archive": "zip"}]))
    download_dataset(manifest.get("toy-gan"), suite=manifest.suites["toy"], data_root=tmp_path / "data",
                     options=FAST, keep_archives=False)
    assert (tmp_path / "data" / "toy" / MARKER).is_file()
    assert not (cache / "downloads" / "toy" / "toy.zip").exists()


# -- command line ------------------------------------------------------------------------------------------------------
@pytest.fixture
def toy_detector(loopback):
    card, _ = toy_card(Source("url", loopback.add("/toy.pth", PAYLOAD)), sha256=sha(PAYLOAD), name="toy-dl")
    REGISTRY.register("toy-dl", "toy_dl_not_imported:Toy", card=card)
    yield card
    REGISTRY.unregister("toy-dl")


def test_cli_fetches_weights(toy_detector, cache):
    result = CliRunner().invoke(download, ["--weights", "toy-dl", "-q"])
    assert result.exit_code == 0, result.output
    assert f"weights: {cache / 'weights' / 'toy-dl' / 'toy.pth'}" in result.output


def test_cli_errors_are_one_line_messages(toy_detector, monkeypatch):
    monkeypatch.setenv("FAKEBENCH_OFFLINE", "1")
    result = CliRunner().invoke(download, ["--weights", "toy-dl.v1"])
    assert result.exit_code == 1 and result.output.startswith("Error: Weights toy-dl.v1 are not in the cache")
    assert "Traceback" not in result.output
    unknown = CliRunner().invoke(download, ["--weights", "npr.progan"])
    assert unknown.exit_code == 1 and "Did you mean 'progan_4class'" in unknown.output
    assert CliRunner().invoke(download, []).exit_code == 2


def test_download_dataset_sh_wraps_fakebench_download(tmp_path):
    script = Path(__file__).resolve().parent.parent / "download_dataset.sh"
    assert os.access(script, os.X_OK)
    fake = tmp_path / "bin" / "fakebench"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "args: $*"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}"}
    run = lambda *a: subprocess.run([str(script), *a], env=env, capture_output=True, text=True, check=True).stdout
    assert run() == "args: download --all\n"
    assert run("--suite", "x y") == "args: download --suite x y\n"
