"""Robustness sweeps: the perturbing detector wrapper, the summary files, the area under the curve, the re-run that
does no model work, and the ``robustness`` click command."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from fakebench.analysis.perturb import parse_perturbation
from fakebench.analysis.robustness import ROBUSTNESS_SCHEMA, PerturbedDetector, robustness_area, run_robustness
from fakebench.eval.harness import sets_from_data_dir
from _toy import ToyHF


@pytest.fixture
def toy():
    ToyHF.calls, ToyHF.fail_after = 0, None
    return ToyHF.load()


def test_area_is_normalised_trapezoid_over_index():
    assert robustness_area([1.0, 1.0, 1.0]) == pytest.approx(1.0)
    assert robustness_area([1.0, 0.0]) == pytest.approx(0.5)
    assert robustness_area([1.0, 0.5, 0.0]) == pytest.approx(0.5)
    assert robustness_area([1.0, 1.0, 0.0]) == pytest.approx(0.75)
    assert robustness_area([0.7]) == pytest.approx(0.7)
    assert math.isnan(robustness_area([1.0, float("nan")]))


def test_wrapper_identity_and_transform(toy):
    jpeg75, jpeg50 = parse_perturbation("jpeg:75,50")
    a, b = PerturbedDetector(toy, jpeg75), PerturbedDetector(toy, jpeg50)
    assert a.preset.name == "native+jpeg:75" and a.name == toy.name and a.weights == toy.weights
    assert len({toy.fingerprint(), a.fingerprint(), b.fingerprint()}) == 3
    assert a.fingerprint() == PerturbedDetector(ToyHF.load(), jpeg75).fingerprint()
    assert a.identity()["perturbation"]["spec"] == "jpeg:75"
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    expected = toy.transform()(jpeg75(img))
    transform = pickle.loads(pickle.dumps(a.transform()))  # DataLoader workers need it picklable
    assert np.array_equal(transform(img).numpy(), expected.numpy())
    assert not np.array_equal(toy.transform()(img).numpy(), expected.numpy())


def test_sweep_writes_summary_and_rerun_does_no_model_work(toy, image_tree, tmp_path):
    sets = sets_from_data_dir(image_tree)
    out = tmp_path / "rob"
    summary_path, _ = run_robustness(toy, sets, ["blur:0.5,1,2", "jpeg:90"], output=out, data_label="testset",
                                           batch_size=4, num_workers=0, progress=False)
    assert summary_path == out / "robustness.json"
    saved = json.loads(summary_path.read_text())
    assert saved["schema"] == ROBUSTNESS_SCHEMA == "fakebench.robustness/1"
    assert saved["perturbations"] == ["blur:0.5,1,2", "jpeg:90"]
    rows = pd.DataFrame(saved["rows"])
    assert set(rows["spec"]) == {"blur:0.5", "blur:1", "blur:2", "jpeg:90"}
    assert set(rows["dataset"]) == {"gen_a", "gen_b", "mean"}
    assert {"perturbation", "severity", "spec", "dataset", "n", "acc", "real_acc", "fake_acc", "ap", "auc"} <= set(rows)
    assert (rows.loc[rows["dataset"] != "mean", "n"] == 8).all()
    # one ordinary run folder per severity, with the perturbed preset in its name, plus the clean reference run
    run_dirs = sorted(p.parent.parent.name for p in out.glob("runs/*/testset-*/results.json"))
    assert run_dirs == sorted([f"toy-hf.none@native+{s}" for s in ("blur_0.5", "blur_1", "blur_2", "jpeg_90")]
                              + ["toy-hf.none@native"])
    # per-severity CIs, and the paired change against the clean run on the same images (issue #16)
    clean = pd.read_csv(next(out.glob("runs/toy-hf.none@native/testset-*/predictions.csv")))
    blur2 = pd.read_csv(next(out.glob("runs/*blur_2/testset-*/predictions.csv")))
    row = rows[(rows["spec"] == "blur:2") & (rows["dataset"] == "gen_a")].iloc[0]
    assert row["acc_ci_lo"] <= row["acc"] <= row["acc_ci_hi"] and row["acc_ci_hi"] > row["acc_ci_lo"]
    both = clean.merge(blur2, on="image", suffixes=("_c", "_p"))
    own = both[both["dataset_c"] == "gen_a"]
    acc_p = ((own["prob_p"] > 0.5).astype(int) == own["label_c"]).mean()
    acc_c = ((own["prob_c"] > 0.5).astype(int) == own["label_c"]).mean()
    assert row["delta_acc"] == pytest.approx(acc_p - acc_c)
    assert row["delta_acc_ci_lo"] <= row["delta_acc"] <= row["delta_acc_ci_hi"] and 0 <= row["p_acc"] <= 1
    assert "same images" in saved["paired"]["columns"] and saved["paired"]["reference"]["run_dir"].startswith("runs")
    # the toy detector keys on high-frequency energy: stronger blur -> lower fake probability on every image
    probs = [pd.read_csv(next(out.glob(f"runs/*{s}/testset-*/predictions.csv")))["prob"].to_numpy()
             for s in ("blur_0.5", "blur_1", "blur_2")]
    assert (probs[0] > probs[1]).all() and (probs[1] > probs[2]).all()
    # the area rows follow the rows
    area = pd.DataFrame(saved["area"])
    blur_acc = rows[(rows["perturbation"] == "blur") & (rows["dataset"] == "gen_a")].sort_values("severity")["acc"]
    got = area[(area["perturbation"] == "blur") & (area["dataset"] == "gen_a") & (area["metric"] == "acc")]["area"]
    assert got.item() == pytest.approx(robustness_area(list(blur_acc)))
    assert (out / "robustness.csv").is_file() and "area" in (out / "robustness.md").read_text()
    assert ToyHF.calls > 0

    # same output: every run resumes; another output: every image from the cache. No model work either way.
    for target in (out, tmp_path / "rob2"):
        ToyHF.calls = 0
        _, again = run_robustness(ToyHF.load(), sets, ["blur:0.5,1,2", "jpeg:90"], output=target,
                                  data_label="testset", batch_size=4, num_workers=0, progress=False)
        assert ToyHF.calls == 0 and all(r["computed"] == 0 for r in again["runs"])
        assert pd.DataFrame(again["rows"])[["acc", "auc"]].equals(rows[["acc", "auc"]])


def test_duplicate_kind_is_refused(toy, image_tree, tmp_path):
    from fakebench.core.errors import FakebenchError

    with pytest.raises(FakebenchError, match="jpeg"):
        run_robustness(toy, sets_from_data_dir(image_tree), ["jpeg:90", "jpeg:50"], output=tmp_path,
                       data_label="x", num_workers=0, progress=False)


def test_cli_command(image_tree, npr_checkpoint, tmp_path):
    from fakebench.cli.robustness import robustness

    out = tmp_path / "cli"
    res = CliRunner().invoke(robustness, ["--detector", "npr", "--weights", str(npr_checkpoint), "--data-dir",
                                          str(image_tree), "--perturbation", "jpeg:90,50", "--perturbation",
                                          "resize:0.5", "--output", str(out), "--limit", "2", "--workers", "0",
                                          "--quiet"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    saved = json.loads((out / "robustness.json").read_text())
    assert saved["detector"]["name"] == "npr" and len(saved["rows"]) == 3 * 3
    assert {r["n"] for r in saved["rows"] if r["dataset"] != "mean"} == {4}
    assert "jpeg:50" in res.output
    bad = CliRunner().invoke(robustness, ["--detector", "npr", "--weights", str(npr_checkpoint), "--data-dir",
                                          str(image_tree), "--perturbation", "jpeg:0", "--output", str(out)])
    assert bad.exit_code != 0 and "jpeg:0" in bad.output and "Traceback" not in bad.output


def test_label_names_the_sweep_and_its_runs(toy, image_tree, tmp_path):
    """Issue #20: ``robustness --label`` names the detector in the summary, its Markdown and every severity's run."""
    from fakebench.analysis.robustness import robustness_markdown

    path, summary = run_robustness(toy, sets_from_data_dir(image_tree), ["jpeg:90"], output=tmp_path,
                                   data_label="testset", num_workers=0, use_cache=False, progress=False, n_boot=0,
                                   label="toy under JPEG")
    assert summary["detector"]["label"] == "toy under JPEG"
    assert robustness_markdown(summary).splitlines()[0].startswith("# Robustness of toy under JPEG: toy-hf")
    labels = {json.loads(p.read_text())["run"].get("label") for p in (tmp_path / "runs").rglob("results.json")}
    assert labels == {"toy under JPEG"}
