"""Assembling the Hugging Face InstructBLIP model: dtype/device, LAVIS mixed precision, quantization, Vicuna swap.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import torch
from torch import nn

from fakebench.core.errors import FakebenchError, WeightsNotFoundError

from fakebench.detectors.antifakeprompt.tokens import DEFAULT_BASE_MODEL, DEFAULT_LLM_MODEL, _DTYPES, _LICENCES

__all__ = ["resolve_dtype", "resolve_device", "apply_lavis_precision", "model_precision", "load_instructblip"]


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


def _device_type(module: nn.Module) -> str:
    param = next(module.parameters(), None)
    return param.device.type if param is not None else "cpu"


def _to_fp32(value: Any) -> Any:
    """Half/bfloat16 tensors (also inside tuples, lists and dicts) cast to float32; anything else unchanged."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.dtype in (torch.float16, torch.bfloat16) else value
    if isinstance(value, (tuple, list)):
        return type(value)(_to_fp32(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_fp32(v) for k, v in value.items()}
    return value


def _set_forward_precision(module: nn.Module, autocast_dtype: torch.dtype | None) -> None:
    """Make ``module.forward`` run under ``torch.autocast(autocast_dtype)`` (LAVIS ``maybe_autocast``), or, with
    ``None``, with autocast disabled and half-precision inputs cast to fp32 (the LAVIS calls outside
    ``maybe_autocast``). Idempotent: a second call replaces the first wrapper."""
    original = module.__dict__.get("_fakebench_forward") or module.forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        device_type = _device_type(module)
        if autocast_dtype is None:
            with torch.autocast(device_type=device_type, enabled=False):
                return original(*_to_fp32(args), **_to_fp32(kwargs))
        with torch.autocast(device_type=device_type, dtype=autocast_dtype):
            return original(*args, **kwargs)

    module.__dict__["_fakebench_forward"] = original
    module.forward = forward


def apply_lavis_precision(model: nn.Module, dtype: torch.dtype = torch.float16) -> nn.Module:
    """Give an InstructBLIP the mixed precision of LAVIS / AntifakePrompt on a GPU, in place.

    The layout (AntifakePrompt ``eva_vit.py`` ``convert_weights_to_fp16``, ``modeling_llama.py``
    ``LlamaModelTextualInversion``, ``blip2_vicuna_instruct_textinv.py``):

    * vision tower: every ``nn.Linear`` in ``dtype``; the patch embedding, class and position embeddings and every
      LayerNorm (including ``post_layernorm``, LAVIS ``ln_vision``) in fp32; its forward runs under
      ``torch.autocast(dtype)`` (LAVIS ``maybe_autocast``), so the matmuls run in ``dtype`` and the LayerNorms in fp32;
    * Q-Former, query tokens and ``language_projection``: fp32, with autocast disabled (LAVIS calls them outside
      ``maybe_autocast``);
    * LLM: ``dtype`` except the input embeddings ``embed_tokens`` (fp32, as ``LlamaModelTextualInversion`` creates
      them; the pseudo-word vector is fp32 too), forward under ``torch.autocast(dtype)``.

    LAVIS converts the ViT's patch-embedding convolution to fp16 as well; under autocast the convolution runs in fp16
    either way, so keeping its weight in fp32 gives the same numbers and keeps the pixel values fp32. Weights already
    in fp32 keep their exact values (convert from an fp32 model: a half-precision model is upcast, not restored).
    A bitsandbytes-quantized LLM keeps its quantized layers.

    Args:
        model: an ``InstructBlipForConditionalGeneration``.
        dtype: the autocast / half dtype, ``torch.float16`` (LAVIS) or ``torch.bfloat16``.

    Returns:
        ``model``; :func:`model_precision` then reports ``lavis-mixed-<dtype>``.

    Raises:
        FakebenchError: ``dtype`` is not a half-precision dtype.
    """
    if dtype not in (torch.float16, torch.bfloat16):
        raise FakebenchError(f"LAVIS mixed precision needs float16 or bfloat16, got {dtype}.")
    vision = model.vision_model
    for module in vision.modules():
        if isinstance(module, nn.Linear):
            module.to(dtype)
        elif isinstance(module, nn.LayerNorm):
            module.float()
    vision.embeddings.float()
    _set_forward_precision(vision, dtype)
    model.qformer.float()
    model.language_projection.float()
    model.query_tokens.data = model.query_tokens.data.float()
    _set_forward_precision(model.qformer, None)
    _set_forward_precision(model.language_projection, None)
    llm = model.language_model
    embedding = llm.get_input_embeddings()
    # the same tensors when already fp32, so their values survive the cast below (weight and pseudo-word vector)
    kept = {name: param.data.float() for name, param in embedding.named_parameters()}
    if not getattr(llm, "is_quantized", False):
        llm.to(dtype)
    for name, param in embedding.named_parameters():
        param.data = kept[name]
    _set_forward_precision(llm, dtype)
    model.__dict__["_fakebench_precision"] = f"lavis-mixed-{str(dtype).replace('torch.', '')}"
    return model


def model_precision(model: nn.Module) -> str:
    """``lavis-mixed-float16`` (or ``-bfloat16``) after :func:`apply_lavis_precision`, else the LLM output layer's
    dtype (``float32``, ...)."""
    tagged = model.__dict__.get("_fakebench_precision")
    if tagged:
        return tagged
    return str(model.language_model.get_output_embeddings().weight.dtype).replace("torch.", "")


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

    from fakebench.core.env import is_offline

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
        dtype: ``fp16``/``bf16``/``fp32`` or a torch dtype; default fp16 on CUDA, fp32 on CPU. Half precision
            loads the base model in fp32 and then applies :func:`apply_lavis_precision` (LAVIS mixed precision).
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

    from fakebench.hub.fetch import hub_cache_dir

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
        # half precision: read the base in fp32 so the parts LAVIS keeps in fp32 keep their exact values
        base_dtype = torch.float32 if torch_dtype in (torch.float16, torch.bfloat16) else torch_dtype
        model = _from_pretrained(InstructBlipForConditionalGeneration.from_pretrained, base_id, what, hub_dir,
                                 config=skeleton, dtype=base_dtype, **placement)
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
        apply_lavis_precision(model, torch_dtype)
    model.requires_grad_(False)
    return model.eval(), qformer_tokenizer, tokenizer
