"""The CLI end to end on generated images: evaluate (folder, real/fake dirs, manifest), predict, leaderboard, a user
detector plugged in with --plugin, and one-line errors."""

from __future__ import annotations

import json
import textwrap

import pandas as pd
import pytest
from click.testing import CliRunner

from cli import main


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    return invoke


def test_evaluate_data_dir_then_leaderboard(run, image_tree, npr_checkpoint, tmp_path):
    out = tmp_path / "runs"
    res = run("evaluate", "--detector", "npr", "--weights", npr_checkpoint, "--data-dir", image_tree, "--output", out,
              "--workers", "0", "--quiet")
    assert res.exit_code == 0, res.output
    run_dir = next(next(out.glob("npr.file-*@native")).glob("testset-*"))
    results = json.loads((run_dir / "results.json").read_text())
    assert [r["dataset"] for r in results["metrics"]["per_dataset"]] == ["gen_a", "gen_b"]
    assert results["detector"]["weights"]["sha256"] and results["detector"]["preset"]["name"] == "native"
    assert results["git_commit"] is not None and results["environment"]["packages"]["torch"]
    assert len(pd.read_csv(run_dir / "predictions.csv")) == 16
    assert "held-out mean" in (run_dir / "metrics.md").read_text()
    # second run: everything from the cache
    res = run("evaluate", "--detector", "npr", "--weights", npr_checkpoint, "--data-dir", image_tree, "--output",
              tmp_path / "runs2", "--workers", "0", "--quiet")
    assert "0 scored, 16 from cache" in res.output
    res = run("leaderboard", out, "--output", tmp_path / "board")
    assert res.exit_code == 0, res.output
    md = (tmp_path / "board" / "leaderboard.md").read_text()
    assert "| gen_a | gen_a |" in md and "npr.file-" in md
    wide = pd.read_csv(tmp_path / "board" / "leaderboard_acc.csv")
    assert list(wide["dataset"]) == ["gen_a", "gen_b", "mean", "held-out mean"]


def test_manifest_run_shows_published_numbers(run, image_tree, tmp_path):
    manifest = tmp_path / "m.yaml"
    manifest.write_text(textwrap.dedent(f"""
        schema_version: 1
        suites: {{toy: {{title: Toy, path: testset}}}}
        datasets:
          - {{name: toy-a, suite: toy, generator: A, family: gan, labels: mixed, layout: real_fake, path: gen_a,
             expected_count: {{real: 4, fake: 4}}, held_in: [toy-hf], published: {{toy-hf: {{acc: 87.5, source: t}}}}}}
          - {{name: toy-b, suite: toy, generator: B, family: diffusion, labels: mixed, layout: real_fake, path: gen_b,
             expected_count: {{real: 4, fake: 5}}}}
    """))
    res = run("evaluate", "--plugin", "_toy", "--detector", "toy-hf", "--manifest", manifest, "--suite", "toy",
              "--data-root", image_tree, "--output", tmp_path / "runs", "--workers", "0", "--quiet")
    assert res.exit_code == 0, res.output
    assert "toy-b: found 4 fake images, manifest expects 5" in res.output
    results = json.loads(next((tmp_path / "runs" / "toy-hf.none@native").glob("toy-*/results.json")).read_text())
    rows = results["metrics"]["per_dataset"]
    assert rows[0]["held_in"] and not rows[1]["held_in"] and rows[0]["acc"] == 1.0
    assert results["data"]["datasets"][0]["name"] == "toy-a" and results["data"]["manifest"]["sha256"]
    run("leaderboard", tmp_path / "runs", "--output", tmp_path / "board")
    # Wilson interval of 8/8 (issue #16: never zero width at n/n)
    assert "| toy-a | A | 100.00 [67.56, 100.00] (87.50) [n=8] |" in (tmp_path / "board" / "leaderboard.md").read_text()


def test_real_and_fake_dirs(run, image_tree, tmp_path):
    res = run("evaluate", "--plugin", "_toy", "--detector", "toy-hf", "--real-dir", image_tree / "gen_a" / "0_real",
              "--fake-dir", image_tree / "gen_b" / "1_fake", "--output", tmp_path / "o", "--workers", "0", "--quiet")
    assert res.exit_code == 0, res.output
    results = json.loads(next((tmp_path / "o").rglob("results.json")).read_text())
    row = results["metrics"]["per_dataset"][0]
    assert (row["n_real"], row["n_fake"]) == (4, 4)


def test_user_detector_module_without_touching_the_runner(run, image_tree, tmp_path, monkeypatch):
    """The README recipe: a detector class in the user's own module, registered with the decorator."""
    (tmp_path / "my_detector.py").write_text(textwrap.dedent("""
        import torch
        from fakebench.detectors import register_detector
        from fakebench.detectors.base import Detector, DetectorOutput, WeightsInfo
        from fakebench.detectors.card import DetectorCard, Preset

        @register_detector("brightness")
        class Brightness(Detector):
            card = DetectorCard(name="brightness", title="Brightness", paper="-", paper_url="", repo="",
                                licence="MIT", architecture="mean pixel", score="probability", weights=(),
                                presets=(Preset("native"),), default_preset="native")

            @classmethod
            def load(cls, weights=None, *, preset=None, device="cpu", cache_dir=None):
                return cls(preset=preset, weights=WeightsInfo(tag="none"), device=device)

            def predict(self, batch):
                prob = torch.sigmoid(batch.mean(dim=(1, 2, 3)))
                return DetectorOutput(prob=prob, logit=torch.logit(prob))
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    res = run("evaluate", "--plugin", "my_detector", "--detector", "brightness", "--data-dir", image_tree,
              "--output", tmp_path / "o", "--workers", "0", "--quiet")
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "o" / "brightness.none@native").glob("testset-*/results.json"))) == 1
    res = run("list", "detectors", "--plugin", "my_detector")
    assert "brightness" in res.output


def test_predict_single_images(run, image_tree, npr_checkpoint):
    images = sorted((image_tree / "gen_a" / "1_fake").glob("*.png"))[:2]
    res = run("predict", "--detector", "npr", "--weights", npr_checkpoint, *images)
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert lines[0] == "image\tfake_prob\tlogit\tdecision" and len(lines) == 3
    prob = float(lines[1].split("\t")[1])
    assert 0 <= prob <= 1 and lines[1].endswith("Fake" if prob > 0.5 else "Real")


@pytest.mark.parametrize("args,message", [
    (["evaluate", "--detector", "nrp", "--data-dir", "."], "Error: Unknown detector 'nrp'. Did you mean 'npr'?"),
    (["evaluate", "--detector", "npr", "--weights", "/nope/x.pth", "--data-dir", "."], "/nope/x.pth' does not exist"),
    (["evaluate", "--detector", "npr", "--weights", "pape", "--data-dir", "."], "Did you mean 'paper'?"),
    (["list", "datasets", "--manifest", "/nope.yaml"], "Manifest /nope.yaml does not exist"),
    (["leaderboard", "/nope"], "/nope does not exist"),
])
def test_user_errors_are_one_line(args, message):
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1
    assert message in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1


def test_missing_data_dir_is_one_line(npr_checkpoint, tmp_path):
    res = CliRunner().invoke(main, ["evaluate", "--detector", "npr", "--weights", str(npr_checkpoint), "--data-dir",
                                    str(tmp_path / "none")])
    assert res.exit_code == 1 and "does not exist. Check the --data-dir path." in res.output


@pytest.mark.parametrize("command", ["predict", "gradcam"])
def test_predict_and_gradcam_isolate_images_the_detector_fails_on(command, image_tree, npr_checkpoint, tmp_path):
    """Issue #20 item 4: a 1x1 and a 1x300 image make NPR fail; each gets an error line naming the file, the later
    image is still scored, and the command ends with one summary line, no traceback."""
    from PIL import Image

    tiny, thin = tmp_path / "tiny.png", tmp_path / "thin.png"
    Image.new("RGB", (1, 1), (10, 20, 30)).save(tiny)
    Image.new("RGB", (1, 300), (10, 20, 30)).save(thin)
    good = sorted((image_tree / "gen_a" / "1_fake").glob("*.png"))[0]
    args = ["--detector", "npr", "--weights", str(npr_checkpoint), str(tiny), str(thin), str(good)]
    if command == "predict":
        args = ["predict", "--device", "cpu", *args]
    else:
        args = ["explain", "--explainer", "gradcam", "--device", "cpu", "--output", str(tmp_path / "cam"), *args]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1, res.output
    assert not isinstance(res.exception, RuntimeError) and "Traceback" not in res.output
    lines = res.output.strip().splitlines()
    for bad in (tiny, thin):
        (line,) = [ln for ln in lines if ln.startswith(str(bad))]
        assert "error" in line and "npr failed on this image" in line, line
    (scored,) = [ln for ln in lines if ln.startswith(str(good))]
    assert "error" not in scored
    assert "2 of 3 images" in lines[-1]
    if command == "gradcam":
        rows = pd.read_csv(tmp_path / "cam" / "gradcam.csv")
        assert rows["error"].notna().tolist() == [True, True, False]


@pytest.mark.parametrize("command", ["predict", "evaluate", "gradcam"])
def test_unknown_detector_option_is_one_line(command, image_tree, npr_checkpoint, tmp_path):
    """Issue #20 item 6: ``-O foo=bar`` that the detector's load() does not take is a one-line error listing what it
    takes, not a raw TypeError."""
    image = str(sorted((image_tree / "gen_a" / "1_fake").glob("*.png"))[0])
    common = ["--detector", "npr", "--weights", str(npr_checkpoint), "-O", "foo=bar"]
    args = {"predict": ["predict", *common, image],
            "evaluate": ["evaluate", *common, "--data-dir", str(image_tree), "--output", str(tmp_path / "o"),
                         "--workers", "0", "--quiet"],
            "gradcam": ["explain", "--explainer", "gradcam", "--output", str(tmp_path / "c"), *common, image]}[command]
    res = CliRunner().invoke(main, args)
    assert res.exit_code != 0 and isinstance(res.exception, SystemExit), (res.exception, res.output)
    assert "does not take the option(s) foo" in res.output and len(res.output.strip().splitlines()) == 1


@pytest.mark.parametrize("args,extra", [
    (["report", "{run}", "--output", "{tmp}/rep"], "report"),
    (["leaderboard", "{run}", "--output", "{tmp}/board", "--html"], "report"),
    (["evaluate", "--detector", "npr", "--weights", "{ckpt}", "--data-dir", "{tree}", "--output", "{tmp}/o",
      "--report", "--workers", "0", "--quiet"], "report"),
    (["explain", "--explainer", "llava", "--output", "{tmp}/x", "{image}"], "explain"),
    (["evaluate", "--detector", "antifakeprompt", "--data-dir", "{tree}", "--output", "{tmp}/o"], "afp"),
    (["predict", "--detector", "instructblip", "{image}"], "afp"),
])
def test_a_missing_extra_is_one_line_before_any_work(args, extra, image_tree, npr_checkpoint, tmp_path, monkeypatch):
    """Issue #20: with the core install only (the extra's modules hidden), each command that needs an extra says so
    in one line naming it (``pip install "fakebench[report]"``) before doing any work (no run folder written)."""
    import importlib.util

    hidden = {"matplotlib", "transformers", "sentencepiece", "accelerate", "peft", "pytorch_grad_cam"}
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name.split(".")[0] in hidden else real_find_spec(name, *a, **k))
    image = sorted((image_tree / "gen_a" / "1_fake").glob("*.png"))[0]
    values = {"run": str(tmp_path / "none"), "tmp": str(tmp_path), "ckpt": str(npr_checkpoint), "tree": str(image_tree),
              "image": str(image)}
    (tmp_path / "none").mkdir()
    res = CliRunner().invoke(main, [a.format(**values) for a in args])
    assert res.exit_code == 1, res.output
    assert f'pip install "fakebench[{extra}]"' in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "o").exists()


def _commands():
    import click

    from fakebench.cli import main as group
    from fakebench.cli.probe import probe_train as probe

    found = [("train probe", probe)]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += [(f"{name} {sub}", c) for sub, c in command.commands.items()]
        else:
            found.append((name, command))
    return found


def test_one_option_vocabulary():
    """Issue #20: ``--output`` everywhere (``--out`` kept as an alias), ``-q/--quiet`` everywhere, device ``auto``
    (CUDA when present) for every command with a device, help text without ``%%`` and with the real pixel budget."""
    import click

    from fakebench.eval.runner import CPU_MAX_PIXELS

    for name, command in _commands():
        params = {p.name: p for p in command.params if isinstance(p, click.Option)}
        if "quiet" in params:
            assert "-q" in params["quiet"].opts, name
        if any("--out" in p.opts for p in params.values()):  # --out only as an alias, or beside an --output
            assert any("--output" in p.opts for p in params.values()), name
        if "device" in params:
            assert params["device"].default in ("auto", None), (name, params["device"].default)
            assert "auto" in (params["device"].help or ""), name
        for option in params.values():
            assert "%%" not in (option.help or ""), (name, option.name)
    evaluate = dict(_commands())["evaluate"]
    budget = next(p for p in evaluate.params if p.name == "max_pixels_per_batch")
    assert f"{CPU_MAX_PIXELS:,}" in budget.help and "16 million" not in budget.help


def test_device_auto_resolves_to_what_is_present(monkeypatch):
    import torch

    from fakebench.cli.common import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu" and resolve_device(None) == "cpu" and resolve_device("cuda:1") == "cuda:1"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"


def test_console_table_of_a_fake_only_set_shows_no_real_acc(run, image_tree, tmp_path):
    """Issue #20: a fake-only set pooled with its real reference prints no real acc beside its ``n_real 0`` (that
    number belongs to the reference set's own row), and every percentage has two decimals."""
    manifest = tmp_path / "m.yaml"
    manifest.write_text(textwrap.dedent("""
        schema_version: 1
        suites: {toy: {title: Toy, path: testset}}
        datasets:
          - {name: photos, suite: toy, generator: real, family: real, labels: real, layout: folder, path: gen_a/0_real}
          - {name: renders, suite: toy, generator: B, family: diffusion, labels: fake, layout: folder,
             path: gen_b/1_fake, real_reference: [photos]}
    """))
    res = run("evaluate", "--plugin", "_toy", "--detector", "toy-hf", "--manifest", manifest, "--suite", "toy",
              "--data-root", image_tree, "--output", tmp_path / "runs", "--workers", "0", "-q")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    (renders,) = [ln for ln in lines if ln.split()[:1] == ["renders"]]
    (photos,) = [ln for ln in lines if ln.split()[:1] == ["photos"]]
    assert "real acc" in lines[0]
    column = lines[0].index("real acc")
    assert renders[column:column + len("real acc")].strip() == ""  # blank for the fake-only set
    assert photos[column:column + len("real acc")].strip() != ""
    import re

    numbers = re.findall(r"\d+\.\d+", "\n".join(lines[1:5]))
    assert numbers and all(len(n.split(".")[1]) == 2 for n in numbers)
    assert max(len(ln) for ln in lines[:5]) <= 120


def test_list_detectors_shows_every_licence(run):
    """Issue #17: the plain listing names each detector's licence; restrictive ones (B-Free non-profit, Effort
    CC BY-NC, LaDeDa research-only) say so without -v."""
    out = run("list", "detectors").output
    from fakebench import detectors

    blocks = out.split("\n")
    for name in detectors.list_detectors():
        i = next(k for k, line in enumerate(blocks) if line.startswith(name + " "))
        assert blocks[i + 2].strip().startswith("licence: "), (name, blocks[i:i + 3])
    for name, word in (("bfree", "NONPROFIT"), ("effort", "NC"), ("ladeda", "research")):
        i = next(k for k, line in enumerate(blocks) if line.startswith(name + " "))
        assert "RESTRICTIVE" in blocks[i + 2] and word in blocks[i + 2], blocks[i + 2]


def test_one_n_boot_minimum():
    """Issue #20: every command's ``--n-boot`` has the same minimum (``MIN_N_BOOT``: BCa/percentile intervals are
    not meaningful from a few dozen resamples), says it the same way in ``--help``, and refuses fewer; 0 turns the
    bootstrap off where a command can run without it."""
    import click

    from fakebench.cli.common import MIN_N_BOOT

    found = {}
    for name, command in _commands():
        for p in command.params:
            if isinstance(p, click.Option) and p.name == "n_boot":
                found[name] = p
    assert {"evaluate", "compare", "audit"} <= set(found), sorted(found)
    for name, option in found.items():
        assert f"at least {MIN_N_BOOT}" in option.help, (name, option.help)
        ctx = click.Context(click.Command("x"))
        with pytest.raises(click.BadParameter):
            option.type.convert(MIN_N_BOOT - 1, option, ctx)
        assert option.type.convert(MIN_N_BOOT, option, ctx) == MIN_N_BOOT
    assert found["evaluate"].type.convert(0, found["evaluate"], click.Context(click.Command("x"))) == 0


def test_console_table_fits_120_columns_with_paper_columns():
    """Issue #20: the final console table fits 120 columns with two decimals throughout, even with long set names
    and published (paper) columns; every value stays visible (paper columns move to a second table if needed)."""
    import pandas as pd

    from fakebench.eval.tables import console_table

    rows = [{"dataset": f"shared-sentry-mpbench-stylegan3-t-metfaces-1024x1024-{k}",
             "generator": f"stylegan3-t-metfaces-1024x1024 (mpbench) {k}", "held_in": k == 0, "n_real": 1000,
             "n_fake": 1000, "acc": 91.234 + k, "real_acc": 88.5, "fake_acc": 93.9, "ap": 97.25, "auc": 96.0,
             "paper_acc": 90.1, "paper_ap": 99.4} for k in range(12)]
    rows.append({"dataset": "mean", "generator": "12 sets", "acc": 92.0, "real_acc": 88.5, "fake_acc": 93.9,
                 "ap": 97.25, "auc": 96.0})
    text = console_table(pd.DataFrame(rows), width=120)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 120, "\n".join(line for line in lines if len(line) > 120)
    assert "91.23" in text and "102.23" in text and "90.10" in text and "99.40" in text and "mean" in text
    assert "91.234" not in text  # two decimals
    shown = [line.split()[0] for line in lines if line.startswith("shared")]
    assert len(set(shown)) == len(shown)  # shortened names stay distinct
    narrow = console_table(pd.DataFrame(rows).drop(columns=["paper_acc", "paper_ap"]), width=200)
    assert "shared-sentry-mpbench-stylegan3-t-metfaces-1024x1024-11" in narrow  # nothing cut when it fits


def test_evaluate_label_names_the_run_and_a_bad_label_is_refused_before_loading(run, image_tree, tmp_path):
    """Issue #20: ``evaluate --label`` records a readable run name (results.json ``run.label``) that the leaderboard
    shows; the canonical ``name.weights@preset`` stays in the results; a multi-line label is refused up front."""
    import json

    res = run("evaluate", "--plugin", "_toy", "--detector", "toy-hf", "--data-dir", image_tree, "--output",
              tmp_path / "runs", "--workers", "0", "-q", "--label", "toy, first try", "--n-boot", "0")
    assert res.exit_code == 0, res.output
    assert "run: toy, first try (toy-hf.none@" in res.output
    (path,) = (tmp_path / "runs").rglob("results.json")
    results = json.loads(path.read_text())
    assert results["run"]["label"] == "toy, first try" and results["detector"]["name"] == "toy-hf"
    board = run("leaderboard", str(tmp_path / "runs"), "--output", tmp_path / "board")
    assert board.exit_code == 0, board.output
    assert "toy, first try" in (tmp_path / "board" / "leaderboard.md").read_text()
    bad = run("evaluate", "--plugin", "_toy", "--detector", "toy-hf", "--data-dir", image_tree, "--output",
              tmp_path / "runs2", "--label", "two\nlines")
    assert bad.exit_code == 2 and "--label" in bad.output and "one line" in bad.output
    assert not (tmp_path / "runs2").exists()
