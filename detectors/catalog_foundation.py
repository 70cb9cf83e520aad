"""Cards of the foundation-model detectors ported for issue #17 part B: DRCT (and, as they land, B-Free, Effort,
FatFormer). Plain data, no torch import.

Facts (architectures, checkpoint formats, hosts, test protocols, licences) were read in the official repositories at
the commits named in each card; see ``docs/detectors-foundation.md``.
"""

from __future__ import annotations

from fakebench.hub.sources import Source

from fakebench.detectors.card import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD, DetectorCard, Preset, WeightsSpec

__all__ = ["DRCT_CARD", "DRCT_ZIP_MEMBERS", "DRCT_ARCHS", "BFREE_CARD", "BFREE_NORM_PRESETS", "BFREE_ZIP_MD5",
           "EFFORT_CARD"]

_DRCT_REPO = "beibuwandeluori/DRCT"
_DRCT_COMMIT = "01aa7d0"

#: ModelScope's file API for the dataset repository ``BokingChen/DRCT-2M`` (the README's "pretrained.zip" link points
#: at https://modelscope.cn/datasets/BokingChen/DRCT-2M/files). ModelScope cannot be reached from where this port was
#: written: the URL pattern and the archive layout are unverified, and no hash is known.
_DRCT_ZIP_URL = ("https://modelscope.cn/api/v1/datasets/BokingChen/DRCT-2M/repo?Revision=master"
                 "&FilePath=pretrained.zip")
_DRCT_ZIP = Source("url", _DRCT_ZIP_URL, filename="pretrained.zip", archive="zip",
                   notes="ModelScope dataset BokingChen/DRCT-2M, file pretrained.zip (all DRCT checkpoints in one "
                         "archive); URL pattern and layout unverified from here, no hash published.")

#: For each DRCT weights tag: (backbone, path suffix of its checkpoint inside ``pretrained.zip``). The suffixes are the
#: paths of the README's test commands (``../output/pretrained/<suffix>``); the member is found by suffix, so a
#: different top folder in the archive does not matter.
DRCT_ZIP_MEMBERS: dict[str, tuple[str, str]] = {
    "convb_sdv14": ("convnext", "DRCT-2M/sdv14/convnext_base_in22k_224_drct_amp_crop/14_acc0.9996.pth"),
    "convb_sdv2": ("convnext", "DRCT-2M/sdv2/convnext_base_in22k_224_drct_amp_crop/16_acc0.9993.pth"),
    "clip_sdv14": ("clip", "DRCT-2M/sdv14/clip-ViT-L-14_224_drct_amp_crop/13_acc0.9664.pth"),
    "clip_sdv2": ("clip", "DRCT-2M/sdv2/clip-ViT-L-14_224_drct_amp_crop/last_acc0.9112.pth"),
    "genimage_convb_sdv14": ("convnext", "GenImage/sdv14/convnext_base_in22k_224_drct_amp_crop/last_acc0.9991.pth"),
    "genimage_clip_sdv14": ("clip", "GenImage/sdv14/clip-ViT-L-14_224_drct_amp_crop/2_acc0.9558.pth"),
}

#: Backbone descriptions (the ``model_name`` of the official ``get_models``).
DRCT_ARCHS = {
    "convnext": "timm convnext_base_in22k (depths 3-3-27-3, dims 128-256-512-1024), head.fc 1024 -> 1024 embedding",
    "clip": "OpenAI CLIP ViT-L/14 (clip.load, fp32 on CPU), fc 768 -> 1024 embedding on encode_image",
}

_DRCT_FORMAT = ("plain state dict (torch.save(model.state_dict()) in scripts/train.py), fp32: ContrastiveModels keys "
                "'model.*' (the backbone with its classifier replaced by the 1024-d embedding layer) and 'fc.*' "
                "(1024 -> 2); the CLIP variant stores the WHOLE OpenAI CLIP (visual and text towers) under "
                "'model.model.*' and the 768 -> 1024 layer as 'model.fc.*'. Inside pretrained.zip at '")


def _drct_weights(tag: str, trained_on: str) -> WeightsSpec:
    arch, member = DRCT_ZIP_MEMBERS[tag]
    return WeightsSpec(
        tag=tag, filename="pretrained.zip", sources=(_DRCT_ZIP,),
        format=_DRCT_FORMAT + member + "' (path suffix)",
        trained_on=trained_on, licence="none stated (no LICENSE file upstream)", preset="pad_crop224",
        notes=f"Backbone: {DRCT_ARCHS[arch]}. The archive is fetched once for all DRCT tags and the member is "
              f"extracted next to it. A checkpoint extracted by hand loads with --weights PATH.")


DRCT_CARD = DetectorCard(
    name="drct",
    title="DRCT: Diffusion Reconstruction Contrastive Training",
    paper="Chen, Zeng, Yang and Yang, DRCT: Diffusion Reconstruction Contrastive Training towards Universal Detection "
          "of Diffusion Generated Images, ICML 2024 (spotlight)",
    paper_url="https://proceedings.mlr.press/v235/chen24ay.html",
    repo=f"https://github.com/{_DRCT_REPO} @ {_DRCT_COMMIT}",
    licence="none stated (no LICENSE file upstream): all rights reserved by the authors by default; fakebench "
            "re-implements the model from its description",
    architecture="network/models.py ContrastiveModels: a backbone whose classifier is replaced by a 1024-d embedding "
                 "layer (trained with a margin contrastive loss on real / fake / reconstructed images), then fc "
                 "1024 -> 2 (real, fake). Two published backbones: ConvNeXt-B (timm convnext_base_in22k, whole "
                 "network trained) and OpenAI CLIP ViT-L/14 (frozen; encode_image, 768-d, then 768 -> 1024). The "
                 "backbone is read from the checkpoint's keys.",
    score="two logits (real, fake); the official score is 1 - softmax[:, 0] (scripts/train.py eval_model), so "
          "logit = logit_fake - logit_real and sigmoid(logit) = P(fake) exactly; decision P(fake) > 0.5",
    weights=(
        _drct_weights("convb_sdv14", "DRCT-2M: MSCOCO train2017 real vs SD v1.4, with SD v1.4 reconstructions"),
        _drct_weights("convb_sdv2", "DRCT-2M: MSCOCO train2017 real vs SD v2, with SD v2 reconstructions"),
        _drct_weights("clip_sdv14", "DRCT-2M: MSCOCO train2017 real vs SD v1.4, with SD v1.4 reconstructions"),
        _drct_weights("clip_sdv2", "DRCT-2M: MSCOCO train2017 real vs SD v2, with SD v2 reconstructions"),
        _drct_weights("genimage_convb_sdv14", "GenImage SD v1.4 subset, with SD v1.4 reconstructions"),
        _drct_weights("genimage_clip_sdv14", "GenImage SD v1.4 subset, with SD v1.4 reconstructions"),
    ),
    presets=(
        Preset("pad_crop224", crop=224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
               source="data/transform.py create_val_transforms(size=224, is_crop=True), as every test command of "
                      "the README runs scripts/train.py --is_test --is_crop: albumentations PadIfNeeded(224, "
                      "constant 0, centred) -> CenterCrop(224) -> Normalize(ImageNet) -> ToTensorV2",
               description="zero-pad to at least 224x224 (centred), centre crop 224 with albumentations' offsets "
                           "((H - 224) // 2, (W - 224) // 2), ImageNet normalisation; no resize"),
    ),
    default_preset="pad_crop224",
    memory="ConvNeXt-B: 89M parameters (about 350 MB fp32); CLIP variant: the whole ViT-L/14 CLIP is in the "
           "checkpoint, 428M parameters (about 1.7 GB fp32), the text tower is loaded but unused. One 224x224 "
           "forward pass per image.",
    notes="The official pipeline reads images with cv2 (BGR -> RGB); fakebench reads them with PIL. The parity "
          "fixture (JPEG and PNG inputs) shows the same outputs; a JPEG decoder difference between libraries would "
          "show as a small score difference. The centre crop uses albumentations' floor offsets, which differ by "
          "one pixel from torchvision's CenterCrop when (size - 224) % 4 == 3. The README's errata: the BigGAN "
          "accuracy of DRCT (ConvNeXt-B) is 59.81%.",
)


_BFREE_REPO = "grip-unina/B-Free"
_BFREE_COMMIT = "c6a9f89"
_BFREE_LICENCE = ("GRIP-UNINA licence (LICENSE.txt): all rights reserved; use, reproduction and modification only for "
                  "informational and NONPROFIT purposes. Code and weights alike; no commercial use.")

#: ``norm_type`` of a B-Free ``config.yaml`` (``utils/normalization.py get_list_norm``) -> preset name.
BFREE_NORM_PRESETS = {"resnet": "native", "clip": "native_clip", "none": "native_none", "xception": "native_xception"}

#: MD5 of each release zip as the official code/README.md publishes it.
BFREE_ZIP_MD5 = {"dino2reg4": "f3f53fa647848b16cf81c913f148a198"}

_BFREE_SRC = ("B-Free code/main_bfree.py running_tests: Compose(get_list_norm(norm_type)) on the PIL RGB image, batch "
              "size 1, no resize, no crop (the network's Wrapper5crops takes five 504x504 crops itself)")

BFREE_CARD = DetectorCard(
    name="bfree",
    title="B-Free: bias-free training of a DINOv2 ViT, five 504-px crops at native resolution",
    paper="Guillaro, Zingarini, Cozzolino and Verdoliva, A Bias-Free Training Paradigm for More General AI-generated "
          "Image Detection, CVPR 2025",
    paper_url="https://arxiv.org/abs/2412.17671",
    repo=f"https://github.com/{_BFREE_REPO} @ {_BFREE_COMMIT}",
    licence="RESTRICTIVE: " + _BFREE_LICENCE,
    architecture="timm vit_base_patch14_reg4_dinov2 (ViT-B/14, 4 registers, LayerScale; DINOv2 LVD-142M "
                 "initialisation) with a 1-logit head, input size 504 (36x36 patches). Wrapper5crops: the patch "
                 "embedding runs on the whole native-size image; grids under 36 patches are tiled (replicate-wrap); "
                 "five 36x36-patch crops (centre and four corners) go through the ViT and their logits are averaged.",
    score="logit (mean of the five crop logits); sigmoid(logit) = P(fake); fake when logit > 0",
    weights=(
        WeightsSpec(
            tag="dino2reg4", filename="BFREE_dino2reg4.zip",
            sources=(Source("url", "https://www.grip.unina.it/download/prog/B-Free/weights/BFREE_dino2reg4.zip",
                            filename="BFREE_dino2reg4.zip", archive="zip",
                            notes="GRIP server; MD5 f3f53fa647848b16cf81c913f148a198 (code/README.md)."),),
            format="zip holding BFREE_dino2reg4/config.yaml (arch 'timm_c5i504_vit_base_patch14_reg4_dinov2.lvd142m', "
                   "norm_type 'resnet', weights_file 'model_epoch_best.pth') and model_epoch_best.pth "
                   "({'model': timm ViT state dict}, fp32)",
            trained_on="COCO real images and their Stable Diffusion 2.1 self-conditioned inpaintings (content "
                       "augmentation; bias-free training)",
            licence=_BFREE_LICENCE, preset="native",
            notes="The README's MD5 is checked after download. A third-party record (not verified here, so not "
                  "enforced) gives the zip 321,653,488 bytes, sha256 8230fd3f0f3a64a6403acb692ce1663718ed16f36a5a4de4a"
                  "68c0d273781769f, and model_epoch_best.pth sha256 5948ca78f4d94e820c250d24cdf155035b4a85960443800bfe"
                  "6bb7f06bffe947 (177 tensors, 86,526,721 values). Upstream ships demo_images/results.csv with the "
                  "expected logits of four demo images (-5.9374785, -4.441922, 4.430519, 3.8499813)."),
    ),
    presets=(
        Preset("native", mean=IMAGENET_MEAN, std=IMAGENET_STD, source=_BFREE_SRC + "; norm_type 'resnet'",
               description="native size, no resize, no crop; ImageNet normalisation (the release's norm_type)"),
        Preset("native_clip", mean=CLIP_MEAN, std=CLIP_STD, source=_BFREE_SRC + "; norm_type 'clip'",
               description="native size; CLIP normalisation (only for checkpoints whose config.yaml says 'clip')"),
        Preset("native_none", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), source=_BFREE_SRC + "; norm_type 'none'",
               description="native size; [0, 1] pixels (only for checkpoints whose config.yaml says 'none')"),
        Preset("native_xception", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
               source=_BFREE_SRC + "; norm_type 'xception'",
               description="native size; [-1, 1] pixels (only for checkpoints whose config.yaml says 'xception')"),
    ),
    default_preset="native",
    memory="86.5M parameters (about 350 MB fp32). Each image costs five ViT-B passes on 1296+5 tokens, whatever its "
           "size, plus one 14x14-stride convolution over the whole image (memory grows with the image's pixels).",
    notes="Upstream has no batch processing (README); here a batch holds images of one size and gives the "
          "one-by-one outputs. The normalisation comes from config.yaml; a preset that normalises otherwise is "
          "refused. Images under 14 pixels on a side cannot be embedded. Images under 504 px have their patch grid "
          "tiled, and the tiled grid is cut to 36x36 in both directions (the official replicate_wrap).",
)


_EFFORT_REPO = "YZY-stack/Effort-AIGI-Detection"
_EFFORT_COMMIT = "96f5dea"
_EFFORT_LICENCE = "CC BY-NC 4.0 (README badge; non-commercial use only)"
_EFFORT_FORMAT = ("plain state dict of DeepfakeBench's EffortDetector saved from a DataParallel model: "
                  "'module.backbone.*' (transformers CLIPVisionTransformer, each self_attn q/k/v/out_proj as "
                  "weight_main, bias, S_residual, U_residual, V_residual, S_r, U_r, V_r) and 'module.head.*' "
                  "(1024 -> 2), as users of the GenImage checkpoint report (upstream issue #14); not opened here")
_EFFORT_TEST = ("DeepfakeBench/training/dataset/abstract_dataset.py load_rgb (test.py): cv2.imread, BGR -> RGB, "
                "cv2.resize((224, 224), INTER_CUBIC), ToTensor, Normalize with effort.yaml's CLIP mean/std")

EFFORT_CARD = DetectorCard(
    name="effort",
    title="Effort: orthogonal subspace decomposition (SVD-residual CLIP ViT-L/14)",
    paper="Yan et al., Orthogonal Subspace Decomposition for Generalizable AI-Generated Image Detection (Effort), "
          "ICML 2025",
    paper_url="https://arxiv.org/abs/2411.15633",
    repo=f"https://github.com/{_EFFORT_REPO} @ {_EFFORT_COMMIT}",
    licence="RESTRICTIVE: " + _EFFORT_LICENCE,
    architecture="transformers CLIP ViT-L/14 vision tower (openai/clip-vit-large-patch14) whose self-attention "
                 "q/k/v/out projections are split by SVD into a frozen rank-1023 principal weight and a trained rank-1 "
                 "residual (apply_svd_residual_to_self_attn, r = 1024 - 1); head Linear(1024, 2) on the pooled "
                 "(post-LayerNorm CLS) output. The whole backbone is in the checkpoint.",
    score="two logits (real, fake); official prob = softmax[:, 1], so logit = logit_fake - logit_real and "
          "sigmoid(logit) = prob exactly; decision prob > 0.5",
    weights=(
        WeightsSpec(
            tag="genimage_sdv14", filename="effort_genimage_sdv14.pth",
            sources=(Source("gdrive", "1UXf1hC9FC1yV93uKwXSkdtepsgpIAU9d", filename="effort_genimage_sdv14.pth",
                            notes="README: 'training on GenImage (sdv1.4)'. The Drive file name is not known here; "
                                  "fakebench caches it under this name."),),
            format=_EFFORT_FORMAT, trained_on="GenImage, SD v1.4 subset", licence=_EFFORT_LICENCE,
            preset="cv2_cubic224",
            notes="Users report low GenImage scores with this checkpoint (upstream issues #14, #17, #19); no hash "
                  "published."),
        WeightsSpec(
            tag="chameleon_sdv14", filename="effort_chameleon_sdv14.pth",
            sources=(Source("gdrive", "1GlJ1y4xmTdqV0FfIcyBwNNU6cQird9DR", filename="effort_chameleon_sdv14.pth",
                            notes="README: 'training on Chameleon (sdv1.4)'. Drive file name not known here."),),
            format=_EFFORT_FORMAT + "; assumed the same layout as the GenImage checkpoint (strict loading checks it)",
            trained_on="Chameleon training setting (SD v1.4), as the README names it", licence=_EFFORT_LICENCE,
            preset="cv2_cubic224", notes="No hash published."),
    ),
    presets=(
        Preset("cv2_cubic224", resize=224, resize_mode="square", interpolation="bicubic", mean=CLIP_MEAN,
               std=CLIP_STD, source=_EFFORT_TEST,
               description="OpenCV bicubic resize to 224x224 (aspect ratio ignored), CLIP normalisation: the "
                           "DeepfakeBench test.py protocol"),
        Preset("cv2_linear224", resize=224, resize_mode="square", interpolation="bilinear", mean=CLIP_MEAN,
               std=CLIP_STD,
               source="DeepfakeBench/training/demo.py preprocess_face without a landmark model (the README's "
                      "inference command): cv2.resize((224, 224), INTER_LINEAR), ToTensor, CLIP Normalize",
               description="OpenCV bilinear resize to 224x224 (aspect ratio ignored), CLIP normalisation: the "
                           "README demo"),
    ),
    default_preset="cv2_cubic224",
    memory="About 300M parameters in the checkpoint (the ViT-L/14 tower plus the saved U_r/V_r SVD factors, ~1.2 GB "
           "fp32); one 224x224 ViT-L/14 pass per image.",
    notes="Face checkpoints (FaceForensics++, dlib-aligned crops) are out of scope. The official demo.py loads with "
          "strict=False; fakebench loads strictly. Resizes use OpenCV (pip install 'fakebench[foundation]'); the "
          "official code decodes images with cv2, fakebench with PIL (the parity fixture's JPEG and PNG inputs agree). "
          "An 'effort_clip_L14_trainOn_UniversalFakeDetect.pth' (UnivFD codebase layout, 1 logit) is discussed "
          "upstream (issue #14) but not published in the README; it is not supported.",
)
