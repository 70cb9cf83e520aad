"""Training detectors with their official recipes (``fakebench train``).

One job per module:

* :mod:`~fakebench.train.recipes` -- the named recipes (plain data): ``npr``, ``cnnspot_blur_jpg_prob0.5``,
  ``cnnspot_blur_jpg_prob0.1``, ``univfd_probe``;
* :mod:`~fakebench.train.augment` -- the official train/validation image pipelines with seeded per-image draws;
* :mod:`~fakebench.train.data` -- labelled image discovery, data digests, validation splits, the torch dataset;
* :mod:`~fakebench.train.models` -- building and initialising the network of a recipe;
* :mod:`~fakebench.train.loop` -- the resumable single-process/DDP loop and checkpoint files;
* :mod:`~fakebench.train.split` -- deterministic train/test splits of a ``0_real``/``1_fake`` data root.

Importing this package imports only the recipes (no torch); use :func:`train_detector` from
:mod:`fakebench.train.loop`.
"""

from __future__ import annotations

from typing import Any

from fakebench.train.recipes import DEFAULT_RECIPE, RECIPES, Recipe, get_recipe

__all__ = ["DEFAULT_RECIPE", "RECIPES", "Recipe", "get_recipe", "train_detector"]


def train_detector(*args: Any, **kwargs: Any) -> Any:
    """Lazy alias of :func:`fakebench.train.loop.train_detector` (imports torch on first call)."""
    from fakebench.train.loop import train_detector as _train

    return _train(*args, **kwargs)
