"""Card of FatFormer (issue #17, the last detector of the CLIP family; plain data, no torch import).

Facts read in ``Michel-liu/FatFormer`` @ febc24c (README.md, main.py, utils/dataset.py, models/); see
``docs/detectors-clip.md``.
"""

from __future__ import annotations

from fakebench.hub.sources import Source

from fakebench.detectors.card import IMAGENET_MEAN, IMAGENET_STD, DetectorCard, Preset, WeightsSpec

__all__ = ["FATFORMER_CARD", "FATFORMER_DRIVE_ID"]

_REPO = "Michel-liu/FatFormer"
_COMMIT = "febc24c"

#: Google Drive file of the README's "Model Zoo" line (https://drive.google.com/file/d/<id>/view).
FATFORMER_DRIVE_ID = "1Q_Kgq4ygDf8XEHgAf-SgDN6Ru_IOTLkj"

_FORMAT = ("torch.save dict {'model': CLIPModel.state_dict()} (main.py: model_without_ddp.load_state_dict("
           "checkpoint['model']), strict): the WHOLE model, both CLIP towers included, with the aliased entries of the "
           "official module layout ('clip_model.*', 'image_encoder.*' = 'clip_model.visual.*', 'text_encoder.*', "
           "'logit_scale', 'language_guided_alignment.*' incl. the token_prefix/token_suffix buffers, "
           "'text_guided_interactor.*', 'norm1/2.*', 'linear1/2.*'); ViT-L/14 with forgery-aware adapters on blocks "
           "7, 15, 23 (--num_vit_adapter 3) and 8 context embeddings")

FATFORMER_CARD = DetectorCard(
    name="fatformer",
    title="FatFormer: Forgery-aware Adaptive Transformer",
    paper="Liu, Tan, Tan, Wei, Wang and Zhao, Forgery-aware Adaptive Transformer for Generalizable Synthetic Image "
          "Detection, CVPR 2024",
    paper_url="https://arxiv.org/abs/2312.16649",
    repo=f"https://github.com/{_REPO} @ {_COMMIT}",
    licence="Apache-2.0 (code and, as far as stated, the released checkpoint); the checkpoint holds a fine-tuned copy "
            "of OpenAI CLIP ViT-L/14 (MIT)",
    architecture="OpenAI CLIP ViT-L/14 (models/clip/model.py) with a forgery-aware adapter added to the residual "
                 "branch of visual blocks 7, 15 and 23: a 1x1-conv bottleneck (64) on the tokens plus a frequency "
                 "branch (one-level Haar DWT of the 16x16 patch map, GroupNorm, attention across the four bands at "
                 "each position then over the positions of each band, FFN, inverse DWT) weighted by a learned "
                 "scale. Language-guided alignment "
                 "(models/clip_models.py): 8 learned context tokens made image-conditioned by cross-attention over "
                 "the image tokens, prompts '<ctx> real.' / '<ctx> fake.' through CLIP's text transformer; logits = "
                 "scaled cosine of the CLS feature with each class text feature plus the same for the mean of the "
                 "patch tokens after a text-guided cross-attention. The whole network is in the checkpoint (no "
                 "pretrained CLIP is fetched).",
    score="two logits (real, fake); official prob = softmax[:, 1] (main.py evaluate), so logit = logit_fake - "
          "logit_real and sigmoid(logit) = prob exactly; decision prob > 0.5",
    weights=(
        WeightsSpec(
            tag="progan_4class",
            filename="fatformer_progan_4class.pth",
            sources=(Source("gdrive", FATFORMER_DRIVE_ID, filename="fatformer_progan_4class.pth",
                            notes="README 'Model Zoo': Google Drive link (also on Baidu, code b759, and OneDrive). "
                                  "The Drive file name could not be read from here; fakebench caches it under this "
                                  "name."),),
            sha256=None,
            format=_FORMAT,
            trained_on="ProGAN, 4 classes (car, cat, chair, horse) of the CNNDetection training set: the setting of "
                       "the README's result tables and evaluation command. The README links one checkpoint and does "
                       "not name its setting; a 2-class checkpoint is not linked.",
            licence="Apache-2.0 (repository licence)",
            preset="resize256_crop224",
            notes="No hash published; the Drive host could not be reached from where this port was written, so the "
                  "file's layout is taken from main.py. If it is an archive or holds another layout, loading fails "
                  "with the key list."),
    ),
    presets=(
        Preset("resize256_crop224", resize=256, resize_mode="square", interpolation="bilinear", crop=224,
               mean=IMAGENET_MEAN, std=IMAGENET_STD,
               source="FatFormer utils/dataset.py Dataset_Creator transforms['test']: Resize((256, 256)), "
                      "CenterCrop(224), ToTensor, ImageNet Normalize (main.py defaults img_resolution=256, "
                      "crop_resolution=224)",
               description="square bilinear resize to 256x256 (aspect ratio ignored), center crop 224, ImageNet "
                           "normalisation"),
    ),
    default_preset="resize256_crop224",
    memory="about 0.5 B parameters (CLIP ViT-L/14 both towers, 3 adapters of ~17 M each, alignment modules); ~2 GB "
           "in fp32. Each image runs the text transformer on its own two prompts (the context is image-conditioned), "
           "so a batch of N images encodes 2N prompts.",
    notes="ImageNet (not CLIP) normalisation, as the official test transform. The official code builds the CLIP "
          "model in fp16 then casts it to fp32 on the CPU before loading the fp32 checkpoint; fakebench runs fp32. "
          "Published numbers (README, 4-class supervision): mean acc/AP 98.4/99.7 on the 8 GANs of the LGrad/"
          "CNNDetection test set, 95.0/98.8 on the DM set (PNDM, Guided, DALL-E, VQ-Diffusion, LDM, Glide).",
)
