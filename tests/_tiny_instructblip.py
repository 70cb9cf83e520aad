"""Tiny, offline stand-ins for InstructBLIP Vicuna-7B and its two tokenizers (test fixtures, no downloads).

Everything is built in-process in well under a second:

* :func:`tiny_llm_tokenizer` -- a LLaMA-style BPE tokenizer (``transformers.LlamaTokenizer``: Metaspace ``▁``
  prefix, ``<unk>``/``<s>``/``</s>`` at ids 0/1/2, ``bos = eos = unk = '</s>'`` as in the HF
  ``Salesforce/instructblip-vicuna-7b`` tokenizer, then ``[PAD]`` and ``<image>`` as added tokens). Every word of the
  AntifakePrompt prompt and the answers ``yes``/``no`` is a single ``▁word`` piece, as in LLaMA's vocabulary.
* :func:`tiny_qformer_tokenizer` -- a lower-casing BERT WordPiece tokenizer with a few words.
* :func:`tiny_config` -- an ``InstructBlipConfig`` with the real layout (ViT -> Q-Former with 32 query tokens ->
  projection -> LLaMA) and tiny widths: vision 32, Q-Former 32, LLM 48 (so the 768/4096 of the real model are never
  assumed), 224-pixel images in 32-pixel patches.
* :func:`build_tiny` -- the model with seeded weights spread wide enough that different images give different
  answers (the HF init of the vision tower, ``initializer_range=1e-10``, would make every image look the same).
* :func:`write_official_checkpoint` -- a file in the layout of the official AntifakePrompt ``.pth`` releases
  (LAVIS runner checkpoint with the two pseudo-word tensors and the persistent buffers).
* :func:`save_tiny_hub` -- the base model and a separate "Vicuna" LLM saved as Hugging Face folders, for the
  :meth:`AntifakePrompt.load` path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (AddedToken, BertTokenizer, InstructBlipConfig, InstructBlipForConditionalGeneration,
                          LlamaConfig, LlamaForCausalLM, LlamaTokenizer)

__all__ = ["LLM_WORDS", "QFORMER_WORDS", "TinyParts", "tiny_llm_tokenizer", "tiny_qformer_tokenizer", "tiny_config",
           "randomize_", "build_tiny", "write_official_checkpoint", "save_tiny_hub"]

#: Words that get a single ``▁word`` piece in the tiny LLaMA vocabulary.
LLM_WORDS = ("Is", "this", "photo", "real", "yes", "no", "a", "the", "fake", "image", "is", "of", "cat", "Yes", "No",
             "picture")
#: The tiny BERT vocabulary after the five special tokens.
QFORMER_WORDS = ("is", "this", "photo", "real", "?", "yes", "no", "a", "the", "fake", "image")


@dataclass
class TinyParts:
    """A tiny InstructBLIP and its tokenizers, as :meth:`AntifakePrompt.from_model` takes them."""

    model: InstructBlipForConditionalGeneration
    qformer_tokenizer: BertTokenizer
    tokenizer: LlamaTokenizer


def tiny_llm_tokenizer(*, image_token: bool = True, add_prefix_space: bool | None = None) -> LlamaTokenizer:
    """A LLaMA-style BPE tokenizer over :data:`LLM_WORDS` (plus their characters and ``▁?``), with ``[PAD]`` and
    ``<image>`` added the way the HF InstructBLIP tokenizer has them.

    Args:
        image_token: add ``<image>`` (older HF revisions of the tokenizer lack it).
        add_prefix_space: passed to ``LlamaTokenizer`` (``False`` drops the SentencePiece ``▁`` prefix).
    """
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for ch in sorted(set("▁?.,") | set("".join(LLM_WORDS))):
        vocab.setdefault(ch, len(vocab))
    merges: list[tuple[str, str]] = []
    for word in LLM_WORDS:  # left-to-right merge chains: "▁" + "I" -> "▁I", "▁I" + "s" -> "▁Is"
        current = "▁"
        for ch in word:
            if (current, ch) not in merges:
                merges.append((current, ch))
            current += ch
            vocab.setdefault(current, len(vocab))
    merges.append(("▁", "?"))
    vocab["▁?"] = len(vocab)
    tok = LlamaTokenizer(vocab=vocab, merges=merges, bos_token="</s>", eos_token="</s>", unk_token="</s>",
                         add_prefix_space=add_prefix_space)
    tok.add_special_tokens({"pad_token": "[PAD]"})
    if image_token:
        tok.add_tokens([AddedToken("<image>", special=True, normalized=False)], special_tokens=True)
    return tok


def tiny_qformer_tokenizer() -> BertTokenizer:
    """A lower-casing BERT WordPiece tokenizer: ``[PAD] [UNK] [CLS] [SEP] [MASK]`` then :data:`QFORMER_WORDS`."""
    words = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]") + QFORMER_WORDS
    return BertTokenizer(vocab={w: i for i, w in enumerate(words)})


def tiny_config(tokenizer: LlamaTokenizer, qformer_tokenizer: BertTokenizer, *, llm_rows: int | None = None,
                num_query_tokens: int = 32, image_size: int = 224, patch_size: int = 32) -> InstructBlipConfig:
    """The tiny InstructBLIP configuration.

    Args:
        tokenizer: the LLM tokenizer (its ``<image>`` id becomes ``image_token_index``; without ``<image>``, the id it
            would get next, as in HF configs whose tokenizer revision lacks the token).
        qformer_tokenizer: the Q-Former tokenizer; the Q-Former gets one more row than it has tokens, like the
            30523 rows (``[DEC]``) of the real one.
        llm_rows: LLM vocabulary rows; default: the tokenizer length rounded up to a multiple of 32 (padded, like
            the 32064 rows of the HF config), so the pseudo-word id falls inside the matrix.
        num_query_tokens: Q-Former query tokens (32 in InstructBLIP).
        image_size, patch_size: ViT input and patch size.
    """
    rows = llm_rows if llm_rows is not None else -(-len(tokenizer) // 32) * 32
    text = LlamaConfig(vocab_size=rows, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128,
                       bos_token_id=tokenizer.convert_tokens_to_ids("</s>"), eos_token_id=2,
                       pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)
    return InstructBlipConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=image_size, patch_size=patch_size),
        qformer_config=dict(vocab_size=len(qformer_tokenizer) + 1, hidden_size=32, num_hidden_layers=2,
                            num_attention_heads=4, intermediate_size=64, max_position_embeddings=64),
        text_config=text.to_dict(),
        num_query_tokens=num_query_tokens,
        image_token_index=tokenizer.get_vocab().get("<image>", len(tokenizer)),  # the id it will get when added
    )


@torch.no_grad()
def randomize_(module: torch.nn.Module, seed: int, scale: float = 1.0) -> torch.nn.Module:
    """Re-draw every parameter with a seeded generator: matrices ~ N(0, scale / sqrt(fan_in)), norm weights 1,
    other vectors ~ N(0, 0.02). Returns ``module``."""
    gen = torch.Generator().manual_seed(seed)
    for name, param in module.named_parameters():
        if param.ndim >= 2:
            param.copy_(torch.randn(param.shape, generator=gen) * scale / param.shape[-1] ** 0.5)
        elif "norm" in name and name.endswith("weight"):
            param.fill_(1.0)
        else:
            param.copy_(torch.randn(param.shape, generator=gen) * 0.02)
    return module


def build_tiny(seed: int = 0, *, llm_rows: int | None = None, image_token: bool = True, **config_kwargs) -> TinyParts:
    """A seeded tiny InstructBLIP in eval mode (fp32, CPU) with fresh tokenizers (see the module docstring).

    Args:
        seed: weight seed.
        llm_rows, config_kwargs: see :func:`tiny_config` (``num_query_tokens``, ``image_size``, ``patch_size``).
        image_token: whether the LLM tokenizer has ``<image>`` already.
    """
    tok, qtok = tiny_llm_tokenizer(image_token=image_token), tiny_qformer_tokenizer()
    model = InstructBlipForConditionalGeneration(tiny_config(tok, qtok, llm_rows=llm_rows, **config_kwargs))
    randomize_(model, seed)
    return TinyParts(model.eval(), qtok, tok)


def write_official_checkpoint(path: Path, qformer_dim: int, llm_dim: int, *, seed: int = 0, llm_layers: int = 2,
                              drop: tuple[str, ...] = (), extra: dict[str, torch.Tensor] | None = None
                              ) -> dict[str, torch.Tensor]:
    """Write a checkpoint in the layout of the official AntifakePrompt releases (LAVIS ``_save_checkpoint``):
    ``{'model': {pseudo-word embeddings + persistent buffers}, 'optimizer': ..., 'config': ..., 'scaler': ...,
    'epoch': ...}``.

    Args:
        path: destination.
        qformer_dim, llm_dim: widths of the two pseudo-word vectors (768 and 4096 in the real model).
        seed: seed of the random vectors.
        llm_layers: how many ``rotary_emb.inv_freq`` buffers to include.
        drop: state-dict keys to leave out (to test the missing-key error).
        extra: additional state-dict entries (to test the unexpected-key error).

    Returns:
        The two pseudo-word tensors, keyed by their LAVIS names (``[1, qformer_dim]`` and ``[1, llm_dim]``, fp32).
    """
    gen = torch.Generator().manual_seed(seed)
    vectors = {
        "Qformer.bert.embeddings.train_word_embeddings.weight": torch.randn(1, qformer_dim, generator=gen),
        "llm_model.model.train_embed_tokens.weight": torch.randn(1, llm_dim, generator=gen),
    }
    state = dict(vectors)
    state["Qformer.bert.embeddings.position_ids"] = torch.arange(512).unsqueeze(0)
    for i in range(llm_layers):
        state[f"llm_model.model.layers.{i}.self_attn.rotary_emb.inv_freq"] = torch.rand(llm_dim // 64 or 1)
    state.update(extra or {})
    for key in drop:
        state.pop(key)
    torch.save({"model": state,
                "optimizer": {"state": {0: {"step": torch.tensor(10.0), "exp_avg": torch.zeros(1, qformer_dim)}},
                              "param_groups": [{"lr": 1e-5, "weight_decay": 0.05, "params": [0, 1]}]},
                "config": {"run": {"init_lr": 1e-5, "max_epoch": 10}, "model": {"pseudo_word": "[*]"}},
                "scaler": {"scale": 65536.0, "growth_factor": 2.0}, "epoch": 9}, path)
    return vectors


def save_tiny_hub(root: Path, seed: int = 0) -> tuple[Path, Path, TinyParts, LlamaForCausalLM]:
    """Save a tiny base model (with its tokenizer at the root and the Q-Former tokenizer in ``qformer_tokenizer/``,
    the layout of ``Salesforce/instructblip-vicuna-7b``) and a separate tiny "Vicuna v1.3" LLM with other weights
    and an unpadded vocabulary (so loading must swap and resize it).

    Returns:
        ``(base_dir, llm_dir, base_parts, llm)``.
    """
    parts = build_tiny(seed)
    base_dir, llm_dir = root / "tiny-instructblip", root / "tiny-vicuna"
    parts.model.save_pretrained(base_dir)
    parts.tokenizer.save_pretrained(base_dir)
    parts.qformer_tokenizer.save_pretrained(base_dir / "qformer_tokenizer")
    text_cfg = LlamaConfig(**{**parts.model.config.text_config.to_dict(), "vocab_size": len(parts.tokenizer) - 2,
                              "pad_token_id": 0})  # lmsys/vicuna-7b-v1.3: 32000 rows, pad id 0
    llm = randomize_(LlamaForCausalLM(text_cfg), seed + 1000).eval()
    llm.save_pretrained(llm_dir)
    return base_dir, llm_dir, parts, llm
