"""A wheel built from the checkout installs one import namespace, ``fakebench``, ships its manifests, and works
from a folder outside the repository (``fakebench list``, ``fakebench evaluate``).

The wheel is installed with ``--no-deps`` into a fresh virtual environment that sees this interpreter's packages
(torch etc.), so no network is needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from conftest import REPO, make_image

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    build = tmp_path_factory.mktemp("build")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(REPO)], check=True, cwd=build, env={**os.environ, "PIP_NO_INPUT": "1"})
    (found,) = out.glob("fakebench-*.whl")
    return found


def test_wheel_has_one_top_level_namespace_and_the_manifests(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"fakebench"}, top
    assert "fakebench/data/manifests/manifest.yaml" in names
    assert "fakebench/data/manifests/shared_samples.yaml" in names
    assert "fakebench/detectors/npr.py" in names and "fakebench/cli/__init__.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "fakebench = fakebench.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_installed_wheel_runs_outside_the_checkout(wheel, tmp_path, npr_checkpoint):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   check=True)
    work = tmp_path / "elsewhere"
    for i in range(2):
        make_image(work / "test" / "gen" / "0_real" / f"r{i}.png", "real", seed=i)
        make_image(work / "test" / "gen" / "1_fake" / f"f{i}.png", "fake", seed=10 + i)
    env = {k: v for k, v in os.environ.items() if k not in ("FAKEBENCH_DATA", "PYTHONPATH")}
    env.update(FAKEBENCH_CACHE=str(tmp_path / "cache"), HOME=str(tmp_path / "home"), FAKEBENCH_OFFLINE="1")
    fakebench = env_dir / "bin" / "fakebench"

    def run(*args: str) -> str:
        res = subprocess.run([str(fakebench), *args], cwd=work, env=env, capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr
        return res.stdout

    where = subprocess.run([str(python), "-c", "import fakebench, fakebench.core.env as e; "
                            "print(fakebench.__file__); print(e.checkout_root()); print(e.data_root())"],
                           cwd=work, env=env, capture_output=True, text=True, check=True).stdout.split("\n")
    assert where[0].startswith(str(env_dir)), where
    assert where[1] == "None"  # an installed copy: no checkout, git is never run in site-packages
    assert "site-packages" not in where[2] and where[2].startswith(str(tmp_path / "home"))
    assert "gangen-began" in run("list", "datasets")
    assert "npr" in run("list", "detectors")
    run("evaluate", "--detector", "npr", "--weights", str(npr_checkpoint), "--preset", "native",
        "--data-dir", str(work / "test"), "--output", str(work / "runs"), "--workers", "0", "--quiet")
    (results,) = (work / "runs").rglob("results.json")
    data = json.loads(results.read_text())
    assert data["git_commit"] is None and data["environment"]["fakebench"]
    assert data["metrics"]["per_dataset"][0]["n"] == 4
