"""Card of AIDE (issue #18, artifact family; plain data, no torch import).

Facts read in ``shilinyan99/AIDE`` @ 6725b71 (README.md, models/AIDE.py, data/dct.py, data/datasets.py,
engine_finetune.py, main_finetune.py, utils.py, requirements.txt); see ``docs/detectors-artifact.md``.
"""

from __future__ import annotations

from fakebench.hub.sources import Source

from fakebench.detectors.card import DetectorCard, Preset, WeightsSpec

__all__ = ["AIDE_CARD", "AIDE_DRIVE_FOLDER"]

_REPO = "shilinyan99/AIDE"
_COMMIT = "6725b71"

#: Google Drive folder of the README's "Our training checkpoints can be downloaded from [link]" line.
AIDE_DRIVE_FOLDER = "1qx76UFvDpgCxaPLBCmsA2WY-SSzeJrd4"

_FORMAT = ("torch.save dict of utils.py save_model: {'model': AIDE_Model.state_dict(), 'optimizer', 'epoch', "
           "'scaler', 'args' (an argparse.Namespace, read as plain data), ['model_ema']}; utils.py auto_load_model "
           "reads checkpoint['model'] (load_state_dict, strict). The state dict is the whole model: 'hpf.hpf.weight' "
           "(the 30 SRM filters), 'model_min.*' and 'model_max.*' (ResNet-50 on 30 channels, their unused 'fc' "
           "included), 'fc.fc1/fc2.*' (the MLP head), 'openclip_convnext_xxl.*' (the OpenCLIP ConvNeXt-XXL trunk, "
           "frozen during training but saved) and 'convnext_proj.0.*'")


def _weights(tag: str, filename: str, trained_on: str, note: str) -> WeightsSpec:
    return WeightsSpec(
        tag=tag,
        filename=filename,
        sources=(Source("gdrive_folder", AIDE_DRIVE_FOLDER, filename=filename,
                        notes="README 'Training checkpoints': one shared Google Drive folder; fakebench downloads the "
                              "folder once and takes this file from it."),),
        sha256=None,
        format=_FORMAT,
        trained_on=trained_on,
        licence="MIT (repository licence)",
        preset="native_dct",
        notes=note + " No hash published; the Drive host could not be reached from where this port was written, so "
                     "the file's layout is taken from utils.py save_model / auto_load_model. If it holds another "
                     "layout, loading fails with the key list.")


AIDE_CARD = DetectorCard(
    name="aide",
    title="AIDE: AI-generated Image DEtector with hybrid features",
    paper="Yan, Li, Liu, Zhu, Zheng and Qian, A Sanity Check for AI-generated Image Detection, ICLR 2025",
    paper_url="https://arxiv.org/abs/2406.19435",
    repo=f"https://github.com/{_REPO} @ {_COMMIT}",
    licence="MIT (code); the checkpoints hold OpenCLIP ConvNeXt-XXL weights (LAION-2B, MIT)",
    architecture="Two experts fused by an MLP (2048 + 256 -> 1024 -> 2). Patch expert: the image is cut into 32x32 "
                 "windows (stride 16); each window's 2-D DCT is scored over 6 diagonal frequency bands "
                 "(sum of log(|DCT| + 1) per band, normalised by the band size, weighted 1, 2, 4, ..., 32); the two "
                 "lowest- and two highest-scoring windows are upsampled to 256x256, passed through 30 SRM high-pass "
                 "filters and two ResNet-50 (one for the low, one for the high windows); the four 2048-d features "
                 "are averaged. Semantic expert: the whole image squashed to 256x256 through a frozen OpenCLIP "
                 "ConvNeXt-XXL trunk (3072 x 8 x 8), average-pooled and projected to 256.",
    score="two logits (real, fake); official prob = softmax[:, 1] (engine_finetune.py evaluate), so logit = "
          "logit_fake - logit_real and sigmoid(logit) = prob exactly; decision prob > 0.5",
    weights=(
        _weights("progan", "progan_train.pth",
                 "ProGAN training set of CNNDetection (the README's training and evaluation example)",
                 "File name as in the README's evaluation example (results/progan_train/progan_train.pth)."),
        _weights("sd14", "sd14_train.pth",
                 "GenImage Stable Diffusion v1.4 training set (the paper's second setting)",
                 "File name NOT verified (the folder listing could not be read from here); if the folder names it "
                 "otherwise, the error lists the files it holds: pass that file with --weights."),
    ),
    presets=(
        Preset("native_dct", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
               source="data/datasets.py TestDataset: ToTensor at native size, DCT_base_Rec_Module (data/dct.py, "
                      "window 32, stride 16, 6 grades) on it, then transform_train = Resize([256, 256]) (bilinear, "
                      "no antialiasing: torchvision 0.12 of requirements.txt on tensors) + ImageNet Normalize on the "
                      "four windows and on the whole image",
               description="native size in, values in [0, 1] (ToTensor); the detector picks the 4 DCT windows, "
                           "squashes the whole image to 256x256 (bilinear, no antialiasing) and applies ImageNet "
                           "mean/std itself; images need 32 px a side"),
    ),
    default_preset="native_dct",
    memory="~0.9 B parameters (ConvNeXt-XXL 846 M, two ResNet-50 of 23.5 M, head 2.4 M): 3.6 GB in fp32; a GPU is "
           "advisable. Per image: the DCT scoring of all 32x32 windows (about 200 bytes per pixel, computed in "
           "bands of window rows above 16,384 windows), then a fixed 5 x 256 x 256 input.",
    notes="The whole image reaches the semantic expert squashed to 256x256 (aspect ratio ignored), as upstream. "
          "Images under 32 px on a side have no DCT window: the official code fails on them; here they are refused "
          "one by one with a message. Published numbers: the paper's tables (not extracted here).",
)
