"""Cards of the CNN/CLIP detectors: CNNSpot, NPR and UnivFD (plain data; no torch import).

Facts (architectures, checkpoint formats, URLs, test protocols, licences) follow the official repositories at the
commits named in each card; see also ``README.md`` ("Detectors").
"""

from __future__ import annotations

from benchmark.sources import Source

from .card import CLIP_MEAN, CLIP_STD, DetectorCard, Preset, WeightsSpec

__all__ = ["CNNSPOT_CARD", "NPR_CARD", "UNIVFD_CARD"]

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
            sources=(Source("url", f"https://github.com/{_NPR_REPO}/raw/{_NPR_COMMIT}/NPR.pth", filename="NPR.pth"),),
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
    ),
    default_preset="native",
    memory="1.44M parameters; about 100 MB of activations per 256x256 image in a batch on CPU; no GPU needed.",
    notes="Both official checkpoint formats load strictly. The official test.py disables cuDNN and seeds; results are "
          "deterministic here on CPU. Reported reproduction gaps of 1-7 points upstream (issues #4, #35).",
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
                            filename="blur_jpg_prob0.5.pth"),),
            format="{'model': state_dict, 'optimizer': ..., 'total_steps': ...}, no prefix",
            trained_on="ForenSynths ProGAN, 20 classes, blur and JPEG augmentation with probability 0.5",
            licence="CC BY-NC-SA 4.0",
            preset="crop224",
        ),
        WeightsSpec(
            tag="blur_jpg_prob0.1",
            filename="blur_jpg_prob0.1.pth",
            sources=(Source("url", "https://www.dropbox.com/s/h7tkpcgiwuftb6g/blur_jpg_prob0.1.pth?dl=1",
                            filename="blur_jpg_prob0.1.pth"),),
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

_UFD_REPO = "Yuheng-Li/UniversalFakeDetect"
_UFD_COMMIT = "1abc48606aea45e18d10847e51d21d6173cc957d"

UNIVFD_CARD = DetectorCard(
    name="univfd",
    title="UnivFD (UniversalFakeDetect)",
    paper="Ojha, Li and Lee, Towards Universal Fake Image Detectors that Generalize Across Generative Models, "
          "CVPR 2023",
    paper_url="https://arxiv.org/abs/2302.10174",
    repo=f"https://github.com/{_UFD_REPO} @ {_UFD_COMMIT[:7]}",
    licence="none stated upstream (vendors OpenAI CLIP, MIT); CLIP weights: OpenAI, MIT",
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
                            sha256="477100745713bcc957beb2b40859536859b6483fd6301b3b9293151b194c7847", size=4083),),
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
    ),
    default_preset="crop224",
    memory="304M parameters (ViT-L/14 visual); ~1.2 GB fp32 weights; ~81 GFLOPs per image.",
    notes="Official per-dataset scores subsample 1000 (or 100) images per class with seed 0; fakebench scores every "
          "image unless --limit is given.",
)
