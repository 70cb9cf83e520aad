"""The detector registry: lazy listing, strict names, suggestions, and user detectors without touching the runner."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fakebench import detectors
from fakebench.core.errors import UnknownNameError
from fakebench.detectors.registry import DetectorRegistry

from conftest import REPO


def test_listing_imports_no_heavy_module():
    code = ("import sys; from fakebench import detectors; names = detectors.list_detectors(); "
            "cards = [detectors.REGISTRY.card(n) for n in names]; "
            "print(names, [m for m in ('torch', 'transformers', 'open_clip') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO.parent, capture_output=True, text=True,
                         check=True).stdout
    # every built-in (the original six and each family's block) is listed, and no heavy module is imported
    assert out.strip() == f"{sorted(detectors.BUILTIN_DETECTORS)} []"
    assert {"antifakeprompt", "cnnspot", "instructblip", "npr", "probe", "univfd"} <= set(detectors.BUILTIN_DETECTORS)


@pytest.mark.parametrize("name", sorted(detectors.BUILTIN_DETECTORS))
def test_lazy_map_agrees_with_classes(name):
    cls = detectors.get_detector_class(name)
    assert cls.name == name
    assert cls.card is detectors.BUILTIN_DETECTORS[name][1]
    assert issubclass(cls, detectors.Detector)


def test_unknown_name_suggests():
    with pytest.raises(UnknownNameError, match="Unknown detector 'nrp'. Did you mean 'npr'"):
        detectors.get_detector_class("nrp")


def test_duplicates_are_rejected():
    reg = DetectorRegistry()
    reg.register("mine", "pkg.mod:Mine")
    reg.register("mine", "pkg.mod:Mine")  # the same target again is fine
    with pytest.raises(ValueError, match="already registered"):
        reg.register("mine", "pkg.other:Other")
    with pytest.raises(ValueError, match="lower case"):
        reg.register("Mine", "pkg.mod:Mine")


def test_builtin_name_cannot_be_taken():
    from _toy import ToyHF

    with pytest.raises(ValueError, match="'npr' is already registered"):
        detectors.REGISTRY.register("npr", ToyHF)


def test_entry_point_detectors_are_discovered(monkeypatch):
    """A package that declares a ``fakebench.detectors`` entry point is listed without any import of it."""
    from importlib import metadata

    reg = DetectorRegistry()
    ep = metadata.EntryPoint(name="ep-det", value="_toy:ToyHF", group="fakebench.detectors")
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: [ep] if group == "fakebench.detectors" else [])
    assert reg.names() == ["ep-det"]
    assert reg.get("ep-det").__name__ == "ToyHF"


def test_broken_lazy_target_names_the_module():
    reg = DetectorRegistry()
    reg.register("ghost", "no_such_module_xyz:Ghost")
    with pytest.raises(Exception, match="needs module 'no_such_module_xyz'"):
        reg.get("ghost")


def test_registering_the_same_lazy_target_again_after_it_was_imported_is_a_no_op():
    """A "module:Class" target, once imported (the entry then holds the class), may be registered again under the
    same name (e.g. the built-ins when a checkout's ``detectors`` folder is imported a second time); a different
    target still is refused."""
    from fakebench.detectors.registry import DetectorRegistry

    reg = DetectorRegistry()
    reg.register("npr", "fakebench.detectors.npr:NPR")
    cls = reg.get("npr")
    reg.register("npr", "fakebench.detectors.npr:NPR")
    assert reg.get("npr") is cls
    with pytest.raises(ValueError, match="already registered"):
        reg.register("npr", "fakebench.detectors.cnnspot:CNNSpot")
