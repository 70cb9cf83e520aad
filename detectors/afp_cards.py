"""Cards of the vision-language detectors: AntifakePrompt and the zero-shot InstructBLIP baseline (plain data).

Facts follow ``nctu-eva-lab/AntifakePrompt`` (a LAVIS fork; commit 957c1e1 for the 2023 checkpoints, e261aa6 for the
2024 SD3-based ones) and the Hugging Face ``Salesforce/instructblip-vicuna-7b`` release.
"""

from __future__ import annotations

from benchmark.sources import Source

from .card import CLIP_MEAN, CLIP_STD, DetectorCard, Preset, WeightsSpec

__all__ = ["ANTIFAKEPROMPT_CARD", "INSTRUCTBLIP_CARD", "AFP_SD2_MEAN", "AFP_SD2_STD", "AFP_LAMA_MEAN", "AFP_LAMA_STD",
           "AFP_MEMORY", "AFP_NOTES"]

AFP_SD2_MEAN = (0.4730, 0.4499, 0.4129)
AFP_SD2_STD = (0.2780, 0.2713, 0.2872)
AFP_LAMA_MEAN = (0.4722, 0.4490, 0.4117)
AFP_LAMA_STD = (0.2772, 0.2708, 0.2867)

_BLIP_SRC = "AntifakePrompt lavis/processors/blip_processors.py blip_image_eval_textinv + model yaml preprocess block"

_AFP_PRESETS = (
    Preset("afp", resize=224, resize_mode="shorter", interpolation="bicubic", crop=224, mean=AFP_SD2_MEAN,
           std=AFP_SD2_STD, source=_BLIP_SRC + " (active config values)",
           description="shorter side bicubic 224, center crop 224, AntifakePrompt COCO+SD2+SD2IP mean/std"),
    Preset("afp_lama", resize=224, resize_mode="shorter", interpolation="bicubic", crop=224, mean=AFP_LAMA_MEAN,
           std=AFP_LAMA_STD, source=_BLIP_SRC + " (commented +LaMa values, active at commit e549082)",
           description="shorter side bicubic 224, center crop 224, AntifakePrompt +LaMa mean/std"),
    Preset("clip_square", resize=224, resize_mode="square", interpolation="bicubic", mean=CLIP_MEAN, std=CLIP_STD,
           source="stock InstructBLIP processor (blip_image_eval; HF preprocessor_config.json)",
           description="square bicubic 224x224 resize, CLIP normalisation (stock InstructBLIP)"),
)

#: Memory/speed facts shared by both cards. Parameter counts are exact (HF InstructBLIP Vicuna-7B architecture);
#: the memory figures are computed from them (weights + small activations), not yet measured on a GPU:
#: ``python -m benchmark.bench_afp --config full --device cuda`` measures them.
AFP_MEMORY = (
    "7.91 B parameters (EVA ViT-g 0.99 B, Q-Former 0.19 B, projection 3 M, Vicuna-7B 6.74 B). Scoring on a GPU needs "
    "about 16.5 GB in fp16/bf16 (ViT and LLM in half precision, Q-Former and projection in fp32 as LAVIS; batch-8 "
    "activations add well under 1 GB), so a 24 GB card; about 10 GB with quantization='8bit' and 6.5 GB with '4bit' "
    "(LLM only, bitsandbytes). Prompt tuning (fp16, batch 6): about 18 GB. On CPU it runs in fp32 (about 32 GB of "
    "RAM, tens of seconds per image) with a warning. Loading reads only the non-LLM part of the base checkpoint "
    "(1.45 B parameters with its LLM embedding and output matrices) plus Vicuna v1.3 (13.5 GB in fp16); the base "
    "repo is 31.7 GB to download."
)

#: Fidelity notes shared by both cards.
AFP_NOTES = (
    "Port to HF InstructBlipForConditionalGeneration: vision/Q-Former/query tokens/projection from "
    "Salesforce/instructblip-vicuna-7b, LLM replaced by lmsys/vicuna-7b-v1.3 (the paper's; the HF checkpoint bundles "
    "another Vicuna). Prompt ids pinned to the slow LAVIS tokenizer: '</s> ▁Is ▁this ▁photo ▁real [*] ▁?'. "
    "Official output is a hard yes/no by candidate loss; the continuous score (softmax over the two answers' "
    "log-likelihoods) is this port's addition, its 0.5 threshold reproduces the official decision. Base models: "
    "Vicuna v1.3 is non-commercial; InstructBLIP 'other'."
)

_AFP_NOTES_2024 = ("2024 SD3-based checkpoint (README at e261aa6). Upstream shipped no new normalisation constants "
                   "for it, so the official code uses the SD2-era ones (preset 'afp').")

ANTIFAKEPROMPT_CARD = DetectorCard(
    name="antifakeprompt",
    title="AntifakePrompt (prompt-tuned InstructBLIP, Vicuna-7B v1.3)",
    paper="Chang et al., AntifakePrompt: Prompt-Tuned Vision-Language Models are Fake Image Detectors, "
          "arXiv 2310.17419",
    paper_url="https://arxiv.org/abs/2310.17419",
    repo="https://github.com/nctu-eva-lab/AntifakePrompt @ 957c1e1 / e261aa6",
    licence="BSD-3-Clause (inherited from LAVIS); Vicuna v1.3 weights: non-commercial; checkpoints: none stated",
    architecture="InstructBLIP (EVA ViT-g/14, Q-Former, 32 query tokens, 768->4096 projection) with Vicuna-7B v1.3, "
                 "all frozen, plus one learned pseudo-word [*] (768-d in the Q-Former, 4096-d in the LLM; 4,864 "
                 "parameters) in the prompt 'Is this photo real [*]?'. Decision: 'yes' (real) vs 'no' (fake) by "
                 "likelihood, one forward pass.",
    score="logit = log p('no') - log p('yes') at the answer position; sigmoid(logit) = P(fake)",
    weights=(
        WeightsSpec(
            tag="coco_sd3_sd2ip", filename="COCO_150k_SD3_SD2IP.pth",
            sources=(Source("gdrive", "1EUnVG4OZZPXeOyWaa5P590yCKGH-nunQ", filename="COCO_150k_SD3_SD2IP.pth"),),
            format="LAVIS runner checkpoint {'model': {pseudo-word embeddings + buffers}, 'optimizer', 'config', ...}",
            trained_on="COCO + SD2-inpainting + SD3 (150k images)", licence="none stated", preset="afp",
            notes=_AFP_NOTES_2024),
        WeightsSpec(
            tag="coco_sd3_sd2ip_lama", filename="COCO_150k_SD3_SD2IP_lama.pth",
            sources=(Source("gdrive", "1qnZfCknNHgC-Nhlwbab9Jg3x9sOof3gG", filename="COCO_150k_SD3_SD2IP_lama.pth"),),
            format="LAVIS runner checkpoint {'model': {pseudo-word embeddings + buffers}, ...}",
            trained_on="COCO + SD2-inpainting + SD3 + LaMa (180k images)", licence="none stated", preset="afp",
            notes=_AFP_NOTES_2024),
        WeightsSpec(
            tag="coco_sd2_sd2ip", filename="COCO_150k_SD2_SD2IP.pth",
            sources=(Source("gdrive", "1fu8oxPI0eXrqtlgYKg00SfgXC-jZVCaT", filename="COCO_150k_SD2_SD2IP.pth"),),
            format="LAVIS runner checkpoint {'model': {pseudo-word embeddings + buffers}, ...}",
            trained_on="COCO + SD2 + SD2-inpainting (150k images; 2023 v1 release)", licence="none stated",
            preset="afp"),
        WeightsSpec(
            tag="coco_sd2_sd2ip_lama", filename="COCO_150k_SD2_SD2IP_lama.pth",
            sources=(Source("gdrive", "1bltqH3KPT03ypb49c4bs0VXKsaY6lKb7", filename="COCO_150k_SD2_SD2IP_lama.pth"),),
            format="LAVIS runner checkpoint {'model': {pseudo-word embeddings + buffers}, ...}",
            trained_on="COCO + SD2 + SD2-inpainting + LaMa (180k images; 2023 v1 release)", licence="none stated",
            preset="afp_lama",
            notes="The +LaMa normalisation was the active config when this checkpoint was evaluated (commit e549082); "
                  "the README-era test.py (957c1e1) would use the 'afp' values instead."),
    ),
    presets=_AFP_PRESETS,
    default_preset="afp",
    memory=AFP_MEMORY,
    notes=AFP_NOTES,
)

INSTRUCTBLIP_CARD = DetectorCard(
    name="instructblip",
    title="InstructBLIP zero-shot (Vicuna-7B v1.3), the AntifakePrompt paper's baseline",
    paper="Dai et al., InstructBLIP, NeurIPS 2023; as a zero-shot detector in Chang et al., arXiv 2310.17419",
    paper_url="https://arxiv.org/abs/2305.06500",
    repo="https://github.com/nctu-eva-lab/AntifakePrompt @ 957c1e1 (zero-shot prompt 'Is this photo real?')",
    licence="BSD-3-Clause (LAVIS); Vicuna v1.3 weights: non-commercial",
    architecture="The AntifakePrompt pipeline without the learned pseudo-word: prompt 'Is this photo real?'.",
    score="logit = log p('no') - log p('yes') at the answer position; sigmoid(logit) = P(fake)",
    weights=(),
    presets=_AFP_PRESETS,
    default_preset="afp",
    memory=AFP_MEMORY,
    notes=AFP_NOTES,
)
