"""Imports follow the work: a fully cached ``fakebench evaluate`` and a fully skipped ``fakebench run`` never import
torch, torchvision, scikit-learn or scipy (checked through ``sys.modules`` in a fresh process, not by timing), and the
recorded identities behind it (:mod:`fakebench.eval.deferred`) are used only while they are valid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from conftest import make_image

from fakebench.core.errors import FakebenchError
from fakebench.eval import deferred
from fakebench.eval.deferred import DeferredDetector, load_deferred

HEAVY = ("torch", "torchvision", "sklearn", "scipy")

_RUN_CLI = """
import json, sys
sys.argv = ["fakebench"] + json.loads(sys.argv[1])
from fakebench.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print("HEAVY=" + json.dumps(sorted(m for m in {heavy} if m in sys.modules)))
sys.exit(code)
"""


def _cli(args: list[str], cwd: Path) -> tuple[list[str], str]:
    """Run the fakebench CLI in a fresh interpreter; return (heavy modules it imported, its output)."""
    script = _RUN_CLI.format(heavy=repr(HEAVY))
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(args)], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ), timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = [x for x in proc.stdout.splitlines() if x.startswith("HEAVY=")][-1]
    return json.loads(line[len("HEAVY="):]), proc.stdout + proc.stderr


def _evaluate_args(checkpoint: Path, data: Path, output: Path) -> list[str]:
    return ["evaluate", "--detector", "npr", "--weights", str(checkpoint), "--data-dir", str(data), "--output",
            str(output), "--quiet", "--workers", "0", "--n-boot", "200"]


def _only_run(output: Path) -> Path:
    (run,) = [p.parent for p in output.glob("*/*/results.json")]
    return run


def test_fully_cached_evaluate_imports_no_torch_sklearn_scipy(tmp_path, npr_checkpoint, image_tree):
    heavy, out = _cli(_evaluate_args(npr_checkpoint, image_tree, tmp_path / "first"), tmp_path)
    assert "16 scored" in out and "torch" in heavy  # the first run scores with the model
    # ... without torchvision (about 1.8 s of imports, torch._dynamo): NPR's network and the native preset need none
    assert "torchvision" not in heavy, heavy
    heavy, out = _cli(_evaluate_args(npr_checkpoint, image_tree, tmp_path / "second"), tmp_path)
    assert "0 scored, 16 from cache" in out, out
    assert heavy == [], f"a fully cached evaluate imported {heavy}"
    first, second = _only_run(tmp_path / "first"), _only_run(tmp_path / "second")
    assert (first / "predictions.csv").read_bytes() == (second / "predictions.csv").read_bytes()
    a, b = (json.loads((d / "results.json").read_text()) for d in (first, second))
    for key in ("metrics", "detector", "data", "run_key"):
        assert a[key] == b[key], key


def test_fully_cached_evaluate_over_five_sets_imports_no_torch_sklearn_scipy(tmp_path, npr_checkpoint):
    """With >= 5 test sets the mean gets a Student t interval: its quantile is scipy-free too
    (:mod:`fakebench.analysis._student_t`)."""
    root = tmp_path / "five"
    for g in range(5):
        for i in range(2):
            make_image(root / f"gen{g}" / "0_real" / f"r{i}.png", "real", seed=100 * g + i)
            make_image(root / f"gen{g}" / "1_fake" / f"f{i}.png", "fake", seed=100 * g + 50 + i)
    _cli(_evaluate_args(npr_checkpoint, root, tmp_path / "first"), tmp_path)
    heavy, out = _cli(_evaluate_args(npr_checkpoint, root, tmp_path / "second"), tmp_path)
    assert "0 scored, 20 from cache" in out, out
    assert heavy == [], f"a fully cached evaluate over 5 sets imported {heavy}"
    mean = json.loads((_only_run(tmp_path / "second") / "results.json").read_text())["metrics"]["mean"]
    assert mean["n_datasets"] == 5 and mean["ci_method"] == "student-t over test sets"
    lo, hi = mean["ci"]["acc"]
    assert lo <= mean["acc"] <= hi  # an interval (NaN below 5 sets), computed with the t quantile


def test_fully_skipped_matrix_run_imports_no_torch_sklearn_scipy(tmp_path, npr_checkpoint, image_tree):
    config = tmp_path / "matrix.yaml"
    config.write_text(yaml.safe_dump({
        "output": str(tmp_path / "runs"), "workers": 0,
        "detectors": [{"name": "npr", "weights": str(npr_checkpoint), "preset": "native"}],
        "data": [{"data_dir": str(image_tree), "label": "tree"}]}))
    heavy, out = _cli(["run", str(config), "--quiet"], tmp_path)
    assert "1 ran of 1 pairs" in out, out
    heavy, out = _cli(["run", str(config), "--quiet"], tmp_path)
    assert "1 skipped of 1 pairs" in out, out
    assert heavy == [], f"a fully skipped run imported {heavy}"


def test_scoring_imports_no_sklearn_scipy():
    code = ("import sys; from fakebench.eval.harness import run_evaluation, metrics_table; "
            "from fakebench.eval.scoring import evaluate_predictions; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- recorded identities ----------------------------------------------------------------------------------------------
def test_second_load_is_deferred_and_matches_the_real_detector(npr_checkpoint):
    real = load_deferred("npr", str(npr_checkpoint), preset="native")
    assert not isinstance(real, DeferredDetector)  # nothing recorded yet: loaded now
    again = load_deferred("npr", str(npr_checkpoint), preset="native")
    assert isinstance(again, DeferredDetector) and not again.loaded
    assert again.fingerprint() == real.fingerprint() and again.identity() == real.identity()
    assert (again.weights, again.preset, again.continuous_scores) == (real.weights, real.preset,
                                                                      real.continuous_scores)
    for preset in real.card.presets:  # every preset of the card was recorded
        real.preset = again.preset = preset
        assert again.fingerprint() == real.fingerprint() and not again.loaded
    batch = torch.rand(2, 3, 64, 64)
    assert torch.equal(again.predict(batch).prob, real.predict(batch).prob)  # loads on first model use
    assert again.loaded


def test_changed_weights_file_is_loaded_again(npr_checkpoint):
    load_deferred("npr", str(npr_checkpoint))
    state = torch.load(npr_checkpoint, weights_only=True)
    state["fc1.bias"] += 1.0
    torch.save(state, npr_checkpoint)
    os.utime(npr_checkpoint, ns=(1, 1))  # a new mtime even on coarse file systems
    fresh = load_deferred("npr", str(npr_checkpoint))
    assert not isinstance(fresh, DeferredDetector)


def test_changed_code_or_options_is_loaded_again(npr_checkpoint, monkeypatch):
    load_deferred("npr", str(npr_checkpoint))
    assert isinstance(load_deferred("npr", str(npr_checkpoint)), DeferredDetector)
    assert not isinstance(load_deferred("npr", str(npr_checkpoint), preset="resize256"), DeferredDetector)
    monkeypatch.setattr(deferred, "_code_digest", lambda target: "edited")
    assert not isinstance(load_deferred("npr", str(npr_checkpoint)), DeferredDetector)


def test_a_record_that_lies_is_refused_before_scoring(npr_checkpoint, tmp_path):
    from fakebench.eval.runner import collect_predictions
    from fakebench.data.images import ImageRecord

    load_deferred("npr", str(npr_checkpoint))
    memo = deferred._memo_path()
    data = json.loads(memo.read_text())
    for record in data["records"].values():
        for ident in record["identities"].values():
            ident["revision"] = "0"  # as if recorded by other code
    memo.write_text(json.dumps(data))
    det = load_deferred("npr", str(npr_checkpoint))
    assert isinstance(det, DeferredDetector)
    image = make_image(tmp_path / "a.png", "fake")
    with pytest.raises(FakebenchError, match="another identity than recorded"):
        collect_predictions(det, [ImageRecord(str(image), 1, "s", "g")], tmp_path / "p.csv", num_workers=0,
                            progress=False)
    assert pd.read_csv(tmp_path / "p.csv").empty if (tmp_path / "p.csv").exists() else True
