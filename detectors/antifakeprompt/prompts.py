"""Prompt token ids, built chunk by chunk as the slow SentencePiece ``LlamaTokenizer`` of LAVIS tokenised them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


from fakebench.core.errors import FakebenchError

from fakebench.detectors.antifakeprompt.tokens import LAVIS_BOS, PROMPT_TOKEN_VARIANTS

__all__ = ["PromptIds", "build_llm_prompt_ids", "build_qformer_prompt_ids", "encode_chunk"]


def encode_chunk(tokenizer: Any, text: str, *, sentencepiece_prefix: bool = False) -> list[int]:
    """Token ids of one text chunk without special tokens.

    Args:
        tokenizer: any HF tokenizer.
        text: the chunk.
        sentencepiece_prefix: check that the first piece carries SentencePiece's ``▁`` word prefix, as the slow
            LLaMA tokenizer adds to every chunk (``add_dummy_prefix``).

    Raises:
        FakebenchError: the check fails (a tokenizer built with ``add_prefix_space=False`` would silently change
            the ids the official checkpoints were trained with).
    """
    ids = list(tokenizer.encode(text, add_special_tokens=False))
    if sentencepiece_prefix and ids and not text[:1].isspace():
        first = tokenizer.convert_ids_to_tokens(ids[0])
        if not str(first).startswith("▁"):
            raise FakebenchError(
                f"The LLM tokenizer encodes {text!r} starting with {first!r}, without the SentencePiece '▁' prefix "
                f"the official (slow LlamaTokenizer) ids have. Load the tokenizer with its default add_prefix_space.")
    return ids


def _chunks(prompt: str, pseudo_word: str | None, *, keep_space_before: bool = False) -> list[str | None]:
    """Split ``prompt`` at ``pseudo_word`` (``None`` entries), stripping whitespace next to it (slow-tokenizer rule).

    With ``keep_space_before`` (transformers >= 4.34), a chunk that ended in whitespace before the pseudo-word is
    followed by ``" "`` (encoded as the lone ``▁`` piece)."""
    if not pseudo_word or pseudo_word not in prompt:
        return [prompt]
    pieces = prompt.split(pseudo_word)
    out: list[str | None] = []
    for i, piece in enumerate(pieces):
        spaced = i < len(pieces) - 1 and piece[-1:].isspace()
        piece = piece.rstrip() if i < len(pieces) - 1 else piece
        piece = piece.lstrip() if i > 0 else piece
        if piece:
            out.append(piece)
        if keep_space_before and spaced:
            out.append(" ")
        if i < len(pieces) - 1:
            out.append(None)
    return out


def build_llm_prompt_ids(tokenizer: Any, prompt: str, *, pseudo_word: str | None = None,
                         pseudo_id: int | None = None, variant: str = "legacy") -> list[int]:
    """LLM ids of ``'</s>' + prompt`` as the slow LAVIS tokenizer produced them (without the image placeholders).

    For ``Is this photo real [*]?`` the pieces are ``</s> ▁Is ▁this ▁photo ▁real [*] ▁?`` (``variant='legacy'``,
    transformers <= 4.33) or ``</s> ▁Is ▁this ▁photo ▁real ▁ [*] ▁?`` (``'spaced'``, transformers >= 4.34); for
    ``Is this photo real?`` (no pseudo-word) both give ``</s> ▁Is ▁this ▁photo ▁real ?``.

    Args:
        tokenizer: the LLaMA tokenizer.
        prompt: the instruction.
        pseudo_word, pseudo_id: the pseudo-word string and its id (``None``: no pseudo-word).
        variant: one of :data:`~fakebench.detectors.antifakeprompt.tokens.PROMPT_TOKEN_VARIANTS`.

    Raises:
        FakebenchError: unknown ``variant``; ``</s>`` (or, for ``spaced``, the lone ``▁`` piece) is unknown to the
            tokenizer; or a chunk lacks the SentencePiece prefix.
    """
    if variant not in PROMPT_TOKEN_VARIANTS:
        raise FakebenchError(f"Unknown prompt-token variant {variant!r}; expected one of "
                             f"{', '.join(PROMPT_TOKEN_VARIANTS)}.")
    vocab = tokenizer.get_vocab()
    bos = vocab.get(LAVIS_BOS)
    if bos is None:
        raise FakebenchError(f"The LLM tokenizer has no {LAVIS_BOS!r} token; it is not a LLaMA/Vicuna tokenizer.")
    ids = [int(bos)]
    for chunk in _chunks(prompt, pseudo_word, keep_space_before=variant == "spaced"):
        if chunk is None:
            ids.append(int(pseudo_id))
        elif chunk == " ":
            if "▁" not in vocab:
                raise FakebenchError("The LLM tokenizer has no lone '▁' piece, which the 'spaced' prompt-token "
                                     "variant needs; it is not a LLaMA/Vicuna tokenizer.")
            ids.append(int(vocab["▁"]))
        else:
            ids += encode_chunk(tokenizer, chunk, sentencepiece_prefix=True)
    return ids


def build_qformer_prompt_ids(qformer_tokenizer: Any, prompt: str, *, pseudo_word: str | None = None,
                             pseudo_id: int | None = None) -> list[int]:
    """Q-Former ids ``[CLS] ... [SEP]`` of ``prompt`` (BERT lower-cases; ``[*]`` kept whole), e.g.
    ``[CLS] is this photo real [*] ? [SEP]``."""
    ids = [int(qformer_tokenizer.cls_token_id)]
    for chunk in _chunks(prompt, pseudo_word):
        ids += [int(pseudo_id)] if chunk is None else encode_chunk(qformer_tokenizer, chunk)
    return ids + [int(qformer_tokenizer.sep_token_id)]


@dataclass(frozen=True)
class PromptIds:
    """Every token id a forward pass needs.

    Attributes:
        qformer: Q-Former ids ``[CLS] ... [SEP]``.
        llm: LLM ids ``[<image>] * num_query_tokens + '</s>' + prompt``.
        answers: LLM ids of each candidate answer (``yes`` first, then ``no``), without bos/eos.
        eos: id of ``</s>`` (appended to the answer as the training target, LAVIS ``text_output + eos``).
        image_token: id of ``<image>``.
        num_query_tokens: 32 in InstructBLIP.
    """

    qformer: tuple[int, ...]
    llm: tuple[int, ...]
    answers: tuple[tuple[int, ...], ...]
    eos: int
    image_token: int
    num_query_tokens: int

    @property
    def single_token_answers(self) -> bool:
        """True when every answer is one token (then one forward pass at the last prompt position suffices)."""
        return all(len(a) == 1 for a in self.answers)
