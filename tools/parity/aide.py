"""Build the AIDE parity fixture by running the OFFICIAL AIDE code (shilinyan99/AIDE @ 6725b71).

Usage (from the repository root)::

    git clone https://github.com/shilinyan99/AIDE /tmp/AIDE && git -C /tmp/AIDE checkout 6725b71
    python tools/parity/aide.py /tmp/AIDE

What it does:

1. Copies the checkout to a temporary folder and imports its ``models/AIDE.py`` and ``data/datasets.py``. Two
   imports the test path never uses are stubbed when absent: ``clip`` (OpenAI CLIP, imported by ``models/AIDE.py``
   and not called) and ``kornia`` (the training-time blur/JPEG of ``data/datasets.py``).
2. ``open_clip.create_model_and_transforms('convnext_xxlarge', pretrained=None)`` is replaced by a builder of the
   same trunk as open_clip's ``TimmModel`` makes it (``timm.create_model('convnext_xxlarge', drop_path_rate=0.1)``
   then ``reset_classifier(0)``) at a TINY size: :data:`TINY` (stage depths 1, 1, 1, 0 and widths 8, 16, 32, 3072;
   the last width is what AIDE's projection and shape check need). Only the trunk's size changes, not its code.
3. The official ``AIDE_Model(resnet_path=None, convnext_path=None)`` gets deterministic weights from
   :func:`tiny_state` (a splitmix64 hash of each key; the fakebench test rebuilds the same tensors without the
   official code, so no checkpoint of ~200 MB is stored), saved in ``utils.py save_model``'s format and read back
   the way ``utils.py auto_load_model`` does (``torch.load`` + ``load_state_dict``, strict).
4. For the images of :data:`IMAGES`: the official ``TestDataset.__getitem__`` (``ToTensor``, ``DCT_base_Rec_Module``,
   ``transform_train``) builds the ``(5, 3, 256, 256)`` input, with ``transform_train``'s ``Resize`` set to
   ``antialias=False``: torchvision 0.12 (``requirements.txt``) resizes tensors without antialiasing, newer
   torchvision would antialias. The official model scores all images in one batch (CPU, float32, no grad) and
   ``softmax[:, 1]`` gives the fake probability (``engine_finetune.evaluate``): ``expected.csv``.
5. The four windows ``DCT_base_Rec_Module`` returns for three images are kept in ``dct_cases.pt`` (bit-for-bit test
   of :func:`fakebench.detectors.aide.aide_windows`), and the official state dict's keys, shapes and dtypes in
   ``official_layout.json`` (the port's network must have exactly these).
"""

from __future__ import annotations

import argparse
import csv
import importlib
import io
import json
import math
import shutil
import subprocess
import sys
import tempfile
import types
import zlib
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _artifact_common import shared_data  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "parity" / "aide"
#: The tiny ConvNeXt trunk of the fixture (``convnext_xxlarge`` is depths (3, 4, 30, 3), widths (384, ..., 3072)).
TINY = {"depths": (1, 1, 1, 0), "dims": (8, 16, 32, 3072)}
#: Fixture images, relative to ``../shared/data``: the artifact family's list (``_artifact_common.IMAGES``) with a
#: second 32 px image (AIDE's minimum: a single DCT window) in place of the second 321x481 photo.
IMAGES = (
    "cifake/1_fake/1000 (10).jpg",                    # 32x32 JPEG: one window
    "cifake/0_real/0000 (10).jpg",                    # 32x32
    "gangen_began/0_real/000001_crop.png",            # 128x128
    "gangen_began/1_fake/BEGAN_00000000.png",         # 128x128
    "real_photos/cbsd68/0_real/101085.png",           # 321x481 (odd, portrait)
    "grip_gan_examples/progan/0_real/real_progan.png",  # 256x256
    "grip_gan_examples/progan/1_fake/fake_progan.png",  # 256x256
    "forensynths_samples/stylegan/1_fake/156_stylegan_fake.jpg",  # 356x356 JPEG
    "cnndetection_examples/0_real/real.png",          # 256x256
    "aeroblade_examples/1_fake/KD2-1.png",            # 512x512
    "real_photos/sun_hays80/0_real/aqueduct_sun_ancegghzusmmvzjn.jpg",  # 1024x768 JPEG
    "t2i_2022_dcsan/dalle-mini/1_fake/advertisement-soundcancelling-headphones-style-surrealism-20867902__dmin-1.png",
)


def _uniform(name: str, n: int, seed: int = 0) -> np.ndarray:
    """``n`` values in [-1, 1) from a splitmix64 hash of ``(name, index)``: exact integer arithmetic, so every
    platform and library version gives the same floats."""
    start = np.uint64((zlib.crc32(name.encode()) + (seed << 32)) & 0xFFFFFFFFFFFFFFFF)
    with np.errstate(over="ignore"):
        x = (np.arange(n, dtype=np.uint64) + start) * np.uint64(0x9E3779B97F4A7C15)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / float(2 ** 52) - 1.0


def tiny_state(shapes: dict[str, tuple[tuple[int, ...], torch.dtype]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Deterministic weights for every key of an AIDE state dict (``{key: (shape, dtype)}``): Kaiming-uniform
    convolutions and linear layers, BatchNorm with scale 0.2-0.4 and running variance 0.7-1.3, LayerNorm near 1,
    layer scales near 0.1, small biases; the head's last layer scaled down so the probabilities spread over (0, 1)."""
    state = {}
    for key, (shape, dtype) in shapes.items():
        n = math.prod(shape)
        u = _uniform(key, n, seed)
        if key.endswith("num_batches_tracked"):
            state[key] = torch.zeros(shape, dtype=dtype)
            continue
        base = key.rsplit(".", 1)[0]
        if key.endswith("running_var"):
            v = 1.0 + 0.3 * u
        elif key.endswith("running_mean"):
            v = 0.05 * u
        elif key.endswith("gamma"):
            v = 0.1 + 0.05 * u
        elif len(shape) >= 2:
            fan_in = math.prod(shape[1:])
            v = math.sqrt(6.0 / fan_in) * u * (4.0 if key.startswith("fc.fc2") else 1.0)
        elif key.endswith("weight") and f"{base}.running_var" in shapes:  # BatchNorm scale
            v = 0.3 + 0.1 * u
        elif key.endswith("weight"):  # LayerNorm
            v = 1.0 + 0.1 * u
        else:  # biases
            v = 0.05 * u
        state[key] = torch.from_numpy(v.reshape(shape)).to(dtype)
    return state


def official_checkpoint(state: dict[str, torch.Tensor]) -> dict:
    """``utils.py save_model``'s dict around ``state`` (optimizer and scaler states empty, argparse ``args``)."""
    args = argparse.Namespace(model="AIDE", batch_size=64, resnet_path=None, convnext_path=None, eval=True)
    return {"model": state, "optimizer": {"state": {}, "param_groups": []}, "epoch": "best", "scaler": {},
            "args": args}


def _tiny_create_model_and_transforms(name, pretrained=None, **kwargs):
    import timm

    assert name == "convnext_xxlarge", name
    trunk = timm.create_model("convnext_xxlarge", pretrained=False, drop_path_rate=0.1, **TINY)
    trunk.reset_classifier(0)
    visual = types.SimpleNamespace(trunk=trunk)
    return types.SimpleNamespace(visual=visual), None, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("official", type=Path, help="checkout of shilinyan99/AIDE at 6725b71")
    parser.add_argument("--commit", help="the commit the files come from, when OFFICIAL is an extracted copy (no .git)")
    args = parser.parse_args()
    shared = shared_data()
    commit = subprocess.run(["git", "-C", str(args.official), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or (f"{args.commit} (extracted copy, as given by --commit)"
                                                          if args.commit else "unknown (not a git checkout)")
    torch.set_grad_enabled(False)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        code = Path(tmp) / "AIDE"
        shutil.copytree(args.official, code, ignore=shutil.ignore_patterns(".git"))
        sys.path.insert(0, str(code))
        for stub in ("clip", "kornia"):
            try:
                importlib.import_module(stub)
            except ImportError:
                module = types.ModuleType(stub)
                if stub == "kornia":  # data/datasets.py builds its training perturbations at import
                    aug = types.SimpleNamespace(RandomGaussianBlur=lambda *a, **k: None,
                                                RandomJPEG=lambda *a, **k: None,
                                                container=types.SimpleNamespace(ImageSequential=lambda *a: None))
                    module.augmentation = aug
                    sys.modules["kornia.augmentation"] = aug
                sys.modules[stub] = module
        import open_clip

        open_clip.create_model_and_transforms = _tiny_create_model_and_transforms
        aide_module = importlib.import_module("models.AIDE")
        datasets = importlib.import_module("data.datasets")
        datasets.transform_train.transforms[0].antialias = False  # torchvision 0.12's tensor Resize
        model = aide_module.AIDE_Model(resnet_path=None, convnext_path=None)
        shapes = {k: (tuple(v.shape), v.dtype) for k, v in model.state_dict().items()}
        layout = {k: [list(shape), str(dtype).replace("torch.", "")] for k, (shape, dtype) in shapes.items()}
        buf = io.BytesIO()
        torch.save(official_checkpoint(tiny_state(shapes)), buf)
        buf.seek(0)
        checkpoint = torch.load(buf, map_location="cpu", weights_only=False)  # as auto_load_model
        model.load_state_dict(checkpoint["model"])
        model.eval()

        data = Path(tmp) / "data"
        items = []
        for k, rel in enumerate(IMAGES):
            label = 1 if "/1_fake/" in rel else 0
            link = data / ("1_fake" if label else "0_real") / f"{k:02d}{Path(rel).suffix}"
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(shared / rel)
            items.append((rel, label, str(link)))
        dataset = datasets.TestDataset(False, types.SimpleNamespace(data_path=str(data), eval_data_path=str(data)))
        position = {entry["image_path"]: i for i, entry in enumerate(dataset.data_list)}
        inputs = torch.stack([dataset[position[link]][0] for _, _, link in items])
        output = model(inputs)
        prob = torch.softmax(output, dim=1)[:, 1]

        cases = []
        from PIL import Image
        from torchvision import transforms

        for rel in IMAGES[:1] + IMAGES[4:5] + IMAGES[10:11]:
            image = transforms.ToTensor()(Image.open(shared / rel).convert("RGB"))
            windows = datasets.DCT_base_Rec_Module()(image)
            cases.append({"image": rel, "windows": torch.stack(list(windows))})

    OUT.mkdir(parents=True, exist_ok=True)
    torch.save(cases, OUT / "dct_cases.pt")
    (OUT / "official_layout.json").write_text(json.dumps(layout) + "\n")
    with open(OUT / "expected.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "label", "z_real", "z_fake", "prob"])
        for (rel, label, _), z, p in zip(items, output.tolist(), prob.tolist()):
            writer.writerow([rel, label, f"{z[0]:.9g}", f"{z[1]:.9g}", f"{p:.9g}"])
    made = {"official": "shilinyan99/AIDE", "commit": commit, "torch": torch.__version__,
            "open_clip": open_clip.__version__, "numpy": np.__version__, "tiny": {k: list(v) for k, v in TINY.items()},
            "seed": 0, "resize_antialias": False}
    (OUT / "made_with.json").write_text(json.dumps(made, indent=1) + "\n")
    print(f"wrote {OUT}: {len(items)} images, probabilities {[round(p, 3) for p in prob.tolist()]}")


if __name__ == "__main__":
    main()
