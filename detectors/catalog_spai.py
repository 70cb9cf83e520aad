"""Card of SPAI (issue #18, spectral family; plain data, no torch import).

Facts read in ``mever-team/spai`` @ 8ff7b3b (README.md, configs/spai.yaml, spai/config.py, spai/models/sid.py,
spai/data/data_finetune.py, spai/__main__.py, spai/utils.py); see ``docs/detectors-spectral.md``.
"""

from __future__ import annotations

from fakebench.hub.sources import Source

from fakebench.detectors.card import DetectorCard, Preset, WeightsSpec

__all__ = ["SPAI_CARD", "SPAI_DRIVE_ID"]

_REPO = "mever-team/spai"
_COMMIT = "8ff7b3b"

#: Google Drive file of the README's "Weights Checkpoint" line (https://drive.google.com/file/d/<id>/view).
SPAI_DRIVE_ID = "1vvXmZqs6TVJdj8iF1oJ4L_fcgdQrp_YI"

_FORMAT = ("torch.save dict of spai/utils.py save_checkpoint: {'model': PatchBasedMFViT.state_dict(), 'optimizer', "
           "'lr_scheduler', 'max_accuracy', 'epoch', 'config' (a yacs CfgNode, read as plain data), ['amp']}; "
           "load_pretrained reads checkpoint['model']. Keys 'mfvit.vit.*' (the whole MFM VisionTransformer, unused "
           "head/fc_norm/cls_blocks/cls_pos_embed/actual_cls_token/intermediate_fc_norm included), "
           "'mfvit.features_processor.*', 'mfvit.frequencies_mask' (int64), 'patch_aggregator', 'to_kv.*', "
           "'to_out.0.*', 'norm.*', 'cls_head.head.*'")

SPAI_CARD = DetectorCard(
    name="spai",
    title="SPAI: Spectral AI-generated image detector",
    paper="Karageorgiou, Papadopoulos, Kompatsiaris and Gavves, Any-Resolution AI-Generated Image Detection by "
          "Spectral Learning, CVPR 2025",
    paper_url="https://openaccess.thecvf.com/content/CVPR2025/html/Karageorgiou_Any-Resolution_AI-Generated_Image_"
              "Detection_by_Spectral_Learning_CVPR_2025_paper.html",
    repo=f"https://github.com/{_REPO} @ {_COMMIT}",
    licence="Apache-2.0 (code and model weights, README 'License & Contact')",
    architecture="ViT-B/16 pre-trained by masked frequency modelling (MFM), frozen. Each 224x224 patch is split by a "
                 "circular mask (radius 16) of its centred 2-D DFT into a low- and a high-frequency image; the patch "
                 "and both bands go through the ViT, and the patch tokens of all 12 blocks are projected per block "
                 "(Linear-GELU-Linear to 1024). Per block the cosine similarities original/low, original/high, "
                 "low/high of every token, averaged and std'd over the tokens (72 values: the spectral "
                 "reconstruction similarity), plus a 1024-d spectral context vector from the original tokens. "
                 "The 1096-d vectors of all 224x224 patches of the native-resolution image (stride 224; the five "
                 "crops when there are fewer than 4 patches) are pooled by a learned-query cross-attention "
                 "(12 heads, 1536) and an MLP head gives one logit.",
    score="one logit; official score = sigmoid(logit) (spai/__main__.py validate); decision prob > 0.5 (metrics.py "
          "threshold 0.5)",
    weights=(
        WeightsSpec(
            tag="ldm",
            filename="spai.pth",
            sources=(Source("gdrive", SPAI_DRIVE_ID, filename="spai.pth",
                            notes="README 'Weights Checkpoint': one Google Drive link, to be placed as "
                                  "weights/spai.pth (the default --model of 'python -m spai infer')."),),
            sha256=None,
            format=_FORMAT,
            trained_on="Latent-diffusion training set of Corvi et al. (DMimageDetection) with COCO and LSUN real "
                       "images (README 'Training'); the paper's evaluation covers 13 generators.",
            licence="Apache-2.0 (README: 'The source code and model weights of this project are released under the "
                    "Apache 2 License')",
            preset="native",
            notes="No hash published; the Drive host could not be reached from where this port was written, so the "
                  "file's layout is taken from spai/utils.py save_checkpoint / load_pretrained. If it holds another "
                  "layout, loading fails with the key list."),
    ),
    presets=(
        Preset("native", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
               source="spai/data/data_finetune.py build_transform(is_train=False) with configs/spai.yaml "
                      "TEST.ORIGINAL_RESOLUTION True: A.PadIfNeeded(224, 224) (reflect-101), A.Normalize(mean=0, "
                      "std=1); model RESOLUTION_MODE arbitrary, PATCH_STRIDE 224, MINIMUM_PATCHES 4",
               description="native resolution; sides under 224 reflect-padded to 224; values in [0, 1]; the model "
                           "scores every 224px patch (stride 224), or the five 224px crops when there are fewer "
                           "than 4"),
    ),
    default_preset="native",
    memory="~140 M parameters in the file (0.56 GB fp32; ViT-B/16, 12 per-block projectors 768->1024->1024, the "
           "head, and ~7 M of unused ViT modules). Every image runs 3 ViT-B passes per 224px patch (a 12 MP photo: "
           "~230 patches); measured on the CPU, 1 thread: 1.1 s per patch. Patches go through the encoder 16 at a "
           "time (patch_batch), so memory is the image plus one group's activations (~0.1 GB per patch, fp32: "
           "~1.7 GB), whatever the image size.",
    notes="Native resolution: the remainder of an image that is not a multiple of 224 (right and bottom) is not "
          "seen, as upstream. Images with fewer than 4 full patches (e.g. 256x256, 224x447) are scored on their five "
          "224px crops (torchvision five_crop; the centre offset uses Python's round). The official infer/test "
          "commands' --resize-to (A.SmallestMaxSize) is off by default and not offered. Published results: paper "
          "Table 1 (AUC averaged over 13 generators).",
)
