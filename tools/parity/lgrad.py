"""Build the LGrad parity fixture by RUNNING the official PyTorch img2grad and classifier code.

Usage::

    python tools/parity/lgrad.py --lgrad /tmp/LGrad --sidbench /tmp/sidbench --data ../shared/data \
        --out tests/fixtures/parity/lgrad

``--lgrad``: a checkout of chuangchuangtan/LGrad @ 7cb5973; ``--sidbench``: mever-team/sidbench @ b33f51c. Nothing of
either is copied into fakebench; their modules are imported from the checkouts and run on the CPU.

* Discriminator: LGrad ``img2gad_pytorch/models`` ``build_model(gan_type='stylegan', module='discriminator',
  resolution=256, label_size=0, image_channels=3)`` as ``gen_imggrad.py`` builds it, but with
  ``fmaps_base=256, fmaps_max=16`` (same architecture, 1..16 feature maps) so the fixture is small; seeded weights,
  random biases. Saved as ``torch.save(state_dict)`` (the format of the official ``*_discriminator.pth``).
* Classifier: LGrad ``CNNDetection/networks/resnet.py`` ``resnet50(num_classes=1)``, seeded, BatchNorm perturbed,
  conv/linear weights quantised to 5 levels (so xz compresses them), fc rescaled; saved as ``torch.save(state_dict)``
  (the format ``eval_test8gan.py`` loads) and xz-compressed.
* ``official`` preset: the official ``gen_imggrad.py`` functions (``read_batchimg`` with its ``processimg``,
  ``normlize_np``) and the same gradient call, on the CPU instead of ``.cuda()``, written with ``cv2.imwrite(...,
  img[..., ::-1])`` as there, then read back by CNNDetection's test transform (``no_resize``, ``no_crop``: ToTensor
  + ImageNet Normalize) and scored with ``model(x).sigmoid()``.
* ``sidbench`` preset: SIDBench's ``dataset/process.py`` ``lgrad_processing(img, opt)`` itself (its package-level
  imports stubbed: ``models.VALID_MODELS`` and ``utils.util.setup_device`` -> CPU), then the classifier.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import lzma
import os
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch

IMAGES = [
    "cifake/0_real/0000 (10).jpg",                        # 32x32: smaller than 256
    "cifake/1_fake/1000 (10).jpg",
    "real_photos/cbsd68/0_real/101085.png",              # 321x481: odd, non-square
    "real_photos/cbsd68/0_real/101087.png",
    "forensynths_samples/stylegan/0_real/14_stylegan_real.jpg",
    "forensynths_samples/stylegan/1_fake/156_stylegan_fake.jpg",
    "forensynths_samples/biggan/0_real/105_biggan_real.jpg",
    "forensynths_samples/biggan/1_fake/{first}",
    "cnndetection_examples/0_real/real.png",
    "cnndetection_examples/1_fake/fake.png",
    "gangen_began/0_real/000001_crop.png",                # 128x128
    "gangen_began/1_fake/BEGAN_00000000.png",
]


def _load(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lgrad", required=True, type=Path)
    ap.add_argument("--sidbench", required=True, type=Path)
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)

    # -- official LGrad modules ------------------------------------------------------------------------------
    sys.path.insert(0, str(args.lgrad / "img2gad_pytorch"))
    from models import build_model  # LGrad img2gad_pytorch/models
    gen = _load("lgrad_gen_imggrad", args.lgrad / "img2gad_pytorch" / "gen_imggrad.py")
    sys.path.pop(0)
    for k in [k for k in sys.modules if k == "models" or k.startswith("models.")]:
        del sys.modules[k]
    resnet_mod = _load("lgrad_cnndet_resnet", args.lgrad / "CNNDetection" / "networks" / "resnet.py")

    torch.manual_seed(0)
    disc = build_model(gan_type="stylegan", module="discriminator", resolution=256, label_size=0, image_channels=3,
                       fmaps_base=256, fmaps_max=16)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, p in disc.named_parameters():
            if name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    disc.eval()
    disc_path = args.out / "tiny_stylegan256_discriminator.pth"
    torch.save(disc.state_dict(), disc_path)

    torch.manual_seed(0)
    clf = resnet_mod.resnet50(num_classes=1)
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for m in clf.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(1 + 0.2 * torch.randn(n, generator=g))
                m.bias.copy_(0.1 * torch.randn(n, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
                m.running_var.copy_(torch.exp(0.3 * torch.randn(n, generator=g)))
            elif isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                s = m.weight.std()
                m.weight.copy_(s * torch.clamp(torch.round(m.weight / s), -2, 2))
    clf.eval()

    # -- sidbench lgrad_processing with its package imports stubbed ------------------------------------------
    sys.modules["models"] = types.SimpleNamespace(VALID_MODELS=["LGrad"])
    utils_pkg = types.ModuleType("utils")
    utils_util = types.ModuleType("utils.util")
    utils_util.setup_device = lambda gpus: torch.device("cpu")
    sys.modules["utils"], sys.modules["utils.util"] = utils_pkg, utils_util
    sid = _load("sidbench_process", args.sidbench / "dataset" / "process.py")
    opt = types.SimpleNamespace(gpus="", cropSize=256, LGradGenerativeModel=disc)

    from PIL import Image
    import cv2
    from torchvision import transforms

    cnndet_test = transforms.Compose([transforms.ToTensor(),
                                      transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    paths = []
    for rel in IMAGES:
        if "{first}" in rel:
            folder = args.data / os.path.dirname(rel)
            rel = os.path.join(os.path.dirname(rel), sorted(os.listdir(folder))[0])
        paths.append(rel)

    def official_input(rel: str) -> torch.Tensor:
        return gen.read_batchimg([str(args.data / rel)])

    def official_grad_png(rel: str, tmp: str) -> str:
        img_cpu = official_input(rel).to(torch.float32)
        img_cpu.requires_grad = True
        pre = disc(img_cpu)
        disc.zero_grad()
        grad = torch.autograd.grad(pre.sum(), img_cpu, create_graph=True, retain_graph=True, allow_unused=False)[0]
        img = gen.normlize_np(grad[0].permute(1, 2, 0).cpu().detach().numpy())
        out = os.path.join(tmp, "grad.png")
        cv2.imwrite(out, img[..., ::-1])
        return out

    raw = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rel in paths:
            png = official_grad_png(rel, tmp)
            with torch.no_grad():
                raw[(rel, "official")] = clf(cnndet_test(Image.open(png).convert("RGB")).unsqueeze(0)).item()
            x = sid.lgrad_processing(Image.open(args.data / rel).convert("RGB"), opt)
            with torch.no_grad():
                raw[(rel, "sidbench")] = clf(x.unsqueeze(0)).item()

    # fc rescale so the logits spread over about +-3, then recompute exactly (the rescale changes only fc).
    vals = np.array(list(raw.values()))
    scale = 1.5 / max(vals.std(), 1e-12)
    with torch.no_grad():
        clf.fc.weight.mul_(scale)
        clf.fc.bias.copy_(clf.fc.bias * scale - float(vals.mean() * scale))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for rel in paths:
            png = official_grad_png(rel, tmp)
            with torch.no_grad():
                lo = clf(cnndet_test(Image.open(png).convert("RGB")).unsqueeze(0))
            rows.append({"image": rel, "preset": "official", "logit": f"{lo.item():.9g}",
                         "prob": f"{lo.sigmoid().item():.9g}"})
            x = sid.lgrad_processing(Image.open(args.data / rel).convert("RGB"), opt)
            with torch.no_grad():
                lo = clf(x.unsqueeze(0))
            rows.append({"image": rel, "preset": "sidbench", "logit": f"{lo.item():.9g}",
                         "prob": f"{lo.sigmoid().item():.9g}"})

    buf = tempfile.SpooledTemporaryFile()
    torch.save(clf.state_dict(), buf)
    buf.seek(0)
    with lzma.open(args.out / "tiny_lgrad_classifier.pth.xz", "wb", preset=9) as f:
        f.write(buf.read())
    with open(args.out / "expected.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["image", "preset", "logit", "prob"])
        w.writeheader()
        w.writerows(rows)
    meta = {"torch": torch.__version__, "numpy": np.__version__, "opencv": cv2.__version__,
            "fc_scale": scale, "lgrad_commit": "7cb5973", "sidbench_commit": "b33f51c"}
    (args.out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
