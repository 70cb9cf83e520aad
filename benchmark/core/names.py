"""Names: "did you mean" messages for unknown names, shared by every layer."""

from __future__ import annotations

import difflib
from typing import Iterable

__all__ = ["suggest"]


def suggest(name: str, choices: Iterable[str], kind: str) -> str:
    """An "unknown name" message with close matches and the (truncated) list of valid names.

    >>> suggest("nrp", ["npr", "cnnspot"], "detector")
    "Unknown detector 'nrp'. Did you mean 'npr'? Valid detectors: cnnspot, npr."
    """
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    listed = ", ".join(choices[:20]) + (f", ... ({len(choices)} in all)" if len(choices) > 20 else "")
    return f"Unknown {kind} {name!r}.{hint} Valid {kind}s: {listed}."

