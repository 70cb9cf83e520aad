"""fakebench: one harness for AI-generated ("fake") image detectors.

The installed distribution has one import namespace, ``fakebench``, layered bottom-up (a lower layer never imports a
higher one; ``tests/test_layering.py`` checks it):

* :mod:`fakebench.core` -- errors, environment, files, names, provenance;
* :mod:`fakebench.hub` -- sources, verified/resumable fetches, the weights cache, safe archives;
* :mod:`fakebench.detectors` -- the :class:`~fakebench.detectors.base.Detector` interface, the lazy registry, the
  cards and the hosted detectors (the model layer);
* :mod:`fakebench.data` -- the dataset manifest, image discovery and decoding, dataset downloads;
* :mod:`fakebench.eval` / :mod:`fakebench.train` -- the runner, scorer, results and leaderboards; training;
* :mod:`fakebench.api` and :mod:`fakebench.cli` -- the Python entry points below and the ``fakebench`` command.

Entry points (imported lazily, so ``import fakebench`` does not import torch):

* :func:`load_detector` -- a detector with its weights;
* :func:`evaluate` -- one detector over test sets, returning :class:`~fakebench.eval.results.Results`;
* :func:`list_detectors`, :func:`list_datasets`.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.3.0"

__all__ = ["__version__", "load_detector", "evaluate", "list_detectors", "list_datasets"]

_API = frozenset({"load_detector", "evaluate", "list_detectors", "list_datasets"})


def __getattr__(name: str) -> Any:  # PEP 562: the API module imports the heavy layers on first use
    if name in _API:
        from fakebench import api

        return getattr(api, name)
    raise AttributeError(f"module 'fakebench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _API)
