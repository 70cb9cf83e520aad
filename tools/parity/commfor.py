"""Build the Community Forensics parity fixture by running the OFFICIAL code on a tiny ViT.

Usage::

    python tools/parity/commfor.py --repo /path/to/JeongsooP/Community-Forensics \
        [--shared ../shared] [--out tests/fixtures/parity/commfor]

``--repo`` is a checkout of ``JeongsooP/Community-Forensics`` @ 5ec815fb59bb46d4bcf4155bab1baea23337c4f9. Nothing of
it is copied into fakebench; ``models.py`` and ``dataloader.py`` are imported from the checkout.

What it does (CPU, float32, seeded):

1. ``timm.create_model`` as seen by the official ``models.py`` is replaced so that
   ``'vit_small_patch16_384.augreg_in21k_ft_in1k', pretrained=True`` gives a seeded (``torch.manual_seed(0)``) timm
   ``vit_small_patch16_384`` with depth 1 and mlp_ratio 0.25 (width 384 and 6 heads are kept: the official head is
   ``nn.Linear(384, 1)``); LayerNorms perturbed (``torch.Generator().manual_seed(3)``), every float rounded through
   float16 (the fixture is stored in float16 to stay small).
2. The official ``models.ViTClassifier(model_size="small", input_size=384, patch_size=16)`` adds its head
   (``torch.manual_seed(1)``), rescaled so the logits spread; ``save_pretrained`` (``PyTorchModelHubMixin``) writes
   ``model.safetensors`` + ``config.json`` as on ``OwensLab/commfor-model-384``; the tensors are then re-saved in
   float16 (``model.safetensors``, same keys) and read back with ``ViTClassifier.from_pretrained(<folder>)`` (the
   official Hugging Face path of ``utils.load_ckpt_from_huggingface``).
3. Preprocessing: the official ``dataloader.get_transform(args(input_size=384), mode="test")`` (Resize(440) bilinear
   shorter side, CenterCrop(384), ``ToTensor_range(0, 1)``, ImageNet ``Normalize``); outputs are the raw logits
   (``eval.py`` adds the sigmoid). For the 224 model the transform alone is recorded: per image the mean and the L2
   norm of ``get_transform(args(input_size=224), mode="test")`` (Resize(256), CenterCrop(224)) in ``transform224.csv``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import IMAGES, environment, put_first_on_path, sigmoid, write_expected  # noqa: E402

COMMIT = "5ec815fb59bb46d4bcf4155bab1baea23337c4f9"
TINY = {"depth": 1, "mlp_ratio": 0.25}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True, help="checkout of JeongsooP/Community-Forensics @ 5ec815f")
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2].parent / "shared")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "tests/fixtures/parity/commfor")
    args = parser.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)

    for name in ("wandb", "torchmetrics", "torchmetrics.classification", "datasets"):  # imported for training
        # logging, metrics and HF dataset streaming only (never called on this path); stubbed when not installed
        if name not in sys.modules:
            try:
                __import__(name)
            except ImportError:
                sys.modules[name] = types.ModuleType(name)
    put_first_on_path(args.repo)
    import timm
    from PIL import Image
    from safetensors.torch import load_file, save_file

    import dataloader as official_dl
    import models as official_models

    real_create = timm.create_model

    def tiny_create(name, pretrained=False, **kwargs):
        assert name == "vit_small_patch16_384.augreg_in21k_ft_in1k" and pretrained, name
        torch.manual_seed(0)
        vit = real_create("vit_small_patch16_384", pretrained=False, **TINY, **kwargs)
        gen = torch.Generator().manual_seed(3)
        with torch.no_grad():
            for module in vit.modules():
                if isinstance(module, torch.nn.LayerNorm):
                    module.weight.copy_(1 + 0.2 * torch.randn(module.weight.shape, generator=gen))
                    module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))
            for p in vit.parameters():
                p.copy_(p.half().float())
        return vit

    official_models.timm = types.SimpleNamespace(create_model=tiny_create)
    transform384 = official_dl.get_transform(argparse.Namespace(input_size=384), mode="test")
    transform224 = official_dl.get_transform(argparse.Namespace(input_size=224), mode="test")
    data = args.shared / "data"
    images = [Image.open(data / rel).convert("RGB") for rel in IMAGES]
    inputs = [transform384(img) for img in images]

    torch.manual_seed(1)
    model = official_models.ViTClassifier(model_size="small", input_size=384, patch_size=16, device="cpu").eval()
    with torch.no_grad():
        head = model.vit.head
        head.weight.copy_(head.weight.half().float())
        logits = torch.cat([model(x[None]).reshape(-1) for x in inputs])
        scale = 1.5 / float(logits.std())
        print(f"head rescaled by {scale:.4g} (logit std before {float(logits.std()):.4g})")
        head.weight.mul_(scale)
        head.weight.copy_(head.weight.half().float())
        logits = torch.cat([model(x[None]).reshape(-1) for x in inputs])
        head.bias.copy_((head.bias - logits.mean()).half().float())
    folder = out / "commfor_tiny_384"
    model.save_pretrained(folder)
    (folder / "README.md").unlink(missing_ok=True)  # the mixin's generated model card; not needed by any loader
    state = load_file(folder / "model.safetensors")
    save_file({k: v.half() for k, v in state.items()}, folder / "model.safetensors", metadata={"format": "pt"})
    fresh = official_models.ViTClassifier.from_pretrained(str(folder)).eval()  # the official HF loading path
    rows = []
    with torch.no_grad():
        for rel, img, x in zip(IMAGES, images, inputs):
            logit = float(fresh(x[None]).reshape(-1)[0])
            rows.append(dict(image=rel, width=img.width, height=img.height, config="tiny384",
                             preset="resize440_crop384", logit=logit, prob=sigmoid(logit)))
    write_expected(out / "expected.csv", rows)
    with open(out / "transform224.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "shape", "mean", "l2"])
        for rel, img in zip(IMAGES, images):
            t = transform224(img).double()
            writer.writerow([rel, "x".join(map(str, t.shape)), f"{float(t.mean()):.8f}", f"{float(t.norm()):.6f}"])
    meta = {"commit": COMMIT, "timm": timm.__version__, "environment": environment(), "tiny_overrides": TINY,
            "config_json": json.loads((folder / "config.json").read_text())}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {len(rows)} rows to {out / 'expected.csv'}")


if __name__ == "__main__":
    main()
