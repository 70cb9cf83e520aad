"""One trainer protocol for every detector family: which detectors it trains, the options it takes, its defaults.

``fakebench train DETECTOR`` looks the detector up here, refuses any option the trainer does not take (naming the
ones it does), and calls the trainer's function with the shared argument names. Plain data, no torch import.

Families:

* ``recipe`` -- NPR, CNNSpot and the UnivFD probe with their official recipes (:func:`fakebench.train.loop.train_detector`;
  recipes in :mod:`fakebench.train.recipes`); seed 0 by default.
* ``prompt`` -- AntifakePrompt's prompt tuning (:func:`fakebench.train.antifakeprompt.train_prompt`); seed 42 by
  default, as LAVIS' config.

Both write checkpoints their detector's ``load()`` reads, resume from ``<out stem>.last<suffix>``, and record the
training data with the same content digest (:data:`fakebench.train.data.DIGEST_METHOD`).
"""

from __future__ import annotations

from dataclasses import dataclass

from fakebench.core.errors import UnknownNameError
from fakebench.core.names import suggest

__all__ = ["TrainerSpec", "TRAINERS", "get_trainer", "unsupported_options"]

#: Options every trainer takes (CLI parameter names).
COMMON_OPTIONS = frozenset({"detector", "out", "epochs", "batch_size", "lr", "seed", "device", "workers",
                            "no_resume", "quiet"})


@dataclass(frozen=True)
class TrainerSpec:
    """A training family.

    Attributes:
        name: family name.
        detectors: the registry names it trains.
        target: ``"module:function"`` of the training function (imported on use).
        options: the CLI parameter names it takes (beyond :data:`COMMON_OPTIONS`).
        default_seed: the seed used when none is given (the official recipe's).
        source: where the recipe comes from.
    """

    name: str
    detectors: tuple[str, ...]
    target: str
    options: frozenset[str]
    default_seed: int
    source: str

    @property
    def accepted(self) -> frozenset[str]:
        """Every CLI parameter this trainer takes."""
        return COMMON_OPTIONS | self.options


TRAINERS: dict[str, TrainerSpec] = {
    "recipe": TrainerSpec(
        name="recipe", detectors=("npr", "cnnspot", "univfd"), target="fakebench.train.loop:train_detector",
        options=frozenset({"train_dirs", "real_dirs", "fake_dirs", "val_dirs", "val_real_dirs", "val_fake_dirs",
                           "val_fraction", "recipe", "init", "backbone", "sets", "crop_box"}),
        default_seed=0, source="NPR train.py / CNNDetection train.py / UniversalFakeDetect train.py recipes"),
    "prompt": TrainerSpec(
        name="prompt", detectors=("antifakeprompt",), target="fakebench.train.antifakeprompt:train_prompt",
        options=frozenset({"real_dirs", "fake_dirs", "val_real_dirs", "val_fake_dirs"}),
        default_seed=42, source="AntifakePrompt (LAVIS) train config: 10 epochs, batch 6, lr 1e-5, seed 42"),
}


def get_trainer(detector: str) -> TrainerSpec:
    """The trainer of registry name ``detector``.

    Raises:
        UnknownNameError: no trainer trains it (with suggestions).

    >>> get_trainer("npr").name, get_trainer("antifakeprompt").default_seed
    ('recipe', 42)
    """
    for spec in TRAINERS.values():
        if detector in spec.detectors:
            return spec
    raise UnknownNameError(suggest(detector, [d for s in TRAINERS.values() for d in s.detectors], "trainable detector"))


def unsupported_options(spec: TrainerSpec, given: dict[str, object]) -> list[str]:
    """The parameters in ``given`` that were set (not ``None``, empty or ``False``) but ``spec`` does not take.

    >>> unsupported_options(get_trainer("antifakeprompt"), {"workers": 2, "init": "imagenet", "recipe": None})
    ['init']
    """
    return sorted(k for k, v in given.items() if k not in spec.accepted and v not in (None, (), False))
