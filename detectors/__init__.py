"""Detectors: the :class:`Detector` interface, the registry, and the hosted detectors.

Importing this package is cheap: it registers the built-in detectors as lazy ``"module:Class"`` strings together with
their cards, so listing them imports neither torch nor transformers. :func:`get_detector_class` imports a detector on
first use; :func:`load_detector` also loads its weights.

Built-in names: ``cnnspot``, ``npr``, ``univfd``, ``antifakeprompt``, ``instructblip``, ``probe``, and the CLIP
family ``rine``, ``clipdet``, ``c2p_clip``, ``commfor``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from fakebench.detectors.catalog import ANTIFAKEPROMPT_CARD, INSTRUCTBLIP_CARD
from fakebench.detectors.card import DetectorCard, Preset, WeightsSpec
from fakebench.detectors.catalog import CNNSPOT_CARD, NPR_CARD, UNIVFD_CARD
from fakebench.detectors.probe import PROBE_CARD
from fakebench.detectors.catalog_foundation import BFREE_CARD, DRCT_CARD, EFFORT_CARD
from fakebench.detectors.catalog_clip import C2P_CLIP_CARD, CLIPDET_CARD, COMMFOR_CARD, RINE_CARD
from fakebench.detectors.catalog_artifact import CORVI2023_CARD, LADEDA_CARD, SAFE_CARD
from fakebench.detectors.catalog_spectral import AEROBLADE_CARD
from fakebench.detectors.catalog_lgrad import LGRAD_CARD  # lgrad (issue #18)
from fakebench.detectors.catalog_fatformer import FATFORMER_CARD  # fatformer (issue #17, CLIP family)
from fakebench.detectors.catalog_aide import AIDE_CARD  # aide (issue #18)
from fakebench.detectors.catalog_spai import SPAI_CARD  # spai (issue #18)
from fakebench.detectors.registry import REGISTRY, DetectorRegistry, register_detector

if TYPE_CHECKING:  # pragma: no cover
    from fakebench.detectors.base import Detector, DetectorOutput, LogitDetector, WeightsInfo

__all__ = [
    "REGISTRY", "DetectorRegistry", "register_detector", "DetectorCard", "Preset", "WeightsSpec",
    "Detector", "DetectorOutput", "LogitDetector", "WeightsInfo",
    "BUILTIN_DETECTORS", "list_detectors", "get_detector_class", "load_detector",
]

#: Lazy targets of the built-in detectors, with their cards (one place; a test checks it against the classes).
BUILTIN_DETECTORS: dict[str, tuple[str, DetectorCard]] = {
    "cnnspot": ("fakebench.detectors.cnnspot:CNNSpot", CNNSPOT_CARD),
    "npr": ("fakebench.detectors.npr:NPR", NPR_CARD),
    "univfd": ("fakebench.detectors.univfd:UnivFD", UNIVFD_CARD),
    "antifakeprompt": ("fakebench.detectors.antifakeprompt:AntifakePrompt", ANTIFAKEPROMPT_CARD),
    "instructblip": ("fakebench.detectors.antifakeprompt:InstructBlipZeroShot", INSTRUCTBLIP_CARD),
    "probe": ("fakebench.detectors.probe.model:Probe", PROBE_CARD),
    # -- issue #17 part B, foundation-model family (clipb): cards in detectors/catalog_foundation.py
    "drct": ("fakebench.detectors.drct:DRCT", DRCT_CARD),
    "bfree": ("fakebench.detectors.bfree:BFree", BFREE_CARD),
    "effort": ("fakebench.detectors.effort:Effort", EFFORT_CARD),
    # CLIP / foundation-model family, part A (issue #17): catalog_clip.py
    "rine": ("fakebench.detectors.rine:RINE", RINE_CARD),
    "clipdet": ("fakebench.detectors.clipdet:CLIPDet", CLIPDET_CARD),
    "c2p_clip": ("fakebench.detectors.c2p_clip:C2PCLIP", C2P_CLIP_CARD),
    "commfor": ("fakebench.detectors.commfor:CommFor", COMMFOR_CARD),
    # artifact / frequency family (issue #18 part A)
    "safe": ("fakebench.detectors.safe:SAFE", SAFE_CARD),
    "corvi2023": ("fakebench.detectors.corvi2023:Corvi2023", CORVI2023_CARD),
    "ladeda": ("fakebench.detectors.ladeda:LaDeDa", LADEDA_CARD),
    # issue #18 part B: artifact / frequency / training-free family (artb)
    "aeroblade": ("fakebench.detectors.aeroblade:AeroBlade", AEROBLADE_CARD),
    # lgrad (issue #18)
    "lgrad": ("fakebench.detectors.lgrad:LGrad", LGRAD_CARD),
    # CLIP family, last port (issue #17): catalog_fatformer.py
    "fatformer": ("fakebench.detectors.fatformer:FatFormer", FATFORMER_CARD),
    # spai (issue #18)
    "spai": ("fakebench.detectors.spai:SPAI", SPAI_CARD),
    # aide (issue #18)
    "aide": ("fakebench.detectors.aide:AIDE", AIDE_CARD),
}

for _name, (_target, _card) in BUILTIN_DETECTORS.items():
    REGISTRY.register(_name, _target, card=_card, origin=f"built-in {_target}")


def list_detectors() -> list[str]:
    """Sorted names of every registered detector (built-ins, decorated classes, entry points)."""
    return REGISTRY.names()


def get_detector_class(name: str) -> "type[Detector]":
    """The class registered as ``name`` (imported on first use).

    Raises:
        UnknownNameError: unknown name, with close-match suggestions.
    """
    return REGISTRY.get(name)


def load_detector(name: str, weights: str | os.PathLike | None = None, *, preset: str | None = None,
                  device: str = "cpu", cache_dir: str | os.PathLike | None = None) -> "Detector":
    """Build detector ``name`` with its weights; see :meth:`Detector.load` for the arguments and errors."""
    return get_detector_class(name).load(weights, preset=preset, device=device, cache_dir=cache_dir)


def __getattr__(attr: str) -> Any:  # PEP 562: the torch-importing names load on first access
    if attr in ("Detector", "DetectorOutput", "LogitDetector", "WeightsInfo"):
        from fakebench.detectors import base

        return getattr(base, attr)
    raise AttributeError(f"module 'detectors' has no attribute {attr!r}")
