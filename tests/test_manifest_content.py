"""Facts of the committed manifests (``benchmark/data/manifests/manifest.yaml``, ``benchmark/data/manifests/shared_samples.yaml``).

These tests read the YAML with ``yaml.safe_load`` directly, so they check the files themselves and not the loader.
Transcription checks recompute the averages printed in the source tables from the per-set values in the manifest.
"""

from __future__ import annotations

import os
import re
import statistics
from collections import Counter
from pathlib import Path

import pytest
import yaml

from fakebench.detectors import BUILTIN_DETECTORS

REPO = Path(__file__).resolve().parent.parent
MAIN = REPO / "benchmark" / "data" / "manifests" / "manifest.yaml"
SHARED_MANIFEST = REPO / "benchmark" / "data" / "manifests" / "shared_samples.yaml"
SHARED = Path(os.environ.get("FAKEBENCH_SHARED", REPO.parent / "shared")).resolve()

V3, V3L = "antifakeprompt.coco_sd3_sd2ip", "antifakeprompt.coco_sd3_sd2ip_lama"
V1, V1L = "antifakeprompt.coco_sd2_sd2ip", "antifakeprompt.coco_sd2_sd2ip_lama"
METRICS = {"acc", "ap", "real_acc", "fake_acc", "auc"}
FAMILIES = {"real", "gan", "diffusion", "autoregressive", "inpainting", "super-resolution", "style-transfer",
            "face-swap", "face-manipulation", "low-level-vision", "adversarial", "backdoor", "data-poisoning", "mixed",
            "unknown"}
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def _load(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def main() -> dict:
    return _load(MAIN)


@pytest.fixture(scope="module")
def shared_manifest() -> dict:
    return _load(SHARED_MANIFEST)


@pytest.fixture(scope="module", params=["manifest.yaml", "shared_samples.yaml"])
def manifest(request) -> dict:
    return _load(REPO / "benchmark" / "data" / "manifests" / request.param)


def _afp(main: dict) -> dict[str, dict]:
    return {d["name"]: d for d in main["datasets"] if d["suite"] == "antifakeprompt"}


# -- AntifakePrompt ---------------------------------------------------------------------------------------------------

def test_antifakeprompt_has_the_23_v3_sets(main):
    afp = _afp(main)
    assert list(afp) == [
        "afp-coco", "afp-flickr", "afp-sd2", "afp-sd3", "afp-sdxl", "afp-if", "afp-dalle2", "afp-dalle3",
        "afp-playground-v2-5", "afp-diffusiondb", "afp-sgxl", "afp-glide", "afp-stylization", "afp-deeperforensics",
        "afp-dfdc", "afp-ffpp", "afp-lama", "afp-sd2ip", "afp-liif", "afp-sd2sr", "afp-adversarial", "afp-backdoor",
        "afp-data-poisoning"]
    assert [n for n, d in afp.items() if d["labels"] == "real"] == ["afp-coco", "afp-flickr"]
    assert all(d["layout"] == "folder" for d in afp.values())


@pytest.mark.parametrize("tag,held", [
    (V3, {"afp-coco", "afp-sd3", "afp-sd2ip"}),
    (V3L, {"afp-coco", "afp-sd3", "afp-sd2ip", "afp-lama"}),
    (V1, {"afp-coco", "afp-sd2", "afp-sd2ip"}),
    (V1L, {"afp-coco", "afp-sd2", "afp-sd2ip", "afp-lama"}),
])
def test_antifakeprompt_held_in_sets(main, tag, held):
    assert {n for n, d in _afp(main).items() if tag in d["held_in"]} == held


def test_antifakeprompt_fakes_pair_with_coco_and_flickr(main):
    for name, d in _afp(main).items():
        if d["labels"] == "fake":
            assert d["real_reference"] == ["afp-coco", "afp-flickr"], name
            assert d["path"].startswith("antifakeprompt/test/1_fake/"), name
        else:
            assert "real_reference" not in d and d["path"].startswith("antifakeprompt/test/0_real/"), name


def test_antifakeprompt_counts_are_3000_or_unknown(main):
    unknown = {"afp-sd3", "afp-dalle3", "afp-playground-v2-5", "afp-diffusiondb", "afp-glide", "afp-dfdc", "afp-ffpp",
               "afp-liif"}
    for name, d in _afp(main).items():
        count = d["expected_count"][d["labels"]]
        assert count == (None if name in unknown else 3000), name


def test_antifakeprompt_v3_table_averages(main):
    """The per-set values reproduce the v3 table's printed 23-set averages and the abstract's held-out mean."""
    afp = _afp(main).values()
    for key, average in [(V3, 91.81), (V3L, 94.50), ("cnnspot", 18.11), ("instructblip", 36.53)]:
        values = [d["published"][key]["acc"] for d in afp]
        assert len(values) == 23 and round(statistics.mean(values), 2) == average, key
    held_out = [d["published"][V3]["acc"] for d in afp if V3 not in d["held_in"]]
    assert len(held_out) == 20 and round(statistics.mean(held_out), 2) == 92.11


def test_antifakeprompt_v1_table_averages(main):
    """The v1 rows cover the 15 sets that v3 kept; with v1's LTE column (dropped in v3) they give the printed 16-set
    averages 91.59 / 92.60 and the held-out-13 mean 91.31."""
    afp = _afp(main).values()
    lte = {V1: 99.90, V1L: 100.00}  # LTE super-resolution column of the v1 table (suite notes)
    for key, average in [(V1, 91.59), (V1L, 92.60)]:
        values = [d["published"][key]["acc"] for d in afp if key in d["published"]]
        assert len(values) == 15 and round(statistics.mean(values + [lte[key]]), 2) == average, key
    held_out = [d["published"][V1]["acc"] for d in afp if V1 in d["published"] and V1 not in d["held_in"]]
    assert len(held_out) == 12 and round(statistics.mean(held_out + [lte[V1]]), 2) == 91.31


# -- classic suites ---------------------------------------------------------------------------------------------------

def test_classic_suites_have_the_listed_sets(main):
    per_suite = Counter(d["suite"] for d in main["datasets"])
    classic = {"antifakeprompt": 23, "forensynths": 13, "gangen-detection": 9, "universalfakedetect": 8,
               "diffusionforensics": 8, "diffusion1kstep": 5}
    assert {k: per_suite[k] for k in classic} == classic
    forensynths = {d["name"] for d in main["datasets"] if d["suite"] == "forensynths"}
    assert forensynths == {f"forensynths-{g}" for g in (
        "progan", "stylegan", "biggan", "cyclegan", "stargan", "gaugan", "crn", "imle", "seeingdark", "san",
        "deepfake", "stylegan2", "whichfaceisreal")}
    ufd = {d["path"].split("/")[-1] for d in main["datasets"] if d["suite"] == "universalfakedetect"}
    assert ufd == {"dalle", "glide_100_10", "glide_100_27", "glide_50_27", "guided", "ldm_100", "ldm_200",
                   "ldm_200_cfg"}


def test_npr_table1_averages(main):
    """NPR Table 1's printed means (8 ForenSynths generators) follow from the per-set values."""
    rows = [d["published"] for d in main["datasets"] if d["suite"] == "forensynths"
            and "npr.paper" in d["published"]]
    assert len(rows) == 8
    for key, acc, ap in [("cnnspot", 67.1, 86.9), ("univfd", 89.1, 98.3), ("npr.paper", 92.5, 96.1)]:
        assert abs(statistics.mean(r[key]["acc"] for r in rows) - acc) < 0.06, key
        assert abs(statistics.mean(r[key]["ap"] for r in rows) - ap) < 0.06, key


def test_cnndetection_readme_numbers_everywhere(main):
    for d in main["datasets"]:
        if d["suite"] == "forensynths":
            for tag in ("blur_jpg_prob0.5", "blur_jpg_prob0.1"):
                for preset in ("crop224", "native"):
                    assert set(d["published"][f"cnnspot.{tag}@{preset}"]) >= {"acc", "ap", "source"}, d["name"]


def test_progan_is_held_in_for_progan_trained_weights(main):
    held = {d["name"]: set(d["held_in"]) for d in main["datasets"] if d["held_in"]}
    assert held["forensynths-progan"] == {"cnnspot.blur_jpg_prob0.5", "cnnspot.blur_jpg_prob0.1", "npr.paper",
                                          "npr.progan_4class", "univfd.progan"}
    assert held["aigc-progan"] == held["forensynths-progan"]
    assert {n for n in held if not n.startswith("afp-")} == {"forensynths-progan", "aigc-progan"}


# -- both manifests ---------------------------------------------------------------------------------------------------

def test_schema_shape(manifest):
    assert manifest["schema_version"] == 1
    for name, suite in manifest["suites"].items():
        assert KEBAB.match(name), name
        assert set(suite) <= {"title", "paper", "url", "path", "licence", "sources", "notes", "protocol"}, name
    for d in manifest["datasets"]:
        assert d["family"] in FAMILIES, d["name"]
        assert (d["labels"], d["layout"]) in {("mixed", "real_fake"), ("real", "folder"), ("fake", "folder"),
                                              ("mixed", "parquet")}, d["name"]
        assert set(d["expected_count"]) == {"real", "fake"}, d["name"]
        if d["labels"] != "mixed":
            absent = "fake" if d["labels"] == "real" else "real"
            assert d["expected_count"][absent] == 0, d["name"]
        box = d.get("crop_box")
        assert box is None or (len(box) == 4 and box[0] < box[2] and box[1] < box[3]), d["name"]


def test_names_unique_and_prefixed(main, shared_manifest):
    names = [d["name"] for m in (main, shared_manifest) for d in m["datasets"]]
    assert len(names) == len(set(names)), [n for n, c in Counter(names).items() if c > 1]
    prefix = {"antifakeprompt": "afp-", "forensynths": "forensynths-", "gangen-detection": "gangen-",
              "universalfakedetect": "ufd-", "diffusionforensics": "diffusionforensics-",
              "diffusion1kstep": "diffusion1kstep-", "shared-samples": "shared-", "aigcdetect": "aigc-",
              "genimage": "genimage-", "synthbuster": "synthbuster-", "wildrf": "wildrf-", "aigibench": "aigibench-",
              "chameleon": "chameleon-", "commfor-eval": "commfor-", "drct-2m": "drct2m-",
              "synthwildx": "synthwildx", "cospy-bench": "cospy-"}
    for d in main["datasets"] + shared_manifest["datasets"]:
        assert KEBAB.match(d["name"]) and d["name"].startswith(prefix[d["suite"]]), d["name"]


def test_every_suite_exists(manifest):
    for d in manifest["datasets"]:
        assert d["suite"] in manifest["suites"], d["name"]


def test_real_references_are_real_sets(manifest):
    by_name = {d["name"]: d for d in manifest["datasets"]}
    for d in manifest["datasets"]:
        refs = d.get("real_reference", [])
        if d["labels"] == "fake":
            assert refs, f"{d['name']}: a fake-only set needs real_reference"
        else:
            assert not refs, d["name"]
        assert all(by_name[r]["labels"] == "real" for r in refs), d["name"]


def test_published_values_are_percentages_with_sources(manifest):
    for d in manifest["datasets"]:
        for key, record in (d.get("published") or {}).items():
            assert record.get("source"), f"{d['name']} {key}: no source"
            metrics = {k: v for k, v in record.items() if k not in ("source", "notes")}
            assert metrics and set(metrics) <= METRICS, f"{d['name']} {key}"
            for metric, value in metrics.items():
                assert isinstance(value, (int, float)) and 0 <= value <= 100, f"{d['name']} {key}.{metric}={value}"


def test_detector_keys_name_real_cards(manifest):
    """held_in ids and published keys use detectors, weights tags and presets that the cards define."""
    cards = {name: card for name, (_, card) in BUILTIN_DETECTORS.items()}
    for d in manifest["datasets"]:
        for ref in d["held_in"]:
            detector, _, tag = ref.partition(".")
            assert detector in cards and cards[detector].has_weights(tag), f"{d['name']}: held_in {ref}"
        for key in d.get("published") or {}:
            spec, _, preset = key.partition("@")
            detector, _, tag = spec.partition(".")
            assert detector in cards, f"{d['name']}: {key}"
            assert not tag or cards[detector].has_weights(tag), f"{d['name']}: {key}"
            assert not preset or preset in {p.name for p in cards[detector].presets}, f"{d['name']}: {key}"


def test_sources_are_well_formed(manifest):
    from fakebench.hub.sources import Source

    for name, suite in manifest["suites"].items():
        for source in suite.get("sources") or []:
            Source.from_dict(source)
    for d in manifest["datasets"]:
        for source in d.get("sources") or []:
            Source.from_dict(source)


def test_loader_accepts_both_manifests():
    from fakebench.data.manifest import load_manifest, load_manifests

    assert len(load_manifest(MAIN).datasets) == 111
    assert len(load_manifest(SHARED_MANIFEST).datasets) == 49
    assert len(load_manifests([MAIN, SHARED_MANIFEST]).datasets) == 160


# -- shared samples on disk -------------------------------------------------------------------------------------------

def _files(folder: Path) -> list[Path]:
    return [Path(root) / f for root, _, files in os.walk(folder) for f in files]


def _shared_data() -> Path:
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip(f"../shared not found: {data} is missing (set FAKEBENCH_SHARED to the shared folder)")
    return data


@pytest.mark.shared
def test_shared_counts_match_the_files_on_disk(shared_manifest):
    data = _shared_data()
    for d in shared_manifest["datasets"]:
        folder = data / d["path"]
        assert folder.is_dir(), d["name"]
        files = _files(folder)
        if d["layout"] == "real_fake":
            found = {"real": sum("0_real" in f.relative_to(folder).parts for f in files),
                     "fake": sum("1_fake" in f.relative_to(folder).parts for f in files)}
            assert found["real"] + found["fake"] == len(files), d["name"]
        else:
            found = {d["labels"]: len(files), "fake" if d["labels"] == "real" else "real": 0}
        assert found == d["expected_count"], d["name"]


@pytest.mark.shared
def test_shared_manifest_covers_every_image_folder(shared_manifest):
    """Every image on disk (everything but weights/ and the two index files) belongs to exactly one dataset."""
    data = _shared_data()
    listed = sum(d["expected_count"]["real"] + d["expected_count"]["fake"] for d in shared_manifest["datasets"])
    on_disk = [f for f in _files(data) if f.relative_to(data).parts[0] != "weights"
               and f.name not in ("MANIFEST.md", "files.csv")]
    assert listed == len(on_disk)


@pytest.mark.shared
def test_shared_crop_boxes_fit_the_images(shared_manifest):
    from PIL import Image

    data = _shared_data()
    for d in shared_manifest["datasets"]:
        if d.get("crop_box"):
            for path in _files(data / d["path"]):
                with Image.open(path) as img:
                    assert d["crop_box"][2] <= img.width and d["crop_box"][3] <= img.height, path


# -- issue 12: facts checked against the official repositories --------------------------------------------------------

def test_lama_is_held_in_by_the_readme_but_held_out_in_the_v3_table():
    """The v3 '+LaMa' checkpoint trains on LaMa (README) yet its table's held-out mean, 94.90, averages 20 sets with
    LaMa among them; the loader's table view reproduces both printed held-out means."""
    from fakebench.data.manifest import load_manifest

    afp = [e for e in load_manifest(MAIN).datasets.values() if e.suite == "antifakeprompt"]
    lama = next(e for e in afp if e.name == "afp-lama")
    assert lama.is_held_in("antifakeprompt", "coco_sd3_sd2ip_lama")  # README: in the training data
    assert not lama.table_held_in("antifakeprompt", "coco_sd3_sd2ip_lama")  # table: held-out
    for tag, mean in [("coco_sd3_sd2ip", 92.11), ("coco_sd3_sd2ip_lama", 94.90)]:
        values = [e.published[f"antifakeprompt.{tag}"]["acc"] for e in afp if not e.table_held_in("antifakeprompt", tag)]
        assert len(values) == 20 and round(statistics.mean(values), 2) == mean, tag


def test_gangen_detection_counts_repository_and_citation(main):
    """GANGen-Detection README (chuangchuangtan/GANGen-Detection): 2k real + 2k fake per GAN, its own repository and
    citation; NPR's Table 2 credits the test set to FreqNet (AAAI 2024)."""
    sets = [d for d in main["datasets"] if d["suite"] == "gangen-detection"]
    assert len(sets) == 9 and all(d["expected_count"] == {"real": 2000, "fake": 2000} for d in sets)
    suite = main["suites"]["gangen-detection"]
    assert suite["url"] == "https://github.com/chuangchuangtan/GANGen-Detection"
    assert "FreqNet" in suite["paper"] and "AAAI 2024" in suite["paper"]
    assert "GANGen-Detection: A Dataset generated by GANs" in suite["paper"]


def test_univfd_repository_moved_and_licence_is_mit(main):
    from fakebench.detectors.catalog import UNIVFD_CARD

    suite = main["suites"]["universalfakedetect"]
    assert suite["url"] == "https://github.com/WisconsinAIVision/UniversalFakeDetect"
    assert suite["licence"].startswith("MIT") and "2025" in suite["licence"]
    assert "WisconsinAIVision/UniversalFakeDetect" in UNIVFD_CARD.repo
    assert UNIVFD_CARD.licence.startswith("MIT") and "2025" in UNIVFD_CARD.licence
    assert all("Yuheng-Li" not in s.ref for w in UNIVFD_CARD.weights for s in w.sources)


def test_drive_archives_are_zips_and_the_forensynths_drive_file_is_marked_moved(main):
    forensynths = {s["kind"]: s for s in main["suites"]["forensynths"]["sources"]}
    assert forensynths["gdrive"]["archive"] == "zip"
    assert "no longer" in forensynths["gdrive"]["notes"] and "Hugging Face" in forensynths["gdrive"]["notes"]
    assert main["suites"]["forensynths"]["sources"][0]["kind"] == "hf"  # the current official source comes first
    ufd = {s["ref"]: s for s in main["suites"]["universalfakedetect"]["sources"]}
    assert ufd["1FXlGIRh_Ud3cScMgSVDbEWmPDmjcrm1t"]["archive"] == "zip"


def test_npr_protocol_follows_the_test_set(main):
    """NPR test.py: GANGen-Detection at native size; ForenSynths, DiffusionForensics, UniversalFakeDetect resized to
    256x256 (same checkpoint). The loader hands each entry its suite's protocol."""
    from fakebench.data.manifest import load_manifests

    m = load_manifests([MAIN, SHARED_MANIFEST])
    expected = {"gangen-detection": "native", "forensynths": "resize256", "diffusionforensics": "resize256",
                "universalfakedetect": "resize256", "antifakeprompt": None, "diffusion1kstep": None}
    for entry in m.datasets.values():
        if entry.suite in expected:
            assert entry.preset_for("npr") == expected[entry.suite], entry.name
    assert m.get("shared-gangen-began").preset_for("npr") == "native"


def test_sidbench_mirrors_the_weights_it_holds():
    """The SIDBench README (mever-team/sidbench @ b33f51c) lists cnndetect/blur_jpg_prob0.{1,5}.pth, npr/NPR.pth and
    univfd/fc_weights.pth in the Hugging Face repository dkarageo/sidbench; NPR's model_epoch_last_3090.pth is not
    there. Mirrors come after the official source."""
    from fakebench.detectors.catalog import CNNSPOT_CARD, NPR_CARD, UNIVFD_CARD

    expected = {("cnnspot", "blur_jpg_prob0.5"): "cnndetect/blur_jpg_prob0.5.pth",
                ("cnnspot", "blur_jpg_prob0.1"): "cnndetect/blur_jpg_prob0.1.pth",
                ("npr", "paper"): "npr/NPR.pth", ("npr", "progan_4class"): None,
                ("univfd", "progan"): "univfd/fc_weights.pth"}
    for card in (CNNSPOT_CARD, NPR_CARD, UNIVFD_CARD):
        for spec in card.weights:
            mirrors = [s for s in spec.sources if s.kind == "hf" and s.ref == "dkarageo/sidbench"]
            want = expected[(card.name, spec.tag)]
            assert [s.filename for s in mirrors] == ([want] if want else []), spec.tag
            if want:
                assert spec.sources[0].kind != "hf" and "SIDBench" in mirrors[0].notes


def test_downloads_doc_claims_no_check_the_cards_do_not_make():
    """docs/downloads.md may only say a size is checked where a card source pins that size."""
    from fakebench.detectors.catalog import CNNSPOT_CARD, NPR_CARD, UNIVFD_CARD

    doc = (REPO / "docs" / "downloads.md").read_text(encoding="utf-8")
    for card in (CNNSPOT_CARD, NPR_CARD, UNIVFD_CARD):
        for spec in card.weights:
            row = next(line for line in doc.splitlines() if line.startswith(f"| `{card.name}.{spec.tag}` |"))
            if "is checked" in row or "size checked" in row:
                assert any(s.size for s in spec.sources), row


def test_card_facts_npr_issue_35_and_zero_shot_prompt_source():
    from fakebench.detectors.catalog import INSTRUCTBLIP_CARD, NPR_CARD

    assert "8.4" in NPR_CARD.notes and "1-7" not in NPR_CARD.notes
    text = INSTRUCTBLIP_CARD.repo + " " + INSTRUCTBLIP_CARD.notes
    assert "not in" in text and "test.py" in text and "log" in text
