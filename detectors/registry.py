"""A registry of detector classes that lists names without importing them.

Built-in detectors are registered as lazy ``"module:Class"`` strings with their :class:`~fakebench.detectors.card.DetectorCard`,
so listing them never imports torch, open_clip or transformers; the class is imported on first :meth:`get`.
User detectors join in one of three ways, none of which touches the runner:

1. the :func:`register_detector` decorator on a :class:`~fakebench.detectors.base.Detector` subclass in the user's module,
   imported before the run (``fakebench evaluate --plugin my_pkg.my_detector``);
2. a lazy string, ``REGISTRY.register("mine", "my_pkg.my_detector:MyDetector", card=MY_CARD)``;
3. a ``fakebench.detectors`` entry point in the user's package metadata (``mine = my_pkg.my_detector:MyDetector``),
   discovered automatically.

Names are unique: registering a taken name is an error unless it is the same class (or the class a lazy string
pointed at). Unknown names raise :class:`~fakebench.core.errors.UnknownNameError` with close-match suggestions.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Callable, TypeVar

from fakebench.core.errors import FakebenchError, UnknownNameError

from fakebench.detectors.card import DetectorCard
from fakebench.core.names import suggest

if TYPE_CHECKING:  # pragma: no cover
    from fakebench.detectors.base import Detector

__all__ = ["DetectorRegistry", "REGISTRY", "register_detector", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "fakebench.detectors"
T = TypeVar("T")


@dataclass
class _Entry:
    target: "str | type"  # "module:Class" until first use, then the class
    card: DetectorCard | None
    origin: str
    lazy: str = ""  # the "module:Class" string the class was imported from (kept once resolved)


class DetectorRegistry:
    """Thread-safe name -> detector-class map with lazy imports and strict names."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.RLock()
        self._entry_points_loaded = False

    # -- registration -------------------------------------------------------------------------------------------
    def register(self, name: str, target: "str | type", *, card: DetectorCard | None = None, origin: str = "") -> None:
        """Register ``target`` (a class or a lazy ``"module:Class"`` string) under ``name``.

        Raises:
            ValueError: ``name`` is empty or not lower-case, or it is already taken by a different target.
        """
        if not name or name != name.lower() or any(c.isspace() for c in name):
            raise ValueError(f"Expected a detector name in lower case without spaces, but got {name!r}.")
        with self._lock:
            existing = self._entries.get(name)
            if existing is not None:
                if self._same_target(existing.target, target) or (isinstance(target, str) and target == existing.lazy):
                    if not isinstance(target, str):
                        existing.target = target
                    return
                raise ValueError(
                    f"Detector name {name!r} is already registered (by {existing.origin or existing.target!r}); "
                    f"pick another name for {target!r}."
                )
            if card is None and not isinstance(target, str):
                card = getattr(target, "card", None)
            self._entries[name] = _Entry(target, card, origin or _describe(target))

    @staticmethod
    def _same_target(a: "str | type", b: "str | type") -> bool:
        def key(t: "str | type") -> str:
            return t if isinstance(t, str) else f"{t.__module__}:{t.__qualname__}"

        return key(a) == key(b)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (used by tests that register temporary detectors)."""
        with self._lock:
            self._entries.pop(name, None)

    # -- lookup -------------------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Sorted registered names (entry points included); imports nothing heavy."""
        self._load_entry_points()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        self._load_entry_points()
        return name in self._entries

    def card(self, name: str) -> DetectorCard | None:
        """The card of ``name`` without importing the class when the card was registered with it.

        Raises:
            UnknownNameError: ``name`` is not registered.
        """
        entry = self._entry(name)
        if entry.card is None and not isinstance(entry.target, str):
            entry.card = getattr(entry.target, "card", None)
        return entry.card

    def get(self, name: str) -> "type[Detector]":
        """The detector class registered as ``name``, importing it on first use.

        Raises:
            UnknownNameError: ``name`` is not registered (with suggestions).
            FakebenchError: the lazy target cannot be imported (the message names the module and the missing
                dependency).
        """
        entry = self._entry(name)
        if isinstance(entry.target, str):
            module_name, _, attr = entry.target.partition(":")
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                raise FakebenchError(
                    f"Detector {name!r} needs module {module_name!r}, which failed to import: {exc}. "
                    f"Install the missing package (pip install -e \".[dev]\" installs every detector's dependencies)."
                ) from exc
            try:
                cls = getattr(module, attr)
            except AttributeError as exc:
                raise FakebenchError(f"Detector {name!r}: module {module_name!r} has no attribute {attr!r}.") from exc
            with self._lock:
                entry.lazy, entry.target = entry.target, cls
                if entry.card is None:
                    entry.card = getattr(cls, "card", None)
        return entry.target  # type: ignore[return-value]

    def _entry(self, name: str) -> _Entry:
        self._load_entry_points()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(suggest(name, self._entries, "detector")) from None

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        with self._lock:
            if self._entry_points_loaded:
                return
            self._entry_points_loaded = True
            for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
                self.register(ep.name, ep.value, origin=f"entry point {ep.value!r}")


def _describe(target: "str | type") -> str:
    if isinstance(target, str):
        return target
    try:
        import inspect

        return f"{target.__module__}:{target.__qualname__} ({inspect.getsourcefile(target)})"
    except (TypeError, OSError):
        return f"{target.__module__}:{target.__qualname__}"


#: The global registry used by the runner and the CLI.
REGISTRY = DetectorRegistry()


def register_detector(name: str | None = None) -> Callable[[T], T]:
    """Class decorator that registers a :class:`~fakebench.detectors.base.Detector` subclass in :data:`REGISTRY`.

    Args:
        name: registry name; defaults to the class attribute ``name``.

    Example:
        >>> from fakebench.detectors import Detector, register_detector
        >>> @register_detector("my-detector")  # doctest: +SKIP
        ... class MyDetector(Detector):
        ...     ...

    Raises:
        ValueError: the name is taken by another class.
    """

    def wrap(cls: T) -> T:
        reg_name = name or getattr(cls, "name", None)
        if not reg_name:
            raise ValueError(f"{cls!r} has no `name`; pass one to register_detector().")
        if getattr(cls, "name", None) != reg_name:
            cls.name = reg_name  # type: ignore[attr-defined]
        REGISTRY.register(reg_name, cls)  # type: ignore[arg-type]
        return cls

    return wrap
