"""``fakebench run --launcher submitit``: every pair one job of a job array (here submitit's local executor, real
subprocesses), the same results as a plain run, and a killed pair resumes from its predictions.csv."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))

import _toy  # noqa: E402
from conftest import make_image  # noqa: E402
from fakebench.eval.matrix import run_matrix  # noqa: E402

pytest.importorskip("submitit")
from fakebench.eval.launch import run_matrix_submitit  # noqa: E402


def _tree(root: Path, seed: int) -> Path:
    for i in range(3):
        make_image(root / "0_real" / f"r{i}.png", "real", size=32, seed=seed + i)
        make_image(root / "1_fake" / f"f{i}.png", "fake", size=32, seed=seed + 50 + i)
    return root


@pytest.fixture
def config(tmp_path, monkeypatch) -> dict:
    """A 2 x 2 matrix: the toy detector at two presets x two data folders; cache off (every image really scored)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    return {"output": str(tmp_path / "runs"), "batch_size": 2, "workers": 0, "cache": False, "plugins": ["_toy"],
            "detectors": [{"name": "toy-hf", "preset": "native"}, {"name": "toy-hf", "preset": "resize32"}],
            "data": [{"data_dir": str(_tree(tmp_path / "a", 0)), "label": "a"},
                     {"data_dir": str(_tree(tmp_path / "b", 100)), "label": "b"}]}


def _files(report) -> dict[str, tuple[bytes, str]]:
    out = {}
    for pair in report.pairs:
        run = pair.run_dir
        metrics = json.loads((run / "results.json").read_text())["metrics"]
        out[f"{run.parent.name}/{run.name}"] = ((run / "predictions.csv").read_bytes(),
                                                json.dumps(metrics, sort_keys=True))
    return out


def test_submitit_matrix_equals_a_plain_run(config, tmp_path):
    plain = run_matrix({**config, "output": str(tmp_path / "plain")}, progress=False)
    assert plain.ok and [p.status for p in plain.pairs] == ["ran"] * 4
    launched = run_matrix_submitit(config, cluster="local", parameters={"timeout_min": 10},
                                   folder=tmp_path / "jobs")
    assert launched.ok, [p.error for p in launched.pairs]
    assert [p.status for p in launched.pairs] == ["ran"] * 4 and [p.computed for p in launched.pairs] == [6] * 4
    assert _files(launched) == _files(plain)
    assert (Path(config["output"]) / "leaderboard" / "leaderboard.md").is_file()
    assert len(list((tmp_path / "jobs").glob("*_log.out"))) == 4  # one job per pair
    again = run_matrix_submitit(config, cluster="local", folder=tmp_path / "jobs2")  # nothing left to submit
    assert [p.status for p in again.pairs] == ["skipped"] * 4 and not (tmp_path / "jobs2").exists()


def test_a_killed_pair_resumes_under_the_launcher(config, tmp_path, monkeypatch):
    monkeypatch.setattr(_toy.ToyHF, "fail_after", 1)  # the first forward pass succeeds, the second is "killed"
    monkeypatch.setattr(_toy.ToyHF, "calls", 0)
    with pytest.raises(KeyboardInterrupt):
        run_matrix({**config, "detectors": config["detectors"][:1], "data": config["data"][:1]}, progress=False)
    (partial,) = Path(config["output"]).glob("*/a-*/predictions.csv")
    assert len(partial.read_text().splitlines()) == 3  # header + the first batch of 2
    monkeypatch.setattr(_toy.ToyHF, "fail_after", None)
    launched = run_matrix_submitit(config, cluster="local", folder=tmp_path / "jobs")
    assert launched.ok
    first = launched.pairs[0]
    run = json.loads((first.run_dir / "results.json").read_text())["run"]
    assert (run["resumed"], run["computed"]) == (2, 4)  # the killed job's rows were kept, the rest scored
    plain = run_matrix({**config, "output": str(tmp_path / "plain")}, progress=False)
    assert _files(launched) == _files(plain)


def test_cli_launcher_option_plans_without_submitting(config, tmp_path):
    import yaml
    from click.testing import CliRunner

    from fakebench.cli import main

    path = tmp_path / "matrix.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(main, ["run", str(path), "--launcher", "submitit", "--cluster", "local", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "4 planned of 4 pairs" in result.output and not (Path(config["output"]) / "submitit").exists()


def _run_dirs(output: Path) -> dict[str, tuple[bytes, str]]:
    """``{detector folder/run folder: (predictions.csv bytes, metrics JSON)}`` of every run under ``output``."""
    out = {}
    for results in sorted(output.glob("*/*/results.json")):
        run = results.parent
        metrics = json.loads(results.read_text())["metrics"]
        out[f"{run.parent.name}/{run.name}"] = ((run / "predictions.csv").read_bytes(),
                                                json.dumps(metrics, sort_keys=True))
    return out


def test_cli_runs_a_2x2_matrix_through_submitit_like_a_plain_run(config, tmp_path):
    """``fakebench run CONFIG --launcher submitit`` (submitit's local executor: one process per pair) gives a plain
    run's predictions and metrics, and the leaderboard."""
    import yaml
    from click.testing import CliRunner

    from fakebench.cli import main

    path = tmp_path / "matrix.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(main, ["run", str(path), "--launcher", "submitit", "--cluster", "local", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "4 ran of 4 pairs" in result.output, result.output
    plain = run_matrix({**config, "output": str(tmp_path / "plain")}, progress=False)
    launched = _run_dirs(Path(config["output"]))
    assert len(launched) == 4 and launched == _run_dirs(tmp_path / "plain")
    assert (Path(config["output"]) / "leaderboard" / "leaderboard.md").is_file()


def test_a_job_killed_under_submitit_resumes_when_launched_again(config, tmp_path, monkeypatch):
    """The job itself is interrupted (in its own process, after its first forward pass): the launch reports the pair
    as failed with its log folder; launching again resumes from the rows the killed job wrote."""
    one = {**config, "detectors": config["detectors"][:1], "data": config["data"][:1]}
    monkeypatch.setenv("FAKEBENCH_TOY_FAIL_AFTER", "1")
    killed = run_matrix_submitit(one, cluster="local", folder=tmp_path / "jobs1")
    assert not killed.ok and killed.pairs[0].status == "failed"
    (partial,) = Path(config["output"]).glob("*/a-*/predictions.csv")
    assert len(partial.read_text().splitlines()) == 3  # header + the first batch of 2, written before the kill
    monkeypatch.delenv("FAKEBENCH_TOY_FAIL_AFTER")
    again = run_matrix_submitit(one, cluster="local", folder=tmp_path / "jobs2")
    assert again.ok
    run = json.loads((again.pairs[0].run_dir / "results.json").read_text())["run"]
    assert (run["resumed"], run["computed"]) == (2, 4)
    plain = run_matrix({**one, "output": str(tmp_path / "plain")}, progress=False)
    assert _files(again) == _files(plain)
