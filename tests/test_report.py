"""The HTML report: figures are checked for content (the plotted ROC curve has the reported AUC, the PR curve the
reported AP, the marked 0.5 point the reported real/fake acc, the gallery lists exactly the largest errors), the file
is self-contained, every section is there, and its size stays bounded."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

pytest.importorskip("matplotlib")

from click.testing import CliRunner  # noqa: E402
from conftest import make_image  # noqa: E402
from _toy import ToyHF  # noqa: E402

from fakebench.analysis.calibration import reliability_curve  # noqa: E402
from fakebench.core.errors import DataError  # noqa: E402
from fakebench.eval.harness import run_evaluation, sets_from_data_dir  # noqa: E402
from fakebench.eval.runner import read_predictions  # noqa: E402
from fakebench.report import build_report, write_report  # noqa: E402

SECTIONS = ("headline", "summary", "leaderboard", "heatmaps", "curves", "histograms", "calibration", "robustness", "bias-audit",
            "gallery", "provenance")
MAX_GALLERY = 2


def make_tree(root: Path, generators: int = 2, n: int = 6, size: int = 48) -> Path:
    """``root/gen_k/{0_real,1_fake}``; a few images in each folder are drawn as the other class, so the toy detector
    makes confident errors and AUC < 1."""
    for g in range(generators):
        for i in range(n):
            make_image(root / f"gen_{g}" / "0_real" / f"r{i}.png", "fake" if i < 2 else "real", size=size,
                       seed=1000 * g + i)
            make_image(root / f"gen_{g}" / "1_fake" / f"f{i}.png", "real" if i < 1 + g % 2 else "fake", size=size,
                       seed=1000 * g + 500 + i)
    return root


def evaluate(root: Path, output: Path, preset: str) -> Path:
    ToyHF.calls, ToyHF.fail_after = 0, None
    detector = ToyHF.load(preset=preset)
    run_dir, _ = run_evaluation(detector, sets_from_data_dir(root), output=output, data_label="toyset",
                                num_workers=0, use_cache=False, progress=False)
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    base = tmp_path_factory.mktemp("report_runs")
    root = make_tree(base / "images")
    return [evaluate(root, base / "runs", "native"), evaluate(root, base / "runs", "resize32")]


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory) -> tuple[Path, str, dict]:
    out = tmp_path_factory.mktemp("report")
    path = write_report(runs, out, title="Toy report", max_gallery=MAX_GALLERY)
    text = path.read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script type="application/json" id="fakebench-data">(.*?)</script>', text,
                                re.S).group(1))
    return path, text, data


def results_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def test_plotted_roc_area_and_pr_ap_equal_reported_metrics(runs, report):
    _, _, data = report
    assert [r["source"] for r in data["runs"]] == [str((r / "results.json").resolve()) for r in runs]
    checked = []
    for run_dir, run in zip(runs, data["runs"]):
        for row in results_of(run_dir)["metrics"]["per_dataset"]:
            curves = run["sets"][row["dataset"]]["curves"]
            fpr, tpr = np.array(curves["roc"]["fpr"]), np.array(curves["roc"]["tpr"])
            area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
            assert area == pytest.approx(row["auc"], abs=1e-6)
            recall, precision = np.array(curves["pr"]["recall"]), np.array(curves["pr"]["precision"])
            assert -np.sum(np.diff(recall) * precision[:-1]) == pytest.approx(row["ap"], abs=1e-6)
            half = curves["points"]["threshold 0.5"]
            assert 1 - half["fpr"] == pytest.approx(row["real_acc"]) and half["tpr"] == pytest.approx(row["fake_acc"])
            checked.append(row["auc"])
    assert len(checked) == 4 and min(checked) < 1.0  # the label noise makes the curves non-trivial


def test_pooled_curve_is_all_images_of_the_run(runs, report):
    from sklearn.metrics import roc_auc_score

    _, _, data = report
    for run_dir, run in zip(runs, data["runs"]):
        pred = read_predictions(run_dir / "predictions.csv")
        fpr, tpr = np.array(run["pooled"]["roc"]["fpr"]), np.array(run["pooled"]["roc"]["tpr"])
        area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
        assert area == pytest.approx(roc_auc_score(pred["label"], pred["logit"]), abs=1e-6)


def test_reliability_bins_are_the_analysis_bins(runs, report):
    _, _, data = report
    pred = read_predictions(runs[0] / "predictions.csv")
    expected = reliability_curve(pred["label"].to_numpy(), pred["prob"].to_numpy(), n_bins=15)
    expected = expected[expected["count"] > 0]
    got = data["runs"][0]["reliability"]["bins"]
    assert [b["count"] for b in got] == expected["count"].tolist()
    assert [b["frac_fake"] for b in got] == pytest.approx(expected["frac_fake"].tolist())


def _gallery(text: str) -> list[dict[str, str]]:
    return [dict(re.findall(r'data-(set|run|class|image|prob)="([^"]*)"', m))
            for m in re.findall(r'<figure class="thumb[^>]*>', text)]


def test_gallery_lists_exactly_the_most_confident_errors(runs, report):
    _, text, data = report
    shown = _gallery(text)
    assert shown, "the toy runs have errors, so the gallery cannot be empty"
    for run_dir, run in zip(runs, data["runs"]):
        pred = read_predictions(run_dir / "predictions.csv")
        for dataset, own in pred.groupby("dataset"):
            real_err = own[(own["label"] == 0) & (own["prob"] > 0.5)].sort_values("logit", ascending=False)
            fake_err = own[(own["label"] == 1) & (own["prob"] <= 0.5)].sort_values("logit", ascending=True)
            for cls, expected in (("real", real_err), ("fake", fake_err)):
                listed = [s["image"] for s in shown if s["set"] == dataset and s["run"] == run["label"]
                          and s["class"] == cls]
                assert listed == expected["image"].head(MAX_GALLERY).tolist()
    thumbs = re.findall(r'<figure class="thumb[^>]*><img src="data:image/jpeg;base64,([^"]+)"', text)
    assert len(thumbs) == len(shown)
    for b64 in thumbs:
        with Image.open(io.BytesIO(base64.b64decode(b64))) as img:
            assert img.format == "JPEG" and max(img.size) <= 128


def test_self_contained_sections_figures_and_size(report):
    path, text, _ = report
    assert not re.search(r'(?:src|href)\s*=\s*["\']?\s*(?:https?:)?//', text, re.I)
    assert not re.search(r"<link\b|@import|url\(", text, re.I)
    for section in SECTIONS:
        assert f'<section id="{section}"' in text
    srcs = re.findall(r'<img src="([^"]*)"', text)
    assert srcs and all(s.startswith("data:image/") for s in srcs)
    figure_ids = re.findall(r'<figure id="fig-([^"]+)" class="plot"><img src="data:image/png;base64,([^"]+)"', text)
    names = {n for n, _ in figure_ids}
    assert {"heatmap-acc", "heatmap-ap", "curves-pooled", "curves-roc-per-set", "curves-pr-per-set",
            "curves-det-per-set", "reliability"} <= names
    for name, b64 in figure_ids:
        png = base64.b64decode(b64)
        assert (path.parent / "figures" / f"{name}.png").read_bytes() == png
        assert (path.parent / "figures" / f"{name}.svg").read_text().lstrip().startswith("<?xml")
        with Image.open(io.BytesIO(png)) as img:
            assert img.size[0] > 200 and img.size[1] > 100
    assert len(re.findall(r"<figcaption>", text)) >= len(figure_ids)
    assert path.stat().st_size < 2_000_000


def test_leaderboard_shows_n_sets_and_ci_when_present(runs, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(runs[0], run_dir)
    results = results_of(run_dir)
    row = results["metrics"]["per_dataset"][0]
    row["ci"] = {"acc": [row["acc"] - 0.1, min(1.0, row["acc"] + 0.05)]}
    results["calibrated_threshold"] = 0.3
    (run_dir / "results.json").write_text(json.dumps(results))
    text = write_report([run_dir], tmp_path / "out").read_text()
    acc = row["acc"]
    assert f"{100 * acc:.2f} [{100 * (acc - 0.1):.2f}, {100 * min(1.0, acc + 0.05):.2f}]" in text
    assert f"{row['n']} ({row['n_real']} / {row['n_fake']})" in text
    assert "<td class=\"num\">2</td>" in text  # number of sets in the means table
    data = json.loads(re.search(r'id="fakebench-data">(.*?)</script>', text, re.S).group(1))
    point = data["runs"][0]["sets"][row["dataset"]]["curves"]["points"]["calibrated"]
    own = read_predictions(run_dir / "predictions.csv").query("dataset == @row['dataset']")
    assert point["fpr"] == pytest.approx(float((own.query("label == 0")["prob"] > 0.3).mean()))
    assert "square = calibrated threshold" in text


def test_robustness_and_bias_panels_from_sibling_files(runs, tmp_path):
    run_dir = tmp_path / "toy" / "toyset"
    shutil.copytree(runs[0], run_dir)
    rows = [{"perturbation": kind, "severity": q, "spec": f"{kind}:{q}", "dataset": d, "n": 12,
             "acc": a, "real_acc": a, "fake_acc": a, "ap": a, "auc": a}
            for d in ("gen_0", "gen_1", "mean")
            for kind, q, a in (("none", 0.0, 0.95), ("jpeg", 95.0, 0.9), ("jpeg", 75.0, 0.7), ("jpeg", 50.0, 0.55))]
    robust = tmp_path / "toy" / "robust-jpeg"
    robust.mkdir()
    (robust / "robustness.json").write_text(json.dumps({
        "schema": "fakebench.robustness/1", "detector": {"name": "toy-hf"}, "perturbations": ["jpeg:95,75,50"],
        "rows": rows, "area": [{"perturbation": "jpeg", "dataset": "gen_0", "metric": "acc", "area": 0.123}]}))
    (run_dir / "bias_audit.json").write_text(json.dumps({"schema": "fakebench.bias_audit/1", "sets": [
        {"dataset": "gen_0", "n_real": 6, "n_fake": 6, "shortcut_auc": 0.93, "shortcut_auc_ci": [0.8, 1.0],
         "flagged": True, "top_features": ["jpeg_quality"], "formats": {"real": {"JPEG": 6}, "fake": {"PNG": 6}}},
        {"dataset": "gen_1", "n_real": 6, "n_fake": 6, "shortcut_auc": 0.52, "shortcut_auc_ci": [0.3, 0.7],
         "flagged": False, "top_features": [], "formats": {"real": {"PNG": 6}, "fake": {"PNG": 6}}}]}))
    path, figures = build_report([run_dir], tmp_path / "out")
    text = path.read_text()
    data = json.loads(re.search(r'id="fakebench-data">(.*?)</script>', text, re.S).group(1))
    assert data["robustness"][0]["rows"] == rows
    assert data["bias_audit"][0]["sets"][0]["flagged"] is True
    assert 'id="fig-robustness-1"' in text and 'id="fig-bias-audit-1"' in text
    svg = (tmp_path / "out" / "figures" / "robustness-1.svg").read_text()
    assert "JPEG quality (1-100)" in svg and "unperturbed" in svg and "none:" not in svg
    assert "0.930 [0.800, 1.000]" in text and "FLAGGED" in text and "flagged: gen_0" in text
    assert "0.1230" in text
    assert {p.name for p in figures} >= {"robustness-1.png", "robustness-1.svg", "bias-audit-1.png"}


def test_refuses_predictions_that_do_not_match_results(runs, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(runs[0], run_dir)
    pred = pd.read_csv(run_dir / "predictions.csv")
    pred.loc[pred["label"] == 1, "logit"] *= -1  # a different ranking than results.json was computed from
    pred.to_csv(run_dir / "predictions.csv", index=False)
    with pytest.raises(DataError, match="do not belong together"):
        write_report([run_dir], tmp_path / "out")
    (run_dir / "predictions.csv").unlink()
    with pytest.raises(DataError, match="predictions.csv is missing"):
        write_report([run_dir], tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="No results.json found"):
        write_report([tmp_path / "empty"], tmp_path / "out2")


def test_cli_command(runs, tmp_path):
    from fakebench.cli.report import report as report_cmd

    res = CliRunner().invoke(report_cmd, [str(runs[0]), str(runs[1] / "results.json"), "--output",
                                          str(tmp_path / "rep"), "--title", "CLI <title>", "--max-gallery", "1"])
    assert res.exit_code == 0, res.output
    assert "report.html" in res.output
    text = (tmp_path / "rep" / "report.html").read_text()
    assert "<title>CLI &lt;title&gt;</title>" in text
    assert len({(g["set"], g["run"], g["class"]) for g in _gallery(text)}) == len(_gallery(text))
    res = CliRunner().invoke(report_cmd, [str(tmp_path / "rep"), "--output", str(tmp_path / "rep2")])
    assert res.exit_code != 0 and "No results.json found" in res.output


@pytest.mark.slow
def test_fifty_sets_stay_under_10_mb(tmp_path):
    root = make_tree(tmp_path / "images", generators=50, n=3, size=128)
    run_dir = evaluate(root, tmp_path / "runs", "native")
    path = write_report([run_dir], tmp_path / "out", max_gallery=3)
    size = path.stat().st_size
    assert len(results_of(run_dir)["metrics"]["per_dataset"]) == 50
    assert size < 10_000_000, f"report.html is {size / 1e6:.1f} MB for 50 sets"


def test_long_curves_are_thinned_but_keep_the_exact_area():
    from fakebench.eval.metrics import average_precision, roc_auc
    from fakebench.report.curves import MAX_POINTS, curve_data

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 5000)
    score = np.round(rng.normal(y * 0.8, 1.0), 3)  # ties included
    data = curve_data(y, 1 / (1 + np.exp(-score)), score, score_is_logit=True)
    assert data["auc"] == pytest.approx(roc_auc(y, score), abs=1e-9)
    assert len(data["roc"]["fpr"]) <= MAX_POINTS + 2 and len(data["pr"]["recall"]) <= MAX_POINTS + 2
    assert data["roc"]["fpr"][0] == 0.0 and data["roc"]["tpr"][-1] == 1.0
    assert data["operating"]["eer"] == pytest.approx(1 - data["points"]["EER"]["tpr"])
    assert 0 < average_precision(y, score) < 1


# -- Grad-CAM in the error gallery ---------------------------------------------------------------------------------
def _decode(b64: str) -> np.ndarray:
    with Image.open(io.BytesIO(base64.b64decode(b64))) as img:
        return np.asarray(img.convert("RGB"), dtype=np.float64)


@pytest.fixture
def npr_run(npr_checkpoint, tmp_path) -> Path:
    """An untrained NPR (a checkpoint file) run on two tiny test sets: it makes confident errors."""
    pytest.importorskip("pytorch_grad_cam")
    from fakebench.detectors import get_detector_class

    root = make_tree(tmp_path / "tiny", generators=2, n=3, size=32)
    detector = get_detector_class("npr").load(npr_checkpoint, preset="native")
    run_dir, _ = run_evaluation(detector, sets_from_data_dir(root), output=tmp_path / "runs", data_label="tiny",
                                num_workers=0, use_cache=False, progress=False, n_boot=0)
    return run_dir


_FIG = re.compile(r'<figure class="thumb[^"]*"[^>]*>(.*?)</figure>', re.S)
_IMG = re.compile(r'<img src="data:image/jpeg;base64,([^"]+)"( class="gradcam")?')


def test_gradcam_overlay_beside_each_gallery_thumbnail(npr_run, runs, tmp_path):
    path = write_report([npr_run, runs[0]], tmp_path / "out", max_gallery=MAX_GALLERY, gradcam=True)
    text = path.read_text()
    npr_label = next(g["run"] for g in _gallery(text) if g["run"].startswith("npr."))
    figures = [(dict(re.findall(r'data-(run|image)="([^"]*)"', m.group(0))), _IMG.findall(m.group(1)))
               for m in _FIG.finditer(text)]
    npr_figs = [(meta, imgs) for meta, imgs in figures if meta["run"] == npr_label]
    toy_figs = [(meta, imgs) for meta, imgs in figures if meta["run"] != npr_label]
    assert npr_figs and toy_figs
    for _, imgs in npr_figs:  # one plain thumbnail, then one overlay, of the same size cap
        assert [bool(c) for _, c in imgs] == [False, True]
        plain, cam = _decode(imgs[0][0]), _decode(imgs[1][0])
        assert max(cam.shape[:2]) <= 128
        assert plain.shape == cam.shape  # the native preset feeds the image at its own size
        assert np.abs(plain - cam).mean() > 5.0  # the heatmap is really blended in
    for _, imgs in toy_figs:  # an unsupported detector keeps plain thumbnails, with a note
        assert [bool(c) for _, c in imgs] == [False]
    assert "Grad-CAM is available for npr, cnnspot, univfd, not toy-hf" in text
    data = json.loads(re.search(r'id="fakebench-data">(.*?)</script>', text, re.S).group(1))
    assert [r["gradcam"]["shown"] for r in data["runs"]] == [True, False]


def test_gradcam_overlay_is_the_detectors_map(npr_run, npr_checkpoint, tmp_path):
    """The overlay shown is overlay(input_view, gradcam) of the reloaded detector, not some other picture."""
    from fakebench.detectors import get_detector_class
    from fakebench.explain.gradcam import gradcam, input_view, overlay

    text = write_report([npr_run], tmp_path / "out", max_gallery=1, gradcam=True).read_text()
    match = next(m for m in _FIG.finditer(text))
    image = dict(re.findall(r'data-(image)="([^"]*)"', match.group(0)))["image"]
    cam = _decode(_IMG.findall(match.group(1))[1][0])
    detector = get_detector_class("npr").load(npr_checkpoint, preset="native")
    with Image.open(image) as img:
        expected = overlay(input_view(detector, img), gradcam(detector, img))
        expected.thumbnail((128, 128))
    buf = io.BytesIO()
    expected.save(buf, format="JPEG", quality=80, optimize=True)  # the report's thumbnail encoding
    assert np.abs(cam - _decode(base64.b64encode(buf.getvalue()))).mean() < 1.0


def test_gradcam_with_missing_weights_says_so_and_shows_plain_thumbnails(npr_run, npr_checkpoint, tmp_path):
    from fakebench.cli.report import report as report_cmd

    npr_checkpoint.unlink()
    res = CliRunner().invoke(report_cmd, [str(npr_run), "--output", str(tmp_path / "rep"), "--gradcam"])
    assert res.exit_code == 0, res.output
    text = (tmp_path / "rep" / "report.html").read_text()
    assert f"its weights file {npr_checkpoint} is missing here" in text
    figures = [_IMG.findall(m.group(1)) for m in _FIG.finditer(text)]
    assert figures and all([bool(c) for _, c in imgs] == [False] for imgs in figures)
    assert 'class="gradcam"' not in text


def test_gradcam_refuses_weights_that_are_not_the_scored_ones(npr_run, npr_checkpoint, tmp_path):
    import torch
    from fakebench.detectors.npr import NPRNet

    torch.manual_seed(1)
    torch.save(NPRNet().state_dict(), npr_checkpoint)  # same path, other weights
    text = write_report([npr_run], tmp_path / "out", gradcam=True).read_text()
    assert "are not the ones scored" in text and 'class="gradcam"' not in text


@pytest.mark.parametrize("detector, note", [
    ({"name": "antifakeprompt", "weights": {"tag": "x"}}, "Grad-CAM is available for npr, cnnspot, univfd, not "
                                                          "antifakeprompt"),
    ({"name": "npr", "weights": {"tag": "random-init"}}, "randomly initialised"),
    ({"name": "cnnspot", "weights": {"tag": "file", "path": "/nope/w.pth"}}, "weights file /nope/w.pth is missing"),
    ({"name": "univfd", "weights": {"tag": "file", "path": __file__},
      "identity": {"backbone": {"name": "openai-format state dict", "sha256": "0" * 64}}}, "does not record where"),
    ({"name": "univfd", "weights": {"tag": "file", "path": __file__},
      "identity": {"backbone": {"name": "openai-format state dict", "path": "/nope/clip.pt"}}},
     "backbone file /nope/clip.pt is missing"),
])
def test_gradcam_reload_notes_instead_of_errors(detector, note):
    from fakebench.report.gradcam import reload_detector

    got, why = reload_detector({"detector": {"preset": {"name": "native"}, **detector}})
    assert got is None and note in why


def test_refuses_unknown_schema_a_json_list_and_non_utf8_predictions(runs, tmp_path):
    """Issue #20 items 2 and 6: every reader refuses a results.json of an unknown major schema (as the leaderboard
    does), and a results.json holding a JSON list or a predictions.csv that is not UTF-8 is one DataError naming
    the file, not a traceback."""
    from fakebench.cli.report import report as report_cmd

    run_dir = tmp_path / "run"
    shutil.copytree(runs[0], run_dir)
    results = json.loads((run_dir / "results.json").read_text())
    results["schema"] = "fakebench.results/2.1"
    (run_dir / "results.json").write_text(json.dumps(results))
    with pytest.raises(DataError, match="schema 2.1"):
        write_report([run_dir], tmp_path / "out")
    (run_dir / "results.json").write_text(json.dumps([results]))
    with pytest.raises(DataError, match="results.json"):
        write_report([run_dir], tmp_path / "out")
    res = CliRunner().invoke(report_cmd, [str(run_dir), "--output", str(tmp_path / "out")])
    assert res.exit_code == 1, res.output
    assert "results.json" in res.output and "Traceback" not in res.output
    shutil.copy(runs[0] / "results.json", run_dir / "results.json")
    pred = run_dir / "predictions.csv"
    pred.write_bytes(pred.read_bytes().replace(b"real", "r\xe9al".encode("latin-1"), 1))
    with pytest.raises(DataError, match=r"predictions.csv.*UTF-8"):
        write_report([run_dir], tmp_path / "out")
    robust = tmp_path / "robustness.json"
    robust.write_text(json.dumps({"schema": "fakebench.robustness/10"}))
    with pytest.raises(DataError, match="robustness"):
        write_report([runs[0], robust], tmp_path / "out")


def test_cli_says_which_runs_it_took(runs, tmp_path):
    """Issue #20: ``fakebench report results/runs`` (or a glob) says which runs it took, with their files."""
    from fakebench.cli.report import report as report_cmd

    res = CliRunner().invoke(report_cmd, [str(runs[0].parent.parent), "--output", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == "report: 2 run(s)"
    for run in runs:
        (line,) = [ln for ln in lines if str(run / "results.json") in ln]
        assert json.loads((run / "results.json").read_text())["detector"]["name"] in line and "2 test sets" in line
