"""The pseudo-word ``[*]``: its embedding module, token ids and installation into a model; the prompts and answers.

AntifakePrompt ``lavis/models/blip2_models/blip2_vicuna_instruct_textinv.py`` (``BertEmbeddingsTextualInversion``,
``LlamaModelTextualInversion``); see :mod:`fakebench.detectors.antifakeprompt` for the whole port.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from fakebench.core.errors import FakebenchError


__all__ = ["PROMPT_TOKEN_VARIANTS", "DECISION_RULES", "lavis_vocab_size", "AFP_PROMPT", "ZERO_SHOT_PROMPT", "PSEUDO_WORD", "ANSWERS", "LAVIS_BOS", "LAVIS_QFORMER_KEY", "LAVIS_LLM_KEY", "DEFAULT_BASE_MODEL", "DEFAULT_LLM_MODEL", "PseudoWordEmbedding", "PseudoWordState", "PseudoWordIds", "install_pseudo_word", "pseudo_word_modules", "ensure_image_token"]


#: The AntifakePrompt instruction (``test.py`` line 228; model yaml ``prompt``).
AFP_PROMPT = "Is this photo real [*]?"
#: The paper's zero-shot InstructBLIP baseline prompt.
ZERO_SHOT_PROMPT = "Is this photo real?"
#: The pseudo-word string (model yaml ``pseudo_word``).
PSEUDO_WORD = "[*]"
#: How the slow ``LlamaTokenizer`` of LAVIS split the text around the pseudo-word, by transformers version:
#: ``legacy`` (transformers <= 4.33): whitespace next to the added token is stripped, ``</s> ▁Is ▁this ▁photo ▁real [*]
#: ▁?``; ``spaced`` (transformers >= 4.34, added tokens no longer strip): the space before ``[*]`` stays as its own
#: ``▁`` piece, ``</s> ▁Is ▁this ▁photo ▁real ▁ [*] ▁?``. The checkpoints were trained with one of them; the card
#: gives each checkpoint's default (:data:`fakebench.detectors.catalog.AFP_PROMPT_TOKENS`).
PROMPT_TOKEN_VARIANTS = ("legacy", "spaced")
#: ``likelihood``: the README-era ``test.py`` (``predict_class``): compare the two answers' likelihoods (continuous
#: score). ``generate``: the paper-era script (``deepfake-detection/test.py`` @ 04df44d, ``predict_answers``): beam
#: search generation, then real iff the decoded, stripped text is exactly ``yes`` (hard 0/1 decision, no score).
DECISION_RULES = ("likelihood", "generate")
#: Candidate answers, in the order (real, fake) (dataset config ``real_label``/``fake_label``).
ANSWERS = ("yes", "no")
#: LAVIS replaces the LLaMA bos by ``</s>`` (``add_special_tokens({'bos_token': '</s>'})``): the prompt starts with it.
LAVIS_BOS = "</s>"
#: Keys of the two pseudo-word tensors in the official checkpoints (``checkpoint['model']``).
LAVIS_QFORMER_KEY = "Qformer.bert.embeddings.train_word_embeddings.weight"
LAVIS_LLM_KEY = "llm_model.model.train_embed_tokens.weight"
#: Persistent buffers LAVIS saves next to the trainable tensors; deterministic, so they are accepted and ignored.
_IGNORED_KEYS = (re.compile(r"Qformer\.bert\.embeddings\.position_ids"),
                 re.compile(r"llm_model\.model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq"))
DEFAULT_BASE_MODEL = "Salesforce/instructblip-vicuna-7b"
DEFAULT_LLM_MODEL = "lmsys/vicuna-7b-v1.3"
_LICENCES = {
    DEFAULT_BASE_MODEL: "licence 'other' (InstructBLIP; Vicuna-based, non-commercial use)",
    DEFAULT_LLM_MODEL: "non-commercial licence (Vicuna v1.3, LLaMA-based)",
}
_DTYPES = {"fp16": torch.float16, "float16": torch.float16, "half": torch.float16, "bf16": torch.bfloat16,
           "bfloat16": torch.bfloat16, "fp32": torch.float32, "float32": torch.float32, "float": torch.float32}


def lavis_vocab_size(tokenizer: Any) -> int:
    """Rows of the LLM output layer in LAVIS: the SentencePiece vocabulary plus ``[PAD]`` (Vicuna: 32000 + 1 = 32001).

    LAVIS resizes Vicuna to ``len(llm_tokenizer)`` right after adding ``[PAD]``; the pseudo-word ``[*]`` never gets an
    output row. HF InstructBLIP pads the LLM to 32064 rows (``<image>``, ``[*]`` and padding beyond 32001): those rows
    must not enter the softmax for the log-probabilities to equal the official ones.

    Args:
        tokenizer: the LLM tokenizer (``vocab_size`` = base vocabulary without added tokens).

    Returns:
        ``vocab_size + 1`` when ``[PAD]`` is the first added id (the LAVIS/HF InstructBLIP layout), else
        ``vocab_size``.
    """
    base = int(tokenizer.vocab_size)
    return base + 1 if tokenizer.get_vocab().get("[PAD]") == base else base


class PseudoWordEmbedding(nn.Embedding):
    """An input-embedding module that returns a learned vector for one token id and the pretrained rows otherwise.

    It shares the ``weight`` Parameter of the embedding it replaces (same object, so state-dict keys of the host model
    are unchanged) and adds ``pseudo_vector``. This is LAVIS' textual-inversion embedding: there, ids at or above the
    matrix size go to a separate ``nn.Embedding(1, d)``; here the id may lie inside a padded matrix (HF InstructBLIP
    pads the LLM vocabulary to 32064 rows) or beyond it, and is matched exactly.

    Args:
        base: the pretrained embedding (``(V, d)`` weight, any dtype).
        token_id: id of the pseudo-word in the matching tokenizer (``>= 0``; may be ``>= V``).

    Attributes:
        pseudo_vector: ``(1, d)`` float32 Parameter (kept in fp32 like LAVIS' ``train_embed_tokens``; cast to the
            weight's dtype on use). Its ``requires_grad`` is off until training turns it on.
    """

    def __init__(self, base: nn.Embedding, token_id: int) -> None:
        nn.Module.__init__(self)  # not nn.Embedding.__init__: the weight is shared, never re-created
        self.num_embeddings, self.embedding_dim = base.num_embeddings, base.embedding_dim
        self.padding_idx, self.max_norm, self.norm_type = base.padding_idx, base.max_norm, base.norm_type
        self.scale_grad_by_freq, self.sparse = base.scale_grad_by_freq, base.sparse
        self.weight = base.weight
        self.token_id = int(token_id)
        self.pseudo_vector = nn.Parameter(
            torch.zeros(1, base.embedding_dim, dtype=torch.float32, device=base.weight.device), requires_grad=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """``(...)`` long ids -> ``(..., d)`` embeddings in the weight's dtype."""
        mask = input_ids == self.token_id
        emb = F.embedding(input_ids.masked_fill(mask, 0), self.weight, self.padding_idx, self.max_norm,
                          self.norm_type, self.scale_grad_by_freq, self.sparse)
        return torch.where(mask.unsqueeze(-1), self.pseudo_vector.to(emb.dtype), emb)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, pseudo-word id {self.token_id}"


@dataclass
class PseudoWordState:
    """The two pseudo-word vectors of a checkpoint.

    Attributes:
        qformer: ``(1, Dq)`` float32 (``Dq`` = Q-Former hidden size, 768 in the real model).
        llm: ``(1, Dl)`` float32 (``Dl`` = LLM hidden size, 4096).
        metadata: the ``'fakebench'`` dict of checkpoints written by :func:`write_pseudo_word_checkpoint`, else
            ``None`` (official releases).
    """

    qformer: torch.Tensor
    llm: torch.Tensor
    metadata: dict[str, Any] | None = None


def ensure_image_token(tokenizer: Any, image_token_index: int) -> None:
    """Make sure the LLM tokenizer maps ``<image>`` to the config's ``image_token_index`` (newer HF revisions ship it;
    older ones get it added here, as ``InstructBlipProcessor`` does), so the pseudo-word cannot take that id.

    Raises:
        FakebenchError: the tokenizer has another token at that id, or ``<image>`` elsewhere.
    """
    from transformers import AddedToken

    vocab = tokenizer.get_vocab()
    if "<image>" not in vocab and len(tokenizer) == image_token_index:
        tokenizer.add_tokens([AddedToken("<image>", special=True, normalized=False)], special_tokens=True)
        vocab = tokenizer.get_vocab()
    if vocab.get("<image>") != image_token_index:
        raise FakebenchError(
            f"The LLM tokenizer maps '<image>' to {vocab.get('<image>')} but the model config's image_token_index is "
            f"{image_token_index}. Load the tokenizer that belongs to the base model (same folder or hub id)."
        )


def _add_pseudo_token(tokenizer: Any, word: str, reserved: Mapping[str, int]) -> int:
    """Add ``word`` as an additional special token (idempotent) and return its id, refusing collisions."""
    from transformers import AddedToken

    added = tokenizer.get_added_vocab()
    if word in added:
        token_id = added[word]
    else:
        if word in tokenizer.get_vocab():
            raise FakebenchError(f"The pseudo-word {word!r} is already a regular token of {type(tokenizer).__name__}; "
                                 f"pick another pseudo-word.")
        tokenizer.add_tokens([AddedToken(word, special=True, normalized=False)], special_tokens=True)
        token_id = tokenizer.convert_tokens_to_ids(word)
    for name, other in reserved.items():
        if token_id == other:
            raise FakebenchError(f"The pseudo-word {word!r} got id {token_id}, which is already {name}.")
    return int(token_id)


@dataclass(frozen=True)
class PseudoWordIds:
    """Token ids of the pseudo-word: ``qformer`` in the BERT tokenizer, ``llm`` in the LLaMA tokenizer."""

    qformer: int
    llm: int


def install_pseudo_word(model: nn.Module, qformer_tokenizer: Any, tokenizer: Any,
                        pseudo_word: str = PSEUDO_WORD) -> PseudoWordIds:
    """Add ``pseudo_word`` to both tokenizers and put a :class:`PseudoWordEmbedding` in front of the Q-Former word
    embeddings and the LLM input embeddings (idempotent).

    The ids are new ids of each tokenizer (LAVIS: Q-Former 30523, LLM 32001; with HF ``<image>`` = 32001 the LLM id
    becomes 32002 or 32003 depending on the hub revision). The LLM id is checked against ``<image>``.

    Args:
        model: an ``InstructBlipForConditionalGeneration``.
        qformer_tokenizer, tokenizer: the Q-Former (BERT) and LLM (LLaMA) tokenizers; modified in place.
        pseudo_word: the token string.

    Returns:
        The two ids.

    Raises:
        FakebenchError: the word is a regular token, an id collides with ``<image>``, or the model already holds a
            pseudo-word embedding for another id.
    """
    image_id = int(model.config.image_token_index)
    ensure_image_token(tokenizer, image_id)
    ids = PseudoWordIds(
        qformer=_add_pseudo_token(qformer_tokenizer, pseudo_word, {}),
        llm=_add_pseudo_token(tokenizer, pseudo_word, {"the <image> placeholder id": image_id}),
    )
    for host, token_id in ((model.qformer, ids.qformer), (model.language_model, ids.llm)):
        emb = host.get_input_embeddings()
        if isinstance(emb, PseudoWordEmbedding):
            if emb.token_id != token_id:
                raise FakebenchError(f"The model already carries a pseudo-word embedding for id {emb.token_id}, not "
                                     f"{token_id}; build the detector from fresh tokenizers and model.")
            continue
        host.set_input_embeddings(PseudoWordEmbedding(emb, token_id))
    return ids


def pseudo_word_modules(model: nn.Module) -> tuple[PseudoWordEmbedding, PseudoWordEmbedding]:
    """The ``(Q-Former, LLM)`` :class:`PseudoWordEmbedding` modules of a model prepared by :func:`install_pseudo_word`.

    Raises:
        FakebenchError: the model has none.
    """
    q_emb, l_emb = model.qformer.get_input_embeddings(), model.language_model.get_input_embeddings()
    if not isinstance(q_emb, PseudoWordEmbedding) or not isinstance(l_emb, PseudoWordEmbedding):
        raise FakebenchError("The model has no pseudo-word embeddings; call install_pseudo_word() first.")
    return q_emb, l_emb
