"""Build the SAFE parity fixture by running the OFFICIAL SAFE code (Ouxiang-Li/SAFE @ 722620a).

Usage (from the repository root)::

    git clone https://github.com/Ouxiang-Li/SAFE /tmp/SAFE && git -C /tmp/SAFE checkout 722620a
    pip install pytorch_wavelets==1.3.0            # the official DWT (or: --pytorch-wavelets DIR holding it)
    python tools/parity/safe.py /tmp/SAFE

What it does:

1. Imports the official ``models/resnet.py`` and ``data/datasets.py`` from the checkout (``kornia``, imported at the
   top of ``models/resnet.py`` but used only by the unused ``_preprocess_edge``, is stubbed when absent).
2. Stores the official DWT step on fixed inputs (``pytorch_wavelets`` ``DWTForward(J=1, mode='symmetric',
   wave='bior1.3')`` bands and the model's ``_preprocess_dwt`` output) in ``dwt_cases.pt``.
3. ``torch.manual_seed(0)``; ``resnet50(num_classes=2)`` (the official constructor for ``--model SAFE``); BatchNorm
   perturbed (seed 1); conv/linear weights quantised to 5 levels; ``fc1`` made antisymmetric (rows -w, w, from the
   difference of its two random rows), scaled and shifted so the fake-minus-real logit has std about 1.5 and mean
   about 0 over the images (crop256); saved in the format of ``utils.save_model``
   (``{'model', 'optimizer', 'epoch', 'scaler', 'args'}``), xz-compressed: ``checkpoint-best_format.pth.xz``.
4. For each preset, the official eval transform (``Get_Transforms`` with ``--input_size 256`` and
   ``--transform_mode`` crop / source / resize_BILINEAR) and the official model give ``expected.csv``
   (logits and ``softmax[:, 1]``, the official fake probability), CPU, float32, batch size 1, ``torch.no_grad()``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import lzma
import sys
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _artifact_common import IMAGES, perturb_batchnorm, quantise, shared_data, write_csv, write_xz  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "parity" / "safe"
PRESETS = {"crop256": "crop", "native": "source", "resize256": "resize_BILINEAR"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("official", type=Path, help="checkout of Ouxiang-Li/SAFE at 722620a")
    parser.add_argument("--pytorch-wavelets", type=Path, default=None, help="folder to add to sys.path for it")
    args = parser.parse_args()
    if args.pytorch_wavelets:
        sys.path.insert(0, str(args.pytorch_wavelets))
    sys.path.insert(0, str(args.official.resolve()))
    try:
        importlib.import_module("kornia")
    except ImportError:
        sys.modules["kornia"] = types.ModuleType("kornia")  # only _preprocess_edge uses it
    from pytorch_wavelets import DWTForward
    import pytorch_wavelets
    from models.resnet import resnet50
    from data.datasets import Get_Transforms
    from PIL import Image

    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)

    # -- the DWT step on fixed inputs ------------------------------------------------------------------------------
    gen = torch.Generator().manual_seed(123)
    cases = []
    for shape in [(2, 3, 16, 16), (1, 3, 33, 47), (1, 3, 7, 3), (1, 3, 1, 5), (1, 3, 40, 26)]:
        x = torch.rand(shape, generator=gen)
        low, highs = DWTForward(J=1, mode="symmetric", wave="bior1.3")(x)
        cases.append({"x": x, "low": low, "highs": highs[0], "model_input": resnet50(num_classes=2)._preprocess_dwt(x)})
    torch.save(cases, OUT / "dwt_cases.pt")

    # -- the model --------------------------------------------------------------------------------------------------
    torch.manual_seed(0)
    model = resnet50(num_classes=2)
    perturb_batchnorm(model, seed=1)
    quantise(model)
    model.eval()

    data = shared_data()
    images = [Image.open(data / rel).convert("RGB") for rel in IMAGES]

    def transform(mode):
        ns = argparse.Namespace(input_size=256, transform_mode=mode, jpeg_factor=None, blur_sigma=None,
                                mask_ratio=None, mask_patch_size=None)
        return Get_Transforms(ns)[1]

    def logits(mode):
        t = transform(mode)
        return [model(t(img).unsqueeze(0))[0] for img in images]

    diffs = torch.stack([o[1] - o[0] for o in logits("crop")])
    with torch.no_grad():  # antisymmetric head: fake-minus-real logit with std ~1.5 and mean ~0, each logit small
        scale = 1.5 / diffs.std().item()
        w = (model.fc1.weight[1] - model.fc1.weight[0]) * scale / 2
        b = (model.fc1.bias[1] - model.fc1.bias[0]) * scale / 2
        model.fc1.weight.copy_(torch.stack([-w, w]))
        model.fc1.bias.copy_(torch.stack([-b, b]))
        diffs = torch.stack([o[1] - o[0] for o in logits("crop")])
        model.fc1.bias.add_(torch.stack([diffs.mean() / 2, -diffs.mean() / 2]))

    rows = []
    for preset, mode in PRESETS.items():
        for rel, out in zip(IMAGES, logits(mode)):
            prob = torch.softmax(out, dim=0)[1].item()
            rows.append({"preset": preset, "image": rel, "logit_real": f"{out[0].item():.8f}",
                         "logit_fake": f"{out[1].item():.8f}", "prob": f"{prob:.8f}"})
    write_csv(rows, OUT / "expected.csv")

    ckpt = {"model": model.state_dict(), "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "params": []}]},
            "epoch": "best", "scaler": {"scale": 65536.0, "growth_factor": 2.0},
            "args": argparse.Namespace(model="SAFE", input_size=256, transform_mode="crop", resume="")}
    sha = write_xz(ckpt, OUT / "checkpoint-best_format.pth.xz")
    info = {"official": "Ouxiang-Li/SAFE @ 722620a6a6c1acae5bfbc580c9b0a295f64b7a87", "torch": torch.__version__,
            "pytorch_wavelets": getattr(pytorch_wavelets, "__version__", "?"), "checkpoint_sha256": sha,
            "fc1_scale": scale}
    (OUT / "made_with.json").write_text(json.dumps(info, indent=1) + "\n")
    print(json.dumps(info, indent=1), f"\n{len(rows)} rows")


if __name__ == "__main__":
    main()
