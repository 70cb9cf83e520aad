"""The paper-era ``generate`` call of AntifakePrompt / zero-shot InstructBLIP, as LAVIS made it in its environment.

Source: ``nctu-eva-lab/AntifakePrompt`` @ 957c1e1, ``lavis/models/blip2_models/blip2_vicuna_instruct_textinv.py``:
``predict_answers`` (``max_len=10, min_len=1, num_beams=5, length_penalty=0``) calls ``generate``, which calls
``llm_model.generate(inputs_embeds=..., attention_mask=..., do_sample=False, top_p=0.9, temperature=1, num_beams=5,
max_length=10, min_length=1, repetition_penalty=1.5, length_penalty=0, num_return_sequences=1)`` with the LLM's own
end-of-sequence id, then maps output id 0 to 2 and decodes without special tokens. The paper's environment pinned
transformers 4.33, whose ``generate`` behaves in three ways that later versions do not, all reproduced here on any
transformers version:

1. Called with ``inputs_embeds`` alone, it starts each sequence from a one-token placeholder (the LLM's
   ``bos_token_id``) that counts toward ``max_length`` and ``min_length``: so at most **9** new tokens, and
   ``min_length=1`` is met before the first step, so end-of-sequence may come first (decoded ``''``, which the paper's
   rule counts as fake).
2. The repetition penalty sees that placeholder as an earlier token (its score is penalised at every step).
3. The beam scores are a log-softmax over the LLM head's rows, and LAVIS' head has the LAVIS vocabulary (32,001 rows:
   LLaMA's 32,000 plus ``[PAD]``). A Hugging Face InstructBLIP checkpoint pads the head to 32,064 rows; those rows must
   leave the head *before* the softmax, not be masked after it (masking after keeps them in the normaliser, which shifts
   beams against each other).

Checked against the official call run under transformers 4.33.3 on tiny random weights
(``tools/parity/afp_generate.py``, ``tests/fixtures/parity/afp_generate``).
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Iterator

import torch
from torch import nn

__all__ = ["LAVIS_GENERATION", "lavis_generate"]

#: The paper-era settings as transformers >= 4.37 must be told them to act as 4.33 did under LAVIS' call
#: (``max_length=10, min_length=1`` counted the placeholder; the repetition penalty 1.5 is applied by
#: :class:`_PlaceholderRepetitionPenalty`, which also sees the placeholder).
LAVIS_GENERATION = {"num_beams": 5, "max_new_tokens": 9, "min_new_tokens": 0, "length_penalty": 0.0,
                    "do_sample": False, "num_return_sequences": 1}
LAVIS_REPETITION_PENALTY = 1.5


class _PlaceholderRepetitionPenalty:
    """transformers' repetition penalty (divide positive scores, multiply negative ones, once per distinct earlier
    token) over the placeholder token plus the generated tokens, as transformers 4.33 applied it under LAVIS' call.

    Called as a ``LogitsProcessor``: ``(input_ids (B, T) int64, scores (B, V) float) -> scores``.
    """

    def __init__(self, penalty: float, placeholder: int) -> None:
        self.penalty = penalty
        self.placeholder = placeholder

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        seen = torch.cat([torch.full_like(input_ids[:, :1], self.placeholder), input_ids], dim=1)
        picked = torch.gather(scores, 1, seen)
        picked = torch.where(picked < 0, picked * self.penalty, picked / self.penalty)
        return scores.scatter(1, seen, picked)


@contextlib.contextmanager
def _head_rows(llm: nn.Module, rows: int) -> Iterator[None]:
    """Within the block, ``llm``'s output head computes only its first ``rows`` rows (a view: no copy)."""
    head = llm.get_output_embeddings()
    if head.weight.shape[0] <= rows:
        yield
        return
    cut = nn.Linear(head.in_features, rows, bias=head.bias is not None, device=head.weight.device,
                    dtype=head.weight.dtype)
    cut.weight = nn.Parameter(head.weight[:rows], requires_grad=False)
    if head.bias is not None:
        cut.bias = nn.Parameter(head.bias[:rows], requires_grad=False)
    llm.set_output_embeddings(cut)
    try:
        yield
    finally:
        llm.set_output_embeddings(head)


@torch.inference_mode()
def lavis_generate(llm: nn.Module, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor, *, scored_vocab: int,
                   eos: int, placeholder: int | None = None) -> torch.Tensor:
    """The tokens LAVIS' paper-era ``generate`` produces from these LLM input embeddings.

    Args:
        llm: a Hugging Face causal LM (e.g. ``LlamaForCausalLM``) whose head has at least ``scored_vocab`` rows.
        inputs_embeds: ``(N, L, D)`` float, left-padded as LAVIS pads.
        attention_mask: ``(N, L)`` int64, 0 on the padding.
        scored_vocab: head rows that enter the softmax (the LAVIS vocabulary: 32,001 for Vicuna).
        eos: end-of-sequence id (2).
        placeholder: the id transformers 4.33 started from (the LLM config's ``bos_token_id``; default: read there,
            else 1).

    Returns:
        ``(N, T)`` int64 new tokens, ``T <= 9``, with LAVIS' mapping of id 0 to ``eos`` applied; rows end at ``eos``
        (what follows is ``eos`` padding). Decode with ``skip_special_tokens=True`` and strip, as LAVIS does.
    """
    from transformers import LogitsProcessorList

    if placeholder is None:
        placeholder = getattr(getattr(llm, "generation_config", None), "bos_token_id", None)
        placeholder = 1 if placeholder is None else int(placeholder)
    penalty = _PlaceholderRepetitionPenalty(LAVIS_REPETITION_PENALTY, placeholder)
    with _head_rows(llm, scored_vocab), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(repetition_penalty|generation flags|max_length).*")
        out = llm.generate(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                           logits_processor=LogitsProcessorList([penalty]), eos_token_id=eos, pad_token_id=eos,
                           **LAVIS_GENERATION)
    return out.masked_fill(out == 0, eos)
