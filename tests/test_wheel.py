"""A wheel built from the checkout installs one import namespace, ``fakebench``, ships its manifests, and works
from a folder outside the repository (``fakebench list``, ``fakebench evaluate``).

The wheel is installed with ``--no-deps`` into a fresh virtual environment that sees the *running* interpreter's
packages (torch etc.; through a ``.pth`` file, since ``system_site_packages`` would give the base interpreter's, which
in a user's venv has none of them), so no network is needed. The same holds for an editable install made from a clone
whose folder is named ``fakebench`` (git's default), imported from the folder that holds it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from conftest import REPO, make_image

pytestmark = pytest.mark.slow


def make_venv_seeing_this_interpreter(env_dir: Path) -> Path:
    """A fresh venv (no pip) whose ``site-packages`` lists this interpreter's site directories in a ``.pth`` file.

    ``venv``'s ``system_site_packages=True`` would expose the *base* interpreter's packages, which inside a user's venv
    lack torch; this exposes exactly the packages the running tests see. ``.pth`` files inside those directories are not
    run, so an editable ``fakebench`` of the running interpreter is not visible in the new venv.

    Returns:
        The new venv's ``python``.
    """
    venv.EnvBuilder(system_site_packages=False, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    site_dirs = [p for p in sys.path if p.rstrip("/").endswith(("site-packages", "dist-packages"))] + sorted(ours)
    Path(purelib, "_fakebench_tests_parent_env.pth").write_text("\n".join(dict.fromkeys(site_dirs)) + "\n")
    return python


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
    python = make_venv_seeing_this_interpreter(env_dir)
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


def _copy_checkout(dest: Path) -> Path:
    """A copy of the tracked files of this checkout at ``dest`` (what ``git clone`` would give)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def test_editable_install_of_a_clone_named_fakebench_imports_from_its_parent_folder(tmp_path):
    """git names the clone folder ``fakebench``; from the folder that holds it, that folder is a namespace-package
    candidate on ``sys.path[0]``. The editable install must still give the real package, from any working directory."""
    clone = _copy_checkout(tmp_path / "fakebench")
    python = make_venv_seeing_this_interpreter(tmp_path / "venv")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                    "--no-build-isolation", "-q", "-e", str(clone)], check=True, cwd=tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("FAKEBENCH_DATA", "PYTHONPATH")}
    code = ("import fakebench, fakebench.core.env as e; print(fakebench.__file__); "
            "print(e.checkout_root()); print(len(fakebench.list_detectors()))")
    for cwd in (tmp_path, clone, clone / "tests"):
        out = subprocess.run([str(python), "-c", code], cwd=cwd, env=env, capture_output=True, text=True)
        assert out.returncode == 0, (cwd, out.stderr)
        file, root, n = out.stdout.split("\n")[:3]
        assert Path(file).resolve() == (clone / "benchmark" / "__init__.py").resolve(), (cwd, file)
        assert root == str(clone.resolve()) and int(n) >= 5, (cwd, out.stdout)
