"""Card of LGrad (Tan et al., CVPR 2023): plain data, no torch import.

Facts follow the official repository ``chuangchuangtan/LGrad`` @ 7cb5973 (README; ``img2gad_pytorch/gen_imggrad.py``;
``CNNDetection/eval_test8gan.py`` and ``CNNDetection/data/datasets.py``) and the two PyTorch re-uses of its
``img2grad`` step: SIDBench (``mever-team/sidbench`` @ b33f51c, ``dataset/process.py`` ``lgrad_processing``,
``models/__init__.py``, README weights table) and AIGCDetectBenchmark (``Ekko-zn/AIGCDetectBenchmark`` @ 5cd41a6,
``data/process.py`` ``processing_LGrad``).
"""

from __future__ import annotations

from fakebench.hub.sources import Source

from fakebench.detectors.card import DetectorCard, Preset, WeightsSpec

__all__ = ["LGRAD_CARD", "LGRAD_DISCRIMINATOR", "LGRAD_GAN_MEAN", "LGRAD_GAN_STD"]

_REPO = "chuangchuangtan/LGrad"
_SIDBENCH_HF = "dkarageo/sidbench"
_MIRROR_NOTE = ("Mirror: SIDBench's Hugging Face repository (README weights table, mever-team/sidbench @ b33f51c); "
                "byte identity with the official Google Drive / Baidu files not verified here.")

#: The discriminator input normalisation of img2grad: ``Normalize(mean=0.5, std=0.5)`` maps [0, 1] to [-1, 1].
LGRAD_GAN_MEAN = (0.5, 0.5, 0.5)
LGRAD_GAN_STD = (0.5, 0.5, 0.5)


def _sidbench(path: str) -> Source:
    return Source("hf", _SIDBENCH_HF, filename=path, notes=_MIRROR_NOTE)


def _classifier(tag: str, filename: str, trained_on: str, preset: str = "official") -> WeightsSpec:
    return WeightsSpec(
        tag=tag, filename=filename, sources=(_sidbench(f"lgrad/{filename}"),),
        format="torch.save(state_dict) of CNNDetection resnet50(num_classes=1) (torchvision keys, fc 2048->1); "
               "{'model': state_dict} is accepted too (SIDBench models/LGrad.py tries both)",
        trained_on=trained_on, licence="none stated (repository has no licence file)", preset=preset,
        notes="The official host is a Google Drive folder (README 'Testing the detector'); not reachable here.")


#: The frozen pre-trained StyleGAN discriminator (LSUN bedrooms, 256x256) whose input gradient is LGrad's feature.
#: Converted from NVlabs' TF1 ``karras2019stylegan-bedrooms-256x256.pkl`` with genforce's converter (LGrad
#: ``img2gad_pytorch/README.md``). Not a detector checkpoint, so it is not in the card's ``weights``.
LGRAD_DISCRIMINATOR = WeightsSpec(
    tag="stylegan-bedrooms-256-discriminator",
    filename="karras2019stylegan-bedrooms-256x256_discriminator.pth",
    sources=(Source("url", "https://lid-1302259812.cos.ap-nanjing.myqcloud.com/tmp/"
                           "karras2019stylegan-bedrooms-256x256_discriminator.pth",
                    filename="karras2019stylegan-bedrooms-256x256_discriminator.pth"),
             _sidbench("preprocessing/karras2019stylegan-bedrooms-256x256_discriminator.pth")),
    format="torch.save(state_dict) of genforce StyleGANDiscriminator(resolution=256): keys lod, input0..6.{weight,"
           "bias}, layer0..14.{weight,bias}, layer{1,3,5,7,9,11}.blur.kernel; loaded with strict=True",
    trained_on="LSUN bedrooms 256x256 (StyleGAN, Karras et al. 2019)",
    licence="NVIDIA StyleGAN weights: CC BY-NC 4.0",
    notes="URL from LGrad img2gad_pytorch/README.md; mirror from the SIDBench README.",
)

LGRAD_CARD = DetectorCard(
    name="lgrad",
    title="LGrad (Learning on Gradients)",
    paper="Tan, Zhao, Wei, Gu and Wei, Learning on Gradients: Generalized Artifacts Representation for "
          "GAN-Generated Images Detection, CVPR 2023",
    paper_url="https://openaccess.thecvf.com/content/CVPR2023/papers/Tan_Learning_on_Gradients_Generalized_"
              "Artifacts_Representation_for_GAN-Generated_Images_Detection_CVPR_2023_paper.pdf",
    repo=f"https://github.com/{_REPO} @ 7cb5973 (PyTorch img2grad: img2gad_pytorch/)",
    licence="NONE: the official repository has no licence file (all rights reserved by default); the StyleGAN "
            "discriminator weights are NVIDIA's, CC BY-NC 4.0 (non-commercial)",
    architecture="Two networks: a frozen StyleGAN discriminator (LSUN bedrooms, 256x256, genforce layout) maps the "
                 "image in [-1, 1] to a realness score; the gradient of that score w.r.t. the input pixels (one "
                 "image per backward pass, so the minibatch-std layer sees a group of 1) is min-max scaled to "
                 "[0, 255] over the whole image, rounded to uint8 (PNG round trip), ImageNet-normalised and fed to "
                 "a CNNDetection ResNet-50 with fc 2048->1.",
    score="logit of the ResNet-50 classifier; sigmoid(logit) = P(fake)",
    weights=(
        _classifier("progan_4class", "LGrad-4class-Trainon-Progan_car_cat_chair_horse.pth",
                    "ForenSynths ProGAN, 4 classes (car, cat, chair, horse), as gradients"),
        _classifier("progan_2class", "LGrad-2class-Trainon-Progan_chair_horse.pth",
                    "ForenSynths ProGAN, 2 classes (chair, horse), as gradients"),
        _classifier("progan_1class", "LGrad-1class-Trainon-Progan_horse.pth",
                    "ForenSynths ProGAN, 1 class (horse), as gradients"),
        _classifier("sidbench", "LGrad.pth", "ProGAN (SIDBench README; which class setting is not stated)",
                    preset="sidbench"),  # SIDBench scores it with its own pipeline
    ),
    presets=(
        Preset("official", resize=256, resize_mode="square", interpolation="bilinear",
               mean=LGRAD_GAN_MEAN, std=LGRAD_GAN_STD,
               source="LGrad @ 7cb5973 img2gad_pytorch/gen_imggrad.py (Resize((256, 256)), Normalize(0.5, 0.5), "
                      "gradient PNG written with cv2.imwrite(img[..., ::-1]) = RGB on disk) then "
                      "CNNDetection/eval_test8gan.py (no_resize, no_crop, ImageNet normalisation)",
               description="bilinear resize to 256x256, gradient image in RGB order, classifier on 256x256"),
        Preset("sidbench", crop=256, mean=LGRAD_GAN_MEAN, std=LGRAD_GAN_STD,
               source="SIDBench @ b33f51c dataset/process.py lgrad_processing: CenterCrop(256) (zero-pads smaller "
                      "images), gradient encoded with cv2.imencode without BGR->RGB swap and decoded by PIL, so the "
                      "classifier sees the gradient channels in reversed (B, G, R) order",
               description="center crop 256 (no resize), gradient channels reversed as SIDBench feeds them"),
    ),
    default_preset="official",
    memory="Discriminator 23M parameters plus ResNet-50 23.5M; each image needs a forward and a backward pass "
           "through the discriminator at 256x256 (about 3x the cost of the classifier), one image at a time.",
    notes="The gradient step is part of the detector's forward pass and its identity (discriminator sha256 and "
          "preset), so cached scores are keyed on it. AIGCDetectBenchmark's processing_LGrad resizes like the "
          "official preset but, like SIDBench, reverses the gradient channels; it is not offered as a preset.",
)
