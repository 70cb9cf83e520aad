"""AntifakePrompt pseudo-word checkpoints: read (official LAVIS ``.pth`` or fakebench's) and write, safely.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import torch

from fakebench.core.errors import CheckpointError

from fakebench.detectors.antifakeprompt.tokens import AFP_PROMPT, LAVIS_LLM_KEY, LAVIS_QFORMER_KEY, PSEUDO_WORD, PseudoWordState, _IGNORED_KEYS

__all__ = ["read_pseudo_word_checkpoint", "write_pseudo_word_checkpoint"]


def read_pseudo_word_checkpoint(path: str | os.PathLike) -> PseudoWordState:
    """Read the two pseudo-word vectors from an official AntifakePrompt ``.pth`` (or one written by
    :func:`write_pseudo_word_checkpoint`), with ``torch.load(weights_only=True)``.

    Expected: ``checkpoint['model']`` holds :data:`LAVIS_QFORMER_KEY` ``[1, Dq]`` and :data:`LAVIS_LLM_KEY`
    ``[1, Dl]``; the LAVIS buffers ``Qformer.bert.embeddings.position_ids`` and
    ``llm_model.model.layers.*.self_attn.rotary_emb.inv_freq`` may be present and are ignored. Nothing else may be.

    Returns:
        A :class:`PseudoWordState` with float32 tensors (widths not yet checked against a model).

    Raises:
        CheckpointError: unreadable file, missing or unexpected tensors, or tensors that are not ``[1, d]``; the
            message names the file and the keys.
    """
    from fakebench.detectors.checkpoints import key_mismatch, read_checkpoint, unwrap_state_dict

    raw = read_checkpoint(path)
    state = unwrap_state_dict(raw, path)
    wanted = (LAVIS_QFORMER_KEY, LAVIS_LLM_KEY)
    missing = [k for k in wanted if k not in state]
    unexpected = [k for k in state if k not in wanted and not any(p.fullmatch(k) for p in _IGNORED_KEYS)]
    if missing or unexpected:
        raise CheckpointError(
            f"Checkpoint {str(path)!r} is not an AntifakePrompt pseudo-word checkpoint "
            f"({key_mismatch(missing, unexpected)}). "
            f"Expected checkpoint['model'] with exactly {LAVIS_QFORMER_KEY} [1, 768] and {LAVIS_LLM_KEY} [1, 4096] "
            f"(plus LAVIS position_ids / inv_freq buffers), as in COCO_150k_SD3_SD2IP.pth. Pass such a file to "
            f"--weights, or a weights tag of antifakeprompt.")
    for key in wanted:
        tensor = state[key]
        if tensor.ndim != 2 or tensor.shape[0] != 1 or not tensor.is_floating_point():
            raise CheckpointError(f"Checkpoint {str(path)!r}: {key} has shape {list(tensor.shape)} and dtype "
                                  f"{tensor.dtype}; expected one float row [1, d].")
    meta = raw.get("fakebench") if isinstance(raw, Mapping) else None
    return PseudoWordState(state[LAVIS_QFORMER_KEY].float().clone(), state[LAVIS_LLM_KEY].float().clone(),
                           dict(meta) if isinstance(meta, Mapping) else None)


def _check_primitives(obj: Any, where: str = "fakebench") -> None:
    """Raise ``TypeError`` unless ``obj`` is made of str/int/float/bool/None, lists/tuples and str-keyed dicts (exact
    types, as ``torch.load(weights_only=True)`` requires)."""
    if obj is None or type(obj) in (str, int, float, bool):  # exact types: str/int subclasses do not unpickle
        return
    if type(obj) in (list, tuple):
        for i, item in enumerate(obj):
            _check_primitives(item, f"{where}[{i}]")
        return
    if type(obj) is dict:
        for key, value in obj.items():
            if type(key) is not str:
                raise TypeError(f"{where}: key {key!r} is not a string")
            _check_primitives(value, f"{where}.{key}")
        return
    raise TypeError(f"{where} is a {type(obj).__name__}; checkpoint metadata must hold primitives only")


def write_pseudo_word_checkpoint(path: str | os.PathLike, qformer: torch.Tensor, llm: torch.Tensor, *,
                                 metadata: Mapping[str, Any], epoch: int = 0,
                                 extra: Mapping[str, Any] | None = None) -> None:
    """Write the two vectors atomically in the official LAVIS layout, readable by :func:`read_pseudo_word_checkpoint`
    and by the official code (``load_from_pretrained`` reads ``checkpoint['model']``, ``strict=False``).

    Layout: ``{'model': {LAVIS_QFORMER_KEY: [1, Dq] fp32, LAVIS_LLM_KEY: [1, Dl] fp32}, 'epoch': int,
    'config': {'model': {'prompt', 'pseudo_word'}}, 'fakebench': metadata, **extra}``.

    Args:
        path: destination (parent folders are created).
        qformer, llm: the vectors, ``(1, d)`` or ``(d,)``.
        metadata: JSON-like primitives only (so ``weights_only`` loading works).
        epoch: the LAVIS ``epoch`` field (0-based index of the last epoch).
        extra: more top-level entries (e.g. optimizer state in resume files); tensors and primitives only.

    Raises:
        TypeError: metadata holds non-primitive objects.
    """
    import io

    from fakebench.core.files import atomic_write_bytes

    _check_primitives(dict(metadata))
    payload: dict[str, Any] = {
        "model": {LAVIS_QFORMER_KEY: qformer.detach().float().reshape(1, -1).cpu().clone(),
                  LAVIS_LLM_KEY: llm.detach().float().reshape(1, -1).cpu().clone()},
        "epoch": int(epoch),
        "config": {"model": {"prompt": metadata.get("prompt", AFP_PROMPT),
                             "pseudo_word": metadata.get("pseudo_word", PSEUDO_WORD)}},
        "fakebench": dict(metadata),
    }
    payload.update(extra or {})
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())
