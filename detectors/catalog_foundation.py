"""Cards of the foundation-model detectors ported for issue #17 part B: DRCT (and, as they land, B-Free, Effort,
FatFormer). Plain data, no torch import.

Facts (architectures, checkpoint formats, hosts, test protocols, licences) were read in the official repositories at
the commits named in each card; see ``docs/detectors-foundation.md``.
"""

from __future__ import annotations

from fakebench.hub.sources import Source

from fakebench.detectors.card import IMAGENET_MEAN, IMAGENET_STD, DetectorCard, Preset, WeightsSpec

__all__ = ["DRCT_CARD", "DRCT_ZIP_MEMBERS", "DRCT_ARCHS"]

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
