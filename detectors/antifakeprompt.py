"""AntifakePrompt (Chang et al., arXiv 2310.17419) and its zero-shot InstructBLIP baseline on Hugging Face
``InstructBlipForConditionalGeneration``.

Port of ``nctu-eva-lab/AntifakePrompt`` (a LAVIS fork; ``lavis/models/blip2_models/blip2_vicuna_instruct_textinv.py``,
``Qformer.py``, ``modeling_llama.py``, ``test.py`` @ 957c1e1 / e549082), described and re-implemented, not copied:

* **Model.** InstructBLIP Vicuna-7B: EVA ViT-g/14 -> ``post_layernorm`` (LAVIS ``ln_vision``) -> Q-Former with 32
  query tokens, which also reads the instruction -> ``language_projection`` (LAVIS ``llm_proj``) -> the LLM. The
  vision tower, Q-Former, query tokens and projection come from ``Salesforce/instructblip-vicuna-7b`` (converted from
  the same LAVIS weights AntifakePrompt loads); the LLM is **Vicuna-7B v1.3** (``lmsys/vicuna-7b-v1.3``), the one the
  paper used, swapped in for the LLM bundled in the HF checkpoint.
* **Pseudo-word.** ``[*]`` is one learned 768-d vector in the Q-Former word embeddings and one 4096-d vector in the
  LLM input embeddings (4,864 parameters). As in LAVIS (``BertEmbeddingsTextualInversion``,
  ``LlamaModelTextualInversion``), the vectors live **outside** the pretrained matrices: :class:`PseudoWordEmbedding`
  replaces the two input-embedding modules, shares their frozen weight, and returns the vector wherever the token id
  of ``[*]`` occurs. The pretrained matrices are never written to, and training updates only the two vectors.
* **Prompt.** ``Is this photo real [*]?`` (zero-shot baseline: ``Is this photo real?``), no chat template. LLM input:
  ``[<image>] * 32 + '</s>' + prompt tokens``; the HF forward scatters the 32 projected query outputs into the
  ``<image>`` positions, which equals LAVIS' concatenation ``[query outputs] + embed('</s>' + prompt)``. Q-Former
  input: ``[CLS] is this photo real [*] ? [SEP]``.
* **Decision.** LAVIS ``_predict_class`` scores the candidates ``yes`` (real) and ``no`` (fake) by their language-
  modelling loss and ``test.py`` calls an image real iff ``loss(yes) < loss(no)``. Both answers are single LLaMA
  tokens (``▁yes``, ``▁no``) appended after the same prompt, so that per-candidate loss (a mean over the padded
  sequence positions, the same length for both) ranks the candidates exactly as the two next-token log-probabilities
  at the last prompt position: one forward pass per batch, no generation.
* **Score.** ``logit = log p(no) - log p(yes)`` and ``prob = sigmoid(logit) = softmax([log p(yes), log p(no)])[1]``,
  the probability of "fake" restricted to the two answers. ``prob > 0.5`` iff "no" is strictly more likely, which is
  the official decision (ties count as real, as ``argsort`` puts "yes" first).

Tokenization fidelity: LAVIS used the *slow* SentencePiece ``LlamaTokenizer``, which splits the text at the added
token ``[*]``, strips the whitespace next to it and encodes each remaining chunk with its own ``▁`` prefix, giving
``</s> ▁Is ▁this ▁photo ▁real [*] ▁?``. The tokenizers-backed ``LlamaTokenizer`` of transformers 5 gives
``▁Is ▁this ▁photo ▁real ▁ [*] ?`` for the same string. :func:`build_llm_prompt_ids` therefore reproduces the slow
behaviour explicitly (chunk by chunk) instead of tokenizing the whole prompt, and pins the leading ``</s>`` (LAVIS sets
``bos_token='</s>'``).

Precision (LAVIS ``maybe_autocast``): ViT and LLM in fp16, ``ln_vision``, Q-Former and projection in fp32.
:func:`apply_lavis_precision` sets the same split on a half-precision model.
"""

from __future__ import annotations

import copy
import os
import re
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import CheckpointError, FakebenchError, WeightsNotFoundError

from .afp_cards import ANTIFAKEPROMPT_CARD, INSTRUCTBLIP_CARD
from .base import Detector, DetectorOutput, WeightsInfo
from .card import Preset

__all__ = [
    "AFP_PROMPT", "ZERO_SHOT_PROMPT", "PSEUDO_WORD", "ANSWERS", "LAVIS_BOS", "LAVIS_QFORMER_KEY", "LAVIS_LLM_KEY",
    "DEFAULT_BASE_MODEL", "DEFAULT_LLM_MODEL", "PseudoWordEmbedding", "PseudoWordState", "PseudoWordIds", "PromptIds",
    "install_pseudo_word", "pseudo_word_modules", "resolve_dtype", "resolve_device", "ensure_image_token",
    "build_llm_prompt_ids", "build_qformer_prompt_ids", "encode_chunk", "read_pseudo_word_checkpoint", "write_pseudo_word_checkpoint", "apply_lavis_precision",
    "load_instructblip", "InstructBlipZeroShot", "AntifakePrompt",
]

#: The AntifakePrompt instruction (``test.py`` line 228; model yaml ``prompt``).
AFP_PROMPT = "Is this photo real [*]?"
#: The paper's zero-shot InstructBLIP baseline prompt.
ZERO_SHOT_PROMPT = "Is this photo real?"
#: The pseudo-word string (model yaml ``pseudo_word``).
PSEUDO_WORD = "[*]"
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


# ---------------------------------------------------------------------------------------------------------------------
# The pseudo-word embedding
# ---------------------------------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------------------------------
# Prompt token ids
# ---------------------------------------------------------------------------------------------------------------------
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


def _chunks(prompt: str, pseudo_word: str | None) -> list[str | None]:
    """Split ``prompt`` at ``pseudo_word`` (``None`` entries), stripping whitespace next to it (slow-tokenizer rule)."""
    if not pseudo_word or pseudo_word not in prompt:
        return [prompt]
    pieces = prompt.split(pseudo_word)
    out: list[str | None] = []
    for i, piece in enumerate(pieces):
        piece = piece.rstrip() if i < len(pieces) - 1 else piece
        piece = piece.lstrip() if i > 0 else piece
        if piece:
            out.append(piece)
        if i < len(pieces) - 1:
            out.append(None)
    return out


def build_llm_prompt_ids(tokenizer: Any, prompt: str, *, pseudo_word: str | None = None,
                         pseudo_id: int | None = None) -> list[int]:
    """LLM ids of ``'</s>' + prompt`` as the slow LAVIS tokenizer produced them (without the image placeholders).

    For ``Is this photo real [*]?`` the pieces are ``</s> ▁Is ▁this ▁photo ▁real [*] ▁?``; for
    ``Is this photo real?`` they are ``</s> ▁Is ▁this ▁photo ▁real ?``.

    Raises:
        FakebenchError: ``</s>`` is unknown to the tokenizer, or a chunk lacks the SentencePiece prefix.
    """
    bos = tokenizer.get_vocab().get(LAVIS_BOS)
    if bos is None:
        raise FakebenchError(f"The LLM tokenizer has no {LAVIS_BOS!r} token; it is not a LLaMA/Vicuna tokenizer.")
    ids = [int(bos)]
    for chunk in _chunks(prompt, pseudo_word):
        ids += [int(pseudo_id)] if chunk is None else encode_chunk(tokenizer, chunk, sentencepiece_prefix=True)
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


# ---------------------------------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------------------------------
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
    from .checkpoints import key_mismatch, read_checkpoint, unwrap_state_dict

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

    from benchmark.files import atomic_write_bytes

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


# ---------------------------------------------------------------------------------------------------------------------
# Base models
# ---------------------------------------------------------------------------------------------------------------------
def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``None`` -> fp16 on CUDA (LAVIS runs the ViT and LLM in fp16), fp32 elsewhere; names as in :data:`_DTYPES`.

    Raises:
        FakebenchError: unknown name.
    """
    if dtype is None:
        return torch.float16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return _DTYPES[str(dtype).lower()]
    except KeyError:
        raise FakebenchError(f"Unknown dtype {dtype!r}; use one of fp16, bf16, fp32.") from None


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` -> ``cuda`` when available, else ``cpu``."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def apply_lavis_precision(model: nn.Module) -> nn.Module:
    """Run ``post_layernorm`` (LAVIS ``ln_vision``), the Q-Former and the projection in fp32 on a half-precision
    InstructBLIP, as LAVIS does (those calls sit outside ``maybe_autocast``); the ViT and LLM stay in half precision.
    The HF forward casts the projected features back to the LLM dtype. Returns ``model``."""
    vision = model.vision_model
    vision.post_layernorm.float()
    if not getattr(vision.post_layernorm, "_afp_fp32_hook", False):
        vision.post_layernorm.register_forward_pre_hook(lambda _m, args: tuple(a.float() for a in args))
        vision.post_layernorm._afp_fp32_hook = True
    model.qformer.float()
    model.language_projection.float()
    model.query_tokens.data = model.query_tokens.data.float()
    return model


def _quantization_config(quantization: str | None, dtype: torch.dtype, device: torch.device) -> Any:
    if quantization is None:
        return None
    if quantization not in ("8bit", "4bit"):
        raise FakebenchError(f"Unknown quantization {quantization!r}; use '8bit' or '4bit' (or none).")
    if device.type != "cuda":
        raise FakebenchError(f"{quantization} quantization needs a CUDA GPU (bitsandbytes); got device {device}.")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as exc:
        raise FakebenchError(f"{quantization} quantization needs bitsandbytes: pip install bitsandbytes") from exc
    from transformers import BitsAndBytesConfig

    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=dtype, bnb_4bit_quant_type="nf4")


def _not_found(model_id: str, what: str, exc: Exception, hub_dir: Any) -> WeightsNotFoundError:
    licence = _LICENCES.get(model_id, "see the model page for its licence")
    return WeightsNotFoundError(
        f"Cannot load the {what} {model_id!r} ({type(exc).__name__}: {str(exc).splitlines()[0][:160]}); it is in "
        f"neither the Hugging Face cache nor {hub_dir}. Download it once with network access: `huggingface-cli "
        f"download {model_id}` (or `hf download {model_id}`), which fills the Hugging Face cache (HF_HOME) that "
        f"offline runs read, or pass a local folder. Licence: {licence}."
    )


def _from_pretrained(loader: Any, model_id: str, what: str, hub_dir: Any, **kwargs: Any) -> Any:
    """``loader(model_id, **kwargs)`` from the Hugging Face cache (downloading when online), else from fakebench's hub
    cache (``fakebench download`` puts repositories there); ``FAKEBENCH_OFFLINE`` adds ``local_files_only``.

    Raises:
        WeightsNotFoundError: found in neither cache.
    """
    from pathlib import Path

    from benchmark.env import is_offline

    try:
        return loader(model_id, **({"local_files_only": True} if is_offline() else {}), **kwargs)
    except OSError as first:
        if Path(hub_dir).is_dir() and not Path(model_id).exists():
            try:
                return loader(model_id, cache_dir=str(hub_dir), local_files_only=True, **kwargs)
            except OSError:
                pass
        raise _not_found(model_id, what, first, hub_dir) from first


def load_instructblip(base_model: str | os.PathLike = DEFAULT_BASE_MODEL,
                      llm_model: str | os.PathLike | None = DEFAULT_LLM_MODEL, *,
                      dtype: str | torch.dtype | None = None, device: str | torch.device | None = None,
                      quantization: str | None = None,
                      cache_dir: str | os.PathLike | None = None) -> tuple[nn.Module, Any, Any]:
    """Load InstructBLIP from ``base_model`` with ``language_model`` replaced by ``llm_model``.

    Only the vision tower, query tokens, Q-Former and projection are read from the base checkpoint: the model is
    instantiated with a zero-layer LLM, so the base repo's LLM layers are skipped on load (about 1.45 B parameters
    read instead of 7.9 B; the embedding and output matrices of its LLM are read and dropped). The LLM comes from
    ``llm_model`` (``None``: the base repo's own LLM) and is resized to the base vocabulary (32064 rows, which hold
    ``<image>``); the extra rows are never scored. Everything goes through
    ``from_pretrained`` (Hugging Face cache, ``HF_HUB_OFFLINE``), falling back to fakebench's hub cache
    (``<cache root>/huggingface``); ``FAKEBENCH_OFFLINE`` adds ``local_files_only``.

    Args:
        base_model: hub id or folder of an InstructBLIP checkpoint with its LLM tokenizer at the root and the
            Q-Former tokenizer in ``qformer_tokenizer/``.
        llm_model: hub id or folder of a LLaMA-family causal LM with the base model's hidden size.
        dtype: ``fp16``/``bf16``/``fp32`` or a torch dtype; default fp16 on CUDA, fp32 on CPU. Half precision also
            applies :func:`apply_lavis_precision`.
        device: target device (default CUDA when available).
        quantization: ``None``, ``'8bit'`` or ``'4bit'`` for the LLM (bitsandbytes, CUDA only).
        cache_dir: fakebench cache root whose ``huggingface/`` folder is the fallback hub cache.

    Returns:
        ``(model, qformer_tokenizer, tokenizer)``, the model in eval mode with every parameter frozen.

    Raises:
        WeightsNotFoundError: a model is neither cached nor downloadable (message: id, download command, licence).
        FakebenchError: bad dtype/quantization, or an LLM whose hidden size differs from the base model's.
    """
    from transformers import (AutoModelForCausalLM, AutoTokenizer, InstructBlipConfig,
                              InstructBlipForConditionalGeneration)
    from transformers.utils import logging as hf_logging

    from benchmark.download import hub_cache_dir

    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    quant = _quantization_config(quantization, torch_dtype, device)
    placement = {"device_map": {"": str(device)}} if device.type == "cuda" else {}
    hub_dir = hub_cache_dir(cache_dir)
    base_id, what = str(base_model), "InstructBLIP base model"
    config = _from_pretrained(InstructBlipConfig.from_pretrained, base_id, what, hub_dir)
    tokenizer = _from_pretrained(AutoTokenizer.from_pretrained, base_id, what, hub_dir)
    qformer_tokenizer = _from_pretrained(AutoTokenizer.from_pretrained, base_id, what, hub_dir,
                                         subfolder="qformer_tokenizer")
    skeleton = copy.deepcopy(config)
    if llm_model is not None:
        skeleton.text_config.num_hidden_layers = 0  # the base repo's LLM layers are not needed
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the skipped LLM layers would be reported as unexpected keys
    try:
        model = _from_pretrained(InstructBlipForConditionalGeneration.from_pretrained, base_id, what, hub_dir,
                                 config=skeleton, dtype=torch_dtype, **placement)
    finally:
        hf_logging.set_verbosity(verbosity)
    if llm_model is not None:
        llm_id = str(llm_model)
        llm = _from_pretrained(AutoModelForCausalLM.from_pretrained, llm_id, "language model", hub_dir,
                               dtype=torch_dtype, quantization_config=quant,
                               **({"device_map": {"": str(device)}} if quant else placement))
        if llm.config.hidden_size != config.text_config.hidden_size:
            raise FakebenchError(f"LLM {llm_id!r} has hidden size {llm.config.hidden_size}, but the projection of "
                                 f"{base_id!r} outputs {config.text_config.hidden_size}; use a LLaMA-7B-sized model.")
        rows = max(int(config.text_config.vocab_size), len(tokenizer))
        if llm.get_input_embeddings().num_embeddings < rows:
            llm.resize_token_embeddings(rows, mean_resizing=False)
        model.language_model = llm  # the skeleton's LLM embedding/output matrices are freed here
        model.config.text_config = llm.config
        if device.type == "cuda":
            torch.cuda.empty_cache()
    elif quant is not None:
        raise FakebenchError("Quantization applies to a separately loaded LLM; pass llm_model.")
    if torch_dtype in (torch.float16, torch.bfloat16):
        apply_lavis_precision(model)
    model.requires_grad_(False)
    return model.eval(), qformer_tokenizer, tokenizer


# ---------------------------------------------------------------------------------------------------------------------
# Detectors
# ---------------------------------------------------------------------------------------------------------------------
class InstructBlipZeroShot(Detector):
    """Zero-shot InstructBLIP (Vicuna-7B v1.3) asked ``Is this photo real?``: the AntifakePrompt paper's baseline.

    Scores as :class:`AntifakePrompt` (see the module docstring), without the pseudo-word.

    Args:
        model: an ``InstructBlipForConditionalGeneration`` (eval mode; it is frozen here).
        qformer_tokenizer: its BERT tokenizer.
        tokenizer: its LLaMA tokenizer (with ``<image>``).
        preset: preprocessing preset (default ``afp``: shorter side bicubic 224, centre crop 224, AntifakePrompt
            mean/std).
        weights: provenance.
        device: where inputs go (default: the device of the model's vision tower). A model that is not yet there is
            moved, unless it is quantized.
        base_model, llm_model: names recorded in :meth:`identity` (hub ids or folders).
        answers: the candidate answers ``(real, fake)``; multi-token answers are scored by their summed
            log-likelihood (the official mean-over-padded-positions loss ranks the same way).
        prompt: override of the class prompt (ablations).
        quantization: ``'8bit'``/``'4bit'`` when the LLM was loaded quantized (recorded; such a model cannot move).

    Raises:
        FakebenchError: the preset's crop differs from the model's image size, or an answer encodes to no token.
    """

    name: ClassVar[str] = "instructblip"
    card = INSTRUCTBLIP_CARD
    continuous_scores: ClassVar[bool] = True
    #: The instruction text.
    prompt: ClassVar[str] = ZERO_SHOT_PROMPT
    #: Whether the prompt carries the learned pseudo-word.
    uses_pseudo_word: ClassVar[bool] = False
    #: Warn when a model this large runs on the CPU.
    cpu_warn_params: ClassVar[int] = 1_000_000_000

    def __init__(self, model: nn.Module, qformer_tokenizer: Any, tokenizer: Any, *,
                 preset: Preset | str | None = None, weights: WeightsInfo, device: str | torch.device | None = None,
                 base_model: str = "custom", llm_model: str = "custom", answers: Sequence[str] = ANSWERS,
                 prompt: str | None = None, quantization: str | None = None) -> None:
        vision_device = next(model.vision_model.parameters()).device
        wanted = torch.device(device) if device is not None else vision_device
        if wanted.type == vision_device.type and wanted.index is None:
            wanted = vision_device  # "cuda" means the model's cuda:N
        super().__init__(preset=preset, weights=weights, device=wanted)
        image_size = int(model.config.vision_config.image_size)
        if self.preset.crop is not None and self.preset.crop != image_size:
            raise FakebenchError(f"Preset {self.preset.name!r} crops to {self.preset.crop} px but the model expects "
                                 f"{image_size} px images; pick a preset with crop={image_size}.")
        self.model = model.eval().requires_grad_(False)
        self.quantization = quantization
        self.qformer_tokenizer, self.tokenizer = qformer_tokenizer, tokenizer
        self.base_model, self.llm_model = str(base_model), str(llm_model)
        self.instruction = prompt if prompt is not None else type(self).prompt
        self.pseudo_ids = install_pseudo_word(model, qformer_tokenizer, tokenizer) if self.uses_pseudo_word else None
        self.ids = self._build_ids(tuple(answers))
        if vision_device != self.device:
            self.model.to(self.device)
        n_params = sum(p.numel() for p in model.parameters())
        if self.device.type == "cpu" and n_params >= self.cpu_warn_params:
            warnings.warn(f"{self.name} runs its {n_params / 1e9:.1f} B-parameter model on the CPU: expect tens of "
                          f"seconds per image and ~4 bytes of RAM per parameter in fp32. Use a CUDA GPU "
                          f"(device='cuda'; ~16.5 GB in fp16, or quantization='8bit'/'4bit').", RuntimeWarning,
                          stacklevel=2)

    # -- construction -------------------------------------------------------------------------------------------
    def _build_ids(self, answers: tuple[str, ...]) -> PromptIds:
        if len(answers) != 2:
            raise FakebenchError(f"Expected two answers (real, fake), got {answers!r}.")
        word = PSEUDO_WORD if self.pseudo_ids else None
        q_pid = self.pseudo_ids.qformer if self.pseudo_ids else None
        l_pid = self.pseudo_ids.llm if self.pseudo_ids else None
        cfg = self.model.config
        ensure_image_token(self.tokenizer, int(cfg.image_token_index))
        llm = build_llm_prompt_ids(self.tokenizer, self.instruction, pseudo_word=word, pseudo_id=l_pid)
        qformer = build_qformer_prompt_ids(self.qformer_tokenizer, self.instruction, pseudo_word=word,
                                           pseudo_id=q_pid)
        answer_ids = tuple(tuple(encode_chunk(self.tokenizer, a, sentencepiece_prefix=True)) for a in answers)
        if any(not a for a in answer_ids):
            raise FakebenchError(f"An answer of {answers!r} encodes to no token.")
        n_query = int(cfg.num_query_tokens)
        return PromptIds(qformer=tuple(qformer), llm=(int(cfg.image_token_index),) * n_query + tuple(llm),
                         answers=answer_ids, eos=int(self.tokenizer.get_vocab()[LAVIS_BOS]),
                         image_token=int(cfg.image_token_index), num_query_tokens=n_query)

    @classmethod
    def from_model(cls, model: nn.Module, qformer_tokenizer: Any, tokenizer: Any, *,
                   preset: Preset | str | None = None, device: str | torch.device | None = None,
                   base_model: str = "custom", llm_model: str = "custom", **kwargs: Any) -> "InstructBlipZeroShot":
        """Wrap an already built ``InstructBlipForConditionalGeneration`` (tests use a tiny one).

        ``weights`` provenance is ``WeightsInfo(tag='zero-shot')``: the model's own weights are used as they are.
        ``kwargs`` go to the constructor (``answers``, ``prompt``).
        """
        return cls(model, qformer_tokenizer, tokenizer, preset=preset, weights=WeightsInfo(tag="zero-shot"),
                   device=device, base_model=base_model, llm_model=llm_model, **kwargs)

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None, *, preset: Preset | str | None = None,
             device: str | torch.device | None = None, cache_dir: str | os.PathLike | None = None,
             base_model: str | os.PathLike = DEFAULT_BASE_MODEL,
             llm_model: str | os.PathLike | None = DEFAULT_LLM_MODEL,
             dtype: str | torch.dtype | None = None, quantization: str | None = None) -> "InstructBlipZeroShot":
        """Load the zero-shot baseline from the base models (see :func:`load_instructblip`).

        Args:
            weights: must be ``None`` (this detector has no checkpoint of its own).
            preset, device, cache_dir: as :meth:`Detector.load` (``device=None``: CUDA when available).
            base_model, llm_model, dtype, quantization: see :func:`load_instructblip`.

        Raises:
            WeightsNotFoundError: base models unavailable offline; or ``weights`` was given.
        """
        if weights is not None:
            raise WeightsNotFoundError(f"{cls.name} takes no checkpoint (got {str(weights)!r}); for the prompt-tuned "
                                       f"detector use antifakeprompt.")
        device = resolve_device(device)
        model, qtok, tok = load_instructblip(base_model, llm_model, dtype=dtype, device=device,
                                             quantization=quantization, cache_dir=cache_dir)
        return cls(model, qtok, tok, preset=preset, weights=WeightsInfo(tag="zero-shot"), device=device,
                   base_model=str(base_model), llm_model=str(llm_model), quantization=quantization)

    # -- inference ----------------------------------------------------------------------------------------------
    def llm_pieces(self) -> list[str]:
        """The LLM prompt as token strings (for inspection), e.g. ``['<image>', ..., '</s>', '▁Is', ...]``."""
        return [str(t) for t in self.tokenizer.convert_ids_to_tokens(list(self.ids.llm))]

    def qformer_pieces(self) -> list[str]:
        """The Q-Former prompt as token strings, e.g.
        ``['[CLS]', 'is', 'this', 'photo', 'real', '[*]', '?', '[SEP]']``."""
        return [str(t) for t in self.qformer_tokenizer.convert_ids_to_tokens(list(self.ids.qformer))]

    def model_inputs(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Keyword arguments of the HF forward for ``batch`` (``(N, 3, H, W)``): ``pixel_values`` in the vision
        tower's dtype on :attr:`device`, ``qformer_input_ids``/``qformer_attention_mask`` ``(N, Lq)`` and
        ``input_ids``/``attention_mask`` ``(N, 32 + Lt)`` (long; image placeholders first)."""
        n = batch.shape[0]
        vision_dtype = self.model.vision_model.embeddings.patch_embedding.weight.dtype
        qformer = torch.tensor([self.ids.qformer], device=self.device).expand(n, -1)
        llm = torch.tensor([self.ids.llm], device=self.device).expand(n, -1)
        return {"pixel_values": batch.to(self.device, vision_dtype), "qformer_input_ids": qformer,
                "qformer_attention_mask": torch.ones_like(qformer), "input_ids": llm,
                "attention_mask": torch.ones_like(llm)}

    @torch.inference_mode()
    def answer_log_likelihoods(self, batch: torch.Tensor) -> torch.Tensor:
        """Log-likelihood of each candidate answer given the image and the prompt.

        Single-token answers (``▁yes``, ``▁no``): log-softmax of the LLM logits at the last prompt position, one
        forward pass. Multi-token answers: the summed token log-probabilities of ``prompt + answer``, one forward
        pass over ``2N`` sequences. LAVIS ranks by the mean loss over the (equal, padded) sequence length, i.e. by
        this sum.

        Args:
            batch: ``(N, 3, H, W)`` float32 from :meth:`transform`.

        Returns:
            ``(N, 2)`` float32 on the CPU: ``[:, 0]`` = log p(real answer), ``[:, 1]`` = log p(fake answer), each
            ``<= 0``.
        """
        inputs = self.model_inputs(batch)
        if self.ids.single_token_answers:
            logits = self.model(**inputs, logits_to_keep=1).logits[:, -1].float()
            logp = logits.log_softmax(-1)
            return logp[:, [a[0] for a in self.ids.answers]].cpu()
        return self._sequence_log_likelihoods(inputs).cpu()

    def _sequence_log_likelihoods(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        n, prompt_len = inputs["input_ids"].shape
        width = max(len(a) for a in self.ids.answers)
        rows, masks = [], []
        for answer in self.ids.answers:
            pad = width - len(answer)
            rows.append(list(self.ids.llm) + list(answer) + [self.ids.eos] * pad)
            masks.append([1] * (prompt_len + len(answer)) + [0] * pad)
        ids = torch.tensor(rows, device=self.device).repeat(n, 1)  # (2N, L): image 0 yes, image 0 no, image 1 yes...
        att = torch.tensor(masks, device=self.device).repeat(n, 1)
        rep = {k: inputs[k].repeat_interleave(2, dim=0) for k in ("pixel_values", "qformer_input_ids",
                                                                  "qformer_attention_mask")}
        logits = self.model(**rep, input_ids=ids, attention_mask=att).logits.float()
        logp = logits[:, prompt_len - 1:-1].log_softmax(-1)  # position t predicts token t + 1
        targets = ids[:, prompt_len:]
        token_lp = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1) * att[:, prompt_len:]
        return token_lp.sum(-1).reshape(n, 2)

    @torch.inference_mode()
    def predict(self, batch: torch.Tensor) -> DetectorOutput:
        """Score a batch: ``logit = log p(fake answer) - log p(real answer)``, ``prob = sigmoid(logit)``.

        Args:
            batch: ``(N, 3, H, W)`` float32 (any device).

        Returns:
            ``DetectorOutput(prob, logit)``, ``(N,)`` float32 on the CPU; ``prob > 0.5`` iff the fake answer ("no") is
            strictly more likely, the official decision.
        """
        ll = self.answer_log_likelihoods(batch)
        logit = (ll[:, 1] - ll[:, 0]).float()
        return DetectorOutput(prob=torch.sigmoid(logit), logit=logit)

    # -- provenance / placement ---------------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        """:meth:`Detector.identity` plus prompt, answers, base models, dtype and quantization."""
        ident = super().identity()
        ident.update({"prompt": self.instruction, "answers": [list(a) for a in self.ids.answers],
                      "base_model": self.base_model, "llm_model": self.llm_model,
                      "dtype": str(self.model.language_model.dtype).replace("torch.", ""),
                      "quantization": self.quantization})
        return ident

    def to(self, device: str | torch.device) -> "InstructBlipZeroShot":
        """Move the model and inputs to ``device``.

        Raises:
            FakebenchError: the LLM is quantized (bitsandbytes models cannot be moved).
        """
        device = torch.device(device)
        if getattr(self.model.language_model, "is_quantized", False) or self.quantization:
            if device != self.device:
                raise FakebenchError("A quantized model cannot be moved; load it on the target device instead.")
            return self
        self.model.to(device)
        super().to(device)
        return self


class AntifakePrompt(InstructBlipZeroShot):
    """AntifakePrompt: InstructBLIP Vicuna-7B v1.3 with the learned pseudo-word, prompt ``Is this photo real [*]?``.

    See the module docstring for the pipeline, the score and the fidelity choices; the constructor arguments are
    those of :class:`InstructBlipZeroShot`. The pseudo-word vectors start at zero: use :meth:`load`,
    :meth:`from_model` with a checkpoint, or :meth:`untrained` / ``random_init=True`` to get real or random ones.
    """

    name: ClassVar[str] = "antifakeprompt"
    card = ANTIFAKEPROMPT_CARD
    prompt: ClassVar[str] = AFP_PROMPT
    uses_pseudo_word: ClassVar[bool] = True

    # -- pseudo-word vectors ------------------------------------------------------------------------------------
    @property
    def pseudo_word_vectors(self) -> tuple[nn.Parameter, nn.Parameter]:
        """The trainable ``(Q-Former (1, Dq), LLM (1, Dl))`` float32 Parameters."""
        q_emb, l_emb = pseudo_word_modules(self.model)
        return q_emb.pseudo_vector, l_emb.pseudo_vector

    def set_pseudo_word(self, state: PseudoWordState, source: str = "checkpoint") -> None:
        """Copy checkpoint vectors into the model after checking their widths against the model config.

        Raises:
            CheckpointError: a width differs from the Q-Former / LLM hidden size (the message names ``source``).
        """
        q_vec, l_vec = self.pseudo_word_vectors
        wrong = [f"{key} has shape {list(given.shape)} but the model's {what} gives {list(param.shape)}"
                 for key, given, param, what in ((LAVIS_QFORMER_KEY, state.qformer, q_vec, "Q-Former hidden size"),
                                                 (LAVIS_LLM_KEY, state.llm, l_vec, "LLM hidden size"))
                 if tuple(given.shape) != tuple(param.shape)]
        if wrong:
            raise CheckpointError(
                f"Checkpoint {source!r}: {'; '.join(wrong)}. The checkpoint belongs to another base model "
                f"(AntifakePrompt checkpoints are [1, 768] and [1, 4096], for InstructBLIP Vicuna-7B).")
        with torch.no_grad():
            q_vec.copy_(state.qformer.to(q_vec.device, q_vec.dtype))
            l_vec.copy_(state.llm.to(l_vec.device, l_vec.dtype))

    def randomize_pseudo_word(self, seed: int = 0) -> None:
        """Draw both vectors from N(0, initializer_range) (0.02 in both configs), seeded. LAVIS leaves them to the HF
        ``_init_weights`` of the missing ``train_*`` embeddings, which is the same distribution."""
        gen = torch.Generator().manual_seed(int(seed))
        cfg = self.model.config
        stds = (cfg.qformer_config.initializer_range, getattr(cfg.text_config, "initializer_range", 0.02))
        with torch.no_grad():
            for param, std in zip(self.pseudo_word_vectors, stds):
                param.copy_((torch.randn(param.shape, generator=gen) * std).to(param.device, param.dtype))

    def state(self, metadata: dict[str, Any] | None = None) -> PseudoWordState:
        """The current vectors as a :class:`PseudoWordState` (CPU float32 copies)."""
        q_vec, l_vec = self.pseudo_word_vectors
        return PseudoWordState(q_vec.detach().float().cpu().clone(), l_vec.detach().float().cpu().clone(), metadata)

    # -- construction -------------------------------------------------------------------------------------------
    @classmethod
    def _load_checkpoint(cls, weights: str | os.PathLike | None,
                         cache_dir: str | os.PathLike | None) -> tuple[PseudoWordState, WeightsInfo]:
        from .checkpoints import verify_sha256

        path, spec = cls.resolve_weights(weights, cache_dir)
        sha = verify_sha256(path, spec.sha256 if spec else None)
        state = read_pseudo_word_checkpoint(path)
        return state, WeightsInfo(tag=spec.tag if spec else "file", path=str(path), sha256=sha)

    @classmethod
    def from_model(cls, model: nn.Module, qformer_tokenizer: Any, tokenizer: Any, *,
                   checkpoint: str | os.PathLike | None = None, random_init: bool = False, seed: int = 0,
                   preset: Preset | str | None = None, device: str | torch.device | None = None,
                   cache_dir: str | os.PathLike | None = None, base_model: str = "custom", llm_model: str = "custom",
                   **kwargs: Any) -> "AntifakePrompt":
        """Wrap an already built ``InstructBlipForConditionalGeneration`` and give it pseudo-word vectors.

        Args:
            model, qformer_tokenizer, tokenizer: the model and its tokenizers (the tokenizers gain ``[*]``).
            checkpoint: weights tag or checkpoint path (official or :func:`write_pseudo_word_checkpoint` layout).
            random_init: instead of a checkpoint, draw the vectors with ``seed`` (``WeightsInfo(tag='random-init')``).
            seed: seed of the random vectors.
            preset: preprocessing preset (default: the one of the checkpoint's card entry, else ``afp``).
            device, base_model, llm_model, kwargs: see :class:`InstructBlipZeroShot`.

        Raises:
            WeightsNotFoundError: neither ``checkpoint`` nor ``random_init`` was given (no silent random weights),
                or the checkpoint file does not exist.
            CheckpointError: the checkpoint holds other tensors or other widths.
        """
        if (checkpoint is None) == (not random_init):
            raise WeightsNotFoundError("AntifakePrompt needs its pseudo-word vectors: pass checkpoint=PATH or a "
                                       "weights tag, or random_init=True to start training from random vectors "
                                       "(not both).")
        if random_init:
            det = cls(model, qformer_tokenizer, tokenizer, preset=preset, weights=WeightsInfo(tag="random-init"),
                      device=device, base_model=base_model, llm_model=llm_model, **kwargs)
            det.randomize_pseudo_word(seed)
            return det
        state, info = cls._load_checkpoint(checkpoint, cache_dir)
        det = cls(model, qformer_tokenizer, tokenizer, preset=preset, weights=info, device=device,
                  base_model=base_model, llm_model=llm_model, **kwargs)
        det.set_pseudo_word(state, info.path or str(checkpoint))
        return det

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None, *, preset: Preset | str | None = None,
             device: str | torch.device | None = None, cache_dir: str | os.PathLike | None = None,
             base_model: str | os.PathLike = DEFAULT_BASE_MODEL,
             llm_model: str | os.PathLike | None = DEFAULT_LLM_MODEL,
             dtype: str | torch.dtype | None = None, quantization: str | None = None) -> "AntifakePrompt":
        """Load the base models and an AntifakePrompt checkpoint.

        The checkpoint is resolved and read first (a bad file fails before the 8 B-parameter load).

        Args:
            weights: weights tag of the card (``None``: ``coco_sd3_sd2ip``) or a checkpoint path.
            preset: preprocessing preset (default: the weights' preset, ``afp``).
            device: ``None`` = CUDA when available, else CPU (with a warning: very slow).
            cache_dir: download cache for the checkpoint (default :func:`benchmark.env.cache_root`); the base models
                use the Hugging Face cache.
            base_model, llm_model, dtype, quantization: see :func:`load_instructblip`.

        Raises:
            CheckpointError: unreadable checkpoint, wrong tensors or widths.
            WeightsNotFoundError: checkpoint or base models unavailable (offline and not cached).
            UnknownNameError: unknown weights tag or preset.
        """
        state, info = cls._load_checkpoint(weights, cache_dir)
        device = resolve_device(device)
        model, qtok, tok = load_instructblip(base_model, llm_model, dtype=dtype, device=device,
                                             quantization=quantization, cache_dir=cache_dir)
        det = cls(model, qtok, tok, preset=preset, weights=info, device=device, base_model=str(base_model),
                  llm_model=str(llm_model), quantization=quantization)
        det.set_pseudo_word(state, info.path or str(weights))
        return det

    @classmethod
    def untrained(cls, *, base_model: str | os.PathLike = DEFAULT_BASE_MODEL,
                  llm_model: str | os.PathLike | None = DEFAULT_LLM_MODEL, device: str | torch.device | None = None,
                  dtype: str | torch.dtype | None = None, quantization: str | None = None, seed: int = 0,
                  preset: Preset | str | None = None, cache_dir: str | os.PathLike | None = None) -> "AntifakePrompt":
        """The base models with random pseudo-word vectors (``WeightsInfo(tag='random-init')``), the starting point of
        prompt tuning (:func:`detectors.antifakeprompt_train.train_prompt`); arguments as :meth:`load`.

        Raises:
            WeightsNotFoundError: base models unavailable.
        """
        device = resolve_device(device)
        model, qtok, tok = load_instructblip(base_model, llm_model, dtype=dtype, device=device,
                                             quantization=quantization, cache_dir=cache_dir)
        det = cls(model, qtok, tok, preset=preset, weights=WeightsInfo(tag="random-init"), device=device,
                  base_model=str(base_model), llm_model=str(llm_model), quantization=quantization)
        det.randomize_pseudo_word(seed)
        return det
