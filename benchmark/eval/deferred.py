"""Load a detector only when a model has to run: recorded identities for fully cached re-runs.

A re-run whose images all come from the prediction cache (or a resumed ``predictions.csv``) needs the detector's
fingerprint, never its model. Importing a detector module costs torch, torchvision and the model's weights (several
seconds and about 1 GB); :func:`load_deferred` avoids it by remembering, per *load request*, the identities a real
load produced (:meth:`~fakebench.detectors.base.Detector.identity`, one per preset of the card) in
``<cache root>/identities.json``.

A recorded identity is used only when everything that could change it is unchanged; the request key covers:

* the detector name and its registry target (``"module:Class"``);
* the code: fakebench's version and the sha256 of every ``.py`` file of the detector package
  (:mod:`fakebench.detectors`: ports, transforms, cards) and of the detector's own module when it lives elsewhere
  (a plugin), so any edit of a port or of its preprocessing invalidates it (the cache key's
  :attr:`~fakebench.detectors.base.Detector.revision` covers deliberate changes; this also covers forgotten bumps);
* the ``weights`` argument (a tag, or a file by resolved path, size and modification time), ``preset``, ``device``,
  ``cache_dir`` and the detector options (an option naming a file also by its size and modification time);

and the record is used only while the loaded weights file still has the size and modification time it had.
Otherwise the detector is loaded (and the record refreshed). A :class:`DeferredDetector` that has to score images
after all loads the real detector (:meth:`DeferredDetector.materialize`) and refuses to go on if its fingerprint
differs from the recorded one, before any cached score is written.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from fakebench.core.errors import FakebenchError

__all__ = ["DeferredDetector", "load_deferred", "record_identities", "request_key", "MEMO_FILE"]

log = logging.getLogger(__name__)

#: File (under the cache root) holding the recorded identities.
MEMO_FILE = "identities.json"
#: Records kept (the most recently used).
_MAX_RECORDS = 256
_SCHEMA = "fakebench.identities/1"


def _file_state(path: str | os.PathLike) -> list[Any] | None:
    """``[resolved path, size, mtime_ns]`` of a regular file, ``None`` if it is not one."""
    try:
        resolved = os.path.realpath(os.fspath(path))
        st = os.stat(resolved)
    except (OSError, TypeError, ValueError):
        return None
    import stat

    return [resolved, st.st_size, st.st_mtime_ns] if stat.S_ISREG(st.st_mode) else None


def _code_digest(target: str) -> str:
    """sha256 over fakebench's version and the ``.py`` files of the detector package plus ``target``'s module file."""
    import fakebench
    import fakebench.detectors as package

    files = sorted(Path(package.__file__).parent.rglob("*.py"))
    module = target.partition(":")[0] if isinstance(target, str) else ""
    if module and not module.startswith("fakebench."):
        loaded = sys.modules.get(module)
        origin = getattr(loaded, "__file__", None)
        if origin is None:
            import importlib.util

            try:
                spec = importlib.util.find_spec(module)
            except (ImportError, ValueError):
                spec = None
            origin = spec.origin if spec is not None else None
        if origin:
            files.append(Path(origin))
    digest = hashlib.sha256(f"fakebench {fakebench.__version__}\n".encode())
    for path in files:
        digest.update(f"{path.name}\n".encode())
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
    return digest.hexdigest()


def _jsonable(value: Any) -> Any:
    """A JSON-ready stand-in for an option value: files also by their state, other objects by ``repr``."""
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        state = _file_state(text) if text else None
        return {"value": text, "file": state} if state else text
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return repr(value)


def _target(name: str) -> str:
    from fakebench.detectors import REGISTRY

    entry = REGISTRY._entry(name)  # raises UnknownNameError with suggestions
    target = entry.target
    return target if isinstance(target, str) else f"{target.__module__}:{target.__qualname__}"


def request_key(name: str, weights: str | os.PathLike | None, *, preset: str | None, device: str,
                cache_dir: str | os.PathLike | None = None, options: Mapping[str, Any] | None = None) -> str:
    """Hex sha256 of a load request (see the module docstring for what it covers); imports no torch.

    Raises:
        UnknownNameError: ``name`` is not a registered detector.
    """
    target = _target(name)
    request = {"name": name, "target": target, "code": _code_digest(target), "weights": _jsonable(weights),
               "preset": preset, "device": str(device), "cache_dir": _jsonable(cache_dir),
               "options": _jsonable(dict(options or {}))}
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=repr).encode()).hexdigest()


def _memo_path() -> Path:
    from fakebench.core.env import cache_root

    return cache_root() / MEMO_FILE


def _read_memo(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("schema") != _SCHEMA or not isinstance(data.get("records"), dict):
        return {}
    return data["records"]


def record_identities(key: str, detector: Any) -> dict[str, Any]:
    """Record what ``detector`` (loaded for request ``key``) would report under each preset of its card.

    The detector's preset is switched to each card preset and back (no model work); the weights file's state is
    kept so the record expires when the file changes. Write failures are logged, never raised (the record is only a
    shortcut).

    Returns:
        The record: ``{"preset", "identities": {preset name: identity}, "fingerprints", "continuous_scores",
        "files", "used"}``.
    """
    current = detector.preset
    identities: dict[str, Any] = {}
    try:
        for preset in detector.card.presets:
            detector.preset = preset
            identities[preset.name] = detector.identity()
    finally:
        detector.preset = current
    identities[current.name] = detector.identity()
    from fakebench.detectors.identity import fingerprint_of

    weights_path = getattr(detector.weights, "path", None)
    record = {"preset": current.name, "identities": identities,
              "fingerprints": {p: fingerprint_of(i) for p, i in identities.items()},
              "continuous_scores": bool(detector.continuous_scores),
              "files": [s for s in [_file_state(weights_path)] if s] if weights_path else [], "used": time.time()}
    try:
        json.dumps(record)
    except (TypeError, ValueError):  # an identity that is not JSON (a plugin's): nothing to record
        return record
    path = _memo_path()
    try:
        from fakebench.core.files import atomic_write_json

        records = _read_memo(path)
        records[key] = record
        if len(records) > _MAX_RECORDS:
            keep = sorted(records, key=lambda k: records[k].get("used", 0))[-_MAX_RECORDS:]
            records = {k: records[k] for k in keep}
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, {"schema": _SCHEMA, "records": records})
    except OSError as exc:
        log.info("could not record the detector identity in %s: %s", path, exc)
    return record


def _valid(record: Any) -> bool:
    try:
        ok = isinstance(record["identities"], dict) and record["preset"] in record["identities"]
        return ok and all(_file_state(f[0]) == list(f) for f in record["files"])
    except (KeyError, TypeError, IndexError):
        return False


class DeferredDetector:
    """A detector known by its recorded identity; the model is loaded on :meth:`materialize` only.

    It has what the runner and the harness read from a detector without running it -- ``name``, ``card``,
    ``weights`` (:class:`~fakebench.detectors.identity.WeightsInfo`), ``preset`` (settable to any preset of the
    card), ``device``, ``continuous_scores``, :meth:`identity` and :meth:`fingerprint` -- and hands everything else
    (``predict``, ``transform``, ...) to the real detector, loading it on first use.

    Args:
        name: registry name.
        record: a record of :func:`record_identities`.
        loader: builds the real detector (as :func:`fakebench.api.load_detector` would).
        device: the device the real detector will be loaded on.
    """

    def __init__(self, name: str, record: Mapping[str, Any], loader: Callable[[], Any], device: str) -> None:
        from fakebench.detectors import REGISTRY
        from fakebench.detectors.identity import WeightsInfo

        self.name = name
        self.card = REGISTRY.card(name)
        self._record = record
        self._loader = loader
        self._real: Any = None
        self.device = device
        self.continuous_scores = bool(record["continuous_scores"])
        self._preset = self.card.get_preset(record["preset"])
        weights = record["identities"][record["preset"]]["weights"]
        self.weights = WeightsInfo(**{k: weights.get(k) for k in ("tag", "path", "sha256")})

    @property
    def natural_threshold(self) -> float | None:
        """The card's decision threshold (``None``: a score-only detector), as the loaded detector would give it."""
        return self.card.natural_threshold

    @property
    def loaded(self) -> bool:
        """Whether the real detector has been loaded."""
        return self._real is not None

    @property
    def preset(self) -> Any:
        return self._preset

    @preset.setter
    def preset(self, value: Any) -> None:
        self._preset = value
        if self._real is not None:
            self._real.preset = value

    def _recorded(self) -> dict[str, Any] | None:
        ident = self._record["identities"].get(self._preset.name)
        if ident is None or ident.get("preset") != self._preset.to_dict():
            return None  # a preset object not from the card: only the real detector knows its identity
        return ident

    def identity(self) -> dict[str, Any]:
        """The identity the real detector reports for the current preset (recorded, or from the loaded detector)."""
        ident = self._recorded() if self._real is None else None
        return copy.deepcopy(ident) if ident is not None else self.materialize().identity()

    def fingerprint(self) -> str:
        """Hex sha256 of :meth:`identity` (see :func:`fakebench.detectors.identity.fingerprint_of`)."""
        from fakebench.detectors.identity import fingerprint_of

        return fingerprint_of(self.identity())

    def materialize(self) -> Any:
        """The real detector (loaded once), set to the current preset.

        Raises:
            FakebenchError: the loaded detector's fingerprint differs from the recorded one (nothing was scored with
                the recorded one yet; delete the identity record and rerun).
            Whatever loading raises (see :func:`fakebench.api.load_detector`).
        """
        if self._real is None:
            recorded = self._recorded()
            real = self._loader()
            real.preset = self._preset
            if recorded is not None:
                from fakebench.detectors.identity import fingerprint_of

                if real.fingerprint() != fingerprint_of(recorded):
                    raise FakebenchError(
                        f"Detector {self.name!r} loaded with another identity than recorded in {_memo_path()} "
                        f"(fingerprint {real.fingerprint()[:12]}, recorded {fingerprint_of(recorded)[:12]}); delete "
                        f"that file and rerun.")
            self._real = real
        return self._real

    def __getattr__(self, attr: str) -> Any:  # predict, transform, input_note, to, model, ...: the real detector's
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self.materialize(), attr)

    def __repr__(self) -> str:
        state = "loaded" if self._real is not None else "not loaded"
        return f"DeferredDetector({self.name!r}, weights={self.weights.label!r}, preset={self._preset.name!r}, {state})"


def load_deferred(name: str, weights: str | os.PathLike | None = None, *, preset: str | None = None,
                  device: str = "cpu", cache_dir: str | os.PathLike | None = None,
                  options: Mapping[str, Any] | None = None, load: Callable[..., Any] | None = None) -> Any:
    """A detector for scoring, loaded only if needed: a :class:`DeferredDetector` when an identity recorded for this
    exact request is still valid, else the real detector (loaded now, and its identities recorded).

    Args:
        name, weights, preset, device, cache_dir: as for :func:`fakebench.api.load_detector`.
        options: the detector's ``load()`` options.
        load: the loader, called as ``load(name, weights, preset=, device=, cache_dir=, **options)`` (default: the
            registered class's ``load``; :func:`fakebench.api.evaluate_all` passes :func:`fakebench.api.
            load_detector`, which also checks the option names).

    Raises:
        As :func:`fakebench.api.load_detector` (unknown names, missing weights, bad checkpoints, unknown options).
    """
    if load is None:
        def load(name: str, weights: Any, **kwargs: Any) -> Any:
            from fakebench.detectors import get_detector_class

            return get_detector_class(name).load(weights, **kwargs)
    options = dict(options or {})

    def loader() -> Any:
        return load(name, weights, preset=preset, device=device, cache_dir=cache_dir, **options)

    try:
        key = request_key(name, weights, preset=preset, device=device, cache_dir=cache_dir, options=options)
    except FakebenchError:
        raise
    except Exception as exc:  # noqa: BLE001 -- a request that cannot be keyed is simply loaded
        log.debug("no identity key for %s: %s", name, exc)
        return loader()
    record = _read_memo(_memo_path()).get(key)
    if record is not None and _valid(record):
        try:
            return DeferredDetector(name, record, loader, device)
        except Exception as exc:  # noqa: BLE001 -- a record that does not fit the card: load for real
            log.debug("identity record of %s unusable: %s", name, exc)
    detector = loader()
    record_identities(key, detector)
    return detector
