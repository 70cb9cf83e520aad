"""Build the B-Free parity fixture by running the OFFICIAL B-Free code (grip-unina/B-Free @ c6a9f89, ``code/``).

Usage (the official Docker image pins timm 1.0.12; install it into a side folder)::

    git clone https://github.com/grip-unina/B-Free /tmp/bfree && git -C /tmp/bfree checkout c6a9f89
    pip install --target /tmp/bfree_deps --no-deps timm==1.0.12
    PYTHONPATH=/tmp/bfree_deps:/tmp/bfree/code python tools/parity/bfree.py --official /tmp/bfree/code \
        --data ../shared/data --out tests/fixtures/parity/bfree

What runs from the official repository, unmodified: ``networks/__init__.py`` ``get_network(arch)`` (``timm.create_model
(arch[12:], num_classes=1)`` wrapped in ``networks/wrapper5crops.py`` ``Wrapper5crops(model, 504)``: patch embedding of
the whole image, replicate-wrap of small embedding grids, five 36x36-patch crops, mean of the five logits),
``load_weights`` (``{'model': state_dict}``), ``utils/normalization.py`` ``get_list_norm(norm_type)`` on the PIL RGB
image at native resolution, and the score of ``main_bfree.py`` ``running_tests`` (one logit: ``out[:, 0]``).

Shim, applied from outside: ``timm.create_model`` as seen by ``networks`` gets ``depth=2, embed_dim=64, num_heads=1``
(a TINY ``vit_base_patch14_reg4_dinov2`` of the same timm class: patch 14, 4 registers, LayerScale, no class-token
position embedding), because the DINOv2 weights cannot be downloaded here. Every tensor is then given seeded
non-default values and the head is scaled so that logits spread over a few units.

Outputs in ``--out``: ``BFREE_tiny/config.yaml`` (the official config layout: arch, model_name, norm_type 'resnet' as
the released config, weights_file), ``BFREE_tiny/model_epoch_best.pth`` (``{'model': timm state dict}``, the key
layout the official ``Wrapper5crops.load_state_dict`` reads), ``expected.csv`` (image, width, height, logit, prob =
sigmoid(logit)), and ``README.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from foundation_images import IMAGES, write_expected  # noqa: E402

ARCH = "timm_c5i504_vit_base_patch14_reg4_dinov2.lvd142m"
TINY = {"depth": 2, "embed_dim": 64, "num_heads": 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, required=True, help="grip-unina/B-Free @ c6a9f89, its code/ folder")
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    sys.path.insert(0, str(args.official))

    import timm
    from PIL import Image
    from torchvision.transforms import Compose

    from networks import get_network, load_weights
    from utils.normalization import get_list_norm

    real_create = timm.create_model

    def tiny_create(name, **kwargs):
        return real_create(name, **kwargs, **TINY)

    timm.create_model = tiny_create  # get_network runs "import timm; timm.create_model(...)" inside the function

    torch.manual_seed(30)
    model = get_network(ARCH)
    gen = torch.Generator().manual_seed(31)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            noise = torch.randn(tensor.shape, generator=gen)
            if name.endswith("gamma"):
                tensor.copy_(0.5 + 0.2 * noise)
            elif "norm" in name:
                tensor.copy_((1 + 0.2 * noise) if name.endswith("weight") else 0.1 * noise)
            elif name.endswith("bias") or name.endswith(("cls_token", "reg_token")):
                tensor.copy_(0.05 * noise if name.endswith("bias") else noise)
    timm.create_model = real_create

    folder = args.out / "BFREE_tiny"
    folder.mkdir(parents=True, exist_ok=True)
    config = {"arch": ARCH, "model_name": "BFREE_tiny", "norm_type": "resnet", "patch_size": None,
              "weights_file": "model_epoch_best.pth"}
    transform = Compose(get_list_norm(config["norm_type"]))

    def official_state(wrapper):
        # the inner timm model's keys, with the wrapper's patch_embed under 'patch_embed.' (as load_state_dict reads)
        return {(k[len("model."):] if k.startswith("model.") else k): v.clone() for k, v in wrapper.state_dict().items()}

    inputs = []
    for rel in IMAGES:
        img = Image.open(args.data / rel).convert("RGB")
        inputs.append((rel, img.size, transform(img).unsqueeze(0)))
    with torch.no_grad():
        model.eval()
        logits = torch.cat([model(x)[:, 0] for *_, x in inputs])
        scale = 1.5 / logits.std().item()
        model.model.head.weight.mul_(scale)
        model.model.head.bias.mul_(scale)
        shift = (logits * scale).mean().item()
        model.model.head.bias.sub_(shift)
    torch.save({"model": official_state(model)}, folder / "model_epoch_best.pth")
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=True))

    # reload through the official loader and score each image alone, as main_bfree.py does
    torch.manual_seed(0)
    timm.create_model = tiny_create
    official = load_weights(get_network(ARCH), folder / "model_epoch_best.pth").eval()
    timm.create_model = real_create
    rows = []
    with torch.no_grad():
        for rel, (width, height), x in inputs:
            logit = official(x).numpy()[:, 0]
            rows.append({"image": rel, "width": width, "height": height, "logit": f"{logit.item():.8f}",
                         "prob": f"{torch.sigmoid(torch.tensor(logit)).item():.8f}"})
    write_expected(args.out / "expected.csv", rows)
    spread = torch.tensor([float(r["logit"]) for r in rows])
    print(f"torch {torch.__version__}, timm {timm.__version__}; head scaled by {scale:.4f}; logit mean "
          f"{spread.mean():.3f} std {spread.std():.3f}; wrote {len(rows)} rows")


if __name__ == "__main__":
    main()
