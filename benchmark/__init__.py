"""fakebench: one harness for AI-generated ("fake") image detectors.

The importable library is split in two packages:

* :mod:`detectors` -- the :class:`detectors.Detector` interface, the lazy registry and the hosted detectors.
* :mod:`benchmark` -- everything around a detector: data discovery, the dataset manifest, the runner that
  collects per-image predictions, the pure evaluator that scores them, result files, leaderboards and downloads.

This module is deliberately empty apart from the version, so that ``import benchmark`` is cheap and has no side
effects (no torch, no logging handlers).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
