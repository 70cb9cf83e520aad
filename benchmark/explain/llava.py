"""A LLaVA-NeXT explainer: a rationale and a real/fake verdict per image (the CS545 study's explainer).

Follows CarrotPeeler/CS545-Real-Fake-Image-Detection @ 0613672, ``LLaVa_Experiments/``: the base model is LLaVA 1.6
with the Vicuna-7B LLM (``liuhaotian/llava-v1.6-vicuna-7b`` in ``llava_train_data.py``, which also generated the
category-guided training explanations); its Hugging Face transformers conversion is
``llava-hf/llava-v1.6-vicuna-7b-hf`` (:data:`DEFAULT_MODEL`), so the Vicuna variant, not the Mistral one, is the
default. The study fine-tuned that model with LoRA (PEFT) and asked every test image the unguided question
:data:`CS545_QUESTION` in LLaVA's ``llava_v0`` conversation template (LLaVA's scripts pick the template from the
checkpoint name, and the study's fine-tuned ``llava-7b-real-fake-500/checkpoint-690`` has no "v1" in it; the base
``llava-v1.6-vicuna-7b`` gets ``llava_v1``: :func:`template_for`), with greedy decoding (temperature 0, one beam)
and at most 200 new tokens, in fp16 on a GPU. Those are the defaults here (:class:`DecodingSettings`,
:func:`template_for`; both templates are offered and the one used is recorded with every explanation).

The model runs through transformers' ``LlavaNextForConditionalGeneration`` and ``LlavaNextProcessor`` (anyres image
tiling of LLaVA 1.6); a LoRA adapter folder (``adapter_config.json`` + ``adapter_model.safetensors``/``.bin``, as
``peft`` saves it) is applied with ``peft.PeftModel.from_pretrained`` and checked tensor by tensor, because peft only
warns when an adapter's module names do not match the model (adapters trained with the original LLaVA code base,
like the study's, name the LLM ``model.layers.N`` where transformers has ``model.language_model.layers.N``; such an
adapter would otherwise be a silent no-op).

Verdict rule (:func:`parse_verdict`): the question asks for a closing ``Answer: real`` / ``Answer: fake``; the verdict
is the word after the **last** ``Answer:`` (case-insensitive; ``*``, quotes and brackets around it allowed) when that
word is ``real`` or ``fake``, else ``unknown``. The study instead asked the model a second, one-word question about its
own explanation; a missing or malformed summary here gives ``unknown`` rather than a guess.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fakebench import __version__
from fakebench.core.errors import (
    CheckpointError,
    DataError,
    FakebenchError,
    WeightsNotFoundError,
)

__all__ = [
    "CS545_QUESTION",
    "DEFAULT_MODEL",
    "MISTRAL_MODEL",
    "TEMPLATES",
    "checkpoint_name",
    "template_for",
    "VERDICT_RULE",
    "DecodingSettings",
    "Explanation",
    "LlavaExplainer",
    "explain_images",
    "parse_verdict",
]

#: The CS545 base model (LLaVA 1.6, Vicuna-7B) in the transformers format.
DEFAULT_MODEL = "llava-hf/llava-v1.6-vicuna-7b-hf"
#: The LLaVA 1.6 Mistral-7B variant (use ``template="mistral_instruct"``).
MISTRAL_MODEL = "llava-hf/llava-v1.6-mistral-7b-hf"

#: The unguided question of the CS545 study (``llava_test.py`` ``prompt``; the human turn of its fine-tuning data).
CS545_QUESTION = (
    "Consider yourself to be an expert at differentiating real images "
    "from fake images generated with popular image generation techniques "
    "such as StyleGAN, Stable Diffusion, Midjourney, CogView, etc. "
    "The given image can be either real or fake. "
    "GAN, diffusion, etc. methods are quite powerful and can even fool humans, "
    "so be as analytical as possible. "
    "Please explain why you think the given image is real or fake. "
    "After the explanation, summarize the answer in one word in the format "
    "'Answer: real' or 'Answer: fake'"
)

#: Conversation templates of the LLaVA code base (haotian-liu/LLaVA @ c121f04, ``llava/conversation.py``,
#: ``conv_templates``), with ``{question}`` in place of the user turn; the image placeholder ``<image>`` and a newline
#: precede the question, as LLaVA inserts them. ``llava_v0`` is ``conv_llava_v0`` (separator style SINGLE, ``###``),
#: ``llava_v1`` is ``conv_llava_v1`` (style TWO, roles USER/ASSISTANT), ``vicuna_v1`` is ``conv_vicuna_v1`` (as
#: ``llava_v1`` but a "user" system prompt), ``mistral_instruct`` is ``conv_mistral_instruct``.
TEMPLATES = {
    "llava_v0": ("A chat between a curious human and an artificial intelligence assistant. The assistant gives "
                 "helpful, detailed, and polite answers to the human's questions.###Human: <image>\n{question}"
                 "###Assistant:"),
    "llava_v1": ("A chat between a curious human and an artificial intelligence assistant. The assistant gives "
                 "helpful, detailed, and polite answers to the human's questions. USER: <image>\n{question} "
                 "ASSISTANT:"),
    "vicuna_v1": ("A chat between a curious user and an artificial intelligence assistant. The assistant gives "
                  "helpful, detailed, and polite answers to the user's questions. USER: <image>\n{question} "
                  "ASSISTANT:"),
    "mistral_instruct": "[INST] <image>\n{question} [/INST]",
}


def checkpoint_name(path: str | os.PathLike) -> str:
    """The model name LLaVA derives from a checkpoint path (``llava/mm_utils.py`` ``get_model_name_from_path``):
    the last path component, or ``<parent>_<last>`` when the last is a ``checkpoint-N`` folder.

    >>> checkpoint_name("checkpoints/llava-7b-real-fake-500/checkpoint-690")
    'llava-7b-real-fake-500_checkpoint-690'
    """
    parts = str(path).strip("/").split("/")
    return f"{parts[-2]}_{parts[-1]}" if parts[-1].startswith("checkpoint-") and len(parts) > 1 else parts[-1]


def template_for(path: str | os.PathLike) -> str:
    """The conversation template LLaVA's own scripts pick for a checkpoint (``llava/eval/run_llava.py``, also the
    CS545 study's ``llava_test.py``), from :func:`checkpoint_name`: ``mistral`` -> ``mistral_instruct``, ``v1`` ->
    ``llava_v1``, otherwise ``llava_v0``. So ``llava-hf/llava-v1.6-vicuna-7b-hf`` gets ``llava_v1`` and the study's
    fine-tuned ``llava-7b-real-fake-500/checkpoint-690`` gets ``llava_v0`` (its name has no "v1").

    Raises:
        FakebenchError: a name for which LLaVA picks a template fakebench does not offer (``llama-2``, ``mpt``,
            ``v1.6-34b``): pass ``template=`` explicitly.

    >>> template_for("llava-hf/llava-v1.6-vicuna-7b-hf"), template_for("runs/llava-7b-real-fake-500/checkpoint-690")
    ('llava_v1', 'llava_v0')
    """
    name = checkpoint_name(path).lower()
    for marker, conv_mode in (("llama-2", "llava_llama_2"), ("mistral", "mistral_instruct"),
                              ("v1.6-34b", "chatml_direct"), ("v1", "llava_v1"), ("mpt", "mpt")):
        if marker in name:
            if conv_mode not in TEMPLATES:
                raise FakebenchError(f"LLaVA would query {name!r} with its {conv_mode!r} template, which fakebench "
                                     f"does not offer; pass a template explicitly ({', '.join(TEMPLATES)}).")
            return conv_mode
    return "llava_v0"


#: Identifier of the verdict rule, recorded with every explanation.
VERDICT_RULE = "last 'Answer: real|fake' in the generated text, else unknown"

_ANSWER = re.compile(r"\banswer\b\s*\**\s*[:\-]\s*\**\s*[\"'`*\[(]*\s*(real|fake)\b", re.IGNORECASE)
_LICENCES = {
    DEFAULT_MODEL: "Llama 2 Community Licence (Vicuna-7B v1.5 base)",
    MISTRAL_MODEL: "Apache-2.0",
}


def parse_verdict(text: str) -> tuple[str, str]:
    """Split a generated answer into a verdict and its rationale (see the module docstring for the rule).

    Args:
        text: the decoded model output.

    Returns:
        ``(verdict, rationale)``: verdict ``'real'``, ``'fake'`` or ``'unknown'`` (lower case); the rationale is the
        text with the final ``Answer: ...`` summary removed (the whole stripped text when there is none).
    """
    matches = list(_ANSWER.finditer(text))
    if not matches:
        return "unknown", text.strip()
    last = matches[-1]
    before = text[: last.start()].rstrip(" \t\r\n*#_-")
    after = text[last.end():].strip().lstrip(".!'\"`*)]").strip()
    return last.group(1).lower(), f"{before} {after}".strip()


@dataclass(frozen=True)
class DecodingSettings:
    """How answers are generated (recorded with every explanation).

    Attributes:
        max_new_tokens: generated-token limit (CS545: 200), >= 1.
        temperature: 0 = greedy decoding (CS545); > 0 = sampling at this temperature.
        top_p: nucleus-sampling mass in (0, 1], or ``None`` (no nucleus filter); sampling only.
        top_k: top-k filter when sampling (transformers' default 50, which the LLaVA code inherits); ``None`` = off.
        num_beams: beams (CS545: 1), >= 1.
        seed: torch seed set before each image's generation, so sampled answers are reproducible per image.

    Raises:
        FakebenchError: a value outside the ranges above.
    """

    max_new_tokens: int = 200
    temperature: float = 0.0
    top_p: float | None = None
    top_k: int | None = 50
    num_beams: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise FakebenchError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}.")
        if self.temperature < 0:
            raise FakebenchError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}.")
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise FakebenchError(f"top_p must lie in (0, 1], got {self.top_p}.")
        if self.top_k is not None and self.top_k < 1:
            raise FakebenchError(f"top_k must be >= 1 (or None), got {self.top_k}.")
        if self.num_beams < 1:
            raise FakebenchError(f"num_beams must be >= 1, got {self.num_beams}.")

    @property
    def mode(self) -> str:
        """``'greedy'`` (temperature 0) or ``'sampling'``."""
        return "sampling" if self.temperature > 0 else "greedy"

    def generate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``model.generate`` (sampling parameters only when sampling)."""
        kwargs: dict[str, Any] = {"do_sample": self.mode == "sampling", "num_beams": self.num_beams,
                                  "max_new_tokens": self.max_new_tokens}
        if self.mode == "sampling":
            kwargs["temperature"] = self.temperature
            kwargs["top_k"] = self.top_k if self.top_k is not None else 0
            if self.top_p is not None:
                kwargs["top_p"] = self.top_p
        return kwargs

    def to_dict(self) -> dict[str, Any]:
        """The settings plus ``mode``, JSON-ready."""
        return {"mode": self.mode, **asdict(self)}


@dataclass(frozen=True)
class Explanation:
    """One image's explanation.

    Attributes:
        verdict: ``'real'``, ``'fake'`` or ``'unknown'`` (see :func:`parse_verdict`).
        rationale: the generated text without its final ``Answer:`` summary.
        text: the full generated text (special tokens removed, stripped).
        prompt: the full prompt given to the processor (template + question, with ``<image>``).
        question: the question inside the prompt.
        template: the key of :data:`TEMPLATES` the prompt was built with.
        decoding: :meth:`DecodingSettings.to_dict`.
        model: model id or folder.
        adapter: LoRA adapter folder, if any.
        adapter_sha256: hex sha256 of the adapter's weights file, if any.
        image: the image's path when it was given as one, else ``None``.
        verdict_rule: :data:`VERDICT_RULE`.
        fakebench_version: the version that produced it.
    """

    verdict: str
    rationale: str
    text: str
    prompt: str
    question: str
    decoding: dict[str, Any]
    model: str
    template: str = "llava_v1"
    adapter: str | None = None
    adapter_sha256: str | None = None
    image: str | None = None
    verdict_rule: str = VERDICT_RULE
    fakebench_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)


def _not_found(model_id: str, exc: BaseException, hub_dir: Any) -> WeightsNotFoundError:
    if Path(model_id).is_absolute() or model_id.startswith((".", "~")) or Path(model_id).exists():
        return WeightsNotFoundError(
            f"Cannot load a LLaVA-NeXT model from the folder {model_id!r} ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:160] if str(exc) else ''}). Pass a folder written by save_pretrained (model "
            f"and processor), or a hub id such as {DEFAULT_MODEL}.")
    licence = _LICENCES.get(model_id, "see the model page for its licence")
    return WeightsNotFoundError(
        f"Cannot load the LLaVA-NeXT model {model_id!r} ({type(exc).__name__}: "
        f"{str(exc).splitlines()[0][:160] if str(exc) else ''}); it is in neither the Hugging Face cache nor "
        f"{hub_dir}. Download it once with network access: `hf download {model_id}` (or `huggingface-cli download "
        f"{model_id}`), which fills the Hugging Face cache (HF_HOME) that offline runs read, or pass a local folder. "
        f"Licence: {licence}.")


def _from_pretrained(loader: Callable[..., Any], model_id: str, hub_dir: Path, **kwargs: Any) -> Any:
    """``loader(model_id, **kwargs)`` from the Hugging Face cache (downloading when online), else from fakebench's hub
    cache; ``FAKEBENCH_OFFLINE``/``HF_HUB_OFFLINE`` add ``local_files_only``.

    Raises:
        WeightsNotFoundError: found in neither cache (or a folder that holds no model).
    """
    from fakebench.core.env import is_offline

    try:
        return loader(model_id, **({"local_files_only": True} if is_offline() else {}), **kwargs)
    except (OSError, ValueError) as first:  # ValueError: huggingface_hub's invalid-repo-id error for bad paths
        if hub_dir.is_dir() and not Path(model_id).exists():
            try:
                return loader(model_id, cache_dir=str(hub_dir), local_files_only=True, **kwargs)
            except (OSError, ValueError):
                pass
        raise _not_found(model_id, first, hub_dir) from first


def _adapter_file(adapter: Path) -> Path:
    for name in ("adapter_model.safetensors", "adapter_model.bin"):
        if (adapter / name).is_file():
            return adapter / name
    raise CheckpointError(f"LoRA adapter folder {str(adapter)!r} has no adapter_model.safetensors or "
                          f"adapter_model.bin; pass the folder that peft's save_pretrained wrote.")


def _read_adapter(path: Path) -> dict[str, Any]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    from fakebench.detectors.checkpoints import read_checkpoint

    return read_checkpoint(path)


def apply_lora(model: Any, adapter: str | os.PathLike) -> tuple[Any, str]:
    """Wrap ``model`` with the LoRA adapter in folder ``adapter`` (``peft.PeftModel.from_pretrained``) and verify that
    every tensor of the adapter file was loaded.

    Args:
        model: a ``LlavaNextForConditionalGeneration``.
        adapter: folder with ``adapter_config.json`` and ``adapter_model.safetensors`` (or ``.bin``).

    Returns:
        ``(peft_model, sha256)``: the wrapped model in eval mode and the hex sha256 of the adapter weights file.

    Raises:
        CheckpointError: missing folder/files, peft not installed, or adapter tensors whose names or shapes do not
            match the model (e.g. an adapter saved by the original LLaVA code base).
    """
    import torch
    from fakebench.core.files import sha256_file

    folder = Path(adapter).expanduser()
    if not (folder / "adapter_config.json").is_file():
        raise CheckpointError(f"LoRA adapter folder {str(folder)!r} does not exist or has no adapter_config.json; "
                              f"pass the folder that peft's save_pretrained wrote.")
    weights = _adapter_file(folder)
    saved = _read_adapter(weights)  # weights_only=True before peft, whose error advises weights_only=False
    try:
        from peft import PeftModel, get_peft_model_state_dict
    except ImportError as exc:
        raise CheckpointError("LoRA adapters need peft: pip install 'fakebench[explain]' (or pip install peft)."
                              ) from exc
    try:
        wrapped = PeftModel.from_pretrained(model, str(folder), is_trainable=False)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"Cannot apply the LoRA adapter {str(folder)!r} ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:200] if str(exc) else ''}).") from exc
    current = get_peft_model_state_dict(wrapped)
    unknown = sorted(set(saved) - set(current))
    if unknown or not saved:
        raise CheckpointError(
            f"LoRA adapter {str(weights)!r}: {len(unknown)} of its {len(saved)} tensors match no module of the model "
            f"(e.g. {unknown[:2]}). It was saved for another module layout (adapters from the original LLaVA code "
            f"base name the LLM 'model.layers.N', transformers' LLaVA-NeXT 'model.language_model.layers.N'); rename "
            f"its keys or re-save it from a transformers LlavaNextForConditionalGeneration.")
    for key, value in saved.items():
        ours = current[key]
        if ours.shape != value.shape or not torch.allclose(ours.float().cpu(), value.float(), atol=1e-3, rtol=1e-3):
            raise CheckpointError(f"LoRA adapter {str(weights)!r}: tensor {key!r} ({tuple(value.shape)}) was not "
                                  f"loaded into the model ({tuple(ours.shape)}); the adapter does not fit this model.")
    return wrapped.eval(), sha256_file(weights)


class LlavaExplainer:
    """Explain real/fake verdicts with a LLaVA-NeXT model (see the module docstring for the CS545 protocol).

    Args:
        model: a ``LlavaNextForConditionalGeneration`` (or a peft model wrapping one), in eval mode.
        processor: its ``LlavaNextProcessor``.
        model_id: hub id or folder, recorded with each explanation.
        question: the user question (default :data:`CS545_QUESTION`).
        template: a key of :data:`TEMPLATES` (default ``llava_v1``, what LLaVA uses for the default model; see
            :func:`template_for`).
        decoding: :class:`DecodingSettings` (default: CS545's greedy, 200 new tokens).
        adapter, adapter_sha256: the applied LoRA adapter folder and the sha256 of its weights, if any.

    Raises:
        FakebenchError: unknown template.
    """

    def __init__(self, model: Any, processor: Any, *, model_id: str, question: str = CS545_QUESTION,
                 template: str = "llava_v1", decoding: DecodingSettings | None = None, adapter: str | None = None,
                 adapter_sha256: str | None = None) -> None:
        if template not in TEMPLATES:
            raise FakebenchError(f"Unknown conversation template {template!r}; use one of {', '.join(TEMPLATES)}.")
        self.model = model
        self.processor = processor
        self.model_id = str(model_id)
        self.question = question
        self.template = template
        self.decoding = decoding or DecodingSettings()
        self.adapter = adapter
        self.adapter_sha256 = adapter_sha256

    @classmethod
    def load(cls, model: str | os.PathLike = DEFAULT_MODEL, *, adapter: str | os.PathLike | None = None,
             dtype: str | None = None, device: str | None = None, cache_dir: str | os.PathLike | None = None,
             **kwargs: Any) -> LlavaExplainer:
        """Load a LLaVA-NeXT model and processor (hub id or ``save_pretrained`` folder), optionally with LoRA.

        Args:
            model: hub id (default :data:`DEFAULT_MODEL`) or local folder holding both model and processor.
            adapter: LoRA adapter folder (see :func:`apply_lora`); checked before the model is loaded.
            dtype: ``fp16``/``bf16``/``fp32``; default fp16 on CUDA (as the study ran), fp32 on the CPU.
            device: default CUDA when available.
            cache_dir: fakebench cache root whose ``huggingface/`` folder is the fallback hub cache.
            kwargs: ``question``, ``template``, ``decoding`` for :class:`LlavaExplainer`; the template defaults
                (``template=None`` or absent) to the one LLaVA picks for the checkpoint, :func:`template_for` of the
                adapter folder when one is given (the fine-tuned checkpoint), else of ``model``.

        Raises:
            WeightsNotFoundError: the model is neither cached nor downloadable (message: id, command, licence).
            CheckpointError: a bad adapter (see :func:`apply_lora`).
        """
        from fakebench.detectors.antifakeprompt.assembly import (
            resolve_device,
            resolve_dtype,
        )
        from fakebench.hub.fetch import hub_cache_dir
        from transformers import LlavaNextForConditionalGeneration, LlavaNextProcessor

        if adapter is not None:  # fail on a bad adapter path before reading gigabytes of weights
            folder = Path(adapter).expanduser()
            if not (folder / "adapter_config.json").is_file():
                raise CheckpointError(f"LoRA adapter folder {str(folder)!r} does not exist or has no "
                                      f"adapter_config.json; pass the folder that peft's save_pretrained wrote.")
            _read_adapter(_adapter_file(folder))  # a .bin holding pickled code is refused here, by name
        model_id = str(model)
        torch_device = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, torch_device)
        hub_dir = hub_cache_dir(cache_dir)
        placement = {"device_map": {"": str(torch_device)}} if torch_device.type == "cuda" else {}
        processor = _from_pretrained(LlavaNextProcessor.from_pretrained, model_id, hub_dir)
        net = _from_pretrained(LlavaNextForConditionalGeneration.from_pretrained, model_id, hub_dir,
                               dtype=torch_dtype, **placement)
        net = net.to(torch_device).eval()
        net.requires_grad_(False)
        sha = None
        if adapter is not None:
            net, sha = apply_lora(net, adapter)
        if kwargs.get("template") is None:
            kwargs["template"] = template_for(adapter if adapter is not None else model_id)
        return cls(net, processor, model_id=model_id, adapter=None if adapter is None else str(adapter),
                   adapter_sha256=sha, **kwargs)

    def prompt(self) -> str:
        """The full prompt text (template with the question and the ``<image>`` placeholder)."""
        return TEMPLATES[self.template].format(question=self.question)

    def explain(self, image: Any, *, image_id: str | None = None) -> Explanation:
        """Generate the explanation of one image.

        Args:
            image: a PIL image (converted to RGB).
            image_id: recorded as :attr:`Explanation.image` (e.g. the file path).

        Returns:
            The :class:`Explanation`.
        """
        import torch

        prompt = self.prompt()
        param = next(self.model.parameters())
        inputs = self.processor(images=image.convert("RGB"), text=prompt, return_tensors="pt").to(param.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(param.dtype)
        tokenizer = self.processor.tokenizer
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        torch.manual_seed(self.decoding.seed)  # also seeds every CUDA device
        with torch.inference_mode():
            out = self.model.generate(**inputs, **self.decoding.generate_kwargs(), pad_token_id=pad)
        new_tokens = out[0, inputs["input_ids"].shape[1]:]
        text = tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
        verdict, rationale = parse_verdict(text)
        return Explanation(verdict=verdict, rationale=rationale, text=text, prompt=prompt, question=self.question,
                           decoding=self.decoding.to_dict(), model=self.model_id, template=self.template,
                           adapter=self.adapter,
                           adapter_sha256=self.adapter_sha256, image=image_id)


def explain_images(explainer: LlavaExplainer, images: Sequence[Any]) -> list[Explanation]:
    """Explain each image in order.

    Args:
        explainer: a :class:`LlavaExplainer`.
        images: PIL images, or paths of image files (decoded to 8-bit RGB by
            :func:`fakebench.data.images.load_image`; the path is recorded).

    Returns:
        One :class:`Explanation` per image, in input order.

    Raises:
        DataError: an image file that cannot be read (the message names it).
    """
    from fakebench.data.images import UnreadableImage, load_image
    from PIL import Image

    out = []
    for item in images:
        if isinstance(item, Image.Image):
            out.append(explainer.explain(item))
            continue
        try:
            img, _ = load_image(item)
        except UnreadableImage as exc:
            raise DataError(f"Cannot explain {exc}. Pass a readable image file.") from exc
        out.append(explainer.explain(img, image_id=str(item)))
    return out
