"""Shared fixtures.

Markers (registered in setup.cfg): ``shared`` tests need ``../shared`` (real images and parity checkpoints) and skip
with a reason when it is absent; ``weights`` tests need real official weights; ``gpu`` tests need CUDA.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FAKEBENCH_SHARED", REPO.parent / "shared")).resolve()


def pytest_collection_modifyitems(config, items):
    """A test that uses the ``shared`` fixture always carries the ``shared`` marker, so ``-m "not shared"`` never
    selects a test that needs ../shared."""
    for item in items:
        if "shared" in getattr(item, "fixturenames", ()) and item.get_closest_marker("shared") is None:
            item.add_marker(pytest.mark.shared)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own FAKEBENCH_CACHE, so nothing touches the user's cache or leaks between tests."""
    monkeypatch.setenv("FAKEBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("FAKEBENCH_OFFLINE", raising=False)


@pytest.fixture
def shared() -> Path:
    """Path of ../shared; skips the test with a clear reason when it is absent."""
    if not (SHARED / "parity").is_dir():
        pytest.skip(f"../shared not found at {SHARED} (real images and parity checkpoints); set FAKEBENCH_SHARED")
    return SHARED


def make_image(path: Path, kind: str, size: int = 64, seed: int = 0, mode: str = "RGB") -> Path:
    """Write a small synthetic image: ``real`` = smooth gradients + mild noise, ``fake`` = the same with a periodic
    2x2 up-sampling pattern (what NPR-like detectors key on)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = np.stack([yy, xx, (yy + xx) / 2], -1) * 200 + rng.normal(0, 8, (size, size, 3)) + 20
    if kind == "fake":
        small = base[::2, ::2]
        base = np.repeat(np.repeat(small, 2, 0), 2, 1)
        base[::2, ::2] += 25
    arr = np.clip(base, 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, "RGB").convert(mode).save(path)
    return path


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one thread for a module's tests (tiny models run faster on one thread than fighting for a shared
    CPU; outputs agree to float rounding). Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def evaluate_sized_folder(root: Path, out: Path, detector: str, weights: Path | str, sizes, *extra: str):
    """Write one real and one fake synthetic image per size in ``sizes`` under ``root/gen/{0_real,1_fake}`` (next to
    whatever is already there), run ``fakebench evaluate --detector DETECTOR --weights WEIGHTS --data-dir ROOT`` with
    ``--workers 0 --quiet --no-cache`` plus ``extra`` into ``out``, assert it succeeded and return its
    ``predictions.csv`` as a DataFrame."""
    import pandas as pd
    from click.testing import CliRunner

    from cli import main

    for i, size in enumerate(sizes):
        make_image(root / "gen" / "0_real" / f"r{i}.png", "real", size=size, seed=i)
        make_image(root / "gen" / "1_fake" / f"f{i}.png", "fake", size=size, seed=10 + i)
    res = CliRunner().invoke(main, ["evaluate", "--detector", detector, "--weights", str(weights), "--data-dir",
                                    str(root), "--output", str(out), "--workers", "0", "--quiet", "--no-cache",
                                    *extra], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return pd.read_csv(next(out.rglob("predictions.csv")))


@pytest.fixture
def image_tree(tmp_path) -> Path:
    """``root/<gen>/{0_real,1_fake}/*.png`` for two generators, 4 real + 4 fake each, 64x64."""
    root = tmp_path / "testset"
    for g, gen in enumerate(("gen_a", "gen_b")):
        for i in range(4):
            make_image(root / gen / "0_real" / f"r{i}.png", "real", seed=100 * g + i)
            make_image(root / gen / "1_fake" / f"f{i}.png", "fake", seed=100 * g + 50 + i)
    return root


@pytest.fixture
def npr_checkpoint(tmp_path) -> Path:
    """An untrained NPR saved in the official plain-state-dict format (seeded)."""
    from fakebench.detectors.npr import NPRNet

    torch.manual_seed(0)
    path = tmp_path / "npr_random.pth"
    torch.save(NPRNet().state_dict(), path)
    return path
