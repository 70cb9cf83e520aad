"""Training detectors with their official recipes (``fakebench train``).

One job per module:

* :mod:`~benchmark.training.recipes` -- the named recipes (plain data): ``npr``, ``cnnspot_blur_jpg_prob0.5``,
  ``cnnspot_blur_jpg_prob0.1``, ``univfd_probe``;
* :mod:`~benchmark.training.augment` -- the official train/validation image pipelines with seeded per-image draws;
* :mod:`~benchmark.training.data` -- labelled image discovery, data digests, validation splits, the torch dataset;
* :mod:`~benchmark.training.models` -- building and initialising the network of a recipe;
* :mod:`~benchmark.training.loop` -- the resumable single-process/DDP loop and checkpoint files;
* :mod:`~benchmark.training.split` -- deterministic train/test splits of a ``0_real``/``1_fake`` data root.

Importing this package imports only the recipes (no torch); use :func:`train_detector` from
:mod:`benchmark.training.loop`.
"""

from __future__ import annotations

from typing import Any

from .recipes import DEFAULT_RECIPE, RECIPES, Recipe, get_recipe

__all__ = ["DEFAULT_RECIPE", "RECIPES", "Recipe", "get_recipe", "train_detector"]


def train_detector(*args: Any, **kwargs: Any) -> Any:
    """Lazy alias of :func:`benchmark.training.loop.train_detector` (imports torch on first call)."""
    from .loop import train_detector as _train

    return _train(*args, **kwargs)
