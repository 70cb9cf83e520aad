"""The README's Python example runs as written (with its two placeholders bound to a checkpoint and a folder)."""

from __future__ import annotations

import contextlib
import io
import re

from conftest import REPO


def _block(marker: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- {marker} -->\s*```python\n(.*?)```", text, re.S)
    assert match, f"README.md has no <!-- {marker} --> python block"
    return match.group(1)


def test_python_api_example_runs(image_tree, npr_checkpoint, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(_block("readme:python"), "README.md", "exec"), {"CHECKPOINT": npr_checkpoint,
                                                                     "DATA_DIR": image_tree})
    printed = out.getvalue()
    assert "npr" in printed and "gen_a" in printed and "sha256" in printed
    assert list((tmp_path / "results" / "runs").rglob("results.json"))
