"""Cards of the CLIP / foundation-model detectors, part A: RINE, CLIP-D, C2P-CLIP, Community Forensics (plain data; no
torch import).

Facts (architectures, checkpoint formats, hosts, test protocols, licences) were read in the official repositories at
the commits named in each card (issue #17); see ``docs/detectors-clip.md``.
"""

from __future__ import annotations

from fakebench.hub.sources import Source

from fakebench.detectors.card import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD, DetectorCard, Preset, WeightsSpec
from fakebench.detectors.catalog import SIDBENCH_HF

__all__ = ["RINE_CARD", "RINE_CONFIGS", "CLIPDET_CARD", "CLIPDET_BACKBONE", "C2P_CLIP_CARD", "COMMFOR_CARD"]

# -- RINE -------------------------------------------------------------------------------------------------------------
_RINE_REPO = "mever-team/rine"
_RINE_COMMIT = "9b7fd5857cc205d0412be6aeee0d7611b95bd620"
_RINE_SIDBENCH_NOTE = ("Mirror: SIDBench's Hugging Face repository (weights table of the SIDBench README, "
                       "mever-team/sidbench @ b33f51c: weights/rine/<file>); byte identity with the GitHub file not "
                       "verified here.")

#: (nproj, proj_dim) of each official checkpoint, from ``src/utils.py get_our_trained_model`` @ 9b7fd58. The loader
#: reads them from the file's tensor shapes; this table documents them and is checked against the card in the tests.
RINE_CONFIGS = {"1class": (4, 1024), "2class": (4, 128), "4class": (2, 1024), "ldm": (4, 1024)}


def _rine_weights(tag: str, trained_on: str, preset: str, *, sha256: str | None = None, size: int | None = None,
                  blob: str, notes: str = "") -> WeightsSpec:
    filename = f"model_{tag}_trainable.pth"
    nproj, proj_dim = RINE_CONFIGS[tag]
    return WeightsSpec(
        tag=tag,
        filename=filename,
        sources=(Source("url", f"https://github.com/{_RINE_REPO}/raw/{_RINE_COMMIT}/ckpt/{filename}",
                        filename=filename, sha256=sha256, size=size),
                 Source("hf", SIDBENCH_HF, filename=f"rine/{filename}", notes=_RINE_SIDBENCH_NOTE)),
        sha256=sha256,
        format=f"plain dict of the trainable tensors (scripts/best.py: every state-dict entry without 'clip'): alpha "
               f"[1, 24, {proj_dim}], proj1.{{1,4,..}}, proj2.{{1,4,..}} ({nproj} Linear layers each), head.{{0,3,6}}; "
               f"no prefix; nproj={nproj}, proj_dim={proj_dim}",
        trained_on=trained_on,
        licence="Apache-2.0 (in the code repository)",
        preset=preset,
        notes=(f"git blob {blob} at {_RINE_REPO} @ {_RINE_COMMIT[:7]}. " + notes).strip(),
    )


RINE_CARD = DetectorCard(
    name="rine",
    title="RINE: Representations from Intermediate Encoder-blocks",
    paper="Koutlis and Papadopoulos, Leveraging Representations from Intermediate Encoder-blocks for Synthetic Image "
          "Detection, ECCV 2024",
    paper_url="https://arxiv.org/abs/2402.19091",
    repo=f"https://github.com/{_RINE_REPO} @ {_RINE_COMMIT[:7]}",
    licence="Apache-2.0 (code and the checkpoints in its ckpt/ folder); CLIP weights: OpenAI, MIT",
    architecture="Frozen OpenAI CLIP ViT-L/14 (open_clip 'ViT-L-14' 'openai'). Forward hooks on the ln_2 LayerNorm of "
                 "all 24 residual blocks give 24 CLS tokens (1024-d each, the LayerNormed input of each block's MLP). "
                 "Trainable part (src/models.py Model): proj1 = Dropout + nproj x (Linear, ReLU, Dropout) to proj_dim "
                 "applied per block; Trainable Importance Estimator softmax(alpha, over blocks) [1, 24, proj_dim] "
                 "weighting and summing the 24 projected tokens; proj2 = Dropout + nproj x (Linear, ReLU, Dropout); "
                 "head = Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear(proj_dim, 1). Runs in fp32 (the "
                 "official code runs the backbone in fp16 on CUDA, fp32 on CPU).",
    score="logit; sigmoid(logit) = P(fake) (demo/demo.py, src/utils.py evaluation). Preset tencrop224: the mean of the "
          "ten crop logits, then sigmoid (evaluation(training='ldm')).",
    weights=(
        _rine_weights("4class", "ForenSynths ProGAN, 4 classes (car, cat, chair, horse)", "crop224",
                      blob="bf5cd4053b5eaf64a0bd52cdb6bd0dbd9a8bc457",
                      notes="The README demo's checkpoint; also evaluated on Synthbuster with preset tencrop224 "
                            "(scripts/validation.py)."),
        _rine_weights("1class", "ForenSynths ProGAN, 1 class (horse)", "crop224",
                      blob="802e8dce29925de10a8f4bfd96c4b627d0c0cdfe"),
        _rine_weights("2class", "ForenSynths ProGAN, 2 classes (chair, horse)", "crop224",
                      sha256="680d301b6d191da85b9dabcebf42cd3df20c5c669fa8320c498f835d02bf5ccb", size=1139686,
                      blob="b8418b5884fd1fc1dba79bea91f41ab2341673d8"),
        _rine_weights("ldm", "Latent-diffusion training set of Corvi et al. (grip-unina/DMimageDetection)",
                      "tencrop224", blob="6b225b2aeae4f52e99a7fb675d8bcb736aea4a2e",
                      notes="Evaluated on Synthbuster with ten 224 crops (scripts/validation.py)."),
    ),
    presets=(
        Preset("crop224", crop=224, mean=CLIP_MEAN, std=CLIP_STD,
               source="RINE src/utils.py get_transforms() transforms_test_1 (scripts/validation.py, ProGAN-trained "
                      "checkpoints on the ForenSynths/UnivFD test sets; demo/demo.py)",
               description="center crop 224 at native resolution (smaller images zero-padded), CLIP normalisation"),
        Preset("tencrop224", mean=CLIP_MEAN, std=CLIP_STD,
               source="RINE src/utils.py get_transforms() transforms_test_2 + evaluation(training='ldm') "
                      "(scripts/validation.py, Synthbuster)",
               description="TenCrop 224 at native resolution (4 corners + centre, and their horizontal flips), mean "
                           "of the ten logits; images under 224 px are refused, as the official TenCrop does"),
    ),
    default_preset="crop224",
    memory="304M parameters in the frozen ViT-L/14 (about 1.2 GB in fp32) plus the head: 2class 0.28M, 4class 5.3M, "
           "1class/ldm 10.5M parameters; ~81 GFLOPs per 224x224 crop (x10 with tencrop224).",
    notes="Only the trainable part is released; the CLIP ViT-L/14 backbone (about 890 MB) is fetched by open_clip "
          "(the same as UnivFD's). The official loader (src/utils.py get_our_trained_model) assigns each tensor with "
          "exec() without checking that all are present; fakebench loads strictly and reads nproj/proj_dim from the "
          "tensor shapes. The GitHub files other than 2class exceed what the project could inspect, so only the "
          "2class sha256 is pinned (the git blob ids are in each weights entry's notes).",
)


# -- CLIP-D ("Raising the bar") -----------------------------------------------------------------------------------------
_CLIPDET_REPO = "grip-unina/ClipBased-SyntheticImageDetection"
_CLIPDET_COMMIT = "c76ef7f5e158c5aba9e55b8b94ab0079720d281e"

#: The backbone named by the official configs (networks/openclipnet.py dict_pretrain['clipL14commonpool']): open_clip
#: model config, hub repository and file.
CLIPDET_BACKBONE = ("ViT-L-14", "laion/CLIP-ViT-L-14-CommonPool.XL-s13B-b90K", "open_clip_pytorch_model.bin")


def _clipdet_weights(tag: str, sha256: str, size: int, notes: str) -> WeightsSpec:
    folder = f"clipdet_{tag}"
    path = f"weights/{folder}/weights.pth"
    return WeightsSpec(
        tag=tag,
        filename=f"{folder}.pth",
        sources=(Source("url", f"https://media.githubusercontent.com/media/{_CLIPDET_REPO}/{_CLIPDET_COMMIT}/{path}",
                        filename=f"{folder}.pth", sha256=sha256, size=size,
                        notes="Git LFS object of the repository (the pointer file gives its sha256 and size)."),
                 Source("url", f"https://github.com/{_CLIPDET_REPO}/raw/{_CLIPDET_COMMIT}/{path}",
                        filename=f"{folder}.pth", sha256=sha256, size=size)),
        sha256=sha256,
        format="torch file read by networks/__init__.py load_weights: the linear head fc.weight [1, 1024], fc.bias "
               "[1] under 'model' (optionally 'module.'-prefixed) or 'state_dict'; the backbone is not stored",
        trained_on="10,000 real and 10,000 LDM-generated images (data/train_set/README.md: the 'latent10k' set)",
        licence="Apache-2.0",
        preset="clip224",
        notes=notes,
    )


CLIPDET_CARD = DetectorCard(
    name="clipdet",
    title="CLIP-D: CLIP-based synthetic image detection ('Raising the bar')",
    paper="Cozzolino, Poggi, Corvi, Niessner and Verdoliva, Raising the Bar of AI-generated Image Detection with CLIP, "
          "CVPR Workshops 2024",
    paper_url="https://arxiv.org/abs/2312.00195",
    repo=f"https://github.com/{_CLIPDET_REPO} @ {_CLIPDET_COMMIT[:7]}",
    licence="Apache-2.0 (code and weights, GRIP-UNINA); backbone: LAION CommonPool XL CLIP (MIT, open_clip)",
    architecture="Frozen open_clip ViT-L/14 trained on CommonPool XL (laion/CLIP-ViT-L-14-CommonPool.XL-s13B-b90K, "
                 "standard GELU), its next-to-last features: the CLS token after ln_post WITHOUT the 1024->768 "
                 "projection (visual.proj = None), L2-normalised (encode_image(normalize=True)); then a linear head "
                 "ChannelLinear(1024, 1) (networks/openclipnet.py OpenClipLinear, arch "
                 "opencliplinearnext_clipL14commonpool).",
    score="log-likelihood ratio (LLR; README: 'If LLR>0, the image is detected as synthetic'). fakebench maps it to "
          "a fake probability as prob = sigmoid(LLR) (the posterior P(fake) under equal priors), so logit = LLR and "
          "prob > 0.5 exactly when LLR > 0 (the official decision).",
    weights=(
        _clipdet_weights("latent10k_plus", "1c9c9f48a47d975bde67e9924983aa4e4ccda96a15e7e983b6305f0c56d9ee18", 5155,
                         "main.py's default model (with Corvi2023). The repository does not say how 'plus' differs "
                         "from latent10k."),
        _clipdet_weights("latent10k", "04b022c6990709acb132337d7e432fc57090cec9db3869577111b031d40c19f9", 5227,
                         "Trained on the latent10k set."),
    ),
    presets=(
        Preset("clip224", resize=224, resize_mode="shorter", interpolation="bicubic", crop=224, mean=CLIP_MEAN,
               std=CLIP_STD,
               source="ClipBased-SyntheticImageDetection main.py runnig_tests, patch_size 'Clip224' of the configs: "
                      "Resize(224, BICUBIC), CenterCrop((224, 224)), utils/processing.py make_normalize('clip')",
               description="shorter side bicubic 224, center crop 224, CLIP normalisation"),
    ),
    default_preset="clip224",
    memory="304M parameters in the frozen ViT-L/14 (about 1.2 GB in fp32; the hub file is 1.7 GB with the text "
           "tower); ~81 GFLOPs per image; head 1,025 parameters.",
    notes="Only the 5 KB head is released (Git LFS); the CommonPool XL backbone is fetched from the Hugging Face hub "
          "(laion/CLIP-ViT-L-14-CommonPool.XL-s13B-b90K, open_clip_pytorch_model.bin) and built by open_clip, as the "
          "official code does. The official fusion with Corvi2023 (main.py --fusion soft_or_prob) is not part of this "
          "detector; Corvi2023 is a separate port.",
)


# -- C2P-CLIP -----------------------------------------------------------------------------------------------------------
_C2P_REPO = "chuangchuangtan/C2P-CLIP-DeepfakeDetection"
_C2P_COMMIT = "27b52325df1d80cf2291ef83a5c59f5fe715052f"

C2P_CLIP_CARD = DetectorCard(
    name="c2p_clip",
    title="C2P-CLIP: Category Common Prompt CLIP",
    paper="Tan, Tao, Liu, Gu, Wu, Zhao and Wei, C2P-CLIP: Injecting Category Common Prompt in CLIP to Enhance "
          "Generalization in Deepfake Detection, AAAI 2025",
    paper_url="https://arxiv.org/abs/2408.09647",
    repo=f"https://github.com/{_C2P_REPO} @ {_C2P_COMMIT[:7]}",
    licence="none stated (no LICENSE file upstream; training code unreleased); fakebench re-implements the model "
            "from its description. The release bundles a fine-tuned copy of OpenAI CLIP ViT-L/14 (MIT).",
    architecture="transformers CLIP ViT-L/14 image tower (openai/clip-vit-large-patch14 layout: 24 layers, width "
                 "1024, 16 heads, patch 14, 224 px, QuickGELU) with its visual_projection to 768-d, text tower "
                 "deleted; the image embedding is L2-normalised and fed to fc = Linear(768, 1) (inference.py "
                 "C2P_CLIP). The release holds the WHOLE image tower (the category-common-prompt training is baked "
                 "into it), so nothing is fetched from the hub. Eager attention, fp32, as the official environment "
                 "(transformers 4.42.3).",
    score="logit; sigmoid(logit) = P(fake) (inference.py: model(img).sigmoid(), decision > 0.5)",
    weights=(
        WeightsSpec(
            tag="release_20240901",
            filename="C2P_CLIP_release_20240901.zip",
            sources=(Source("url", "https://www.now61.com/f/95OefW/C2P_CLIP_release_20240901.zip",
                            filename="C2P_CLIP_release_20240901.zip",
                            notes="The URL inference.py passes to torch.hub.load_state_dict_from_url (a personal "
                                  "file host; no mirror is known)."),),
            format="zip holding one torch file (torch.hub legacy-zip layout): the full C2P_CLIP state dict, 'model."
                   "vision_model.*', 'model.visual_projection.weight', 'model.fc.weight' [1, 768], 'model.fc.bias'; "
                   "loaded with strict=True upstream",
            trained_on="not stated in the repository (training code unreleased); see the paper",
            licence="none stated",
            preset="resize224_crop224",
            notes="sha256 unknown (the host could not be reached from here); the first download's digest is "
                  "recorded and later cache hits are checked against it.",
        ),
    ),
    presets=(
        Preset("resize224_crop224", resize=224, resize_mode="shorter", interpolation="bilinear", crop=224,
               mean=CLIP_MEAN, std=CLIP_STD,
               source="C2P-CLIP data.py dataset_folder (transforms.Resize(loadSize=224), CenterCrop(cropSize=224), "
                      "ToTensor, CLIP Normalize) as inference.py builds it",
               description="shorter side bilinear 224, center crop 224, CLIP normalisation"),
    ),
    default_preset="resize224_crop224",
    memory="304M parameters (ViT-L/14 image tower + 768-d projection); about 1.2 GB in fp32; ~81 GFLOPs per image.",
    notes="Users report reproduction gaps upstream (issues #7, #11; a comment reports 8.3% accuracy on the "
          "UniversalFakeDetect DALL-E set with the released checkpoint).",
)


# -- Community Forensics ------------------------------------------------------------------------------------------------
_COMMFOR_REPO = "JeongsooP/Community-Forensics"
_COMMFOR_COMMIT = "5ec815fb59bb46d4bcf4155bab1baea23337c4f9"


def _commfor_weights(size: int, preset: str, notes: str) -> WeightsSpec:
    repo = f"OwensLab/commfor-model-{size}"
    return WeightsSpec(
        tag=f"vit_s_{size}",
        filename=f"commfor-model-{size}.safetensors",
        sources=(Source("hf", repo, filename="model.safetensors",
                        notes=f"Hugging Face repository {repo} (PyTorchModelHubMixin: model.safetensors + "
                              f"config.json); the README's Dropbox tar (model_weights.tar) holds the same models as "
                              f"PyTorch checkpoints."),),
        format=f"safetensors of the whole ViTClassifier (PyTorchModelHubMixin save_pretrained): 'vit.*' keys of timm "
               f"vit_small_patch16_{size} with 'vit.head' = Linear(384, 1); config.json {{model_size: small, "
               f"input_size: {size}, patch_size: 16}}",
        trained_on="Community Forensics training set (2.7M images from 4,803 generators, CVPR 2025)",
        licence="MIT (the code repository; the model cards state no other licence as far as known here)",
        preset=preset,
        notes=notes,
    )


COMMFOR_CARD = DetectorCard(
    name="commfor",
    title="Community Forensics (ViT-S trained on thousands of generators)",
    paper="Park and Owens, Community Forensics: Using Thousands of Generators to Train Fake Image Detectors, "
          "CVPR 2025",
    paper_url="https://arxiv.org/abs/2411.04125",
    repo=f"https://github.com/{_COMMFOR_REPO} @ {_COMMFOR_COMMIT[:7]}",
    licence="MIT",
    architecture="timm ViT-S/16 (vit_small_patch16_384.augreg_in21k_ft_in1k, or the _224 model): 12 blocks, width "
                 "384, 6 heads, CLS-token pooling, the classifier replaced by Linear(384, 1) (models.py "
                 "ViTClassifier); the whole network is fine-tuned, so the release holds every weight and nothing "
                 "else is downloaded.",
    score="logit; sigmoid(logit) = P(fake) (eval.py add_sigmoid; the notebook's torch.sigmoid(model(x)))",
    weights=(
        _commfor_weights(384, "resize440_crop384", "The README's evaluation examples use this model."),
        _commfor_weights(224, "resize256_crop224", "The 224-input version."),
    ),
    presets=(
        Preset("resize440_crop384", resize=440, resize_mode="shorter", interpolation="bilinear", crop=384,
               mean=IMAGENET_MEAN, std=IMAGENET_STD,
               source="Community-Forensics dataloader.py get_transform(mode='test') with "
                      "determine_resize_crop_sizes(input_size=384): Resize(440), CenterCrop(384), "
                      "ToTensor_range(0, 1), ImageNet Normalize",
               description="shorter side bilinear 440, center crop 384, ImageNet normalisation (384 model)"),
        Preset("resize256_crop224", resize=256, resize_mode="shorter", interpolation="bilinear", crop=224,
               mean=IMAGENET_MEAN, std=IMAGENET_STD,
               source="Community-Forensics dataloader.py get_transform(mode='test') with input_size=224: "
                      "Resize(256), CenterCrop(224)",
               description="shorter side bilinear 256, center crop 224, ImageNet normalisation (224 model)"),
    ),
    default_preset="resize440_crop384",
    memory="22M parameters (ViT-S/16), 88 MB in fp32; ~12.6 GFLOPs per 384x384 image (577 tokens), ~4.6 at 224.",
    notes="The official Hugging Face loader (PyTorchModelHubMixin.from_pretrained) builds the timm backbone with "
          "pretrained=True first and then loads the safetensors non-strictly; fakebench builds the bare timm ViT "
          "(no download) and loads every tensor strictly. The network shape is read from the tensors, so each "
          "checkpoint gets its own input size; a 224 model with the 384 preset is refused.",
)
