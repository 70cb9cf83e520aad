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

Precision (LAVIS ``maybe_autocast``): ViT and LLM matmuls in fp16 under autocast, with the ViT embeddings and
LayerNorms and the LLM input embeddings in fp32; ``ln_vision``, Q-Former and projection in fp32 outside autocast.
:func:`apply_lavis_precision` sets that layout (half precision on CUDA). Log-probabilities are taken over LAVIS'
32,001 Vicuna rows (:func:`lavis_vocab_size`; the HF head's padding rows are masked). The prompt-token variant
(``legacy``/``spaced``, transformers <= 4.33 / >= 4.34) and the decision rule (``likelihood``/``generate``) are
selectable and recorded in the identity.
Modules, one job each: :mod:`.tokens` (the pseudo-word embedding, prompts, answers), :mod:`.prompts` (prompt token
ids), :mod:`.checkpoint` (pseudo-word checkpoint I/O), :mod:`.assembly` (building the HF model and its precision),
:mod:`.detectors` (the yes/no InstructBLIP base with the zero-shot baseline and AntifakePrompt as leaves).
"""

from fakebench.detectors.antifakeprompt.assembly import *  # noqa: F401,F403
from fakebench.detectors.antifakeprompt.checkpoint import *  # noqa: F401,F403
from fakebench.detectors.antifakeprompt.detectors import *  # noqa: F401,F403
from fakebench.detectors.antifakeprompt.prompts import *  # noqa: F401,F403
from fakebench.detectors.antifakeprompt.tokens import *  # noqa: F401,F403
from fakebench.detectors.antifakeprompt.assembly import __all__ as _a1
from fakebench.detectors.antifakeprompt.checkpoint import __all__ as _a2
from fakebench.detectors.antifakeprompt.detectors import __all__ as _a3
from fakebench.detectors.antifakeprompt.prompts import __all__ as _a4
from fakebench.detectors.antifakeprompt.tokens import __all__ as _a5

__all__ = [*_a5, *_a4, *_a2, *_a1, *_a3]
