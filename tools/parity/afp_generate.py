"""Build the parity fixture of AntifakePrompt's paper-era ``generate`` decision rule from the official call.

The official rule (``nctu-eva-lab/AntifakePrompt`` @ 957c1e1, ``lavis/models/blip2_models/
blip2_vicuna_instruct_textinv.py``, ``predict_answers`` -> ``generate``) ends in one call of the Vicuna LLM:
``llm_model.generate(inputs_embeds=..., attention_mask=..., do_sample=False, top_p=0.9, temperature=1, num_beams=5,
max_length=10, min_length=1, repetition_penalty=1.5, length_penalty=0, num_return_sequences=1)`` with the model's own
``eos_token_id`` (the explicit one is commented out there), then ``outputs[outputs == 0] = 2`` and
``batch_decode(..., skip_special_tokens=True)``. Its LLM head has the LAVIS vocabulary (``len(llm_tokenizer)``: the
LLaMA tokenizer plus ``[PAD]``, 32,001 rows), so the beam scores' log-softmax runs over exactly those rows. The paper's
environment pinned transformers 4.33 (the repository's requirements), where ``generate`` called with ``inputs_embeds``
alone starts every sequence from a one-token ``bos`` placeholder that counts toward ``max_length``/``min_length`` and
that the repetition penalty sees.

This script runs that call, unchanged, under transformers 4.33.x on a tiny randomly initialised
``LlamaForCausalLM`` whose head has ``SCORED`` rows (the LAVIS layout, scaled down from 32,001), for several weight
settings (one where end-of-sequence is the most likely first token), and writes what it generates. The fakebench port
must produce the same tokens from an HF-layout head with 63 extra padding rows (``tests/test_antifakeprompt.py``).

Usage (in an environment with transformers 4.33.x, e.g. ``pip install "transformers==4.33.3"`` in a scratch venv)::

    python tools/parity/afp_generate.py tests/fixtures/parity/afp_generate

Weights and inputs are rounded to float16 values (stored as float16, computed in float32), so the fixture is small
and exact.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

SCORED = 1001  # LAVIS-layout head rows (32,001 in the real model)
PAD_ROWS = 63  # the HF checkpoint's extra rows (32,064 - 32,001); used by the test, never by this script
BOS, EOS, PAD = 1, 2, 0  # Vicuna's generation config
N, LENGTH = 8, 6  # images, prompt positions (query tokens + prompt)
LAVIS_CALL = dict(do_sample=False, top_p=0.9, temperature=1, num_beams=5, max_length=10, min_length=1,
                  repetition_penalty=1.5, length_penalty=0, num_return_sequences=1)


def _round16(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.float16).to(torch.float32)


def main(out: Path) -> None:
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM

    if not transformers.__version__.startswith("4.33."):
        raise SystemExit(f"needs transformers 4.33.x (the paper's environment), found {transformers.__version__}")
    config = LlamaConfig(vocab_size=SCORED, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=64, bos_token_id=BOS, eos_token_id=EOS,
                         pad_token_id=PAD, initializer_range=0.6, tie_word_embeddings=False)
    torch.manual_seed(0)
    embeds = _round16(torch.randn(N, LENGTH, config.hidden_size))
    mask = torch.ones(N, LENGTH, dtype=torch.long)
    for i, n_pad in enumerate([0, 0, 1, 2, 0, 3, 0, 1]):  # LAVIS pads on the left
        mask[i, :n_pad] = 0
    cases = []
    tensors: dict[str, torch.Tensor] = {"embeds": embeds.to(torch.float16), "mask": mask}
    for setting, seed in (("random", 1), ("eos_first", 2), ("random_b", 3)):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config).eval()
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(_round16(p))
            if setting == "eos_first":  # make </s> the most likely first token for most images
                first = model.model.norm(model.model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state)
                direction = first[:, -1].mean(0)
                model.lm_head.weight[EOS] = _round16(3.0 * direction / direction.norm() * model.lm_head.weight.norm(
                    dim=1).mean())
        with torch.no_grad():
            outputs = model.generate(inputs_embeds=embeds, attention_mask=mask, **LAVIS_CALL)
        lavis = outputs.clone()
        lavis[lavis == 0] = 2  # LAVIS: "convert output id 0 to 2 (eos_token_id)"
        for name, value in model.state_dict().items():
            tensors[f"{setting}.{name}"] = value.to(torch.float16)
        cases.append({"setting": setting, "seed": seed, "outputs": outputs.tolist(), "lavis_outputs": lavis.tolist()})
    out.mkdir(parents=True, exist_ok=True)
    torch.save(tensors, out / "tensors.pt")
    meta = {"source": "nctu-eva-lab/AntifakePrompt @ 957c1e1, lavis/models/blip2_models/"
                      "blip2_vicuna_instruct_textinv.py generate() -> llm_model.generate(...)",
            "transformers": transformers.__version__, "torch": torch.__version__, "lavis_call": LAVIS_CALL,
            "config": {k: getattr(config, k) for k in ("vocab_size", "hidden_size", "intermediate_size",
                                                        "num_hidden_layers", "num_attention_heads",
                                                        "max_position_embeddings", "rms_norm_eps")},
            "bos": BOS, "eos": EOS, "pad": PAD, "pad_rows": PAD_ROWS, "cases": cases}
    (out / "expected.json").write_text(json.dumps(meta, indent=1) + "\n")
    for case in cases:
        print(case["setting"], [row[1:] for row in case["outputs"]])


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/parity/afp_generate"))
