"""Linear probes over torchvision / timm / open_clip backbones: arch names, explicit random init, library presets,
strict head checkpoints with backbone checks, UnivFD parity, and training + evaluation through the ordinary runner.

Every backbone here is RANDOMLY INITIALISED (``pretrained=False``, recorded as ``random-init``) or the tiny random
CLIP of the UnivFD parity fixture: no pretrained weights can be downloaded in the test environment.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from fakebench.core.errors import CheckpointError, FakebenchError, UnknownNameError, WeightsNotFoundError
from fakebench.detectors.probe import CS545_ARCHS, PROBE_CARD, parse_arch

from conftest import REPO, make_image


def test_arch_table_and_names_need_no_torch():
    code = ("import sys; from fakebench.detectors.probe import parse_arch, CS545_ARCHS; "
            "print(parse_arch('timm:resnet18').library, parse_arch('tv:resnet50@IMAGENET1K_V2').pretrained, "
            "parse_arch('open_clip:ViT-B-32/openai').pretrained, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["timm", "IMAGENET1K_V2", "openai", "False"]
    assert {s.library for s in CS545_ARCHS.values()} == {"torchvision", "open_clip"}
    assert parse_arch("CLIP:ViT-L/14").model == "ViT-L-14" and parse_arch("clip:rn50").feature_dim == 1024
    assert parse_arch("Imagenet:vgg19").feature_dim == 4096
    with pytest.raises(UnknownNameError, match="Imagenet:resnet50"):
        parse_arch("Imagenet:resnet05")


def test_probe_is_registered_with_its_card():
    from fakebench import detectors

    assert "probe" in detectors.list_detectors()
    assert detectors.REGISTRY.card("probe") is PROBE_CARD
    cls = detectors.get_detector_class("probe")
    assert cls.name == "probe" and cls.card is PROBE_CARD


def test_random_init_is_explicit_seeded_and_recorded():
    from fakebench.detectors.probe.model import Probe

    x = torch.randn(2, 3, 160, 160)
    a = Probe.build("timm:test_vit", pretrained=False, seed=0)
    b = Probe.build("timm:test_vit", pretrained="false", seed="0")
    c = Probe.build("timm:test_vit", pretrained=False, seed=1)
    assert a.identity()["backbone"]["init"] == "random-init" and a.identity()["backbone"]["seed"] == 0
    assert a.weights.tag == "random-init"
    assert torch.equal(a.features(x), b.features(x))
    assert not torch.allclose(a.features(x), c.features(x))
    assert a.feature_key() == b.feature_key() != c.feature_key()
    assert a.fingerprint() != c.fingerprint()


def test_no_silent_random_fallback_offline(monkeypatch):
    from fakebench.detectors.probe.model import build_backbone

    monkeypatch.setenv("FAKEBENCH_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError, match="pretrained=false"):
        build_backbone("Imagenet:resnet18")  # pretrained by default; not cached in the test's empty cache
    with pytest.raises(FakebenchError, match="not both"):
        build_backbone("tv:resnet18", backbone=__file__, pretrained=False)


def test_library_presets_follow_each_library():
    import timm
    from torchvision.models import ResNet18_Weights

    from fakebench.detectors.probe.model import build_backbone

    tm = build_backbone("timm:test_vit", pretrained=False)
    cfg = timm.data.resolve_data_config({}, model=timm.create_model("test_vit"))
    assert tm.preset.crop == cfg["input_size"][-1] == 160
    assert tm.preset.resize == int(160 / cfg["crop_pct"]) and tm.preset.interpolation == cfg["interpolation"]
    assert tm.preset.mean == tuple(cfg["mean"]) and tm.feature_dim == 64

    tv = build_backbone("tv:resnet18", pretrained=False)
    tr = ResNet18_Weights.DEFAULT.transforms()
    assert (tv.preset.resize, tv.preset.crop) == (tr.resize_size[0], tr.crop_size[0]) == (256, 224)
    assert tv.preset.interpolation == "bilinear" and list(tv.preset.std) == tr.std and tv.feature_dim == 512

    import open_clip

    oc = build_backbone("open_clip:ViT-S-32", pretrained=False)
    pre = open_clip.get_model_preprocess_cfg(open_clip.create_model("ViT-S-32"))
    assert (oc.preset.resize, oc.preset.crop, oc.preset.interpolation) == (224, 224, pre["interpolation"])
    assert oc.preset.mean == tuple(pre["mean"]) and oc.info["init"] == "random-init"
    with torch.no_grad():
        assert oc.module(torch.zeros(1, 3, 224, 224)).shape == (1, oc.feature_dim) == (1, 384)


def test_torchvision_backbone_file_is_loaded_strictly_and_hashed(tmp_path):
    from torchvision.models import resnet18

    from fakebench.core.files import sha256_file
    from fakebench.detectors.probe.model import build_backbone

    torch.manual_seed(3)
    net = resnet18(weights=None).eval()
    path = tmp_path / "r18.pth"
    torch.save(net.state_dict(), path)
    built = build_backbone("Imagenet:resnet18", backbone=path)
    assert built.info["init"] == "file" and built.info["sha256"] == sha256_file(path)
    x = torch.randn(2, 3, 64, 64)
    net.fc = torch.nn.Identity()
    with torch.no_grad():
        assert torch.equal(built.module(x), net(x))
    import timm

    torch.manual_seed(4)
    tnet = timm.create_model("test_vit").eval()
    torch.save(tnet.state_dict(), tmp_path / "tvit.pth")  # with its classifier head: those keys are the only extras
    tbuilt = build_backbone("timm:test_vit", backbone=tmp_path / "tvit.pth")
    tnet.reset_classifier(0)
    with torch.no_grad():
        z = torch.randn(2, 3, 160, 160)
        assert torch.equal(tbuilt.module(z), tnet(z))
    bad = tmp_path / "bad.pth"
    state = net.state_dict()
    state.pop("layer1.0.conv1.weight")
    torch.save(state, bad)
    with pytest.raises(CheckpointError, match="layer1.0.conv1.weight"):
        build_backbone("Imagenet:resnet18", backbone=bad)


def _save_plain_head(path, dim, seed=0):
    torch.manual_seed(seed)
    fc = torch.nn.Linear(dim, 1)
    torch.save(fc.state_dict(), path)
    return fc


def test_head_checkpoints_are_strict_and_checked_against_the_backbone(tmp_path):
    from fakebench.detectors.probe.model import Probe
    from fakebench.train.probe import save_head

    built = Probe.build("timm:test_vit", pretrained=False, seed=0)
    fc = _save_plain_head(tmp_path / "plain.pth", 64)
    head = tmp_path / "head.pth"
    save_head(head, fc, probe=built, training={"note": "test"})
    x = torch.randn(3, 3, 160, 160)
    loaded = Probe.load(head, pretrained=False)  # arch, seed and preset come from the head's meta
    plain = Probe.load(tmp_path / "plain.pth", arch="timm:test_vit", pretrained=False)
    with torch.no_grad():
        want = fc(built.features(x)).reshape(-1)
    assert torch.equal(loaded.predict(x).logit, want) and torch.equal(plain.predict(x).logit, want)
    assert loaded.preset == built.preset and loaded.weights.tag == "file"

    with pytest.raises(CheckpointError, match="pretrained=false -O seed=0"):
        Probe.load(head, pretrained=False, seed=1)  # another random backbone than the one it was trained on
    with pytest.raises(CheckpointError, match="random-init backbone .* but a pretrained backbone was requested"):
        Probe.load(head)  # refused before any download is attempted
    with pytest.raises(CheckpointError, match="trained on arch"):
        Probe.load(head, arch="tv:resnet18", pretrained=False)
    with pytest.raises(FakebenchError, match="records no architecture"):
        Probe.load(tmp_path / "plain.pth", pretrained=False)
    _save_plain_head(tmp_path / "wide.pth", 65)
    with pytest.raises(CheckpointError, match="mis-shaped"):
        Probe.load(tmp_path / "wide.pth", arch="timm:test_vit", pretrained=False)
    with pytest.raises(WeightsNotFoundError, match="trained head"):
        Probe.load(None, arch="timm:test_vit", pretrained=False)
    raw = torch.load(head, weights_only=True)
    assert raw["meta"]["backbone"] == {k: v for k, v in built.backbone.items() if k != "path"}


@pytest.mark.shared
def test_probe_reproduces_univfd_exactly(shared):
    """Probe(arch=CLIP:ViT-L/14, backbone=<tiny OpenAI-format CLIP>, head=<official fc_weights.pth>) == UnivFD."""
    from PIL import Image

    from fakebench.detectors.probe.model import Probe
    from fakebench.detectors.univfd import UnivFD

    fix = shared / "parity" / "univfd"
    head = shared / "data" / "weights" / "univfd" / "fc_weights.pth"
    backbone = fix / "tiny_clip_vit_openai_format.pt"
    probe = Probe.load(head=head, arch="CLIP:ViT-L/14", backbone=backbone, preset="crop224")
    univfd = UnivFD.load(head, backbone=backbone)
    assert probe.preset.to_dict() | {"source": "", "description": ""} == \
        univfd.preset.to_dict() | {"source": "", "description": ""}
    rows = list(csv.DictReader(open(fix / "expected.csv")))
    images = [Image.open(fix / "images" / r["image"]).convert("RGB") for r in rows]
    a, b = probe.predict_images(images), univfd.predict_images(images)
    assert torch.equal(a.logit, b.logit)
    expected = np.array([float(r["prob"]) for r in rows])
    assert np.abs(a.prob.numpy() - expected).max() <= 1e-5
    assert probe.identity()["backbone"]["sha256"] == univfd.identity()["backbone"]["sha256"]
    with pytest.raises(CheckpointError, match="OpenAI CLIP ViT"):
        Probe.load(head=head, arch="CLIP:RN50", backbone=backbone)  # a ViT file under a ResNet arch is refused


def test_train_probe_then_evaluate_through_the_runner(tmp_path, image_tree):
    """``fakebench train probe`` writes a head that ``fakebench evaluate --detector probe`` scores with the ordinary
    runner; the runner's logits equal the probe's own. Backbone: random-init timm test_vit (no weights offline)."""
    from click.testing import CliRunner

    from fakebench.cli.evaluate import evaluate
    from fakebench.cli.probe import probe_train
    from fakebench.detectors.probe.model import Probe

    head = tmp_path / "head.pth"
    res = CliRunner().invoke(probe_train, ["--arch", "timm:test_vit", "--random-init", "--train-dir",
                                           str(image_tree / "gen_a"), "--test-dir", str(image_tree / "gen_b"),
                                           "--out", str(head), "--output", str(tmp_path / "runs"), "--quiet",
                                           "--steps", "50"])
    assert res.exit_code == 0, res.output
    meta = torch.load(head, weights_only=True)["meta"]
    assert meta["backbone"]["init"] == "random-init" and meta["training"]["train"]["n_images"] == 8
    assert "acc" in meta["training"]["train_metrics"]
    res = CliRunner().invoke(evaluate, ["--detector", "probe", "--weights", str(head), "-O", "arch=timm:test_vit",
                                        "-O", "pretrained=false", "--data-dir", str(image_tree), "--output",
                                        str(tmp_path / "eval"), "--quiet", "--workers", "0"])
    assert res.exit_code == 0, res.output
    results = next((tmp_path / "eval").rglob("results.json"))
    data = json.loads(results.read_text())
    assert data["detector"]["identity"]["backbone"]["init"] == "random-init"  # the random init is in the record
    assert data["detector"]["identity"]["backbone"]["seed"] == 0
    # issue #20: the console, the leaderboard and the report say the backbone is random-init
    assert "random-init backbone" in res.output
    from fakebench.eval.leaderboard import leaderboard_frame, load_results
    from fakebench.report.data import run_label

    (shown,) = set(leaderboard_frame(load_results([results]))["detector"])
    assert shown.startswith("probe.file-") and shown.endswith(" [random-init backbone]")
    assert run_label(data) == shown
    pred = list(csv.DictReader(open(results.parent / "predictions.csv")))
    assert len(pred) == 16
    probe = Probe.load(head, pretrained=False)
    from PIL import Image

    own = probe.predict_images([Image.open(r["image"]) for r in pred]).logit.numpy()
    assert np.allclose([float(r["logit"]) for r in pred], own, atol=1e-5)
    # without the explicit random-init choice the head's backbone cannot be rebuilt: refused, not silently random
    res = CliRunner().invoke(evaluate, ["--detector", "probe", "--weights", str(head), "--data-dir", str(image_tree),
                                        "--output", str(tmp_path / "eval2"), "--quiet"], env={"FAKEBENCH_OFFLINE": "1"})
    assert res.exit_code != 0 and "pretrained" in res.output


def test_feature_cache_skips_the_backbone_on_second_extraction(tmp_path, image_tree):
    from fakebench.data.images import discover_real_fake
    from fakebench.detectors.probe.model import Probe
    from fakebench.train.features import FeatureCache, extract_features

    probe = Probe.build("timm:test_vit", pretrained=False)
    calls = []
    inner = probe.model.backbone.forward
    probe.model.backbone.forward = lambda x: (calls.append(len(x)), inner(x))[1]
    records = discover_real_fake(image_tree)
    make_image(tmp_path / "broken.png", "real").write_bytes(b"not an image")
    from fakebench.data.images import ImageRecord

    records = records + [ImageRecord(str(tmp_path / "broken.png"), 0, "x", "x")]
    with FeatureCache(tmp_path / "f.sqlite") as cache:
        first = extract_features(probe, records, cache=cache, batch_size=5)
        assert sum(calls) == 16 and first.stats.computed == 16 and len(first.stats.skipped) == 1
        calls.clear()
        second = extract_features(probe, records[::-1], cache=cache)
        assert calls == [] and second.stats.cached == 16 and second.stats.computed == 0
        assert np.array_equal(second.features[::-1], first.features)
        assert cache.count(probe.feature_key()) == 16
        other = Probe.build("timm:test_vit", pretrained=False, seed=5)
        assert extract_features(other, records[:2], cache=cache).stats.computed == 2  # other backbone: a miss
    with torch.no_grad():
        from fakebench.data.images import load_image

        img, _ = load_image(records[0].path)
        direct = probe.model.backbone(probe.transform()(img)[None])[0].numpy()
    assert np.allclose(first.features[0], direct, atol=1e-6)


@pytest.mark.parametrize("arch", ["timm:resnet18", "CLIP:RN50"])
def test_offline_timm_and_open_clip_fail_at_once_without_hub_requests(arch, monkeypatch):
    """Issue #20: with FAKEBENCH_OFFLINE=1 (HF_HUB_OFFLINE unset), a timm/open_clip backbone that is not cached is a
    WeightsNotFoundError that says fakebench is offline, with no network request (huggingface_hub is switched to
    offline mode for the call, and switched back after), and a message not cut mid-word."""
    import huggingface_hub.constants as hub_constants
    import requests

    from fakebench.detectors.probe.model import build_backbone

    monkeypatch.setenv("FAKEBENCH_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)

    def no_network(*args, **kwargs):
        raise AssertionError("a network request was made while offline")

    monkeypatch.setattr(requests.Session, "request", no_network)
    try:
        import httpx

        monkeypatch.setattr(httpx.Client, "request", no_network)
    except ImportError:
        pass
    with pytest.raises(WeightsNotFoundError) as info:
        build_backbone(arch)
    message = str(info.value)
    assert "offline" in message.lower() and "network request" not in message
    assert "--random-init" in message and "--backbone" in message  # the train probe flags, beside the -O ones
    assert hub_constants.HF_HUB_OFFLINE is False


def test_feature_cache_key_includes_the_backbone_library_version():
    """Issue #20: cached features are keyed by the backbone library's version too (another timm may build other
    weights or a random init differently for the same name and seed); a head's recorded backbone still matches."""
    from fakebench.detectors.probe.model import Probe

    a = Probe.build("timm:test_vit", pretrained=False, seed=0)
    b = Probe.build("timm:test_vit", pretrained=False, seed=0)
    assert a.feature_key() == b.feature_key()
    assert a.feature_identity()["library_version"] == a.backbone["library_version"]
    b.backbone = {**b.backbone, "library_version": "0.0.1"}
    assert a.feature_key() != b.feature_key()


def test_torchvision_vit_file_with_the_older_mlp_key_names_loads(tmp_path, monkeypatch):
    """Issue #20: torchvision's own ViT weight files name the MLP layers ``mlp.linear_1``/``mlp.linear_2`` (the
    layout before torchvision's MLPBlock version 2); torchvision renames them to ``mlp.0``/``mlp.3`` while loading,
    so the strict key check must see the renamed keys, not refuse the file. Other unknown keys are still refused."""
    import torchvision.models
    from torchvision.models.vision_transformer import VisionTransformer

    from fakebench.detectors.probe.model import build_backbone

    def tiny(name, weights=None):  # vit_b_16's module layout at a tiny width (no 86M-parameter model in a test)
        assert name == "vit_b_16" and weights is None
        return VisionTransformer(image_size=32, patch_size=16, num_layers=2, num_heads=2, hidden_dim=8, mlp_dim=16)

    monkeypatch.setattr(torchvision.models, "get_model", tiny)
    torch.manual_seed(5)
    net = tiny("vit_b_16").eval()
    old = {k.replace(".mlp.0.", ".mlp.linear_1.").replace(".mlp.3.", ".mlp.linear_2."): v
           for k, v in net.state_dict().items()}
    assert sum(".mlp.linear_1." in k for k in old) == 4  # 2 layers x (weight, bias)
    torch.save(old, tmp_path / "vit_old.pth")
    built = build_backbone("tv:vit_b_16", backbone=tmp_path / "vit_old.pth")
    net.heads = torch.nn.Identity()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(built.module(x), net(x))
    old["encoder.layers.encoder_layer_0.mlp.linear_9.weight"] = torch.zeros(1)
    torch.save(old, tmp_path / "vit_bad.pth")
    with pytest.raises(CheckpointError, match="linear_9"):
        build_backbone("tv:vit_b_16", backbone=tmp_path / "vit_bad.pth")
