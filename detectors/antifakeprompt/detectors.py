"""The yes/no InstructBLIP detectors: the zero-shot baseline and AntifakePrompt.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, ClassVar, Sequence

import torch
from torch import nn

from fakebench.core.errors import CheckpointError, FakebenchError, WeightsNotFoundError

from fakebench.detectors.catalog import AFP_PROMPT_TOKENS, ANTIFAKEPROMPT_CARD, INSTRUCTBLIP_CARD
from fakebench.detectors.base import Detector, DetectorOutput, WeightsInfo
from fakebench.detectors.card import Preset
from fakebench.detectors.antifakeprompt.tokens import DECISION_RULES, PROMPT_TOKEN_VARIANTS, lavis_vocab_size, AFP_PROMPT, ANSWERS, DEFAULT_BASE_MODEL, DEFAULT_LLM_MODEL, LAVIS_BOS, LAVIS_LLM_KEY, LAVIS_QFORMER_KEY, PSEUDO_WORD, PseudoWordState, ZERO_SHOT_PROMPT, ensure_image_token, install_pseudo_word, pseudo_word_modules
from fakebench.detectors.antifakeprompt.prompts import PromptIds, build_llm_prompt_ids, build_qformer_prompt_ids, encode_chunk
from fakebench.detectors.antifakeprompt.checkpoint import read_pseudo_word_checkpoint
from fakebench.detectors.antifakeprompt.assembly import load_instructblip, model_precision, resolve_device

__all__ = ["InstructBlipZeroShot", "AntifakePrompt"]


class _YesNoInstructBlip(Detector):
    """The yes/no InstructBLIP detector both leaves share (private): the prompt, the one-forward yes/no scoring
    (or the paper-era generate rule), identity and device handling. :class:`InstructBlipZeroShot` asks the plain
    question; :class:`AntifakePrompt` adds the learned pseudo-word. Every constructor of both goes through
    :meth:`_assemble` (base models -> detector).

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
        prompt_tokens: how the text around ``[*]`` is split into LLM tokens, one of
            :data:`~fakebench.detectors.antifakeprompt.tokens.PROMPT_TOKEN_VARIANTS` (``legacy``: transformers <=
            4.33; ``spaced``: >= 4.34). ``None``: the checkpoint's default from
            :data:`~fakebench.detectors.catalog.AFP_PROMPT_TOKENS` (``legacy`` for other weights). Recorded in
            :meth:`identity`; without the pseudo-word both variants give the same ids.
        decision: one of :data:`~fakebench.detectors.antifakeprompt.tokens.DECISION_RULES`: ``likelihood`` (default,
            continuous score) or ``generate`` (the paper-era rule: generate, then real iff the answer is exactly
            ``yes``; hard 0/1 outputs, no logit, so AP/AUC are not computed).

    Attributes:
        scored_vocab: LLM output rows that enter the softmax, the LAVIS vocabulary (``lavis_vocab_size``: 32,001
            for Vicuna); the padding rows of the HF head beyond it are masked.

    Raises:
        FakebenchError: the preset's crop differs from the model's image size, an answer encodes to no token, or
            ``prompt_tokens``/``decision`` is unknown.
    """

    #: 2: log-probabilities over Vicuna's 32,001 rows only (LM-head padding rows masked) and LAVIS mixed precision.
    revision = "2"

    continuous_scores: ClassVar[bool] = True
    #: The instruction text (set by each leaf).
    prompt: ClassVar[str]
    #: Whether the prompt carries the learned pseudo-word.
    uses_pseudo_word: ClassVar[bool] = False
    #: Warn when a model this large runs on the CPU.
    cpu_warn_params: ClassVar[int] = 1_000_000_000

    def __init__(self, model: nn.Module, qformer_tokenizer: Any, tokenizer: Any, *,
                 preset: Preset | str | None = None, weights: WeightsInfo, device: str | torch.device | None = None,
                 base_model: str = "custom", llm_model: str = "custom", answers: Sequence[str] = ANSWERS,
                 prompt: str | None = None, quantization: str | None = None, prompt_tokens: str | None = None,
                 decision: str = "likelihood") -> None:
        if decision not in DECISION_RULES:
            raise FakebenchError(f"Unknown decision rule {decision!r}; expected one of {', '.join(DECISION_RULES)}.")
        if prompt_tokens is None:
            prompt_tokens = AFP_PROMPT_TOKENS.get(weights.tag, ("legacy", ""))[0] if self.uses_pseudo_word else "legacy"
        if prompt_tokens not in PROMPT_TOKEN_VARIANTS:
            raise FakebenchError(f"Unknown prompt-token variant {prompt_tokens!r}; expected one of "
                                 f"{', '.join(PROMPT_TOKEN_VARIANTS)}.")
        self.prompt_tokens, self.decision = prompt_tokens, decision
        self.continuous_scores = decision == "likelihood"
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
        self._answer_words = tuple(answers)
        head_rows = int(model.language_model.get_output_embeddings().weight.shape[0])
        self.scored_vocab = min(lavis_vocab_size(tokenizer), head_rows)
        if any(a[0] >= self.scored_vocab for a in self.ids.answers):
            raise FakebenchError(f"An answer token of {answers!r} lies beyond the LLM vocabulary "
                                 f"({self.scored_vocab} rows).")
        if vision_device != self.device:
            self.model.to(self.device)
        n_params = sum(p.numel() for p in model.parameters())
        if self.device.type == "cpu" and n_params >= self.cpu_warn_params:
            warnings.warn(f"{self.name} runs its {n_params / 1e9:.1f} B-parameter model on the CPU: expect tens of "
                          f"seconds per image and ~4 bytes of RAM per parameter in fp32. Use a CUDA GPU "
                          f"(device='cuda'; ~17 GB in fp16, or quantization='8bit'/'4bit').", RuntimeWarning,
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
        llm = build_llm_prompt_ids(self.tokenizer, self.instruction, pseudo_word=word, pseudo_id=l_pid,
                                   variant=self.prompt_tokens)
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
    def _assemble(cls, weights: WeightsInfo, *, base_model: str | os.PathLike, llm_model: str | os.PathLike | None,
                  dtype: str | torch.dtype | None, quantization: str | None, device: str | torch.device | None,
                  cache_dir: str | os.PathLike | None, preset: Preset | str | None, **kwargs: Any) -> Any:
        """The one assembly path: resolve the device, load the base models (:func:`load_instructblip`) and build the
        detector with ``weights`` as its provenance; ``kwargs`` go to the constructor."""
        device = resolve_device(device)
        model, qtok, tok = load_instructblip(base_model, llm_model, dtype=dtype, device=device,
                                             quantization=quantization, cache_dir=cache_dir)
        return cls(model, qtok, tok, preset=preset, weights=weights, device=device, base_model=str(base_model),
                   llm_model=str(llm_model), quantization=quantization, **kwargs)

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
            logits = self.restrict_vocab(self.model(**inputs, logits_to_keep=1).logits[:, -1].float())
            logp = logits.log_softmax(-1)
            return logp[:, [a[0] for a in self.ids.answers]].cpu()
        return self._sequence_log_likelihoods(inputs).cpu()

    def restrict_vocab(self, logits: torch.Tensor) -> torch.Tensor:
        """``logits[..., :scored_vocab]``: drop the LM-head rows LAVIS' Vicuna does not have (the padding rows added
        when HF resizes to 32,064, which hold ``<image>`` and ``[*]``), so a log-softmax or cross-entropy over the
        result equals the official one. ``(..., V)`` -> ``(..., scored_vocab)``, same dtype and device."""
        return logits[..., : self.scored_vocab]

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
        logits = self.restrict_vocab(self.model(**rep, input_ids=ids, attention_mask=att).logits.float())
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
        if self.decision == "generate":
            real = torch.tensor([text == self.answer_words[0] for text in self.generate_answers(batch)])
            return DetectorOutput(prob=(~real).float(), logit=None)
        ll = self.answer_log_likelihoods(batch)
        logit = (ll[:, 1] - ll[:, 0]).float()
        return DetectorOutput(prob=torch.sigmoid(logit), logit=logit)

    @torch.inference_mode()
    def generate_answers(self, batch: torch.Tensor) -> list[str]:
        """The paper-era answers: generated text for each image, as LAVIS ``generate`` returned it.

        The LLM gets only ``inputs_embeds`` (query features + prompt embeddings, no ``input_ids``), as LAVIS passes
        them, and generates as transformers 4.33 did under LAVIS' call (:func:`~fakebench.detectors.antifakeprompt.
        generation.lavis_generate`: at most 9 new tokens, end-of-sequence allowed first, the repetition penalty over
        the start placeholder too, the head cut to :attr:`scored_vocab` rows before the softmax); output id 0 is mapped
        to ``</s>`` (LAVIS), then decoded without special tokens and stripped.

        Args:
            batch: ``(N, 3, H, W)`` float32 from :meth:`transform`.

        Returns:
            ``N`` strings (``''`` where end-of-sequence came first); :meth:`predict` with ``decision='generate'``
            calls an image real iff its string is exactly ``yes``.
        """
        from fakebench.detectors.antifakeprompt.generation import lavis_generate

        inputs = self.model_inputs(batch)
        features = self.model.get_image_features(inputs["pixel_values"], qformer_input_ids=inputs["qformer_input_ids"],
                                                 qformer_attention_mask=inputs["qformer_attention_mask"],
                                                 return_dict=True).pooler_output
        embeds = self.model.get_input_embeddings()(inputs["input_ids"])
        mask = (inputs["input_ids"] == self.ids.image_token).unsqueeze(-1).expand_as(embeds)
        embeds = embeds.masked_scatter(mask, features.to(embeds.device, embeds.dtype))
        out = lavis_generate(self.model.language_model, embeds, inputs["attention_mask"],
                             scored_vocab=self.scored_vocab, eos=self.ids.eos)
        return [text.strip() for text in self.tokenizer.batch_decode(out, skip_special_tokens=True)]

    @property
    def answer_words(self) -> tuple[str, ...]:
        """The candidate answers as text, ``(real, fake)`` (``('yes', 'no')``)."""
        return self._answer_words

    # -- provenance / placement ---------------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        """:meth:`Detector.identity` plus prompt, its token ids and variant (``prompt_tokens``), answers, decision rule,
        scored vocabulary, base models, precision (``dtype``) and quantization."""
        ident = super().identity()
        ident.update({"prompt": self.instruction, "answers": [list(a) for a in self.ids.answers],
                      "prompt_tokens": self.prompt_tokens, "llm_prompt_ids": list(self.ids.llm),
                      "decision": self.decision, "scored_vocab": self.scored_vocab,
                      "base_model": self.base_model, "llm_model": self.llm_model,
                      "dtype": model_precision(self.model), "quantization": self.quantization})
        return ident

    def to(self, device: str | torch.device) -> "_YesNoInstructBlip":
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


class InstructBlipZeroShot(_YesNoInstructBlip):
    """Zero-shot InstructBLIP (Vicuna-7B v1.3) asked ``Is this photo real?``: the AntifakePrompt paper's baseline.

    Scores as :class:`AntifakePrompt` (see the module docstring), without the pseudo-word; constructor arguments as
    :class:`_YesNoInstructBlip`.
    """

    name: ClassVar[str] = "instructblip"
    card = INSTRUCTBLIP_CARD
    prompt: ClassVar[str] = ZERO_SHOT_PROMPT
    uses_pseudo_word: ClassVar[bool] = False

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
             dtype: str | torch.dtype | None = None, quantization: str | None = None,
             decision: str = "likelihood", prompt_tokens: str | None = None) -> "InstructBlipZeroShot":
        """Load the zero-shot baseline from the base models (see :func:`load_instructblip`).

        Args:
            weights: must be ``None`` (this detector has no checkpoint of its own).
            preset, device, cache_dir: as :meth:`Detector.load` (``device=None``: CUDA when available).
            base_model, llm_model, dtype, quantization: see :func:`load_instructblip`.
            decision, prompt_tokens: see the class (``decision='generate'`` reproduces the paper's InstructBLIP
                column).

        Raises:
            WeightsNotFoundError: base models unavailable offline; or ``weights`` was given.
        """
        if weights is not None:
            raise WeightsNotFoundError(f"{cls.name} takes no checkpoint (got {str(weights)!r}); for the prompt-tuned "
                                       f"detector use antifakeprompt.")
        return cls._assemble(WeightsInfo(tag="zero-shot"), base_model=base_model, llm_model=llm_model, dtype=dtype,
                             quantization=quantization, device=device, cache_dir=cache_dir, preset=preset,
                             decision=decision, prompt_tokens=prompt_tokens)


class AntifakePrompt(_YesNoInstructBlip):
    """AntifakePrompt: InstructBLIP Vicuna-7B v1.3 with the learned pseudo-word, prompt ``Is this photo real [*]?``.

    See the module docstring for the pipeline, the score and the fidelity choices; the constructor arguments are
    those of :class:`_YesNoInstructBlip`. The pseudo-word vectors start at zero: use :meth:`load`,
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
        from fakebench.detectors.checkpoints import verify_sha256

        path, spec = cls.resolve_weights(weights, cache_dir)
        sha = verify_sha256(path, spec.sha256 if spec else None)
        state = read_pseudo_word_checkpoint(path)
        return state, WeightsInfo.of_file(path, spec, sha)

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
            device, base_model, llm_model, kwargs: see :class:`_YesNoInstructBlip`.

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
             dtype: str | torch.dtype | None = None, quantization: str | None = None,
             prompt_tokens: str | None = None, decision: str = "likelihood") -> "AntifakePrompt":
        """Load the base models and an AntifakePrompt checkpoint.

        The checkpoint is resolved and read first (a bad file fails before the 8 B-parameter load).

        Args:
            weights: weights tag of the card (``None``: ``coco_sd3_sd2ip``) or a checkpoint path.
            preset: preprocessing preset (default: the weights' preset, ``afp``).
            device: ``None`` = CUDA when available, else CPU (with a warning: very slow).
            cache_dir: download cache for the checkpoint (default :func:`fakebench.core.env.cache_root`); the base models
                use the Hugging Face cache.
            base_model, llm_model, dtype, quantization: see :func:`load_instructblip`.
            prompt_tokens: ``legacy``/``spaced`` (``None``: the checkpoint's default, see the card), decision:
                ``likelihood``/``generate``; see :class:`_YesNoInstructBlip`.

        Raises:
            CheckpointError: unreadable checkpoint, wrong tensors or widths.
            WeightsNotFoundError: checkpoint or base models unavailable (offline and not cached).
            UnknownNameError: unknown weights tag or preset.
        """
        state, info = cls._load_checkpoint(weights, cache_dir)
        det = cls._assemble(info, base_model=base_model, llm_model=llm_model, dtype=dtype, quantization=quantization,
                            device=device, cache_dir=cache_dir, preset=preset, prompt_tokens=prompt_tokens,
                            decision=decision)
        det.set_pseudo_word(state, info.path or str(weights))
        return det

    @classmethod
    def untrained(cls, *, base_model: str | os.PathLike = DEFAULT_BASE_MODEL,
                  llm_model: str | os.PathLike | None = DEFAULT_LLM_MODEL, device: str | torch.device | None = None,
                  dtype: str | torch.dtype | None = None, quantization: str | None = None, seed: int = 0,
                  preset: Preset | str | None = None, cache_dir: str | os.PathLike | None = None) -> "AntifakePrompt":
        """The base models with random pseudo-word vectors (``WeightsInfo(tag='random-init')``), the starting point of
        prompt tuning (:func:`fakebench.detectors.antifakeprompt_train.train_prompt`); arguments as :meth:`load`.

        Raises:
            WeightsNotFoundError: base models unavailable.
        """
        det = cls._assemble(WeightsInfo(tag="random-init"), base_model=base_model, llm_model=llm_model, dtype=dtype,
                            quantization=quantization, device=device, cache_dir=cache_dir, preset=preset)
        det.randomize_pseudo_word(seed)
        return det
