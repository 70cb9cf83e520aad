"""Build the LaDeDa parity fixture by running the OFFICIAL code (barcavia/RealTime-DeepfakeDetection-in-the-RealWorld
@ e734562).

Usage (from the repository root)::

    git clone https://github.com/barcavia/RealTime-DeepfakeDetection-in-the-RealWorld /tmp/ladeda
    git -C /tmp/ladeda checkout e734562
    python tools/parity/ladeda.py /tmp/ladeda

Shims, applied from outside (the checkout is not modified):

* ``networks/LaDeDa.py`` at e734562 does not compile: ``def LaDeDa9(strides=[2, 2, 2, 1], preprocess_type,
  **kwargs)`` (and LaDeDa33/17/5) put an argument without a default after a defaulted one, and pass it on
  positionally after keyword arguments. The module is compiled from its source with ``preprocess_type`` given the
  default of the options (``'NPR'``, ``options/base_options.py`` ``--ladeda_preprocess``) and passed by keyword;
  nothing else changes.
* ``test.py`` ``get_model`` calls ``LaDeDa9(pretrained=False, num_classes=1)``, which ``LaDeDa.__init__`` rejects;
  here ``LaDeDa9(num_classes=1)`` then ``model.fc = nn.Linear(2048, 1)`` as ``get_model`` does.
* ``data/datasets.py`` imports ``gaussian_filter`` from ``scipy.ndimage.filters`` (removed in recent SciPy): aliased
  to ``scipy.ndimage`` when missing (only the training augmentation uses it).

Then: ``torch.manual_seed(0)``; the model (a shallower ``layers`` of the same architecture, ``LaDeDa(Bottleneck,
[1, 2, 1, 1], strides=[2, 2, 2, 1], kernel3=[1, 1, 0, 0])``, so both 3x3 and 1x1 blocks of layer2 are present and
the fixture stays small); BatchNorm perturbed (seed 3); conv/linear weights quantised; ``fc`` scaled/shifted to a
logit std of 1.5, mean 0; saved as a plain state dict (the format ``get_model`` loads), xz-compressed. Images go
through the official test transform (``binary_dataset`` with ``isTrain=False, no_resize=False, no_crop=True,
loadSize=256``) and the model on CPU, float32, batch of one; ``expected.csv`` holds the logit and sigmoid.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _artifact_common import IMAGES, perturb_batchnorm, quantise, shared_data, write_csv, write_xz  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "parity" / "ladeda"
LAYERS = [1, 2, 1, 1]


def load_official_ladeda(root: Path) -> types.ModuleType:
    """Compile ``networks/LaDeDa.py`` with its signature error repaired (see the module docstring)."""
    path = root / "networks" / "LaDeDa.py"
    src = path.read_text()
    fixed, n_defs = re.subn(r"preprocess_type, \*\*kwargs\):", 'preprocess_type="NPR", **kwargs):', src)
    fixed, n_calls = re.subn(r"\], preprocess_type, \*\*kwargs\)", "], preprocess_type=preprocess_type, **kwargs)", fixed)
    assert n_defs == 4 and n_calls == 4, (n_defs, n_calls)
    module = types.ModuleType("networks.LaDeDa")
    module.__file__ = str(path)
    exec(compile(fixed, str(path), "exec"), module.__dict__)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("official", type=Path, help="checkout of barcavia/RealTime-DeepfakeDetection-in-the-RealWorld")
    args = parser.parse_args()
    root = args.official.resolve()
    sys.path.insert(0, str(root))
    import scipy.ndimage

    try:
        import scipy.ndimage.filters  # noqa: F401
    except ImportError:
        sys.modules["scipy.ndimage.filters"] = scipy.ndimage
    from data.datasets import binary_dataset

    official = load_official_ladeda(root)
    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    torch.manual_seed(0)
    model = official.LaDeDa(official.Bottleneck, LAYERS, strides=[2, 2, 2, 1], kernel3=[1, 1, 0, 0], num_classes=1)
    model.fc = torch.nn.Linear(2048, 1)
    perturb_batchnorm(model, seed=3)
    quantise(model)
    model.eval()

    data = shared_data()
    opt = argparse.Namespace(isTrain=False, no_crop=True, no_flip=True, no_resize=False, loadSize=256, cropSize=224,
                             is_aug=False)
    with tempfile.TemporaryDirectory() as tmp:
        for i, rel in enumerate(IMAGES):
            link = Path(tmp) / "x" / f"{i:02d}{Path(rel).suffix.lower()}"
            link.parent.mkdir(exist_ok=True)
            link.symlink_to(data / rel)
        dset, paths = binary_dataset(opt, tmp)
        batches = [dset[i][0].unsqueeze(0) for i in range(len(dset))]
    assert len(batches) == len(IMAGES)

    def logits():
        return torch.stack([model(b)[0, 0] for b in batches])

    scale = 1.5 / logits().std().item()
    model.fc.weight.mul_(scale)
    model.fc.bias.mul_(scale)
    model.fc.bias.sub_(logits().mean())
    out = logits()
    rows = [{"preset": "resize256", "image": rel, "logit": f"{v.item():.8f}", "prob": f"{torch.sigmoid(v).item():.8f}"}
            for rel, v in zip(IMAGES, out)]
    write_csv(rows, OUT / "expected.csv")
    sha = write_xz(model.state_dict(), OUT / "LaDeDa_format.pth.xz")
    info = {"official": "barcavia/RealTime-DeepfakeDetection-in-the-RealWorld @ e734562bbb6763f5bb2951099e9dc9a38df5e7dd",
            "torch": torch.__version__, "layers": LAYERS, "checkpoint_sha256": sha, "fc_scale": scale,
            "state_dict_keys": len(model.state_dict())}
    (OUT / "made_with.json").write_text(json.dumps(info, indent=1) + "\n")
    print(json.dumps(info, indent=1), f"\n{len(rows)} rows")


if __name__ == "__main__":
    main()
