"""Run the examples in the docstrings of every fakebench module (the ``>>>`` lines), as ``--doctest-modules`` would.

The modules are imported by their installed names (``fakebench.*``), not by their folder paths, so the package
mapping (``benchmark/`` -> ``fakebench``) is honoured and nothing is imported twice under two names.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import fakebench

#: Modules whose import needs an optional extra that may be absent (checked separately where installed).
_OPTIONAL = ("fakebench.explain", "fakebench.report")


def _modules() -> list[str]:
    names = ["fakebench"]
    for info in pkgutil.walk_packages(fakebench.__path__, "fakebench."):
        names.append(info.name)
    return sorted(names)


def _has_examples(name: str) -> bool:
    try:
        module = importlib.import_module(name)
    except ImportError:
        if name.startswith(_OPTIONAL):
            return False
        raise
    return bool(doctest.DocTestFinder().find(module)) and any(t.examples for t in doctest.DocTestFinder().find(module))


_WITH_EXAMPLES = [n for n in _modules() if not n.startswith("fakebench.cli") and _has_examples(n)]


def test_the_key_entry_points_have_examples():
    assert {"fakebench.api", "fakebench.core.names", "fakebench.eval.results", "fakebench.core.env"} <= set(
        _WITH_EXAMPLES)


@pytest.mark.parametrize("name", _WITH_EXAMPLES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
