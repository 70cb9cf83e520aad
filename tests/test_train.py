"""Training: recipes, seeded augmentation, the resumable loop, checkpoint round trips, the CLI and the data split.

Every training test runs a few optimisation steps on a tiny generated folder (smooth "real" images vs. 2x2-upsampled
"fake" ones, see ``conftest.make_image``) with the recipe's resize/crop shrunk so it takes seconds on a CPU.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner
from PIL import Image

from fakebench.cli.train import train
from fakebench.core.errors import DataError, FakebenchError, WeightsNotFoundError
from fakebench.data.manifest import load_manifests
from fakebench.train import RECIPES, get_recipe
from fakebench.train.augment import RecipeTransform, jpeg_methods, sample_rng
from fakebench.train.loop import companion_paths, train_detector
from fakebench.train.split import make_split
from conftest import make_image

SMALL = {"resize": 48, "crop": 40}  # shrink the 256/224 pipeline so a step takes milliseconds


@pytest.fixture
def tiny_train(tmp_path) -> Path:
    """``train/gen/{0_real,1_fake}``: 12 real + 12 fake 64x64 PNGs."""
    root = tmp_path / "train"
    for i in range(12):
        make_image(root / "gen" / "0_real" / f"r{i:02d}.png", "real", seed=i)
        make_image(root / "gen" / "1_fake" / f"f{i:02d}.png", "fake", seed=500 + i)
    return root


def _state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def _batch(root: Path, n: int = 4) -> torch.Tensor:
    """A fixed batch of ``n`` training images, resized to 40 px and ImageNet-normalised."""
    from torchvision.transforms import functional as TF

    paths = sorted(root.rglob("*.png"))[:n]
    return torch.stack([TF.normalize(TF.to_tensor(Image.open(p).convert("RGB").resize((40, 40))),
                                     [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]) for p in paths])


# -- recipes and augmentation ------------------------------------------------------------------------------------------
def test_recipes_carry_the_official_values():
    npr = get_recipe("npr")
    assert (npr.optimizer, npr.lr, npr.batch_size, npr.epochs) == ("adam", 2e-4, 32, 50)
    assert (npr.schedule, npr.step_every, npr.lr_factor, npr.resize_mode, npr.crop) == ("step", 10, 0.9, "square", 224)
    assert npr.blur_prob == npr.jpg_prob == 0 and npr.final == "last"
    for prob in (0.5, 0.1):
        cnn = get_recipe(f"cnnspot_blur_jpg_prob{prob}")
        assert (cnn.blur_prob, cnn.jpg_prob, cnn.blur_sig, cnn.jpg_qual) == (prob, prob, (0.0, 3.0), (30, 100))
        assert (cnn.optimizer, cnn.lr, cnn.batch_size, cnn.init, cnn.final) == ("adam", 1e-4, 64, "imagenet", "best")
        assert (cnn.patience, cnn.min_delta, cnn.lr_factor, cnn.resize_mode) == (5, (0.001, 0.002), 0.1, "shorter")
    ufd = get_recipe("univfd_probe")
    assert (ufd.optimizer, ufd.batch_size, ufd.trainable, ufd.mean[0]) == ("adamw", 256, "fc", 0.48145466)
    assert set(RECIPES) == {"npr", "cnnspot_blur_jpg_prob0.5", "cnnspot_blur_jpg_prob0.1", "univfd_probe"}
    with pytest.raises(FakebenchError, match="Did you mean 'npr'"):
        get_recipe("nrp")
    assert npr.with_overrides(jpg_method="pil", epochs=3).jpg_method == ("pil",)  # CLI strings become tuples
    for bad in ({"crop": 300}, {"blur_sig": [1.0]}, {"lr": "fast"}, {"name": "x"}, {"optimiser": "sgd"}):
        with pytest.raises(ValueError):
            npr.with_overrides(**bad)


def test_augmentation_is_seeded_per_image_and_epoch(tmp_path):
    img = Image.open(make_image(tmp_path / "a.png", "real", size=80, seed=1)).convert("RGB")
    recipe = get_recipe("cnnspot_blur_jpg_prob0.5").with_overrides(resize=80, crop=64, blur_prob=1.0, jpg_prob=1.0)
    train_tf = RecipeTransform(recipe, train=True, methods=("pil",))
    a = train_tf(img, sample_rng(0, 3, 7))
    assert a.shape == (3, 64, 64) and a.dtype == torch.float32
    assert torch.equal(a, train_tf(img, sample_rng(0, 3, 7)))  # same seed/epoch/index -> same draws
    assert not torch.equal(a, train_tf(img, sample_rng(0, 4, 7)))  # next epoch -> new draws
    plain = RecipeTransform(recipe.with_overrides(blur_prob=0.0, jpg_prob=0.0), train=False)
    val_tf = RecipeTransform(recipe, train=False)
    v = val_tf(img, sample_rng(0, "val", 7))
    assert torch.equal(v, val_tf(img, sample_rng(0, "val", 7)))
    assert (v - plain(img, sample_rng(0, "val", 7))).abs().mean() > 0.01  # blur + JPEG really applied


def test_jpeg_falls_back_to_pil_without_opencv_and_says_so(monkeypatch):
    monkeypatch.setattr("fakebench.train.augment.has_opencv", lambda: False)
    methods, note = jpeg_methods(("cv2", "pil"))
    assert methods == ("pil",) and "OpenCV" in note
    monkeypatch.setattr("fakebench.train.augment.has_opencv", lambda: True)
    assert jpeg_methods(("cv2", "pil")) == (("cv2", "pil"), "")


# -- the loop -------------------------------------------------------------------------------------------------------------
def test_npr_loss_decreases_and_checkpoint_reloads_identically(tiny_train, tmp_path):
    from fakebench.detectors.npr import NPR

    out = tmp_path / "ckpt" / "npr.pth"
    result = train_detector("npr", out=out, train_dirs=[tiny_train], val_fraction=0.25, epochs=6, batch_size=6,
                            overrides=SMALL, seed=0, progress=False, echo=lambda _: None)
    losses = [h["train_loss"] for h in result.history]
    assert len(losses) == 6 and result.stop_reason == "max epochs"
    assert losses[-1] < losses[0] - 0.05, losses
    # the published file is the official {'model': ...} layout with the run's provenance
    state = _state(out)
    meta = state["fakebench"]
    assert meta["recipe"]["name"] == "npr" and meta["overrides"]["epochs"] == 6 and meta["seed"] == 0
    assert meta["data"]["train"]["n_images"] == 18 and meta["data"]["val"]["n_images"] == 6
    assert len(meta["data"]["train"]["digest"]) == 64 and meta["epoch"] == state["epoch"] == 6
    assert [h["epoch"] for h in meta["history"]] == [1, 2, 3, 4, 5, 6]
    assert all(h["val"]["acc"] is not None for h in meta["history"])
    log = [json.loads(line) for line in result.log.read_text().splitlines()]
    assert [h["epoch"] for h in log] == [1, 2, 3, 4, 5, 6]
    # the detector's loader reads it strictly: its network computes exactly what the trained network computes, and
    # its scores (batch norms folded, revision 4) equal them up to float rounding
    det = NPR.load(out)
    batch = _batch(tiny_train)
    with torch.no_grad():
        expected = result.model.to(memory_format=det.memory_format)(batch).reshape(-1)
        assert torch.equal(det.model(batch.contiguous(memory_format=det.memory_format)).reshape(-1), expected)
    assert torch.allclose(det.predict(batch).logit, expected, rtol=1e-5, atol=1e-5)


def test_resume_continues_the_epoch_count_and_matches_an_uninterrupted_run(tiny_train, tmp_path):
    kwargs = dict(train_dirs=[tiny_train], epochs=2, batch_size=8, overrides=SMALL, seed=3, progress=False,
                  echo=lambda _: None)
    straight = train_detector("npr", out=tmp_path / "a" / "npr.pth", **kwargs)

    def interrupt(step: int, loss: float) -> None:
        if step == 5:  # 3 steps per epoch: stop in the middle of epoch 2
            raise KeyboardInterrupt

    out_b = tmp_path / "b" / "npr.pth"
    with pytest.raises(KeyboardInterrupt):
        train_detector("npr", out=out_b, on_step=interrupt, **kwargs)
    last = companion_paths(out_b)[1]
    assert _state(last)["epoch"] == 1
    messages: list[str] = []
    resumed = train_detector("npr", out=out_b, **{**kwargs, "echo": messages.append})
    assert any("resuming" in m and "after epoch 1" in m for m in messages)
    assert [h["epoch"] for h in resumed.history] == [1, 2] and resumed.epochs_done == 2
    a, b = _state(straight.out), _state(out_b)
    assert a["total_steps"] == b["total_steps"] == 6
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])  # seeded CPU run: bit-identical
    # a finished run is not redone; asking for more epochs continues it
    again = train_detector("npr", out=out_b, **kwargs)
    assert again.stop_reason == "already complete"
    longer = train_detector("npr", out=out_b, **{**kwargs, "epochs": 3})
    assert [h["epoch"] for h in longer.history] == [1, 2, 3]
    # another seed changes the weights, and cannot resume this run
    other = train_detector("npr", out=tmp_path / "c" / "npr.pth", **{**kwargs, "seed": 4, "epochs": 1})
    assert not torch.equal(_state(other.out)["model"]["fc1.weight"], _state(straight.out)["model"]["fc1.weight"])
    with pytest.raises(FakebenchError, match="Cannot resume .*seed"):
        train_detector("npr", out=out_b, **{**kwargs, "seed": 4, "epochs": 5})


def test_early_stopping_recipe_needs_validation_data(tiny_train, tmp_path):
    with pytest.raises(DataError, match="needs validation images"):
        train_detector("cnnspot", out=tmp_path / "c.pth", train_dirs=[tiny_train], init="scratch", progress=False)


def test_cnnspot_init_must_be_explicit_and_imagenet_must_be_cached(tiny_train, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    common = dict(out=tmp_path / "c.pth", train_dirs=[tiny_train], val_fraction=0.25, progress=False)
    with pytest.raises(FakebenchError, match="--init imagenet"):
        train_detector("cnnspot", **common)
    with pytest.raises(WeightsNotFoundError) as err:
        train_detector("cnnspot", init="imagenet", **common)
    message = str(err.value)
    assert "resnet50-0676ba61.pth" in message and str(tmp_path / "torch_home") in message
    assert "never falls back" in message and not (tmp_path / "c.pth").exists()


def test_cnnspot_from_a_resnet50_file_with_plateau_schedule(tiny_train, tmp_path):
    from torchvision.models import resnet50

    from fakebench.core.files import sha256_file
    from fakebench.detectors.cnnspot import CNNSpot

    torch.manual_seed(0)
    init_file = tmp_path / "resnet50_init.pth"
    torch.save(resnet50(weights=None).state_dict(), init_file)
    out = tmp_path / "cnnspot.pth"
    result = train_detector("cnnspot", out=out, train_dirs=[tiny_train], val_fraction=0.25, init=str(init_file),
                            epochs=1, batch_size=9, overrides={"resize": 40, "crop": 32}, progress=False,
                            echo=lambda _: None)
    meta = _state(out)["fakebench"]
    assert meta["init"] == {"kind": "file", "path": str(init_file), "sha256": sha256_file(init_file)}
    assert meta["recipe"]["name"] == "cnnspot_blur_jpg_prob0.5" and meta["recipe"]["final"] == "best"
    assert meta["best"]["epoch"] == 1 and result.history[0]["best"]  # the first validation is always a new best
    assert meta["history"][0]["val"]["n"] == 6 and result.model.fc.weight.shape == (1, 2048)
    det = CNNSpot.load(out)  # strict load of the official {'model': ...} layout
    assert det.weights.tag == "file"


def test_univfd_probe_trains_only_the_head(tiny_train, tmp_path, shared):
    from fakebench.detectors.univfd import UnivFD, load_openai_clip_visual

    backbone = shared / "parity" / "univfd" / "tiny_clip_vit_openai_format.pt"
    out = tmp_path / "fc.pth"
    result = train_detector("univfd", out=out, train_dirs=[tiny_train], val_fraction=0.25, backbone=backbone,
                            epochs=2, batch_size=6, progress=False, echo=lambda _: None)
    state = _state(out)
    assert set(state["model"]) == {"weight", "bias"} and state["model"]["weight"].shape == (1, 768)
    assert state["fakebench"]["init"]["backbone"]["sha256"]
    fresh = load_openai_clip_visual(backbone).state_dict()
    assert all(torch.equal(v, fresh[k]) for k, v in result.model.visual.state_dict().items())  # backbone frozen
    assert state["epoch"] == result.best["epoch"]  # the published head is the best-validation epoch
    det = UnivFD.load(companion_paths(out)[1], backbone=backbone)  # the last epoch = the returned network
    assert torch.equal(det.model.fc.weight, result.model.fc.weight) and torch.equal(det.model.fc.bias,
                                                                                   result.model.fc.bias)
    batch = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        expected = result.model.to(memory_format=det.memory_format)(batch).reshape(-1)
    # Same head, same backbone weights; torch's attention picks another kernel when the backbone's parameters require
    # grad (UnivFD.load leaves them trainable), which moves the logits by ~1e-7, so compare to 1e-5 here.
    assert torch.allclose(det.predict(batch).logit, expected, atol=1e-5, rtol=0)


# -- CLI -----------------------------------------------------------------------------------------------------------------
def test_cli_trains_and_reports(tiny_train, tmp_path):
    out = tmp_path / "npr.pth"
    args = ["npr", "--train-dir", str(tiny_train), "--out", str(out), "--epochs", "2", "--batch-size", "8",
            "--set", "resize=48", "--set", "crop=40", "--quiet"]
    result = CliRunner().invoke(train, args)
    assert result.exit_code == 0, result.output
    assert "npr epoch 2/2" in result.output and "checkpoint:" in result.output and "s/epoch" in result.output
    assert _state(out)["fakebench"]["overrides"] == {"epochs": 2, "batch_size": 8, "resize": 48, "crop": 40}
    again = CliRunner().invoke(train, args)
    assert again.exit_code == 0 and "already complete" in again.output


def test_cli_errors_are_one_line(tiny_train, tmp_path):
    runner = CliRunner()
    res = runner.invoke(train, ["cnnspot", "--train-dir", str(tiny_train), "--val-fraction", "0.25", "--out",
                                str(tmp_path / "c.pth")])
    assert res.exit_code == 1 and "--init imagenet" in res.output and "Traceback" not in res.output
    res = runner.invoke(train, ["npr", "--recipe", "univfd_probe", "--train-dir", str(tiny_train), "--out",
                                str(tmp_path / "n.pth")])
    assert res.exit_code == 1 and "trains 'univfd', not 'npr'" in res.output
    res = runner.invoke(train, ["npr", "--train-dir", str(tmp_path / "missing"), "--out", str(tmp_path / "n.pth")])
    assert res.exit_code == 1 and "does not exist" in res.output


def test_cli_dispatches_antifakeprompt(tmp_path, monkeypatch):
    calls = []
    module = types.ModuleType("fakebench.train.antifakeprompt")

    def train_prompt(**kwargs):
        calls.append(kwargs)
        return Path(kwargs["out"])

    module.train_prompt = train_prompt
    monkeypatch.setitem(sys.modules, "fakebench.train.antifakeprompt", module)
    real, fake = tmp_path / "real", tmp_path / "fake"
    res = CliRunner().invoke(train, ["antifakeprompt", "--real-dir", str(real), "--fake-dir", str(fake), "--out",
                                     str(tmp_path / "afp.pth"), "--val-real-dir", str(real), "--epochs", "3"])
    assert res.exit_code == 0, res.output
    assert calls == [{"real_dir": str(real), "fake_dir": str(fake), "out": str(tmp_path / "afp.pth"),
                      "val_real_dir": str(real), "val_fake_dir": None, "resume": True, "epochs": 3, "seed": 42,
                      "workers": 0, "progress": True}]
    res = CliRunner().invoke(train, ["antifakeprompt", "--train-dir", str(real), "--real-dir", str(real),
                                     "--fake-dir", str(fake), "--out", str(tmp_path / "afp.pth")])
    assert res.exit_code == 2 and "--train-dir" in res.output and len(calls) == 1
    # --workers and --quiet reach the prompt trainer (they were silently ignored before); --seed overrides 42
    res = CliRunner().invoke(train, ["antifakeprompt", "--real-dir", str(real), "--fake-dir", str(fake), "--out",
                                     str(tmp_path / "afp.pth"), "--workers", "2", "--quiet", "--seed", "7"])
    assert res.exit_code == 0, res.output
    assert (calls[-1]["workers"], calls[-1]["progress"], calls[-1]["seed"]) == (2, False, 7)
    # options of the recipe trainer are refused by name, with the list of what the prompt trainer takes
    res = CliRunner().invoke(train, ["antifakeprompt", "--real-dir", str(real), "--fake-dir", str(fake), "--out",
                                     str(tmp_path / "afp.pth"), "--init", "imagenet", "--set", "resize=64"])
    assert res.exit_code == 2 and "does not take --init, --set" in res.output and "--val-real-dir" in res.output


def test_trainer_specs_cover_every_trainable_detector_and_their_functions_exist():
    import importlib
    import inspect

    from fakebench.train.trainers import TRAINERS, get_trainer

    for spec in TRAINERS.values():
        module, _, name = spec.target.partition(":")
        function = getattr(importlib.import_module(module), name)
        params = inspect.signature(function).parameters
        # every shared option reaches the function under a name it takes
        for option in ("epochs", "batch_size", "lr", "seed", "device", "workers"):
            assert option in params, (spec.name, option)
    assert get_trainer("npr").default_seed == 0 and get_trainer("antifakeprompt").default_seed == 42
    with pytest.raises(Exception, match="Did you mean 'npr'"):
        get_trainer("nrp")


# -- held-out split ------------------------------------------------------------------------------------------------------
def test_split_keeps_training_and_evaluation_images_apart(tmp_path):
    root = tmp_path / "data"
    for label, kind in (("0_real", "real"), ("1_fake", "fake")):
        for i in range(5):
            make_image(root / "gen_a" / label / f"{i}.png", kind, size=16, seed=i)
            make_image(root / "gen_b" / label / f"{i}.png", kind, size=16, seed=10 + i)
    record = make_split(root, tmp_path / "split", {"gen_a": 3}, seed=0)
    split = tmp_path / "split"
    train_files = {p.relative_to(split / "train").as_posix() for p in (split / "train").rglob("*.png")}
    eval_files = {p.relative_to(split / "eval").as_posix() for p in (split / "eval" / "gen_a").rglob("*.png")}
    every = {p.relative_to(root).as_posix() for p in (root / "gen_a").rglob("*.png")}
    assert len(train_files) == 6 and len(eval_files) == 4
    assert not train_files & eval_files and train_files | eval_files == every
    assert (tmp_path / "split" / "eval" / "gen_b").is_symlink() and record["linked"] == ["gen_b"]
    assert record["counts"]["gen_a"]["1_fake"] == {"train": 3, "eval": 2}
    assert make_split(root, tmp_path / "split2", {"gen_a": 3}, seed=0)["sets"] == record["sets"]  # deterministic
    with pytest.raises(DataError, match="would leave none"):
        make_split(root, tmp_path / "split3", {"gen_a": 5})
    # rerunning reuses the split untouched (a training run may be reading it) and derives the manifest
    entry = {"suite": "s", "family": "gan", "labels": "mixed", "layout": "real_fake", "held_in": []}
    (tmp_path / "m.yaml").write_text(yaml.safe_dump({"schema_version": 1, "suites": {"s": {}}, "datasets": [
        {"name": "a", "generator": "A", "path": "gen_a", "expected_count": {"real": 5, "fake": 5}, **entry},
        {"name": "b", "generator": "B", "path": "gen_b", "expected_count": {"real": 5, "fake": 5}, **entry}]}))
    stamp = next((split / "train").rglob("*.png")).stat().st_mtime_ns
    again = make_split(root, split, {"gen_a": 3}, seed=0, manifest=tmp_path / "m.yaml", held_in=("npr.file",))
    assert again["reused"] and next((split / "train").rglob("*.png")).stat().st_mtime_ns == stamp
    derived = load_manifests([split / "manifest.yaml"])
    assert derived.get("a").expected_count == {"real": 2, "fake": 2} and derived.get("a").is_held_in("npr", "file")
    assert derived.get("b").expected_count == {"real": 5, "fake": 5} and not derived.get("b").held_in


# -- torchrun / DDP --------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_torchrun_two_processes_share_one_run(tiny_train, tmp_path):
    import os
    import subprocess

    from fakebench.detectors.npr import NPR

    out = tmp_path / "ddp" / "npr.pth"
    script = tmp_path / "run.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})\n"
        "from fakebench.train.loop import train_detector\n"
        f"train_detector('npr', out={str(out)!r}, train_dirs=[{str(tiny_train)!r}], val_fraction=0.25, epochs=2,\n"
        "               batch_size=6, overrides={'resize': 48, 'crop': 40}, progress=False, device='cpu')\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(script)], capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    state = _state(out)
    meta = state["fakebench"]
    assert meta["world_size"] == 2 and meta["epoch"] == 2
    assert state["total_steps"] == 6  # 18 training images, 3 per rank per step -> 3 steps per epoch
    assert run.stdout.count("npr epoch 2/2") == 1  # only rank 0 logs and writes
    assert NPR.load(out).weights.sha256
