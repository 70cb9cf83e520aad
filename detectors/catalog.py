"""Cards of the built-in detectors: CNNSpot, NPR, UnivFD, AntifakePrompt and zero-shot InstructBLIP (plain data; no
torch import).

Facts (architectures, checkpoint formats, URLs, test protocols, licences) follow the official repositories at the
commits named in each card; see also ``README.md`` ("Detectors").

The vision-language cards (AntifakePrompt, zero-shot InstructBLIP) follow ``nctu-eva-lab/AntifakePrompt`` (a LAVIS
fork; commit 957c1e1 for the 2023 checkpoints, e261aa6 for the 2024 SD3-based ones) and the Hugging Face
``Salesforce/instructblip-vicuna-7b`` release.
"""

from __future__ import annotations

from fakebench.hub.sources import Source

from fakebench.detectors.card import CLIP_MEAN, CLIP_STD, DetectorCard, Preset, WeightsSpec

#: Hugging Face repository of SIDBench (Schinas and Papadopoulos, SIDBench, ACM ICMR 2024 workshop; code
#: mever-team/sidbench), which re-hosts several official checkpoints. What it holds was read from the SIDBench README
#: at mever-team/sidbench @ b33f51c ("hf download dkarageo/sidbench --local-dir weights" and its weights table:
#: cnndetect/blur_jpg_prob0.1.pth, cnndetect/blur_jpg_prob0.5.pth, npr/NPR.pth, univfd/fc_weights.pth, ...); the
#: hub repository itself could not be listed from here, so byte identity with the official files is not verified:
#: a pinned sha256 (UnivFD) is enforced on the mirror as on the official URL.
SIDBENCH_HF = "dkarageo/sidbench"
_SIDBENCH_NOTE = ("Mirror: SIDBench's Hugging Face repository (listed in the SIDBench README, mever-team/sidbench "
                  "@ b33f51c); byte identity with the official file not verified here.")


def _sidbench(path: str) -> Source:
    """A SIDBench mirror source for the file at ``path`` in :data:`SIDBENCH_HF`."""
    return Source("hf", SIDBENCH_HF, filename=path, notes=_SIDBENCH_NOTE)

__all__ = ["CNNSPOT_CARD", "NPR_CARD", "UNIVFD_CARD", "ANTIFAKEPROMPT_CARD", "INSTRUCTBLIP_CARD", "AFP_SD2_MEAN", "AFP_SD2_STD", "AFP_LAMA_MEAN", "AFP_LAMA_STD",
           "AFP_MEMORY", "AFP_NOTES", "AFP_PROMPT_TOKENS", "SIDBENCH_HF"]

_NPR_REPO = "chuangchuangtan/NPR-DeepfakeDetection"
_NPR_COMMIT = "73cde1ced21291bfb504a2add2b53fbe99c4f433"

NPR_CARD = DetectorCard(
    name="npr",
    title="NPR: Neighboring Pixel Relationships",
    paper="Tan et al., Rethinking the Up-Sampling Operations in CNN-based Generative Network for Generalizable "
          "Deepfake Detection, CVPR 2024",
    paper_url="https://arxiv.org/abs/2312.10461",
    repo=f"https://github.com/{_NPR_REPO} @ {_NPR_COMMIT[:7]}",
    licence="none stated (no LICENSE file upstream); fakebench re-implements the model from its description",
    architecture="Truncated ResNet-50 (networks/resnet.py resnet50(num_classes=1)): 3x3/stride-2 conv1, bn1, maxpool, "
                 "layer1 (3 Bottlenecks), layer2 (4 Bottlenecks, stride 2), global average pool, fc1 512->1. The input "
                 "is the NPR residual x - up(down(x)) (nearest x0.5 then x2) on the ImageNet-normalised image, scaled "
                 "by 2/3. Odd heights/widths are trimmed by one row/column first (the upstream README's advice).",
    score="logit; sigmoid(logit) = P(fake)",
    weights=(
        WeightsSpec(
            tag="progan_4class",
            filename="model_epoch_last_3090.pth",
            sources=(Source("url", f"https://github.com/{_NPR_REPO}/raw/{_NPR_COMMIT}/model_epoch_last_3090.pth",
                            filename="model_epoch_last_3090.pth"),),
            format="plain state dict (OrderedDict, 146 keys, no prefix)",
            trained_on="ForenSynths ProGAN, 4 classes (car, cat, chair, horse)",
            licence="none stated",
            preset="native",
            notes="Used for the upstream README's AIGCDetectBenchmark table (native size, no crop, batch 1). A third "
                  "party reports 5,842,385 bytes (unverified, so not enforced); the first download's sha256 is "
                  "recorded and later cache hits are checked against it.",
        ),
        WeightsSpec(
            tag="paper",
            filename="NPR.pth",
            sources=(Source("url", f"https://github.com/{_NPR_REPO}/raw/{_NPR_COMMIT}/NPR.pth", filename="NPR.pth"),
                     _sidbench("npr/NPR.pth")),
            format="{'model': state_dict} with DataParallel 'module.' prefixes (may hold optimizer state too)",
            trained_on="ForenSynths ProGAN, 4 classes",
            licence="none stated",
            preset="resize256",
            notes="The checkpoint of the paper tables (maintainer, issue #14). A third party reports sha256 "
                  "3939297e9399e0b992f87211610769d87d899de50d56da0204d6cbda2d483a53 (unverified, so not enforced).",
        ),
    ),
    presets=(
        Preset("native", source="NPR README, AIGCDetectBenchmark and GANGen-Detection settings (no_resize, no_crop)",
               description="native size, no resize, no crop, ImageNet normalisation"),
        Preset("resize256", resize=256, resize_mode="square", interpolation="bilinear",
               source="NPR test.py DetectionTests for ForenSynths / DiffusionForensics / UniversalFakeDetect",
               description="square 256x256 bilinear resize (aspect ratio ignored), no crop"),
        Preset("resize256_crop224", resize=256, resize_mode="square", interpolation="bilinear", crop=224,
               source="NPR data/datasets.py defaults (loadSize 256, cropSize 224)",
               description="square 256x256 resize then center crop 224"),
        Preset("genimage", crop=224, tile=224,
               source="NPR README, GenImage: the resize replaced by translate_duplicate(img, cropSize=224), "
                      "no_crop=False at test time (CenterCrop 224)",
               description="images with a side under 224 tiled ('translate and duplicate'), then center crop 224, "
                           "ImageNet normalisation (the GenImage recipe)"),
    ),
    default_preset="native",
    memory="1.44M parameters; about 100 MB of activations per 256x256 image in a batch on CPU; no GPU needed.",
    notes="Both official checkpoint formats load strictly. The official test.py disables cuDNN and seeds; results are "
          "deterministic here on CPU. The protocol follows the test set (test.py): GANGen-Detection at native size, "
          "ForenSynths, DiffusionForensics and UniversalFakeDetect resized to 256x256; the manifest records it per "
          "suite. Users report reproduction gaps upstream although the maintainer asks them to match the environment "
          "(issue #17): issue #4, and issue #35 with an 8.4-point gap. The SIDBench mirror holds NPR.pth only.",
)

_CNN_REPO = "PeterWang512/CNNDetection"

CNNSPOT_CARD = DetectorCard(
    name="cnnspot",
    title="CNNSpot (CNNDetection)",
    paper="Wang et al., CNN-generated images are surprisingly easy to spot... for now, CVPR 2020",
    paper_url="https://arxiv.org/abs/1912.11035",
    repo=f"https://github.com/{_CNN_REPO} @ ea0b562",
    licence="CC BY-NC-SA 4.0 (code and weights; non-commercial, share-alike)",
    architecture="Standard ResNet-50 (torchvision layout, v1.5) with fc 2048->1, ImageNet-initialised, trained on "
                 "20 LSUN classes of ProGAN with blur+JPEG augmentation.",
    score="logit; sigmoid(logit) = P(fake)",
    weights=(
        WeightsSpec(
            tag="blur_jpg_prob0.5",
            filename="blur_jpg_prob0.5.pth",
            sources=(Source("url", "https://www.dropbox.com/s/2g2jagq2jn1fd0i/blur_jpg_prob0.5.pth?dl=1",
                            filename="blur_jpg_prob0.5.pth"), _sidbench("cnndetect/blur_jpg_prob0.5.pth")),
            format="{'model': state_dict, 'optimizer': ..., 'total_steps': ...}, no prefix",
            trained_on="ForenSynths ProGAN, 20 classes, blur and JPEG augmentation with probability 0.5",
            licence="CC BY-NC-SA 4.0",
            preset="crop224",
        ),
        WeightsSpec(
            tag="blur_jpg_prob0.1",
            filename="blur_jpg_prob0.1.pth",
            sources=(Source("url", "https://www.dropbox.com/s/h7tkpcgiwuftb6g/blur_jpg_prob0.1.pth?dl=1",
                            filename="blur_jpg_prob0.1.pth"), _sidbench("cnndetect/blur_jpg_prob0.1.pth")),
            format="{'model': state_dict, 'optimizer': ..., 'total_steps': ...}, no prefix",
            trained_on="ForenSynths ProGAN, 20 classes, blur and JPEG augmentation with probability 0.1",
            licence="CC BY-NC-SA 4.0",
            preset="crop224",
        ),
    ),
    presets=(
        Preset("crop224", crop=224, source="CNNDetection paper protocol; eval.py (no_resize=True, center crop 224)",
               description="native resolution, center crop 224, ImageNet normalisation"),
        Preset("native", source="CNNDetection README 'No crop' columns (eval.py --no_crop --batch_size 1)",
               description="native resolution, no crop"),
        Preset("resize256_crop224", resize=256, resize_mode="shorter", interpolation="bilinear", crop=224,
               source="CNNDetection data/datasets.py with loadSize 256, cropSize 224 (the training/validation "
                      "pipeline when no_resize is off)",
               description="shorter side bilinear 256, center crop 224 (matches the training pipeline)"),
    ),
    default_preset="crop224",
    memory="23.5M parameters; ~4 GFLOPs per 224x224 image.",
)

_UFD_REPO = "WisconsinAIVision/UniversalFakeDetect"  # moved from Yuheng-Li/UniversalFakeDetect (same history)
_UFD_COMMIT = "1abc48606aea45e18d10847e51d21d6173cc957d"

UNIVFD_CARD = DetectorCard(
    name="univfd",
    title="UnivFD (UniversalFakeDetect)",
    paper="Ojha, Li and Lee, Towards Universal Fake Image Detectors that Generalize Across Generative Models, "
          "CVPR 2023",
    paper_url="https://arxiv.org/abs/2302.10174",
    repo=f"https://github.com/{_UFD_REPO} @ {_UFD_COMMIT[:7]}",
    licence="MIT since 2025 (LICENSE added upstream; the port follows 1abc486, which had none); vendors OpenAI CLIP "
            "(MIT); CLIP weights: OpenAI, MIT",
    architecture="Frozen OpenAI CLIP ViT-L/14 image encoder (224 px, patch 14, width 1024, 24 layers), final projected "
                 "768-d image embedding without L2 normalisation, then the official linear head fc 768->1. Runs in "
                 "fp32 as the official CPU load does. The backbone comes through open_clip ('ViT-L-14', 'openai').",
    score="logit; sigmoid(logit) = P(fake)",
    weights=(
        WeightsSpec(
            tag="progan",
            filename="fc_weights.pth",
            sources=(Source("url", f"https://github.com/{_UFD_REPO}/raw/{_UFD_COMMIT}/pretrained_weights/fc_weights.pth",
                            filename="fc_weights.pth",
                            sha256="477100745713bcc957beb2b40859536859b6483fd6301b3b9293151b194c7847", size=4083),
                     _sidbench("univfd/fc_weights.pth")),
            sha256="477100745713bcc957beb2b40859536859b6483fd6301b3b9293151b194c7847",
            format="OrderedDict{weight: [1, 768], bias: [1]} saved on cuda:0 (loaded with map_location='cpu')",
            trained_on="ForenSynths ProGAN (linear probe on frozen CLIP features)",
            licence="none stated",
            preset="crop224",
            notes="Only the head is released; the CLIP ViT-L/14 backbone (about 890 MB) is fetched by open_clip.",
        ),
    ),
    presets=(
        Preset("crop224", crop=224, mean=CLIP_MEAN, std=CLIP_STD,
               source="UnivFD validate.py RealFakeDataset (CenterCrop(224) only since commit 3bf7228)",
               description="center crop 224 at native resolution (smaller images zero-padded), CLIP normalisation"),
        Preset("clip", resize=224, resize_mode="shorter", interpolation="bicubic", crop=224, mean=CLIP_MEAN,
               std=CLIP_STD, source="OpenAI CLIP preprocess (not the UnivFD test protocol)",
               description="shorter side bicubic 224, center crop 224, CLIP normalisation"),
        Preset("resize256_crop224", resize=256, resize_mode="shorter", interpolation="bilinear", crop=224,
               mean=CLIP_MEAN, std=CLIP_STD,
               source="UnivFD first release, validate.py RealFakeDataset @ d4914f7 (Resize(256), CenterCrop(224); "
                      "Resize removed in 3bf7228); also the training-time validation of data/datasets.py "
                      "(custom_resize to loadSize 256, bilinear, then CenterCrop 224)",
               description="shorter side bilinear 256, center crop 224, CLIP normalisation (first-release "
                           "validate.py)"),
    ),
    default_preset="crop224",
    memory="304M parameters (ViT-L/14 visual); ~1.2 GB fp32 weights; ~81 GFLOPs per image.",
    notes="Official per-dataset scores subsample 1000 (or 100) images per class with seed 0; fakebench scores every "
          "image unless --limit is given.",
)


# -- vision-language detectors -------------------------------------------------------------------------------------
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
    "about 17 GB in fp16/bf16 (LAVIS mixed precision: ViT and LLM matmul weights in half precision, Q-Former, "
    "projection and the 0.13 B-parameter LLM input embeddings in fp32; the non-LLM base weights are read in fp32 "
    "first, about 5.8 GB, then converted; batch-8 "
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
    "another Vicuna). Prompt ids pinned to the slow LAVIS tokenizer, selectable with prompt_tokens: 'legacy' "
    "(transformers <= 4.33) '</s> ▁Is ▁this ▁photo ▁real [*] ▁?' or 'spaced' (>= 4.34) '</s> ▁Is ▁this ▁photo "
    "▁real ▁ [*] ▁?'; each checkpoint's default and its reason are in its weights notes, and the variant is recorded "
    "in the provenance. Log-probabilities are taken over Vicuna's 32,001 LAVIS rows (32,000 + [PAD]); the padding "
    "rows of the HF 32,064-row head are masked. On CUDA the LAVIS mixed precision is reproduced (ViT embeddings, "
    "LayerNorms and the LLM input embeddings in fp32, matmuls under fp16 autocast, Q-Former and projection in fp32 "
    "outside autocast). "
    "Official output is a hard yes/no by candidate loss; the continuous score (softmax over the two answers' "
    "log-likelihoods) is this port's addition, its 0.5 threshold reproduces the official decision. Base models: "
    "Vicuna v1.3 is non-commercial; InstructBLIP 'other'."
)

#: Default prompt-token variant per AntifakePrompt checkpoint (``legacy``: transformers <= 4.33, ``</s> ▁Is ▁this
#: ▁photo ▁real [*] ▁?``; ``spaced``: transformers >= 4.34, an extra ``▁`` before ``[*]``), with the reason.
AFP_PROMPT_TOKENS = {
    "coco_sd2_sd2ip": ("legacy", "trained before transformers 4.34 existed: the authors' log of this run "
                                 "(COCO_90k_SD2_SD2IP.pth, renamed 150k on release) is dated 2023-09-24, and 4.34 "
                                 "was released on 2023-10-03"),
    "coco_sd2_sd2ip_lama": ("legacy", "the +LaMa run of the same series; its log was committed on 2023-09-29, before "
                                      "transformers 4.34 (2023-10-03)"),
    "coco_sd3_sd2ip": ("legacy", "not verifiable: trained in 2024 with the unchanged 2023 training code and an "
                                 "unpinned requirement (transformers>=4.28, untouched since 2023-10-23); fakebench "
                                 "assumes the 2023 environment was kept. If scores look off, compare with "
                                 "prompt_tokens='spaced'"),
    "coco_sd3_sd2ip_lama": ("legacy", "as coco_sd3_sd2ip: not verifiable, the 2023 environment is assumed; compare "
                                      "with prompt_tokens='spaced'"),
}

_AFP_NOTES_2024 = ("2024 SD3-based checkpoint (README at e261aa6). Upstream shipped no new normalisation constants "
                   "for it, so the official code uses the SD2-era ones (preset 'afp').")

ANTIFAKEPROMPT_CARD = DetectorCard(
    extra="afp", requires=("transformers", "sentencepiece", "accelerate"),
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
            notes=_AFP_NOTES_2024 + " Prompt tokens: 'legacy' by default (" + AFP_PROMPT_TOKENS["coco_sd3_sd2ip"][1]
            + ")."),
        WeightsSpec(
            tag="coco_sd3_sd2ip_lama", filename="COCO_150k_SD3_SD2IP_lama.pth",
            sources=(Source("gdrive", "1qnZfCknNHgC-Nhlwbab9Jg3x9sOof3gG", filename="COCO_150k_SD3_SD2IP_lama.pth"),),
            format="LAVIS runner checkpoint {'model': {pseudo-word embeddings + buffers}, ...}",
            trained_on="COCO + SD2-inpainting + SD3 + LaMa (180k images)", licence="none stated", preset="afp",
            notes=_AFP_NOTES_2024 + " Prompt tokens: 'legacy' by default ("
            + AFP_PROMPT_TOKENS["coco_sd3_sd2ip_lama"][1] + ")."),
        WeightsSpec(
            tag="coco_sd2_sd2ip", filename="COCO_150k_SD2_SD2IP.pth",
            sources=(Source("gdrive", "1fu8oxPI0eXrqtlgYKg00SfgXC-jZVCaT", filename="COCO_150k_SD2_SD2IP.pth"),),
            format="LAVIS runner checkpoint {'model': {pseudo-word embeddings + buffers}, ...}",
            trained_on="COCO + SD2 + SD2-inpainting (150k images; 2023 v1 release)", licence="none stated",
            preset="afp",
            notes="Prompt tokens: 'legacy' by default (" + AFP_PROMPT_TOKENS["coco_sd2_sd2ip"][1] + ")."),
        WeightsSpec(
            tag="coco_sd2_sd2ip_lama", filename="COCO_150k_SD2_SD2IP_lama.pth",
            sources=(Source("gdrive", "1bltqH3KPT03ypb49c4bs0VXKsaY6lKb7", filename="COCO_150k_SD2_SD2IP_lama.pth"),),
            format="LAVIS runner checkpoint {'model': {pseudo-word embeddings + buffers}, ...}",
            trained_on="COCO + SD2 + SD2-inpainting + LaMa (180k images; 2023 v1 release)", licence="none stated",
            preset="afp_lama",
            notes="The +LaMa normalisation was the active config when this checkpoint was evaluated (commit e549082); "
                  "the README-era test.py (957c1e1) would use the 'afp' values instead. Prompt tokens: 'legacy' by "
                  "default (" + AFP_PROMPT_TOKENS["coco_sd2_sd2ip_lama"][1] + ")."),
    ),
    presets=_AFP_PRESETS,
    default_preset="afp",
    memory=AFP_MEMORY,
    notes=AFP_NOTES,
)

INSTRUCTBLIP_CARD = DetectorCard(
    extra="afp", requires=("transformers", "sentencepiece", "accelerate"),
    name="instructblip",
    title="InstructBLIP zero-shot (Vicuna-7B v1.3), the AntifakePrompt paper's baseline",
    paper="Dai et al., InstructBLIP, NeurIPS 2023; as a zero-shot detector in Chang et al., arXiv 2310.17419",
    paper_url="https://arxiv.org/abs/2305.06500",
    repo="https://github.com/nctu-eva-lab/AntifakePrompt @ 957c1e1 (the zero-shot prompt 'Is this photo real?' is "
         "not in the repo's test.py, which hard-codes 'Is this photo real [*]?'; it is recorded only in the authors' "
         "logs, deepfake-detection/log/*, removed in a659ccb)",
    licence="BSD-3-Clause (LAVIS); Vicuna v1.3 weights: non-commercial",
    architecture="The AntifakePrompt pipeline without the learned pseudo-word: prompt 'Is this photo real?'. "
                 "Decision rules: 'likelihood' (default; yes/no likelihoods, a continuous score) or 'generate' "
                 "(the paper-era rule: beam-search generation, real iff the answer is exactly 'yes').",
    score="logit = log p('no') - log p('yes') at the answer position; sigmoid(logit) = P(fake)",
    weights=(),
    presets=_AFP_PRESETS,
    default_preset="afp",
    memory=AFP_MEMORY,
    notes=AFP_NOTES + " Published numbers and their decision rule: the 'InstructBLIP (P)' column of the AntifakePrompt "
          "tables (v1 and v3 share it) equals the authors' zero-shot logs of 2023-08-01 (deepfake-detection/log/"
          "original.txt), written by the CSV-era test script, whose committed version (deepfake-detection/test.py "
          "@ 04df44d) decides by predict_answers(inference_method='generate') (beam 5, max_length 10 and "
          "min_length 1, which under the paper's transformers 4.33 meant at most 9 new tokens with end-of-sequence "
          "allowed first, repetition penalty 1.5, length penalty 0) and then an exact match with 'yes': use "
          "decision='generate' to reproduce that column (hard 0/1 outputs, no AP/AUC). The default 'likelihood' "
          "rule is the README-era test.py (predict_class, e549082 onward) applied to the zero-shot prompt.",
)
