"""Reading official checkpoint files safely and loading them strictly.

* :func:`read_checkpoint` uses ``torch.load(weights_only=True, map_location="cpu")`` (no pickled code runs), reads
  ``.xz``-compressed files transparently, and turns every failure into a :class:`~fakebench.core.errors.CheckpointError`
  that names the file.
* :func:`unwrap_state_dict` finds the tensors inside the layouts the official repos save: a plain state dict, a
  ``{'model': state_dict, ...}`` training checkpoint, and ``DataParallel`` ``module.`` prefixes.
* :func:`load_strict` loads into a module with every key matched and every shape equal; otherwise it raises with the
  missing, unexpected and mis-shaped keys listed.
"""

from __future__ import annotations

import io
import lzma
import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from fakebench.core.errors import CheckpointError
from fakebench.core.files import sha256_file

__all__ = ["read_checkpoint", "unwrap_state_dict", "key_mismatch", "load_strict", "verify_sha256",
           "require_published"]


def read_checkpoint(path: str | os.PathLike) -> Any:
    """Load a torch checkpoint with ``weights_only=True`` onto the CPU.

    Args:
        path: a ``torch.save`` file, optionally xz-compressed (name ending in ``.xz``).

    Returns:
        Whatever was saved (usually a dict of tensors or a dict holding one).

    Raises:
        CheckpointError: the file is missing, truncated, not a torch file, or holds objects that ``weights_only``
            refuses (pickled code).
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"Checkpoint {str(path)!r} is a folder, not a checkpoint file; pass the file inside it "
                              f"(e.g. {str(path / 'model.pth')!r}) to --weights.")
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {str(path)!r} does not exist; check the --weights path.")
    if path.stat().st_size == 0:
        raise CheckpointError(f"Checkpoint {str(path)!r} is empty (0 bytes): an interrupted download or copy. Delete "
                              f"it and download it again (fakebench download), or pass the right file to --weights.")
    try:
        if path.suffix == ".xz":
            with lzma.open(path, "rb") as handle:
                source: Any = io.BytesIO(handle.read())
        else:
            source = path
        return torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:
        found = _foreign_format(path)
        if found is None:
            _raise_unreadable(path, exc)
        what, fix = found
        raise CheckpointError(f"Checkpoint {str(path)!r} is not a torch.save checkpoint but {what}; {fix}.") from exc


#: What ``torch.save``'s legacy (non-zip) format pickles first: the magic number 0x1950a86a20f9469cfc6c as a
#: 10-byte LONG1 (torch/serialization.py ``MAGIC_NUMBER``).
_LEGACY_TORCH = b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


_RELEASE = "pass the .pth/.pt file the detector's repository releases to --weights"


def _foreign_format(path: Path) -> tuple[str, str] | None:
    """What a file that ``torch.load`` could not read is, when it is recognisably no torch checkpoint at all (a plain
    pickle, an HTML page, a Git LFS pointer, a text file, a safetensors or numpy file) as ``(what it is, the fix)``,
    else ``None`` (a torch file that is damaged, or something unknown: the caller's generic message)."""
    with open(path, "rb") as handle:
        head = handle.read(1024)
    if head[:4] == b"PK\x03\x04" or head[:1] == b"\x80" and head[2:14] == _LEGACY_TORCH:
        return None  # a torch file (zip or legacy format): damaged, or refused for what it holds
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return ("a plain Python pickle (pickle.dump), which fakebench does not load because unpickling can run code",
                "re-save its tensors with torch.save(state_dict, path)")
    if head[:6] == b"\x93NUMPY":
        return "a numpy .npy array file", _RELEASE
    if len(head) >= 10 and head[8:10] == b'{"' and int.from_bytes(head[:8], "little") < 100_000_000:
        return "a safetensors file", _RELEASE
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html")) or b"<html" in text[:512]:
        return ("an HTML page: a download that returned a web page (a login, quota or virus-scan page) instead of "
                "the file", "download it again (fakebench download) or fetch it by hand")
    if text.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer, not the file it points to", "fetch the file itself (git lfs pull)"
    try:
        first = head.decode("utf-8").strip().splitlines()[0][:60] if head.strip() else ""
    except UnicodeDecodeError:
        return None
    return f"a text file (it starts with {first!r})", _RELEASE


def _raise_unreadable(path: Path, exc: BaseException) -> None:
    """Raise the :class:`CheckpointError` for a torch file that ``torch.load(weights_only=True)`` refused."""
    if isinstance(exc, (lzma.LZMAError, EOFError)):
        raise CheckpointError(f"Checkpoint {str(path)!r} is truncated or corrupt ({exc}); download it again.") from exc
    if isinstance(exc, pickle.UnpicklingError):
        # torch names the callable a pickle would run ("Unsupported global", "unsupported GLOBAL x.y"); every other
        # weights-only failure ("Unsupported operand ...") is a damaged or foreign file, not code
        if re.search(r"unsupported global", str(exc), re.IGNORECASE):
            found = re.search(r"GLOBAL ([\w.]+)", str(exc))
            raise CheckpointError(
                f"Checkpoint {str(path)!r} would execute code when loaded; fakebench refuses it (it reads checkpoints "
                f"with weights_only=True: tensors and plain containers only"
                f"{', this file calls ' + found.group(1) if found else ''}). Use a checkpoint that holds a plain "
                f"state dict of tensors."
            ) from exc
        raise CheckpointError(
            f"Cannot read checkpoint {str(path)!r} as a torch file with weights_only=True (UnpicklingError: "
            f"{_reason(exc)}). It is corrupt, truncated, or not a checkpoint; download it again."
        ) from exc
    # torch raises RuntimeError/ValueError for other bad files
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    raise CheckpointError(
        f"Cannot read checkpoint {str(path)!r} as a torch file with weights_only=True ({type(exc).__name__}: "
        f"{first}). It is corrupt, truncated, or not a checkpoint; download it again."
    ) from exc


def unwrap_state_dict(obj: Any, path: str | os.PathLike, *, nested_keys: tuple[str, ...] = ("model", "state_dict"),
                      strip_prefixes: tuple[str, ...] = ("module.",)) -> dict[str, torch.Tensor]:
    """Extract the state dict from a checkpoint object.

    Args:
        obj: the object :func:`read_checkpoint` returned.
        path: the file it came from (for messages).
        nested_keys: keys under which a training checkpoint stores the weights, tried in order when the top level is
            not itself a mapping of tensors.
        strip_prefixes: key prefixes removed when *every* key carries them (``DataParallel``'s ``module.``).

    Returns:
        A flat ``{name: tensor}`` dict.

    Raises:
        CheckpointError: no mapping of tensors can be found.
    """
    if isinstance(obj, Mapping) and obj and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in nested_keys:
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        top = sorted(obj)[:8] if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError(
            f"Checkpoint {str(path)!r} holds no state dict (top level: {top}); expected a dict of tensors or a dict "
            f"with one under {list(nested_keys)}."
        )
    state = dict(obj)
    for prefix in strip_prefixes:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def key_mismatch(missing: list[str], unexpected: list[str], shapes: list[str] = ()) -> str:
    """``"2 missing: a, b; 1 unexpected: c"``, at most 5 names per kind (empty string when all lists are empty)."""
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", list(shapes))):
        if items:
            more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
            parts.append(f"{len(items)} {label}: {', '.join(items[:5])}{more}")
    return "; ".join(parts)


def load_strict(module: torch.nn.Module, state: Mapping[str, torch.Tensor], path: str | os.PathLike,
                what: str = "model") -> None:
    """Load ``state`` into ``module`` requiring every key and shape to match.

    Raises:
        CheckpointError: missing, unexpected or mis-shaped keys; the message lists up to 5 of each, names the file,
            and suggests checking that the checkpoint belongs to ``what``.
    """
    expected = module.state_dict()

    def diff(candidate: Mapping[str, torch.Tensor]) -> tuple[list[str], list[str], list[str]]:
        missing = [k for k in expected if k not in candidate]
        unexpected = [k for k in candidate if k not in expected]
        shapes = [f"{k}: file {tuple(candidate[k].shape)} vs model {tuple(expected[k].shape)}"
                  for k in expected if k in candidate and tuple(candidate[k].shape) != tuple(expected[k].shape)]
        return missing, unexpected, shapes

    missing, unexpected, shapes = diff(state)
    stripped_note = ""
    if missing and unexpected:  # a prefix on some keys (DataParallel's module., a wrapper's model.) hides the real diff
        best = (len(missing) + len(unexpected), state, "")
        for prefix in sorted({k.split(".", 1)[0] + "." for k in state if "." in k}):
            candidate = {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state.items()}
            m, u, _ = diff(candidate)
            if len(m) + len(u) < best[0]:
                best = (len(m) + len(u), candidate, prefix)
        if best[2]:
            state, stripped_note = best[1], f" after removing the {best[2]!r} prefix"
            missing, unexpected, shapes = diff(state)
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"Checkpoint {str(path)!r} does not match the {what}{stripped_note} "
            f"({key_mismatch(missing, unexpected, shapes)}). Is it a {what} checkpoint? "
            f"Pass the right file with --weights."
        )
    module.load_state_dict(state, strict=True)


def require_published(path: str | os.PathLike, detector: str, spec: Any, config: Any, published: Any, *,
                      name: str = "") -> None:
    """Refuse a card release whose checkpoint holds another configuration than the published one (a user's file,
    ``spec`` ``None``, may hold any).

    Args:
        path: the checkpoint file (for the message).
        detector: the detector's registry name.
        spec: the card's :class:`~fakebench.detectors.card.WeightsSpec` the file was resolved as, or ``None``.
        config: the configuration read from the checkpoint; published: the release's (compared with ``!=``).
        name: a short name of the published configuration for the message (``"ViT-L/14"``).

    Raises:
        CheckpointError: ``spec`` is given and ``config != published``; the message says to download it again.
    """
    if spec is not None and config != published:
        named = f"{name} " if name else ""
        raise CheckpointError(f"Checkpoint {str(path)!r} (weights {detector}.{spec.tag}) holds {config}, expected the "
                              f"published {named}{published}; delete it and download it again.")


def verify_sha256(path: str | os.PathLike, expected: str | None) -> str:
    """Hash ``path`` and compare with ``expected``.

    Returns:
        The file's hex sha256.

    Raises:
        CheckpointError: ``expected`` is given and differs; the message gives both hashes and the fix.
    """
    actual = sha256_file(path)
    if expected is not None and actual != expected:
        raise CheckpointError(
            f"Checkpoint {str(path)!r} has sha256 {actual}, expected {expected}. The file is corrupt or a different "
            f"release; delete it and download it again (fakebench download), or pass the intended file."
        )
    return actual


def _reason(exc: BaseException) -> str:
    """The informative line of a torch unpickling error (torch puts its advice on reloading first)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for line in lines:
        if line.startswith(("Unsupported", "WeightsUnpickler error")) and len(line) > len("WeightsUnpickler error:"):
            return line[:200]
    return next((ln for ln in lines if "Unsupported" in ln), lines[0] if lines else type(exc).__name__)[:200]
