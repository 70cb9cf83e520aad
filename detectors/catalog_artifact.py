"""Cards of the artifact and frequency family (issue #18 part A): SAFE, Corvi2023, LaDeDa, Tiny-LaDeDa (plain data;
no torch import).

Each card names the official repository and the commit the port follows; the facts (architecture, checkpoint format,
hosts, test protocol, licence) were read there. See ``docs/detectors-artifact.md``.
"""

from __future__ import annotations

from fakebench.hub.sources import Source

from fakebench.detectors.card import IMAGENET_MEAN, IMAGENET_STD, DetectorCard, Preset, WeightsSpec

__all__ = ["SAFE_CARD", "CORVI2023_CARD", "LADEDA_CARD", "UNIT_MEAN", "UNIT_STD"]

#: SAFE feeds ``ToTensor()`` output to the network with no normalisation: identity mean/std.
UNIT_MEAN = (0.0, 0.0, 0.0)
UNIT_STD = (1.0, 1.0, 1.0)

# -- SAFE ---------------------------------------------------------------------------------------------------------------
_SAFE_REPO = "Ouxiang-Li/SAFE"
_SAFE_COMMIT = "722620a6a6c1acae5bfbc580c9b0a295f64b7a87"

SAFE_CARD = DetectorCard(
    name="safe",
    title="SAFE: Simple Preserved and Augmented FEatures",
    paper="Li et al., Improving Synthetic Image Detection Towards Generalization: An Image Transformation "
          "Perspective, KDD 2025",
    paper_url="https://arxiv.org/abs/2408.06741",
    repo=f"https://github.com/{_SAFE_REPO} @ {_SAFE_COMMIT[:7]}",
    licence="Apache-2.0 (code and the checkpoint committed in the repository)",
    architecture="Truncated ResNet-50 (models/resnet.py resnet50(num_classes=2)): 3x3/stride-2 conv1, bn1, maxpool, "
                 "layer1 (3 Bottlenecks), layer2 (4 Bottlenecks, stride 2), global average pool, fc1 512->2; 1.44M "
                 "parameters. Its input is the diagonal (HH) detail band of a one-level bior1.3 DWT in symmetric mode "
                 "(pytorch_wavelets DWTForward), computed per RGB channel on the un-normalised [0, 1] image and "
                 "bilinearly resized (torchvision Resize on tensors, antialias on) back to the input size.",
    score="two logits (real, fake); the official scripts take softmax(...)[:, 1] as P(fake). fakebench reports "
          "logit = l_fake - l_real, so sigmoid(logit) = softmax[:, 1] = P(fake); the decision prob > 0.5 is the "
          "official argmax (a tie counts as real)",
    weights=(
        WeightsSpec(
            tag="progan_4class",
            filename="checkpoint-best.pth",
            sources=(Source("url", f"https://github.com/{_SAFE_REPO}/raw/{_SAFE_COMMIT}/checkpoint/checkpoint-best.pth",
                            filename="checkpoint-best.pth"),),
            format="training checkpoint of utils.save_model: {'model': state_dict (146 keys, no prefix), "
                   "'optimizer', 'epoch', 'scaler', 'args': argparse.Namespace}; read with weights_only=True and "
                   "argparse.Namespace allow-listed (plain data), nothing else",
            trained_on="ForenSynths ProGAN, 4 classes (car, cat, chair, horse), 256x256 random crops",
            licence="Apache-2.0",
            preset="crop256",
            notes="Committed in the GitHub repository (a plain Git blob over 4 MiB, absent from the snapshot read "
                  "here), so its size and sha256 are not known here: the first download's sha256 is recorded and "
                  "later cache hits are checked against it.",
        ),
    ),
    presets=(
        Preset("crop256", crop=256, mean=UNIT_MEAN, std=UNIT_STD,
               source="SAFE scripts/eval.sh (--input_size 256 --transform_mode crop) and data/datasets.py "
                      "Get_Transforms: CenterCrop([256, 256]), ToTensor, no normalisation",
               description="native resolution, center crop 256 (smaller images zero-padded), no normalisation"),
        Preset("native", mean=UNIT_MEAN, std=UNIT_STD,
               source="SAFE data/datasets.py Get_Transforms, transform_mode 'source' (ToTensor only)",
               description="native resolution, no crop, no normalisation"),
        Preset("resize256", resize=256, resize_mode="square", interpolation="bilinear", mean=UNIT_MEAN, std=UNIT_STD,
               source="SAFE data/datasets.py Get_Transforms, transform_mode 'resize_BILINEAR' "
                      "(Resize([256, 256]) bilinear on the PIL image)",
               description="square 256x256 bilinear resize, no normalisation (the paper's resize ablation)"),
    ),
    default_preset="crop256",
    memory="1.44M parameters; 4.5 GFLOPs per 256x256 image (torch FlopCounterMode, 2 x MACs); no GPU needed.",
    notes="The DWT is computed by fakebench (PyWavelets filters and symmetric extension, detectors/wavelets.py) and "
          "is bit-identical to pytorch_wavelets 1.3.0 on the fixture inputs. The official environment is torch "
          "2.2.1 / torchvision 0.17.1, whose tensor Resize antialiases by default, as here.",
)

# -- Corvi2023 ----------------------------------------------------------------------------------------------------------
_GRIP_REPO = "grip-unina/ClipBased-SyntheticImageDetection"
_GRIP_COMMIT = "c76ef7f5e158c5aba9e55b8b94ab0079720d281e"
_CORVI_SHA256 = "0168451e84a2a35d0b141ad4f2e361a74efdd06eb8d11434087f8a0bb6e3abad"  # the Git LFS pointer's oid

CORVI2023_CARD = DetectorCard(
    name="corvi2023",
    title="Corvi2023: ResNet-50 without downsampling (DMimageDetection)",
    paper="Corvi et al., On the Detection of Synthetic Images Generated by Diffusion Models, ICASSP 2023",
    paper_url="https://arxiv.org/abs/2211.00680",
    repo=f"https://github.com/{_GRIP_REPO} @ {_GRIP_COMMIT[:7]} (weights/Corvi2023, networks/resnet_mod.py)",
    licence="Apache-2.0 (repository LICENSE.md, GRIP-UNINA 2024; covers the code and the weights it ships)",
    architecture="ResNet-50 (Bottleneck [3, 4, 6, 3], v1.5) whose first downsampling is removed: conv1 7x7 with "
                 "stride 1 and maxpool with stride 1 (create_architecture('res50nodown'): resnet50(stride0=1, "
                 "dropout=0.5)), global average pool, dropout (inactive at test time), fc 2048->1 (ChannelLinear). "
                 "23.5M parameters; the feature maps stay 4x larger than a standard ResNet-50's.",
    score="log-likelihood ratio (LLR): the single output; the official README says 'If LLR>0, the image is detected "
          "as synthetic'. fakebench reports it as the logit and P(fake) = sigmoid(LLR) (the posterior under equal "
          "priors), so the decision prob > 0.5 is exactly LLR > 0",
    weights=(
        WeightsSpec(
            tag="latent",
            filename="weights.pth",
            sources=(Source("url", f"https://media.githubusercontent.com/media/{_GRIP_REPO}/{_GRIP_COMMIT}/weights/"
                                   f"Corvi2023/weights.pth", filename="weights.pth", sha256=_CORVI_SHA256,
                            size=282549121),
                     Source("url", f"https://github.com/{_GRIP_REPO}/raw/{_GRIP_COMMIT}/weights/Corvi2023/weights.pth",
                            filename="weights.pth", sha256=_CORVI_SHA256, size=282549121)),
            sha256=_CORVI_SHA256,
            format="torch file read by networks.load_weights: the state dict under 'model' (with or without "
                   "DataParallel 'module.' prefixes), 'state_dict' or 'net', or a plain state dict; 282,549,121 "
                   "bytes (Git LFS), so it likely holds training state besides the 320 model tensors",
            trained_on="Latent Diffusion images and real COCO/ImageNet/UCID images (Corvi et al., ICASSP 2023)",
            licence="Apache-2.0",
            preset="native",
            notes="Stored with Git LFS in the official repository (pointer: sha256 and size pinned here). "
                  "weights/Corvi2023/config.yaml: arch res50nodown, norm_type resnet, patch_size null.",
        ),
    ),
    presets=(
        Preset("native", source="ClipBased-SyntheticImageDetection main.py with weights/Corvi2023/config.yaml "
                                "(patch_size null: no resize, no crop; make_normalize('resnet'))",
               description="native resolution, no resize, no crop, ImageNet normalisation"),
    ),
    default_preset="native",
    memory="23.5M parameters (94 MB fp32). Without the first downsampling the cost is 16x a standard ResNet-50's at "
           "the same size: 167 GFLOPs at 256x256 and 669 GFLOPs at 512x512 (torch FlopCounterMode, 2 x MACs), and "
           "GBs of activations at 1024 px: a GPU is advised for large images.",
    notes="The official main.py scores images one by one at their native size (batch_size 1). Corvi2023 is also the "
          "second member of the repository's default fusion with CLIP-D (soft_or_prob); fakebench hosts it alone.",
)

# -- LaDeDa -------------------------------------------------------------------------------------------------------------
_LADEDA_REPO = "barcavia/RealTime-DeepfakeDetection-in-the-RealWorld"
_LADEDA_COMMIT = "e734562bbb6763f5bb2951099e9dc9a38df5e7dd"
_LADEDA_DRIVE = "https://drive.google.com/drive/folders/1KxNdnPRJJTuqxmzBPiGsg43tXzO8AN2d"

LADEDA_CARD = DetectorCard(
    name="ladeda",
    title="LaDeDa: Local Deepfake Detector on 9x9 patches [research-only licence]",
    paper="Cavia et al., Real-Time Deepfake Detection in the Real-World (LaDeDa, Tiny-LaDeDa, WildRF), arXiv "
          "2406.09398, 2024",
    paper_url="https://arxiv.org/abs/2406.09398",
    repo=f"https://github.com/{_LADEDA_REPO} @ {_LADEDA_COMMIT[:7]} (networks/LaDeDa.py LaDeDa9, test.py)",
    licence="RESTRICTIVE: Yissum (Hebrew University of Jerusalem) Software Research License, research use only; "
            "commercial use and distribution only under a Yissum commercial licence (repository LICENSE)",
    architecture="LaDeDa9: a Bottleneck ResNet-50 ([3, 4, 6, 3], strides 2, 2, 2, 1) whose 3x3 convolutions are "
                 "unpadded and kept only in the stem (conv1 1x1 3->64, conv2 3x3 64->64) and the first block of "
                 "layer1 and layer2 (all other blocks 1x1), so every output position sees one 9x9 input patch; "
                 "residuals are cropped to the unpadded size. Input: the NPR residual x - up(down(x)) (nearest "
                 "x0.5 then x2) of the ImageNet-normalised image, without NPR's 2/3 factor; output: the 2048-d patch "
                 "features averaged over the image (AvgPool2d with the map's height as kernel), then fc 2048->1.",
    score="logit; sigmoid(logit) = P(fake) (validate.py: model(img).sigmoid(), threshold 0.5)",
    weights=(
        WeightsSpec(
            tag="wildrf",
            filename="WildRF_LaDeDa.pth",
            sources=(Source("manual", _LADEDA_DRIVE, filename="WildRF_LaDeDa.pth",
                            notes="Google Drive folder linked from the official README (weights/LaDeDa/"
                                  "download_weights.txt; 'unzip it in weights/LaDeDa'); the file name is the one "
                                  "test_config.py loads. Download it by hand and put it where the message says."),),
            format="plain state dict (test.py get_model: torch.load then load_state_dict(strict=True) into LaDeDa9 "
                   "with fc = Linear(2048, 1)); 321 state-dict entries",
            trained_on="WildRF (Reddit/Twitter/Facebook real and fake images), per the README protocol",
            licence="Yissum Software Research License (research use only)",
            preset="resize256",
            notes="Hosted on Google Drive inside a folder: not fetched automatically. Its sha256 is not known here; the "
                  "first file placed is recorded and later uses are checked against it.",
        ),
    ),
    presets=(
        Preset("resize256", resize=256, resize_mode="square", interpolation="bilinear",
               source="LaDeDa test.py (no_resize False, no_crop True) with data/datasets.py binary_dataset: "
                      "transforms.Resize((loadSize, loadSize)) with loadSize 256, ToTensor, ImageNet Normalize",
               description="square 256x256 bilinear resize (aspect ratio ignored), no crop, ImageNet normalisation"),
    ),
    default_preset="resize256",
    memory="13.6M parameters (55 MB fp32); 42 GFLOPs per 256x256 image (torch FlopCounterMode, 2 x MACs): no "
           "padding and no early pooling keep a 127x127 map through layer1.",
    notes="The official networks/LaDeDa.py at e734562 does not import (SyntaxError: LaDeDa9's signature puts "
          "preprocess_type without a default after defaulted arguments) and test.py passes pretrained=False, which "
          "LaDeDa() does not accept; the parity fixture runs it with those two lines repaired from outside (see "
          "tools/parity/ladeda.py). The official image-level pooling averages over a square window of the map's "
          "height, so it is only a global average for square inputs: the port refuses non-square inputs (the "
          "official preset always makes 256x256). Issue #3 of the repository (NPR's 2/3 input scaling for the "
          "ForenSynths checkpoints) could not be read here: no ForenSynths checkpoint is listed and no 2/3 factor "
          "is applied. Tiny-LaDeDa is not hosted: its published weights (weights/Tiny_LaDeDa/*.pth) hold a 3x3 "
          "layer1.0.conv2 while the official networks/Tiny_LaDeDa.py builds it 1x1, and no official script "
          "evaluates it on images (test.py always builds LaDeDa9).",
)
