"""The package is layered bottom-up, and nothing generic is installed at the top level.

core <- hub <- detectors <- data <- eval / train / analysis / report / explain <- api <- cli

A module may import its own layer and the layers below it, at module level or inside a function (a lazy import is
still a dependency); imports under ``if TYPE_CHECKING:`` are annotations only and do not count.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

#: folder -> import prefix of each layer, in order (lower first).
PACKAGE_DIRS = {"fakebench.detectors": REPO / "detectors", "fakebench": REPO / "benchmark"}
LAYERS = ["core", "hub", "detectors", "data", "app", "api", "cli"]
APP = {"eval", "train", "analysis", "report", "explain"}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "fakebench":
        return None
    if len(parts) == 1:
        return "api"  # the package root re-exports the API lazily
    head = parts[1]
    if head in APP:
        return "app"
    return head if head in LAYERS else "api"


def _modules() -> list[tuple[str, Path]]:
    out = []
    for prefix, folder in PACKAGE_DIRS.items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if prefix == "fakebench" and parts and parts[0] == "detectors":
                continue
            out.append((".".join([prefix, *parts]), path))
    return out


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):  # drop `if TYPE_CHECKING:` bodies
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    found = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            if name == "fakebench":  # from fakebench import detectors / api
                found += [(node.lineno, f"fakebench.{a.name}") for a in node.names if a.name != "__version__"]
    return found


def test_no_module_imports_a_higher_layer():
    problems = []
    for module, path in _modules():
        own = _layer(module)
        for line, name in _imports(path, module):
            target = _layer(name)
            if target is None or name == "fakebench":
                continue
            if LAYERS.index(target) > LAYERS.index(own):
                problems.append(f"{path.relative_to(REPO)}:{line}: {own} layer imports {name} ({target} layer)")
    assert not problems, "\n".join(problems)


def test_no_legacy_top_level_imports():
    bad = []
    for module, path in _modules():
        for line, name in _imports(path, module):
            if name.split(".")[0] in {"benchmark", "detectors", "cli", "datasets"}:
                bad.append(f"{path.relative_to(REPO)}:{line}: import {name}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("module", ["fakebench.detectors.npr", "fakebench.detectors.univfd",
                                    "fakebench.detectors.cnnspot", "fakebench.detectors.antifakeprompt",
                                    "fakebench.hub.weights"])
def test_model_layer_loads_without_the_application(module):
    code = (f"import sys, {module}; bad = sorted(m for m in sys.modules if m.split('.')[:2] in "
            "[['fakebench', x] for x in ('data', 'eval', 'train', 'cli', 'api', 'analysis', 'report', 'explain')]); "
            "print(bad); assert not bad")
    subprocess.run([sys.executable, "-c", code], cwd=REPO.parent, check=True, capture_output=True, text=True)


def test_datasets_folder_is_not_a_package():
    assert not (REPO / "datasets" / "__init__.py").exists()
