"""The report in a real browser: headless Chromium loads ``report.html`` offline with no console or resource error,
every image decodes, the expected sections and figures are in the DOM, and a full-page screenshot is not blank.

The page carries an error sentinel (see :mod:`fakebench.report.html`): any script or resource error is written into
``#fakebench-errors`` and, after the load event, ``<html data-fb-check="done" data-fb-images=N>`` records that the
check ran and how many images decoded. A control page with a thrown error and a broken image shows the sentinel
catches both. Skipped, with the reason, when Chromium is not installed (``apt-get install -y chromium``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("matplotlib")

from test_report import SECTIONS, evaluate, make_tree  # noqa: E402

from fakebench.report import write_report  # noqa: E402

CHROMIUM = os.environ.get("FAKEBENCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                reason=f"Chromium not found at {CHROMIUM} (install: apt-get install -y chromium, or "
                                       f"set FAKEBENCH_CHROMIUM)")
_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
          "--no-first-run", "--disable-extensions", "--enable-logging=stderr", "--v=0"]


def chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    """Run headless Chromium with its own profile folder; fails the test on a timeout."""
    profile = tmp / "chromium-profile"
    return subprocess.run([CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=180)


def dump_dom(path: Path, tmp: Path) -> tuple[str, list[str]]:
    """The DOM after the load event, and the browser's console/resource error lines."""
    res = chromium("--virtual-time-budget=10000", "--dump-dom", path.resolve().as_uri(), tmp=tmp)
    assert res.returncode == 0, res.stderr[-2000:]
    errors = [line for line in res.stderr.splitlines()
              if "CONSOLE" in line or "Uncaught" in line or "Failed to load resource" in line
              or "ERR_FILE_NOT_FOUND" in line or "net::ERR" in line]
    return res.stdout, errors


def sentinel(dom: str) -> str:
    match = re.search(r'<div id="fakebench-errors"[^>]*>(.*?)</div>', dom, re.S)
    assert match, "the error sentinel element is missing from the DOM"
    return match.group(1).strip()


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("browser")
    root = make_tree(base / "images")
    runs = [evaluate(root, base / "runs", "native"), evaluate(root, base / "runs", "resize32")]
    return write_report(runs, base / "report", title="Browser check")


def test_page_loads_cleanly_with_all_sections_and_figures(report, tmp_path):
    dom, errors = dump_dom(report, tmp_path)
    assert errors == []
    assert re.search(r'<html[^>]*data-fb-check="done"', dom), "the load-time check did not run"
    assert sentinel(dom) == ""
    n_img = len(re.findall(r"<img\b", report.read_text()))
    assert re.search(rf'<html[^>]*data-fb-images="{n_img}"', dom), f"not all {n_img} images decoded"
    for section in SECTIONS:
        assert re.search(rf'<section id="{section}"[^>]*>\s*<h2', dom), section
    for fig in ("heatmap-acc", "heatmap-ap", "curves-pooled", "curves-roc-per-set", "curves-pr-per-set",
                "curves-det-per-set", "reliability"):
        assert f'id="fig-{fig}"' in dom
    assert '<figure class="thumb' in dom


def test_sentinel_catches_script_and_image_errors(report, tmp_path):
    broken = tmp_path / "broken.html"
    text = report.read_text().replace(
        "<main>", '<main><img src="data:image/png;base64,AAAA" alt="broken-control">'
                  '<script>throw new Error("boom-control")</script>', 1)
    broken.write_text(text)
    dom, errors = dump_dom(broken, tmp_path)
    caught = sentinel(dom)
    assert "boom-control" in caught and "image not decoded: broken-control" in caught
    assert any("boom-control" in e for e in errors)


def test_screenshot_is_not_blank(report, tmp_path):
    shot = tmp_path / "report.png"
    res = chromium(f"--screenshot={shot}", "--window-size=1280,4000", "--virtual-time-budget=10000",
                   report.resolve().as_uri(), tmp=tmp_path)
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    with Image.open(shot) as img:
        assert img.size == (1280, 4000)
        arr = np.asarray(img.convert("L"), dtype=np.float32)
    keep = Path(os.environ.get("FAKEBENCH_SCREENSHOT", ""))
    if keep.name:
        shutil.copy(shot, keep)
    assert arr.std() > 20  # text, tables and figures, not an empty page
    assert (arr < 100).mean() > 0.01 and (arr > 240).mean() > 0.3
