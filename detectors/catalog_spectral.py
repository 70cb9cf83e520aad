"""Cards of the artifact / frequency / training-free family, part B (issue #18): AEROBLADE (plain data; no torch
import).

Facts follow the official repositories at the commits named in each card (fetched and read; see
``docs/detectors-spectral.md``). SPAI and AIDE are not ported yet (see that page): nothing approximate ships under
their names.
"""

from __future__ import annotations

from typing import Any

from fakebench.hub.sources import Source

from fakebench.detectors.card import DetectorCard, Preset, WeightsSpec

__all__ = ["AEROBLADE_CARD", "AEROBLADE_AUTOENCODERS", "AEROBLADE_DEFAULT_SET", "AEROBLADE_LPIPS_LIN_SHA256"]

_AERO_REPO = "jonasricker/aeroblade"
_AERO_COMMIT = "50fc2b22c929"

#: The autoencoders of AEROBLADE's default run (``scripts/run_aeroblade.py`` ``--autoencoders`` default, in order):
#: tag -> (hub repo, subfolder, file in the repo, diffusers class, dtype the official code runs it in, config).
#: The official ``compute_reconstructions`` (``src/aeroblade/image.py``) loads each pipeline with
#: ``torch_dtype=torch.float16, use_safetensors=True, variant="fp16"`` (no variant for Kandinsky) and takes ``pipe.vae``
#: or ``pipe.movq``; diffusers 0.25.1 (its pinned version) has no ``upcast_vae`` on the SD img2img pipeline, so every
#: AE runs in float16. The configs are the diffusers configs of those repos (architecture only: strict loading of the
#: hub file checks every tensor name and shape against them).
AEROBLADE_AUTOENCODERS: dict[str, dict[str, Any]] = {
    "sd1": {
        "repo": "CompVis/stable-diffusion-v1-1", "subfolder": "vae",
        "file": "vae/diffusion_pytorch_model.fp16.safetensors", "class": "AutoencoderKL", "dtype": "float16",
        "config": {"in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2,
                   "norm_num_groups": 32, "act_fn": "silu", "block_out_channels": [128, 256, 512, 512],
                   "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4},
    },
    "sd2": {
        "repo": "stabilityai/stable-diffusion-2-base", "subfolder": "vae",
        "file": "vae/diffusion_pytorch_model.fp16.safetensors", "class": "AutoencoderKL", "dtype": "float16",
        "config": {"in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2,
                   "norm_num_groups": 32, "act_fn": "silu", "block_out_channels": [128, 256, 512, 512],
                   "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4},
    },
    "kd21": {
        "repo": "kandinsky-community/kandinsky-2-1", "subfolder": "movq",
        "file": "movq/diffusion_pytorch_model.safetensors", "class": "VQModel", "dtype": "float16",
        "config": {"in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2,
                   "norm_num_groups": 32, "act_fn": "silu", "block_out_channels": [128, 256, 256, 512],
                   "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D",
                                        "AttnDownEncoderBlock2D"],
                   "up_block_types": ["AttnUpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D",
                                      "UpDecoderBlock2D"],
                   "num_vq_embeddings": 16384, "vq_embed_dim": 4, "norm_type": "spatial"},
    },
}

#: The official default set: the score is the maximum over these AEs of minus the LPIPS layer-2 distance.
AEROBLADE_DEFAULT_SET = ("sd1", "sd2", "kd21")

#: sha256 of ``lpips/weights/v0.1/vgg.pth`` of the ``lpips`` 0.1.4 wheel (the LPIPS v0.1 linear layers; loaded from
#: the installed package, never downloaded).
AEROBLADE_LPIPS_LIN_SHA256 = "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868"

_HUB_NOTE = ("Unpinned hub revision (main): the official code loads it with diffusers from_pretrained; the first "
             "download's sha256 is recorded and later cache hits are checked against it.")


def _ae_spec(tag: str, trained_on: str, licence: str) -> WeightsSpec:
    ae = AEROBLADE_AUTOENCODERS[tag]
    filename = f"{tag}_{ae['file'].replace('/', '_')}"
    return WeightsSpec(
        tag=tag, filename=filename,
        sources=(Source("hf", ae["repo"], filename=ae["file"], notes=_HUB_NOTE),),
        format=f"safetensors state dict of a diffusers {ae['class']} ({ae['repo']}/{ae['subfolder']}); run in "
               f"{ae['dtype']} as the official code does",
        trained_on=trained_on, licence=licence, preset="native",
        notes=f"Autoencoder only (no detector training). Alone, --weights {tag} scores with this AE only (the "
              f"paper's per-AE rows); the default is the official maximum over {', '.join(AEROBLADE_DEFAULT_SET)}.")


AEROBLADE_CARD = DetectorCard(
    name="aeroblade",
    title="AEROBLADE: autoencoder reconstruction error (training-free)",
    paper="Ricker, Lukovnikov and Fischer, AEROBLADE: Training-Free Detection of Latent Diffusion Images Using "
          "Autoencoder Reconstruction Error, CVPR 2024",
    paper_url="https://openaccess.thecvf.com/content/CVPR2024/html/Ricker_AEROBLADE_Training-Free_Detection_of_"
              "Latent_Diffusion_Images_Using_Autoencoder_Reconstruction_CVPR_2024_paper.html",
    repo=f"https://github.com/{_AERO_REPO} @ {_AERO_COMMIT[:7]}",
    licence="none stated (no LICENSE file upstream); AEs: SD1 CreativeML OpenRAIL-M, SD2 CreativeML OpenRAIL++-M, "
            "Kandinsky 2.1 Apache-2.0; LPIPS BSD-2-Clause; VGG16 ImageNet weights (torchvision, BSD-3-Clause code)",
    architecture="No trained detector. For each autoencoder (SD1 and SD2 KL-VAEs, Kandinsky 2.1 MoVQ; diffusers), "
                 "the image (native size, [0,1] -> [-1,1], float16) is encoded, one latent is sampled (torch "
                 "generator seeded 1; the MoVQ latent is quantised to its codebook by decode, which is what the "
                 "official code does: its force_not_quantize branch tests isinstance(ae, VQModel) on the "
                 "torch.compile wrapper and is never taken) and decoded; the reconstruction is "
                 "clamped to [0,1] and quantised to 8 bits as the official PNG round trip does (x*255, truncated). "
                 "Distance: LPIPS v0.1 (VGG16) second layer only (relu2_2 features, unit-normalised, squared "
                 "difference, LPIPS linear layer lin1), averaged over the spatial map. Only the VGG layers up to "
                 "relu2_2 are computed (the later ones do not enter the layer-2 distance).",
    score="score only, no natural threshold: score = max over the AEs of -LPIPS_2(x, AE(x)), a value <= 0, higher "
          "= better reconstructed = more likely generated by a latent diffusion model. It is not a probability: "
          "AP and ROC-AUC are computed from it; accuracy needs a threshold fitted on a calibration split "
          "(--calibrate-on), never a 0.5 rule.",
    weights=(
        _ae_spec("sd1", "Stable Diffusion v1 KL-f8 autoencoder (CompVis)", "CreativeML OpenRAIL-M"),
        _ae_spec("sd2", "Stable Diffusion 2 KL-f8 autoencoder (Stability AI)", "CreativeML OpenRAIL++-M"),
        _ae_spec("kd21", "Kandinsky 2.1 MoVQ autoencoder (Sber AI)", "Apache-2.0"),
        WeightsSpec(
            tag="vgg16", filename="vgg16-397923af.pth",
            sources=(Source("url", "https://download.pytorch.org/models/vgg16-397923af.pth",
                            filename="vgg16-397923af.pth"),),
            format="torchvision VGG16 ImageNet state dict (features.* and classifier.*); LPIPS uses features.0-7",
            trained_on="ImageNet-1k (torchvision VGG16_Weights.IMAGENET1K_V1)", licence="BSD-3-Clause (torchvision)",
            preset="native",
            notes="The LPIPS backbone, not an autoencoder: it cannot be passed alone to --weights. The LPIPS linear "
                  "layers come from the installed lpips package (lpips/weights/v0.1/vgg.pth)."),
    ),
    presets=(
        Preset("native", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
               source="aeroblade src/aeroblade/data.py ImageFolder (ToImage, ToDtype(float32, scale=True)); "
                      "scripts/run_aeroblade.py transforms=['clean']",
               description="native resolution, no resize or crop, pixels in [0, 1] (sides must be multiples of 8, "
                           "the AEs' downsampling factor; the official code fails otherwise)"),
    ),
    default_preset="native",
    continuous_scores=True,
    natural_threshold=None,
    memory="Three AEs of 83.7M (KL-VAE, each) and ~81M (MoVQ) parameters in float16 (~0.5 GB) plus LPIPS VGG16 up "
           "to relu2_2 (0.26M). Not yet measured on a GPU; estimated from the layer "
           "shapes: each KL decoder costs about 1.2 TFLOP on a 512x512 image (its full-resolution 128-channel "
           "convolutions dominate) and keeps about 1 GB of float16 activations at once; 1024x1024 images cost 4x (the MoVQ attention at 1/8 resolution grows with the "
           "square of the pixel count). On CPU, float16 convolutions are slow (minutes per 512 px image).",
    notes="Noise: the official code draws the latent noise from one generator seeded 1 per (folder, AE), so an "
          "image's noise depends on its position in its folder; fakebench seeds a fresh generator per image and AE, "
          "which equals the official run_aeroblade.py on single files (its default usage) and on the first image of "
          "each folder. The official distances.csv stores float16-rounded distances; fakebench keeps float32. "
          "Image sides must be multiples of 8 (error row otherwise, with the fix). Parity fixture: tiny random AEs "
          "and VGG run through the official compute_distances (tools/parity/aeroblade.py).",
)
