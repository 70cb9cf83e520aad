"""Matrix runs (``fakebench run CONFIG.yaml`` / :func:`run_matrix`): whole-config validation before any model load,
every (detector, data) pair run with one load per detector, matching results skipped on rerun, a failing pair reported
without stopping the others, the leaderboard built; plus the cost measurement helper."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _toy
from conftest import make_image
from fakebench.cli.run import run as run_cmd
from fakebench.eval.cost import COST_KEYS, measure_cost
from fakebench.eval.matrix import MatrixConfigError, load_config, run_matrix


@pytest.fixture
def toy_manifest(tmp_path, image_tree) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent("""
        schema_version: 1
        suites: {toy: {title: Toy, path: testset}, other: {title: Other, path: x}}
        datasets:
          - {name: toy-a, suite: toy, generator: A, family: gan, labels: mixed, layout: real_fake, path: gen_a}
          - {name: toy-b, suite: toy, generator: B, family: diffusion, labels: mixed, layout: real_fake, path: gen_b}
          - {name: toy-missing, suite: other, generator: C, family: gan, labels: mixed, layout: real_fake,
             path: not_here}
          - {name: toy-gone, suite: other, generator: D, family: gan, labels: mixed, layout: real_fake, path: gone}
        """))
    return path


def _write(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
def load_counter(monkeypatch):
    """Counts ToyHF.load calls."""
    calls = []
    original = _toy.ToyHF.load.__func__

    def counting(cls, *args, **kwargs):
        calls.append(kwargs.get("preset"))
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(_toy.ToyHF, "load", classmethod(counting))
    return calls


def _config(tmp_path, image_tree, toy_manifest, npr_checkpoint, **extra):
    return {
        "output": str(tmp_path / "runs"), "batch_size": 4, "workers": 0, "plugins": ["_toy"],
        "detectors": [{"name": "toy-hf"}, {"name": "toy-hf", "preset": "resize32"},
                      {"name": "npr", "weights": str(npr_checkpoint)}],
        "data": [{"data_dir": str(image_tree)},
                 {"suites": ["toy"], "manifest": str(toy_manifest), "data_root": str(image_tree)},
                 {"real_dir": str(image_tree / "gen_a" / "0_real"), "fake_dir": str(image_tree / "gen_b" / "1_fake"),
                  "label": "mixed-dirs"}],
        **extra}


def test_validation_lists_every_problem_with_file_and_key_before_loading(tmp_path, image_tree, toy_manifest,
                                                                         load_counter):
    config = {
        "output": str(tmp_path / "runs"), "plugins": ["_toy"], "batch_siz": 8,
        "detectors": [{"name": "toy-hf"}, {"name": "nrp"}, {"name": "npr", "preset": "nativ"},
                      {"name": "cnnspot", "weights": "blur_jpg_prob0.3"},
                      {"name": "npr", "weights": str(tmp_path / "missing.pth")}, {"name": "toy-hf"}],
        "data": [{"datasets": ["toy-a", "toy-missing", "toy-gone", "toy-c"], "manifest": str(toy_manifest),
                  "data_root": str(image_tree)},
                 {"data_dir": str(image_tree), "real_dir": str(image_tree)},
                 {"data_dir": str(tmp_path / "nowhere")},
                 {"real_dir": str(image_tree), "manifest": "default"}],
    }
    path = _write(tmp_path, config)
    with pytest.raises(MatrixConfigError) as err:
        load_config(path)
    msg = str(err.value)
    src = str(path)
    assert f"{src}: batch_siz: unknown key" in msg
    assert f"{src}: detectors[1].name:" in msg and "nrp" in msg and "npr" in msg  # suggestion
    assert f"{src}: detectors[2].preset:" in msg and "native" in msg
    assert f"{src}: detectors[3].weights:" in msg and "blur_jpg_prob0.1" in msg
    assert f"{src}: detectors[4].weights: checkpoint file" in msg
    assert f"{src}: detectors[5]: the same detector as detectors[0]" in msg
    assert f"{src}: data[0].datasets[3]:" in msg and "toy-c" in msg
    for name in ("toy-missing", "toy-gone"):  # every missing folder, each with its download command
        assert f"`fakebench download --dataset {name}`" in msg
    assert f"{src}: data[1]: give exactly one of" in msg
    assert f"{src}: data[2].data_dir: folder" in msg and "does not exist" in msg
    assert f"{src}: data[3].manifest: conflicts with real_dir/fake_dir" in msg
    assert load_counter == []  # nothing was loaded
    assert not (tmp_path / "runs").exists()


def test_matrix_runs_skips_on_rerun_and_survives_a_failing_detector(tmp_path, image_tree, toy_manifest,
                                                                    npr_checkpoint, load_counter):
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    config = _config(tmp_path, image_tree, toy_manifest, npr_checkpoint)
    config["detectors"].append({"name": "npr", "weights": str(broken)})
    path = _write(tmp_path, config)

    result = CliRunner().invoke(run_cmd, [str(path), "--quiet"])
    assert result.exit_code == 1, result.output
    assert "3 of 12 pairs failed" in result.output and "detectors[3]" in result.output
    assert "9 ran, 3 failed of 12 pairs" in result.output
    assert len(load_counter) == 2  # each toy detector loaded once for its three data selections

    runs = tmp_path / "runs"
    toy_native = runs / "toy-hf.none@native"
    assert sorted(p.name.rsplit("-", 1)[0] for p in toy_native.iterdir()) == ["mixed-dirs", "testset", "toy"]
    folder = {p.name.rsplit("-", 1)[0]: p for p in toy_native.iterdir()}
    # the matrix result equals a plain run_evaluation of the same pair
    from fakebench.eval.harness import run_evaluation, sets_from_data_dir

    det = _toy.ToyHF.load(None, preset="native")
    direct_dir, _ = run_evaluation(det, sets_from_data_dir(image_tree), output=tmp_path / "direct",
                                   data_label="testset", num_workers=0, progress=False)
    assert direct_dir.name == folder["testset"].name  # same detector and selection: same run key
    ours = json.loads((folder["testset"] / "results.json").read_text())
    direct = json.loads((direct_dir / "results.json").read_text())
    assert json.dumps(ours["metrics"], sort_keys=True) == json.dumps(direct["metrics"], sort_keys=True)
    sidecar = json.loads((folder["toy"] / "matrix.json").read_text())
    assert sidecar["data"]["suites"] == ["toy"]
    board = pd.read_csv(runs / "leaderboard" / "leaderboard_acc.csv")
    assert {"toy-hf.none@native", "toy-hf.none@resize32"} <= set(board.columns)
    assert any(c.startswith("npr.file-") for c in board.columns)
    assert {"gen_a", "toy-a", "mixed-dirs"} <= set(board["dataset"])
    means = board.set_index("dataset").loc["mean"]
    per_set = board[~board["dataset"].str.contains("mean")]
    assert means["toy-hf.none@native"] == pytest.approx(per_set["toy-hf.none@native"].mean(), abs=0.01)

    # rerun: every good pair is skipped without loading a model; the broken one fails again
    calls_before = _toy.ToyHF.calls
    load_counter.clear()
    report = run_matrix(path, progress=False)
    assert [p.status for p in report.pairs] == ["skipped"] * 9 + ["failed"] * 3
    assert load_counter == [] and _toy.ToyHF.calls == calls_before
    assert report.leaderboard and not report.ok

    # a changed data selection (limit) is not a match: it runs again (from the resumable predictions)
    config["limit"] = 2
    config["detectors"] = config["detectors"][:1]
    report = run_matrix(_write(tmp_path, config), progress=False)
    assert [p.status for p in report.pairs] == ["ran"] * 3 and report.ok
    assert report.pairs[0].run_dir != folder["testset"]  # another selection: another run folder
    limited = json.loads((report.pairs[0].run_dir / "results.json").read_text())
    assert limited["data"]["limit_per_label"] == 2 and limited["data"]["images"] == 8
    assert limited["run"]["computed"] == 0 and limited["run"]["cached"] == 8  # scores come from the cache


def test_dry_run_plans_without_loading(tmp_path, image_tree, toy_manifest, npr_checkpoint, load_counter):
    path = _write(tmp_path, _config(tmp_path, image_tree, toy_manifest, npr_checkpoint))
    result = CliRunner().invoke(run_cmd, [str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.output.count("planned  detectors[") == 9 and "9 planned of 9 pairs" in result.output
    assert load_counter == [] and not (tmp_path / "runs").exists()


def test_config_file_errors(tmp_path):
    result = CliRunner().invoke(run_cmd, [str(tmp_path / "none.yaml")])
    assert result.exit_code == 1 and "config file not found" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("detectors: [npr\n")
    result = CliRunner().invoke(run_cmd, [str(bad)])
    assert result.exit_code == 1 and "not valid YAML" in result.output
    empty = _write(tmp_path, {"detectors": [], "data": []})
    with pytest.raises(MatrixConfigError, match=r"config.yaml: detectors: expected a non-empty list"):
        load_config(empty)


def test_relative_paths_resolve_against_the_config_folder(tmp_path, load_counter):
    folder = tmp_path / "project"
    for i in range(2):
        make_image(folder / "imgs" / "real" / f"r{i}.png", "real", size=32, seed=i)
        make_image(folder / "imgs" / "fake" / f"f{i}.png", "fake", size=32, seed=10 + i)
    config = {"output": "out", "workers": 0, "plugins": ["_toy"], "detectors": ["toy-hf"],
              "data": [{"real_dir": "imgs/real", "fake_dir": "imgs/fake"}]}
    folder.mkdir(exist_ok=True)
    (folder / "m.yaml").write_text(yaml.safe_dump(config))
    report = run_matrix(folder / "m.yaml", progress=False)
    run_dir = report.pairs[0].run_dir
    assert report.ok and run_dir.parent == folder / "out" / "toy-hf.none@native"
    assert run_dir.name.startswith("real-fake-dirs-") and (run_dir / "results.json").is_file()
    assert [p.status for p in run_matrix(folder / "m.yaml", progress=False).pairs] == ["skipped"]
    config["data"][0]["crop_box"] = [0, 0, 16, 16]  # same files, other pixels: not a match
    (folder / "m.yaml").write_text(yaml.safe_dump(config))
    report = run_matrix(folder / "m.yaml", progress=False)
    assert [p.status for p in report.pairs] == ["ran"] and report.pairs[0].run_dir != run_dir
    assert (folder / "out" / "leaderboard" / "leaderboard.md").is_file()


# -- cost ---------------------------------------------------------------------------------------------------------------
def test_measure_cost_records_time_memory_and_device():
    import mmap

    size = 64 * 1024 * 1024
    with measure_cost("cpu", images=10) as cost:
        assert cost["wall_seconds"] is None  # filled on exit
        block = mmap.mmap(-1, size)  # 64 MiB of fresh anonymous pages, touched inside the block
        block.write(b"\1" * size)
        cost["images"] = 20
    assert set(cost) == set(COST_KEYS)
    assert cost["device"] == "cpu" and cost["peak_gpu_memory_mb"] is None and cost["device_name"]
    assert cost["wall_seconds"] > 0
    assert cost["images_per_second"] == pytest.approx(20 / cost["wall_seconds"], rel=1e-2)
    assert cost["peak_rss_mb"] >= 64 and cost["peak_host_memory_mb"] >= cost["peak_rss_mb"] - 0.1
    json.dumps(cost)  # JSON-ready
    block.close()
    if cost["peak_rss_scope"] == "block":  # the peak was reset: a small block does not report the 64 MiB again
        with measure_cost(images=0) as small:
            pass
        assert small["peak_rss_mb"] < cost["peak_rss_mb"]
        assert small["images_per_second"] is None  # no images: no rate, rather than a misleading 0


def test_measure_cost_counts_a_child_process_and_lists_children_at_the_refresh_rate(monkeypatch):
    """The peak host memory sums the children's RSS; finding children (a walk over every process of the machine) is
    done at most once per refresh, not at every sample."""
    import subprocess
    import sys
    import time

    import psutil

    listings = []
    real_children = psutil.Process.children
    monkeypatch.setattr(psutil.Process, "children",
                        lambda self, recursive=False: listings.append(1) or real_children(self, recursive=recursive))
    child_mb = 96
    code = (f"import mmap, sys, time; b = mmap.mmap(-1, {child_mb} << 20); b.write(b'\\1' * ({child_mb} << 20)); "
            "print('ready', flush=True); time.sleep(1.5)")
    with measure_cost("cpu", interval=0.02) as cost:
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(1.2)  # past one refresh (1 s) with the child's pages resident
        child.wait()
    assert cost["peak_host_memory_mb"] >= cost["peak_rss_mb"] + child_mb * 0.9
    # about 75 samples at 0.02 s over the block: the children were listed a handful of times, not at every sample
    assert 2 <= len(listings) <= 6, len(listings)


def test_a_failing_pair_is_one_warning_line_without_a_traceback(tmp_path, image_tree, monkeypatch, caplog):
    """Issue #20 item 6: a pair that raises is one warning line (detector, data, error); the traceback goes to the
    debug log only."""
    import logging

    from fakebench.eval import harness

    def boom(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(harness, "run_evaluation", boom)
    config = {"output": str(tmp_path / "runs"), "workers": 0, "plugins": ["_toy"], "detectors": [{"name": "toy-hf"}],
              "data": [{"data_dir": str(image_tree)}]}
    with caplog.at_level(logging.DEBUG, logger="fakebench"):
        report = run_matrix(config, progress=False)
    assert [p.status for p in report.pairs] == ["failed"] and report.pairs[0].error == "RuntimeError: boom"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and "failed" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].exc_info is None
    assert "Traceback" not in warnings[0].getMessage() and "\n" not in warnings[0].getMessage()
    assert "toy-hf" in warnings[0].getMessage() and "RuntimeError: boom" in warnings[0].getMessage()
    assert any(r.levelno == logging.DEBUG and r.exc_info for r in caplog.records)
