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

from conftest import make_image  # noqa: E402
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


def dump_dom(path: Path, tmp: Path, width: int = 1280) -> tuple[str, list[str]]:
    """The DOM after the load event in a ``width`` px wide window, and the browser's console/resource error lines."""
    res = chromium("--virtual-time-budget=10000", f"--window-size={width},900", "--dump-dom", path.resolve().as_uri(),
                   tmp=tmp)
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
    # what real suites have and the toy lacks: a long unbreakable set name (it reaches headings, captions and the
    # gallery) and a set of 1 real + 1 fake image (too few images for a panel of its own)
    long = root / ("stable_diffusion_xl_1.0_refiner_community_checkpoint_with_a_long_unbreakable_name_" + "x" * 30)
    make_image(long / "0_real" / "r0.png", "fake", size=48, seed=7)
    make_image(long / "1_fake" / "f0.png", "real", size=48, seed=8)
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


def _framed(report: Path, tmp: Path, width: int) -> Path:
    """A page that shows ``report`` in a ``width`` px wide iframe and, once the report's own load-time check has run,
    copies its ``data-fb-*`` results onto its own ``<html>``. Headless Chromium will not make a window narrower than
    500 px, so a phone's viewport is an iframe's."""
    page = tmp / f"framed-{width}.html"
    page.write_text(
        f'<!DOCTYPE html><html><body style="margin:0"><iframe id="f" src="{report.resolve().as_uri()}" '
        f'style="width:{width}px;height:900px;border:0"></iframe><script>'
        "var t=setInterval(function(){try{var d=document.getElementById('f').contentDocument.documentElement;"
        "if(d.getAttribute('data-fb-check')==='done'){clearInterval(t);"
        "['viewport','overflow','overflow-list','images'].forEach(function(k){"
        "document.documentElement.setAttribute('data-fb-'+k,d.getAttribute('data-fb-'+k));});}}"
        "catch(e){document.documentElement.setAttribute('data-fb-error',String(e));clearInterval(t);}},50);"
        "</script></body></html>")
    return page


@pytest.mark.parametrize("width", [1280, 390])
def test_layout_fits_desktop_and_phone_widths(report, tmp_path, width):
    """At 1280 px and at a phone's 390 px, no element is wider than the viewport unless it sits inside a scroll box
    (wide tables scroll inside their own box). The page measures this after load (``data-fb-overflow``)."""
    if width >= 500:
        dom, errors = dump_dom(report, tmp_path, width)
        assert errors == [] and sentinel(dom) == ""
    else:
        res = chromium("--allow-file-access-from-files", "--virtual-time-budget=15000", "--window-size=800,900",
                       "--dump-dom", _framed(report, tmp_path, width).as_uri(), tmp=tmp_path)
        assert res.returncode == 0, res.stderr[-2000:]
        dom = res.stdout
        assert not re.search(r"<html[^>]*data-fb-error", dom), dom[:500]
    viewport = re.search(r'<html[^>]*data-fb-viewport="(\d+)"', dom)
    assert viewport, "the load-time layout check did not run"
    assert abs(int(viewport.group(1)) - width) <= 20, viewport.group(1)  # the width really applied (scrollbar aside)
    over = re.search(r'<html[^>]*data-fb-overflow="(\d+)"', dom)
    listed = re.search(r'data-fb-overflow-list="([^"]*)"', dom)
    assert over and over.group(1) == "0", listed.group(1) if listed else dom[:500]


def test_headline_and_one_filterable_gallery(report, tmp_path):
    """The report opens with a headline naming the detector ahead; the gallery is one list with a working filter."""
    dom, _ = dump_dom(report, tmp_path)
    assert re.search(r'<section id="headline"[^>]*>\s*<h2', dom)
    assert re.search(r'class="headline"', dom) and " ahead " in re.sub(r"<[^>]+>", " ", dom)
    assert dom.count('id="gallery-all"') == 1 and re.search(r'<output id="gallery-count"[^>]*>\d+ of \d+ shown', dom)
    assert re.search(r'class="too-few"[^>]*>[^<]*stable_diffusion_xl', dom)  # the 1 + 1 set is named, not drawn
