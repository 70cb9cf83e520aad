"""Build the DRCT parity fixture by running the OFFICIAL DRCT code (beibuwandeluori/DRCT @ 01aa7d0).

Usage (the official code needs its own pinned libraries; install them into a side folder, never into fakebench's
environment)::

    git clone https://github.com/beibuwandeluori/DRCT /tmp/drct && git -C /tmp/drct checkout 01aa7d0
    pip install --target /tmp/drct_deps --no-deps timm==0.6.13 albumentations==1.3.0 qudida openai-clip ftfy regex \
        wcwidth scikit-image lazy_loader imageio tifffile networkx
    PYTHONPATH=/tmp/drct_deps:/tmp/drct python tools/parity/drct.py --official /tmp/drct \
        --data ../shared/data --out tests/fixtures/parity/drct

(timm 0.6.12, the version in the official requirements.txt, does not import on Python 3.11; 0.6.13's
``timm/models/convnext.py`` is byte-identical to 0.6.12's.)

What runs from the official repository, unmodified:

* ``network/models.py`` ``get_models(model_name, num_classes=2, embedding_size=1024)`` -> ``ContrastiveModels``
  (backbone with its classifier replaced by a 1024-d embedding layer, then ``fc`` 1024 -> 2), for both published
  backbones: ``convnext_base_in22k`` (timm) and ``clip-ViT-L-14`` (OpenAI ``clip``, ``CLIPModelV2``);
* ``data/dataset.py`` ``read_image`` (cv2 read, BGR -> RGB) and ``data/transform.py``
  ``create_val_transforms(size=224, is_crop=True)`` (albumentations PadIfNeeded 224, CenterCrop 224, ImageNet
  Normalize, ToTensorV2), as ``scripts/train.py --is_test --is_crop`` uses them;
* the score of ``scripts/train.py`` ``eval_model``: ``1 - softmax(model(x))[:, 0]``.

Shims, applied from outside: pretrained backbones cannot be downloaded here, so ``timm.create_model`` (as seen by
``network/models.py``) returns a TINY ConvNeXt of the same timm class (depths (1, 1, 2, 1), dims (16, 32, 48, 64)), and
``clip.load`` returns a TINY OpenAI CLIP ViT built by ``clip.model.build_model`` and cast with ``.float()`` exactly as
``clip.load(..., device="cpu", jit=False)`` does (vision: 2 layers, width 64, patch 14, 224 px, 768-d output as
ViT-L/14; text: 1 layer, width 64, vocabulary 100). All tensors are then given seeded non-default values (the
layer-scale ``gamma`` of ConvNeXt starts at 1e-6, which would hide the blocks), and the last ``fc`` is scaled so the
logits spread over a few units.

Outputs in ``--out``: ``convnext_tiny.pth.xz`` and ``clip_tiny.pth.xz`` (``torch.save(model.state_dict())``, the
official ``train.py`` format: a plain dict, keys ``model.*`` and ``fc.*``; xz-compressed, every tensor over 4096
values quantised to 5 levels so that it compresses), ``expected.csv`` (variant, image, width, height,
logit0, logit1, logit = logit1 - logit0, prob = 1 - softmax0) and ``README.md``.
"""

from __future__ import annotations

import argparse
import lzma
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from foundation_images import IMAGES, write_expected  # noqa: E402

CONVNEXT_DEPTHS = (1, 1, 2, 1)
CONVNEXT_DIMS = (16, 32, 48, 64)


def _perturb(model: torch.nn.Module, seed: int) -> None:
    """Give every tensor seeded non-default values (weights of norms near 1, biases and layer scales non-zero)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            noise = torch.randn(tensor.shape, generator=gen)
            if name.endswith("gamma"):
                tensor.copy_(0.5 + 0.2 * noise)
            elif "norm" in name or "ln_" in name or name.endswith(("stem.1.weight", "downsample.0.weight")):
                tensor.copy_((1 + 0.2 * noise) if name.endswith("weight") else 0.1 * noise)
            elif name.endswith("bias"):
                tensor.copy_(0.05 * noise)
            if tensor.numel() > 4096:  # so that the file xz-compresses: 5 levels per large tensor (as ../shared/parity)
                std = tensor.std()
                tensor.copy_(std * torch.clamp(torch.round(tensor / std), -2, 2))


def _tiny_clip_loader(clip_module):
    def load(name, device="cpu", jit=False, download_root=None):
        torch.manual_seed(1)
        model = clip_module.model.CLIP(embed_dim=768, image_resolution=224, vision_layers=2, vision_width=64,
                                       vision_patch_size=14, context_length=77, vocab_size=100,
                                       transformer_width=64, transformer_heads=1, transformer_layers=1)
        state = model.state_dict()
        # as clip.load(device="cpu", jit=False): build_model (weights cast to fp16) then .float()
        model = clip_module.model.build_model(state).to(device)
        model.float()
        return model, None
    return load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, required=True, help="checkout of beibuwandeluori/DRCT @ 01aa7d0")
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    sys.path.insert(0, str(args.official))

    import clip
    import timm
    from timm.models.convnext import ConvNeXt

    import network.models as official
    from data.dataset import read_image
    from data.transform import create_val_transforms

    official.timm.create_model = lambda name, pretrained=True, **kw: ConvNeXt(
        depths=CONVNEXT_DEPTHS, dims=CONVNEXT_DIMS, num_classes=21841)
    official.clip.load = _tiny_clip_loader(clip)

    transform = create_val_transforms(size=224, is_crop=True)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for variant, model_name, seed in (("convnext", "convnext_base_in22k", 10), ("clip", "clip-ViT-L-14", 20)):
        torch.manual_seed(seed)
        model = official.get_models(model_name=model_name, num_classes=2, pretrained=False, embedding_size=1024,
                                    freeze_extractor=variant == "clip").eval()
        _perturb(model, seed + 1)
        inputs = []
        for rel in IMAGES:
            image, ok = read_image(str(args.data / rel))
            assert ok, rel
            inputs.append((rel, image.shape[1], image.shape[0], transform(image=image)["image"].unsqueeze(0)))
        with torch.no_grad():
            logits = torch.cat([model(x) for *_, x in inputs])
            diff = logits[:, 1] - logits[:, 0]
            scale = 1.5 / diff.std().item()
            model.fc.weight.mul_(scale)
            model.fc.bias.mul_(scale)
            logits = torch.cat([model(x) for *_, x in inputs])
            shift = (logits[:, 1] - logits[:, 0]).mean().item() / 2
            model.fc.bias[1] -= shift
            model.fc.bias[0] += shift
            logits = torch.cat([model(x) for *_, x in inputs])
            prob = 1 - torch.softmax(logits, dim=1)[:, 0]  # scripts/train.py eval_model
        print(f"{variant}: fc scaled by {scale:.4f}, logit spread {(logits[:, 1] - logits[:, 0]).std():.3f}")
        path = args.out / f"{variant}_tiny.pth"
        torch.save(model.state_dict(), path)
        path.with_suffix(".pth.xz").write_bytes(lzma.compress(path.read_bytes(), preset=9))
        path.unlink()
        for (rel, width, height, _), lg, p in zip(inputs, logits, prob):
            rows.append({"variant": variant, "image": rel, "width": width, "height": height,
                         "logit0": f"{lg[0].item():.8f}", "logit1": f"{lg[1].item():.8f}",
                         "logit": f"{(lg[1] - lg[0]).item():.8f}", "prob": f"{p.item():.8f}"})
    write_expected(args.out / "expected.csv", rows)
    print(f"torch {torch.__version__}, timm {timm.__version__}, numpy {np.__version__}; wrote {len(rows)} rows")


if __name__ == "__main__":
    main()
