"""The test suites of 2024-2026 (issue #19): the manifest facts of each suite, the AIGCDetectBenchmark archive
downloaded from a (loopback) ModelScope and scored with NPR's official protocol next to the NPR README's published
numbers, GenImage's nature/ai folders, and user-supplied sets."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from _loopback import loopback  # noqa: F401 - pytest fixture
import _toy  # noqa: F401 - registers toy-hf for the CLI runs
from conftest import make_image
from cli import main
from fakebench.core.errors import ManifestError
from fakebench.data.manifest import load_manifest

#: AIGCDetectBenchmark eval_config.py `vals` (Ekko-zn/AIGCDetectBenchmark 5cd41a6) + the SDXL folder of the manifest.
AIGC_FOLDERS = ["progan", "stylegan", "biggan", "cyclegan", "stargan", "gaugan", "stylegan2", "whichfaceisreal", "ADM",
                "Glide", "Midjourney", "stable_diffusion_v_1_4", "stable_diffusion_v_1_5", "VQDM", "wukong", "DALLE2"]
#: NPR README (73cde1c) AIGCDetectBenchmark table, column NPR, in the table's row order.
NPR_README = [99.9, 96.1, 87.3, 90.3, 99.6, 85.4, 98.1, 60.7, 84.9, 96.7, 92.6, 97.4, 97.5, 90.1, 91.7, 99.6]
CNNSPOT_README = [100.00, 90.17, 71.17, 87.62, 94.60, 81.42, 86.91, 91.65, 60.39, 58.07, 51.39, 50.57, 50.53, 56.46,
                  51.03, 50.45]
UNIVFD_README = [99.81, 84.93, 95.08, 98.33, 95.75, 99.47, 74.96, 86.90, 66.87, 62.46, 56.13, 63.66, 63.49, 85.31,
                 70.93, 50.75]


@pytest.fixture(scope="module")
def manifest():
    return load_manifest()


def test_new_suites_are_declared(manifest):
    for suite in ("aigcdetect", "genimage", "synthbuster", "wildrf", "aigibench", "chameleon", "commfor-eval",
                  "drct-2m", "synthwildx", "cospy-bench"):
        entry = manifest.suites[suite]
        assert entry.title and entry.paper and entry.licence and entry.sources and entry.notes, suite
        assert manifest.select(suites=[suite]), suite


def test_aigcdetect_published_numbers_are_the_npr_readme_table(manifest):
    sets = manifest.select(suites=["aigcdetect"])
    assert [e.path.split("/", 1)[1] for e in sets] == AIGC_FOLDERS + ["sdxl"]
    acc = {key: [e.published[key]["acc"] for e in sets[:16]] for key in ("npr.progan_4class", "cnnspot", "univfd")}
    assert acc == {"npr.progan_4class": NPR_README, "cnnspot": CNNSPOT_README, "univfd": UNIVFD_README}
    # the README's averages, to the rounding of the table
    assert round(sum(NPR_README) / 16, 1) == 91.7
    assert round(sum(CNNSPOT_README) / 16, 2) == 70.78 and round(sum(UNIVFD_README) / 16, 2) == 78.43
    assert all("73cde1c" in e.published["npr.progan_4class"]["source"] for e in sets[:16])
    assert sets[-1].published == {}  # no README number for SDXL
    assert all(e.preset_for("npr", "progan_4class") == "native" for e in sets)
    assert [e.name for e in sets if e.held_in] == ["aigc-progan"]


def test_retrained_numbers_are_never_published(manifest):
    aigi = manifest.get("aigibench-test")
    assert aigi.published == {} and aigi.retrained["npr"] == {
        "acc": 67.9, "ap": 73.9, "source": aigi.retrained["npr"]["source"]}
    assert "retrained" in aigi.retrained["npr"]["source"]
    for entry in manifest.select(suites=["genimage"]):
        assert entry.published == {} and entry.label_dirs == {"real": "nature", "fake": "ai"}
        assert entry.preset_for("npr") == "genimage"
    assert manifest.get("genimage-sdv15").retrained["npr@genimage"]["acc"] == 94.4


def test_synthbuster_pairs_with_raise_and_pins_md5(manifest):
    fakes = [e for e in manifest.select(suites=["synthbuster"]) if e.labels == "fake"]
    assert len(fakes) == 9 and all(e.real_reference == ("synthbuster-raise",) for e in fakes)
    assert manifest.suites["synthbuster"].sources[0].kind == "zenodo"
    assert manifest.suites["synthbuster"].sources[0].md5 == "0695bd328e16ea21c5c9cc2ae1d994ff"
    assert manifest.get("synthbuster-raise").sources[0].md5 == "a6aad7728226218f22a28b9c9aacaa2c"


def test_chameleon_is_user_supplied_and_download_says_where(manifest, tmp_path):
    res = CliRunner().invoke(main, ["download", "--suite", "chameleon", "--data-root", str(tmp_path), "-q"])
    assert "e-mail" in res.output and str(tmp_path / "chameleon" / "test") in res.output, res.output
    assert not (tmp_path / "chameleon").exists()


@pytest.fixture
def aigc_zip(tmp_path) -> bytes:
    """test.zip laid out as the official archive: test/<folder>/{0_real,1_fake} (progan with a class folder), 2 real
    + 2 fake per set; every other set at an odd size (NPR's README trims odd sizes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for k, folder in enumerate(AIGC_FOLDERS + ["SDXL-unrecorded-name"]):
            for label in ("0_real", "1_fake"):
                sub = f"test/{folder}/airplane/{label}" if folder == "progan" else f"test/{folder}/{label}"
                for i in range(2):
                    img = make_image(tmp_path / "src" / sub / f"{i}.png", "real" if label == "0_real" else "fake",
                                     size=33 if k % 2 else 34, seed=100 * k + 10 * i + (label == "1_fake"))
                    archive.write(img, f"{sub}/{i}.png")
    return buf.getvalue()


def test_aigcdetect_downloads_from_modelscope_and_npr_scores_every_set(aigc_zip, loopback, tmp_path, monkeypatch):
    from fakebench.detectors.npr import NPRNet

    path = ("/api/v1/datasets/aemilia/AIGCDetectionBenchmark/repo?Revision=master"
            "&FilePath=AIGCDetectionBenchmark%2Ftest.zip")
    loopback.add(path, aigc_zip)
    monkeypatch.setenv("FAKEBENCH_MODELSCOPE_ENDPOINT", loopback.base)
    root = tmp_path / "data"
    run = CliRunner()
    res = run.invoke(main, ["download", "--suite", "aigcdetect", "--data-root", str(root), "-q"])
    assert res.exit_code == 0, res.output
    assert loopback.count(path, "GET") >= 1
    assert sorted(p.name for p in (root / "aigcdetect").iterdir() if not p.name.startswith(".")) == sorted(
        AIGC_FOLDERS + ["SDXL-unrecorded-name"])
    assert "aigc-sdxl" in res.output and "rename or symlink" in res.output  # the one set placed by hand
    (root / "aigcdetect" / "SDXL-unrecorded-name").rename(root / "aigcdetect" / "sdxl")
    res = run.invoke(main, ["download", "--suite", "aigcdetect", "--data-root", str(root), "-q"])
    assert res.exit_code == 0 and "aigc-sdxl" not in res.output.split("installed", 1)[0], res.output
    assert loopback.count(path, "GET") == 1  # nothing downloaded twice
    # the default NPR weights (progan_4class) placed in the cache in the official format (seeded random values)
    torch.manual_seed(0)
    weights = Path(os.environ["FAKEBENCH_CACHE"]) / "weights" / "npr" / "model_epoch_last_3090.pth"
    weights.parent.mkdir(parents=True)
    torch.save(NPRNet().state_dict(), weights)
    monkeypatch.setenv("FAKEBENCH_OFFLINE", "1")
    out = tmp_path / "runs"
    res = run.invoke(main, ["evaluate", "--detector", "npr", "--suite", "aigcdetect", "--data-root", str(root),
                            "--output", str(out), "--workers", "0", "--quiet", "--n-boot", "0"],
                     catch_exceptions=False)
    assert res.exit_code == 0, res.output
    run_dir = next((out / "npr.progan_4class@native").iterdir())
    results = json.loads((run_dir / "results.json").read_text())
    rows = results["metrics"]["per_dataset"]
    assert [r["dataset"] for r in rows] == [e.name for e in load_manifest().select(suites=["aigcdetect"])]
    assert all(r["n_real"] == 2 and r["n_fake"] == 2 for r in rows)
    assert results["detector"]["preset"]["name"] == "native"
    table = pd.read_csv(run_dir / "metrics.csv")
    per_set = table.set_index("dataset").loc[[r["dataset"] for r in rows]]
    assert list(per_set["paper_acc"][:16]) == NPR_README and pd.isna(per_set["paper_acc"].iloc[16])
    md = (run_dir / "metrics.md").read_text()
    assert "paper_acc" in md and "99.9" in md
    # odd sizes were trimmed as the README asks (a note per image), never an error
    preds = pd.read_csv(run_dir / "predictions.csv")
    assert preds["error"].isna().all() and len(preds) == 68


# -- mirrors: Zenodo, ModelScope, hub snapshots, tried in order and verified ------------------------------------------
def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buf.getvalue()


def _png(tmp_path, name: str, kind: str, seed: int) -> bytes:
    return make_image(tmp_path / "png" / name, kind, size=16, seed=seed).read_bytes()


def _mirrors_manifest(tmp_path, sources: str) -> Path:
    path = tmp_path / "mirrors.yaml"
    path.write_text(f"""
schema_version: 1
suites:
  demo: {{title: Demo, path: demo, sources: {sources}}}
datasets:
  - {{name: demo-a, suite: demo, generator: A, family: gan, labels: mixed, layout: real_fake, path: demo/a,
     expected_count: {{real: 1, fake: 1}}}}
""")
    return path


@pytest.fixture
def demo_zip(tmp_path) -> bytes:
    return _zip({"demo/a/0_real/r.png": _png(tmp_path, "r.png", "real", 1),
                 "demo/a/1_fake/f.png": _png(tmp_path, "f.png", "fake", 2)})


def test_zenodo_source_is_fetched_and_md5_checked(loopback, demo_zip, tmp_path, monkeypatch):
    import hashlib

    from fakebench.data.download import download_datasets

    path = "/records/123/files/demo.zip?download=1"
    loopback.add(path, demo_zip)
    monkeypatch.setenv("FAKEBENCH_ZENODO_ENDPOINT", loopback.base)
    md5 = hashlib.md5(demo_zip).hexdigest()
    good = load_manifest(_mirrors_manifest(tmp_path, f"[{{kind: zenodo, ref: '123', filename: demo.zip, archive: zip, "
                                                     f"md5: {md5}}}]"))
    report = download_datasets(good, suites=["demo"], data_root=tmp_path / "ok").check()
    assert report.installed == [tmp_path / "ok" / "demo"] and (tmp_path / "ok" / "demo" / "a" / "1_fake" / "f.png").is_file()
    bad = load_manifest(_mirrors_manifest(tmp_path, f"[{{kind: zenodo, ref: '123', filename: demo.zip, archive: zip, "
                                                    f"md5: '{'0' * 32}'}}]"))
    report = download_datasets(bad, suites=["demo"], data_root=tmp_path / "bad")
    assert len(report.failed) == 1 and "its md5 is" in report.failed[0] and not (tmp_path / "bad" / "demo").exists()
    with pytest.raises(ManifestError, match="md5 to be 32 lowercase hex digits"):
        load_manifest(_mirrors_manifest(tmp_path, "[{kind: zenodo, ref: '1', filename: a.zip, md5: 123}]"))


def test_dead_mirror_falls_through_to_the_next_and_names_it(loopback, demo_zip, tmp_path, monkeypatch, caplog):
    from fakebench.data.download import download_datasets

    loopback.add("/api/v1/datasets/org/demo/repo?Revision=master&FilePath=demo.zip", demo_zip)
    monkeypatch.setenv("FAKEBENCH_MODELSCOPE_ENDPOINT", loopback.base)
    monkeypatch.setenv("FAKEBENCH_ZENODO_ENDPOINT", loopback.base)  # record 9 is not served: 404
    dead = loopback.url("/gone.zip")
    m = load_manifest(_mirrors_manifest(tmp_path, f"""[{{kind: zenodo, ref: '9', filename: demo.zip, archive: zip}},
        {{kind: url, ref: '{dead}', archive: zip}}, {{kind: modelscope, ref: org/demo, filename: demo.zip,
        archive: zip}}]"""))
    with caplog.at_level("WARNING"):
        report = download_datasets(m, suites=["demo"], data_root=tmp_path / "d", options=_fast()).check()
    assert report.installed == [tmp_path / "d" / "demo"]
    first = next(r.getMessage() for r in caplog.records if "mirror zenodo" in r.getMessage())
    assert "\n" not in first and dead in first and "modelscope" in first  # one line naming the other mirrors
    # every mirror dead: one message listing each, with where to save a file fetched by hand
    m = load_manifest(_mirrors_manifest(tmp_path, f"[{{kind: zenodo, ref: '9', filename: demo.zip, archive: zip}}, "
                                                  f"{{kind: url, ref: '{dead}', archive: zip}}]"))
    report = download_datasets(m, suites=["demo"], data_root=tmp_path / "e", options=_fast(),
                               cache_dir=tmp_path / "fresh-cache")  # the first part's demo.zip is cached
    assert len(report.failed) == 1 and "records/9/files/demo.zip" in report.failed[0] and dead in report.failed[0]


def test_corrupt_mirror_is_skipped_for_a_good_one(loopback, demo_zip, tmp_path, monkeypatch):
    import hashlib

    from fakebench.data.download import download_datasets

    loopback.add("/bad.zip", b"PK not the archive")
    loopback.add("/good.zip", demo_zip)
    sha = hashlib.sha256(demo_zip).hexdigest()
    m = load_manifest(_mirrors_manifest(tmp_path, f"[{{kind: url, ref: '{loopback.url('/bad.zip')}', archive: zip, "
                                                  f"sha256: {sha}}}, {{kind: url, ref: '{loopback.url('/good.zip')}', "
                                                  f"archive: zip, sha256: {sha}}}]"))
    report = download_datasets(m, suites=["demo"], data_root=tmp_path / "d", options=_fast()).check()
    assert report.installed == [tmp_path / "d" / "demo"]


def _fast():
    from fakebench.hub.fetch import FetchOptions

    return FetchOptions(retries=1, backoff=0.0, timeout=10, progress=False)


def test_parquet_dataset_downloads_a_hub_subset_pinned_and_evaluates(loopback, tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fakebench.data.download import download_datasets

    rows = [{"image": {"bytes": _png(tmp_path, f"{k}.png", kind, k), "path": f"{k}.png"}, "label": int(kind == "fake"),
             "model_name": "gen"} for k, kind in enumerate(["real", "fake", "real", "fake"])]
    shard = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), shard)
    commit = "c" * 40
    loopback.add_hub_repo("org/cf", {"data/eval-00000-of-00001.parquet": shard.getvalue(),
                                     "data/train-00000-of-00009.parquet": b"not wanted"}, commit=commit,
                          revision=commit)
    monkeypatch.setenv("HF_ENDPOINT", loopback.base)
    manifest = tmp_path / "cf.yaml"
    manifest.write_text(f"""
schema_version: 1
suites:
  cf: {{title: CF, path: cf, sources: [{{kind: hf, ref: org/cf, repo_type: dataset, revision: '{commit}',
        patterns: ["data/eval-*.parquet"]}}]}}
datasets:
  - {{name: cf-eval, suite: cf, generator: many, family: mixed, labels: mixed, layout: parquet, path: cf,
     expected_count: {{real: 2, fake: 2}},
     parquet: {{files: "**/*.parquet", image: image, label: label, generator: model_name}}}}
""")
    report = download_datasets(load_manifest(manifest), suites=["cf"], data_root=tmp_path / "d").check()
    assert report.installed == [tmp_path / "d" / "cf"]
    assert sorted(p.name for p in (tmp_path / "d" / "cf").rglob("*.parquet")) == ["eval-00000-of-00001.parquet"]
    assert not any("train" in r.path for r in loopback.requests if "resolve" in r.path)  # allow_patterns honoured
    assert all(commit in r.path for r in loopback.requests if "resolve" in r.path)  # the pinned revision
    from fakebench.hub.fetch import MARKER

    marker = json.loads((tmp_path / "d" / "cf" / MARKER).read_text())
    assert marker["counts"] == {"cf-eval": {"real": 2, "fake": 2}}
    res = CliRunner().invoke(main, ["evaluate", "--plugin", "_toy", "--detector", "toy-hf", "--manifest", str(manifest),
                                    "--suite", "cf", "--data-root", str(tmp_path / "d"), "--output",
                                    str(tmp_path / "runs"), "--workers", "0", "--quiet", "--n-boot", "0"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    preds = pd.read_csv(next((tmp_path / "runs" / "toy-hf.none@native").iterdir()) / "predictions.csv")
    assert len(preds) == 4 and preds["error"].isna().all() and set(preds["generator"]) == {"gen"}


# -- fakebench list datasets: on-disk column and licence ---------------------------------------------------------------
def test_list_datasets_shows_on_disk_status_and_licence_aligned(tmp_path):
    root = tmp_path / "data"
    for i in range(2):  # aigc-progan: both labels (class folder); aigc-stylegan: reals only (partial)
        make_image(root / "aigcdetect" / "progan" / "car" / "0_real" / f"r{i}.png", "real", size=16, seed=i)
        make_image(root / "aigcdetect" / "progan" / "car" / "1_fake" / f"f{i}.png", "fake", size=16, seed=9 + i)
        make_image(root / "aigcdetect" / "stylegan" / "0_real" / f"r{i}.png", "real", size=16, seed=20 + i)
    for i in range(3):  # GenImage's nature/ai folders
        make_image(root / "genimage" / "ADM" / "imagenet_ai_0508_adm" / "val" / "nature" / f"n{i}.JPEG", "real",
                   size=16, seed=30 + i)
        make_image(root / "genimage" / "ADM" / "imagenet_ai_0508_adm" / "val" / "ai" / f"a{i}.png", "fake", size=16,
                   seed=40 + i)
    make_image(root / "synthbuster" / "dalle2" / "x.png", "fake", size=16)  # 1 of the 1,000 expected
    res = CliRunner().invoke(main, ["list", "datasets", "--suite", "aigcdetect", "--suite", "genimage", "--suite",
                                    "synthbuster", "--data-root", str(root)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    header, rows = lines[0], {line.split()[0]: line for line in lines[1:-1]}
    assert "on disk" in header and "licence" in header
    col, lic = header.index("on disk"), header.index("licence")
    assert rows["aigc-progan"][col:].startswith("present 2+2")
    assert rows["aigc-stylegan"][col:].startswith("partial 2+0 of ?+?")
    assert rows["aigc-biggan"][col:].startswith("missing")
    assert rows["genimage-adm"][col:].startswith("present 3+3")
    assert rows["synthbuster-dalle2"][col:].startswith("partial 0+1 of 0+1000")
    assert rows["genimage-adm"][lic:].startswith("CC BY-NC-SA 4.0 (GenImage)")
    assert all(line[col - 2:col] == "  " and line[lic - 2:lic] == "  " for line in rows.values())  # aligned
    assert lines[-1].startswith("35 datasets in 3 suites")


# -- GenImage format alignment ----------------------------------------------------------------------------------------
@pytest.fixture
def genimage_sample(tmp_path) -> Path:
    """genimage/ADM/imagenet_ai_0508_adm/val/{nature,ai}: 16 real JPEGs (quality 75, as ImageNet) and 16 fake PNGs,
    same sizes, as the GenImage archive lays them out."""
    from PIL import Image

    root = tmp_path / "data"
    val = root / "genimage" / "ADM" / "imagenet_ai_0508_adm" / "val"
    for i in range(16):
        real = make_image(tmp_path / "src" / f"n{i}.png", "real", size=32, seed=i)
        (val / "nature").mkdir(parents=True, exist_ok=True)
        Image.open(real).save(val / "nature" / f"ILSVRC2012_val_{i:08d}.JPEG", quality=75)
        make_image(val / "ai" / f"{i}_adm_{i}.PNG", "fake", size=32, seed=50 + i)
    return root


def test_format_alignment_removes_the_container_flag(genimage_sample, tmp_path):
    run = CliRunner()
    flags = {}
    for align in (None, "png", "jpeg96"):
        out = tmp_path / f"audit-{align}"
        args = ["audit", "--dataset", "genimage-adm", "--data-root", str(genimage_sample), "--output", str(out),
                "--n-boot", "200"] + (["--align-format", align] if align else [])
        res = run.invoke(main, args, catch_exceptions=False)
        assert res.exit_code == 0, res.output
        audit = json.loads(next(out.glob("*.json")).read_text())
        row = audit["sets"][0]
        assert audit.get("align_format") == align
        flags[align] = (row["flagged_container"], row["formats"])
    assert flags[None] == (True, {"real": {"JPEG": 16}, "fake": {"PNG": 16}})
    assert flags["png"] == (False, {"real": {"PNG": 16}, "fake": {"PNG": 16}})
    assert flags["jpeg96"] == (False, {"real": {"JPEG": 16}, "fake": {"JPEG": 16}})


def test_format_alignment_is_recorded_and_never_mixed_with_plain_runs(genimage_sample, tmp_path):
    args = ["evaluate", "--plugin", "_toy", "--detector", "toy-hf", "--dataset", "genimage-adm", "--data-root",
            str(genimage_sample), "--output", str(tmp_path / "runs"), "--workers", "0", "--quiet", "--n-boot", "0"]
    run = CliRunner()
    assert run.invoke(main, args, catch_exceptions=False).exit_code == 0
    res = run.invoke(main, args + ["--align-format", "jpeg96"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "16 from cache" not in res.output  # the plain run's predictions are never reused for aligned images
    runs = {json.loads((d / "results.json").read_text())["data"]["align_format"]: d
            for d in (tmp_path / "runs" / "toy-hf.none@native").iterdir()}
    assert set(runs) == {None, "jpeg96"}  # two run folders
    assert "format-aligned: every image re-encoded as jpeg96" in (runs["jpeg96"] / "metrics.md").read_text()
    plain = pd.read_csv(runs[None] / "predictions.csv").set_index("image")["prob"]
    aligned = pd.read_csv(runs["jpeg96"] / "predictions.csv").set_index("image")["prob"]
    assert list(plain.index) == list(aligned.index) and not (plain.round(6) == aligned.round(6)).all()
    # lossless PNG alignment leaves the pixels, hence the scores, as they were
    res = run.invoke(main, args + ["--align-format", "png", "--name", "png"], catch_exceptions=False)
    png = pd.read_csv(tmp_path / "runs" / "toy-hf.none@native" / "png" / "predictions.csv").set_index("image")["prob"]
    pd.testing.assert_series_equal(png, plain)
