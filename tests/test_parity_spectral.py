"""Issue #18 part B (artifact / frequency / training-free family): AEROBLADE.

* strict loading of the bundle format, wrong files refused with the key list, AE tags, offline fail-fast and hub
  fetching over the loopback server (no ../shared needed);
* parity with the official code: ``tests/fixtures/parity/aeroblade`` was made by ``tools/parity/aeroblade.py`` running
  jonasricker/aeroblade @ 50fc2b2 ``compute_distances`` on tiny random float16 AEs; fakebench must give the same
  per-AE LPIPS layer-2 distances and score (|diff| <= 1e-5), the official float16 CSV value within float16 rounding,
  and the same ranking (a score-only detector has no decisions to flip);
* a robustness sweep (``jpeg:100,75,50``, ``resize:1,0.5``) runs on tiny weights.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fakebench.core.errors import CheckpointError, UnknownNameError, WeightsNotFoundError

from _loopback import loopback  # noqa: F401 - pytest fixture
from conftest import make_image

FIXTURE = Path(__file__).parent / "fixtures" / "parity" / "aeroblade"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text())
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
#: The fixture images checked by default (the smallest: 32x32, 32x32 and the non-square 112x76); the rest are
#: ``slow`` (``pytest -m slow tests/test_parity_spectral.py`` checks all 11).
FAST = {"cifake/0_real/0000 (10).jpg", "cifake/1_fake/1000 (10).jpg", "real_photos/cbsd68/0_real/101085.png"}


@pytest.fixture(scope="module")
def aeroblade():
    from fakebench.detectors.aeroblade import AeroBlade

    return AeroBlade.load(FIXTURE / "bundle.pth")


# -- loading -----------------------------------------------------------------------------------------------------------
def test_bundle_loads_strictly_in_the_official_dtype(aeroblade):
    assert list(aeroblade.autoencoders) == ["sd1", "sd2", "kd21"]  # the official --autoencoders order
    assert {next(ae.parameters()).dtype for ae in aeroblade.autoencoders.values()} == {torch.float16}
    assert type(aeroblade.autoencoders["kd21"]).__name__ == "VQModel" and aeroblade.factor == 4
    assert aeroblade.weights.tag == "file" and len(aeroblade.weights.sha256) == 64
    assert aeroblade.natural_threshold is None and aeroblade.preset.name == "native"


def test_bundle_with_a_missing_tensor_is_refused_with_its_name(tmp_path):
    from fakebench.detectors.aeroblade import AeroBlade

    data = torch.load(FIXTURE / "bundle.pth", weights_only=True)
    del data["autoencoders"]["sd2"]["state_dict"]["encoder.conv_in.weight"]
    torch.save(data, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="encoder.conv_in.weight"):
        AeroBlade.load(tmp_path / "bad.pth")
    data = torch.load(FIXTURE / "bundle.pth", weights_only=True)
    del data["lpips"]["vgg16_features"]["7.bias"]
    torch.save(data, tmp_path / "bad_vgg.pth")
    with pytest.raises(CheckpointError, match="net.7.bias"):
        AeroBlade.load(tmp_path / "bad_vgg.pth")


def test_a_classifier_checkpoint_is_not_a_bundle(tmp_path):
    from fakebench.detectors.aeroblade import AeroBlade

    torch.save({"fc.weight": torch.zeros(1, 4)}, tmp_path / "model.pth")
    with pytest.raises(CheckpointError, match="not an AEROBLADE bundle.*sd1, sd2, kd21"):
        AeroBlade.load(tmp_path / "model.pth")


def test_weights_tags():
    from fakebench.detectors.aeroblade import _parse_tags

    assert _parse_tags(None) == ["sd1", "sd2", "kd21"]
    assert _parse_tags("aeroblade.sd2+kd21") == ["sd2", "kd21"]
    with pytest.raises(UnknownNameError, match="LPIPS backbone"):
        _parse_tags("vgg16")
    with pytest.raises(UnknownNameError, match="sd1"):
        _parse_tags("sd11")
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        _parse_tags("missing/bundle.pth")


def test_evaluate_accepts_joined_tags_and_refuses_unknown_ones_before_any_download(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from fakebench.cli import main

    monkeypatch.setenv("FAKEBENCH_OFFLINE", "1")
    args = ["evaluate", "--detector", "aeroblade", "--real-dir", str(tmp_path / "none"), "--output", str(tmp_path)]
    bad = CliRunner().invoke(main, args + ["--weights", "sd1+sdx"])
    assert bad.exit_code != 0 and "Unknown aeroblade autoencoder tag 'sdx'" in bad.output
    good = CliRunner().invoke(main, args + ["--weights", "sd1+kd21"])  # tags fine: it gets to the data check
    assert good.exit_code != 0 and "does not exist. Check the --real-dir path" in good.output


def test_offline_tags_fail_fast_naming_the_file(monkeypatch, tmp_path):
    from fakebench.detectors.aeroblade import AeroBlade

    monkeypatch.setenv("FAKEBENCH_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(WeightsNotFoundError, match="sd1_vae_diffusion_pytorch_model.fp16.safetensors"):
        AeroBlade.load(cache_dir=tmp_path)
    assert time.perf_counter() - start < 10


def test_autoencoder_tag_is_fetched_from_the_hub_and_loaded_strictly(loopback, monkeypatch, tmp_path):  # noqa: F811
    from safetensors.torch import save

    from fakebench.detectors.aeroblade import AeroBlade
    from fakebench.detectors.catalog_spectral import AEROBLADE_CARD
    from fakebench.hub.weights import fetch_weights

    payload = save({"encoder.conv_in.weight": torch.zeros(8, 3, 3, 3, dtype=torch.float16)})  # not the SD VAE
    loopback.add_hub_file("CompVis/stable-diffusion-v1-1", "vae/diffusion_pytorch_model.fp16.safetensors", payload)
    monkeypatch.setenv("HF_ENDPOINT", loopback.base)
    path = fetch_weights(AEROBLADE_CARD, AEROBLADE_CARD.get_weights("sd1"), cache_dir=tmp_path)
    assert path.read_bytes() == payload and path.name == "sd1_vae_diffusion_pytorch_model.fp16.safetensors"
    with pytest.raises(CheckpointError, match="sd1 autoencoder.*missing: encoder.conv_in.bias.*mis-shaped"):
        AeroBlade.load("sd1", cache_dir=tmp_path)  # strict: the full-size SD VAE needs every tensor


def test_lpips_linear_layer_is_the_packaged_lpips_v01_one():
    from fakebench.detectors.aeroblade import _lpips_lin

    lin = _lpips_lin()["weight"]
    saved = torch.load(FIXTURE / "bundle.pth", weights_only=True)["lpips"]["lin1"]["weight"]
    assert lin.shape == (1, 128, 1, 1) and torch.equal(lin, saved)


def test_sizes_off_the_downsampling_grid_are_refused_with_the_fix(aeroblade):
    with pytest.raises(ValueError, match="30x30 is not a multiple of 4.*28x28"):
        aeroblade.predict(torch.rand(1, 3, 30, 30))


# -- parity with the official code ------------------------------------------------------------------------------------
def _cases():
    for item in EXPECTED["images"]:
        marks = [pytest.mark.shared] + ([] if item["image"] in FAST else [pytest.mark.slow])
        yield pytest.param(item, id=item["image"].split("/")[-1], marks=marks)


_DONE: dict[str, tuple[dict[str, float], float]] = {}


def _run(aeroblade, shared: Path, item: dict) -> tuple[dict[str, float], float]:
    """(per-AE distances, score) of a fixture image, computed once per session (one pass through the AEs)."""
    if item["image"] not in _DONE:
        img = Image.open(shared / "data" / item["image"]).convert("RGB")
        if item["crop_box"]:
            img = img.crop(tuple(item["crop_box"]))
        x = aeroblade.transform()(img)[None]
        dists = {k: v.item() for k, v in aeroblade.distances(x).items()}
        _DONE[item["image"]] = (dists, max(-d for d in dists.values()))
    return _DONE[item["image"]]


def test_predict_is_the_maximum_of_minus_the_distances(aeroblade):
    x = torch.rand(2, 3, 16, 12)
    dists = aeroblade.distances(x)
    out = aeroblade.predict(x)
    assert out.logit is None and out.prob.dtype == torch.float32 and out.prob.shape == (2,)
    assert torch.equal(out.prob, torch.stack([-d for d in dists.values()]).amax(0))
    assert (out.prob <= 0).all()


@pytest.mark.parametrize("item", list(_cases()))
def test_parity_with_the_official_compute_distances(aeroblade, shared, item):
    dists, score = _run(aeroblade, shared, item)
    for tag, value in item["distances"].items():
        assert abs(dists[tag] - value) <= 1e-5, tag
    assert abs(score - item["score"]) <= 1e-5
    official = item["official_score_fp16"]  # the official CSV: float16 mean of a float16 map
    assert abs(score - official) <= float(np.spacing(np.float16(official))) + 1e-6


@pytest.mark.shared
def test_ranking_matches_the_official_scores(aeroblade, shared):
    items = [i for i in EXPECTED["images"] if i["image"] in FAST]
    scores = [_run(aeroblade, shared, item)[1] for item in items]
    assert np.argsort(scores).tolist() == np.argsort([i["score"] for i in items]).tolist()


# -- through the runner: a robustness sweep ---------------------------------------------------------------------------
def test_robustness_sweep_runs_on_tiny_weights(tmp_path):
    from fakebench.analysis.robustness import run_robustness
    from fakebench.detectors.aeroblade import AeroBlade
    from fakebench.eval.harness import sets_from_data_dir

    data = torch.load(FIXTURE / "bundle.pth", weights_only=True)
    data["autoencoders"] = {"sd2": data["autoencoders"]["sd2"]}  # the smallest AE keeps the sweep fast
    torch.save(data, tmp_path / "sd2.pth")
    det = AeroBlade.load(tmp_path / "sd2.pth")
    root = tmp_path / "data"
    for i in range(2):
        make_image(root / "gen" / "0_real" / f"r{i}.png", "real", size=32, seed=i)
        make_image(root / "gen" / "1_fake" / f"f{i}.png", "fake", size=32, seed=10 + i)
    summary, _ = run_robustness(det, sets_from_data_dir(root), ["jpeg:100,75,50", "resize:1,0.5"],
                                output=tmp_path / "rob", data_label="tiny", num_workers=0, progress=False, n_boot=0)
    rows = json.loads(summary.read_text())["rows"]
    assert {r["spec"] for r in rows} == {"jpeg:100", "jpeg:75", "jpeg:50", "resize:1", "resize:0.5"}
    gen = [r for r in rows if r["dataset"] == "gen"]
    assert all(r["n"] == 4 for r in gen) and all(r["acc"] is None or np.isnan(r["acc"]) for r in gen)
    assert all(r["auc"] is not None and 0 <= r["auc"] <= 1 for r in gen)
