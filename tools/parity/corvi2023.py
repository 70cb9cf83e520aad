"""Build the Corvi2023 parity fixture by running the OFFICIAL code (grip-unina/ClipBased-SyntheticImageDetection
@ c76ef7f).

Usage (from the repository root)::

    git clone https://github.com/grip-unina/ClipBased-SyntheticImageDetection /tmp/grip
    git -C /tmp/grip checkout c76ef7f
    python tools/parity/corvi2023.py /tmp/grip

What it does:

1. Imports the official ``networks/resnet_mod.py`` and ``utils/processing.py`` (``make_normalize``) from the checkout.
2. ``torch.manual_seed(0)``; ``resnet_mod.ResNet(Bottleneck, [1, 1, 1, 1], num_classes=1, stride0=1, dropout=0.5)``
   -- the ``res50nodown`` architecture of ``create_architecture`` with one block per stage, to keep the fixture
   small; BatchNorm perturbed (seed 2); conv/linear weights quantised to 5 levels; ``fc`` scaled/shifted so the
   LLR has std about 1.5 and mean about 0 over the images. Saved as ``{'model': {'module.' + k: v}}`` (the
   DataParallel layout ``networks.load_weights`` strips), xz-compressed: ``weights_format.pth.xz``. The official
   ``load_weights`` is run on the uncompressed file to prove it reads it.
3. The official ``main.py`` test path for ``patch_size: null``: ``Compose([make_normalize('resnet')])`` on
   ``Image.open(f).convert('RGB')``, batch of one, ``out[:, 0]`` = the LLR, CPU float32 ``torch.no_grad()``;
   ``expected.csv`` holds the LLR and ``sigmoid(LLR)``. Images: the 10 fixture images up to 481 px (native size
   without downsampling is costly on CPU).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _artifact_common import IMAGES, perturb_batchnorm, quantise, shared_data, write_csv, write_xz  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "parity" / "corvi2023"
SKIP = ("aeroblade_examples/1_fake/KD2-1.png", "real_photos/sun_hays80/0_real/aqueduct_sun_ancegghzusmmvzjn.jpg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("official", type=Path, help="checkout of grip-unina/ClipBased-SyntheticImageDetection @ c76ef7f")
    args = parser.parse_args()
    sys.path.insert(0, str(args.official.resolve()))
    from networks import load_weights
    from networks.resnet_mod import Bottleneck, ResNet
    from torchvision.transforms import Compose
    from utils.processing import make_normalize
    from PIL import Image

    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    torch.manual_seed(0)
    model = ResNet(Bottleneck, [1, 1, 1, 1], num_classes=1, stride0=1, dropout=0.5)
    perturb_batchnorm(model, seed=2)
    quantise(model)
    model.eval()

    data = shared_data()
    names = [rel for rel in IMAGES if rel not in SKIP]
    transform = Compose([make_normalize("resnet")])  # main.py, patch_size None
    batches = [transform(Image.open(data / rel).convert("RGB")).unsqueeze(0) for rel in names]

    def llrs():
        return torch.stack([model(b)[:, 0][0] for b in batches])

    out = llrs()
    scale = 1.5 / out.std().item()
    model.fc.weight.mul_(scale)
    model.fc.bias.mul_(scale)
    model.fc.bias.sub_(llrs().mean())

    state = {"model": {"module." + k: v for k, v in model.state_dict().items()}}
    with tempfile.TemporaryDirectory() as tmp:  # the official loader reads the saved layout
        torch.save(state, Path(tmp) / "weights.pth")
        model = load_weights(ResNet(Bottleneck, [1, 1, 1, 1], num_classes=1, stride0=1, dropout=0.5),
                             str(Path(tmp) / "weights.pth")).eval()
    out = llrs()
    rows = [{"preset": "native", "image": rel, "llr": f"{v.item():.8f}", "prob": f"{torch.sigmoid(v).item():.8f}"}
            for rel, v in zip(names, out)]
    write_csv(rows, OUT / "expected.csv")
    sha = write_xz(state, OUT / "weights_format.pth.xz")
    info = {"official": "grip-unina/ClipBased-SyntheticImageDetection @ c76ef7f5e158c5aba9e55b8b94ab0079720d281e",
            "torch": torch.__version__, "layers": [1, 1, 1, 1], "checkpoint_sha256": sha, "fc_scale": scale}
    (OUT / "made_with.json").write_text(json.dumps(info, indent=1) + "\n")
    print(json.dumps(info, indent=1), f"\n{len(rows)} rows")


if __name__ == "__main__":
    main()
