"""Build the RINE parity fixture by running the OFFICIAL RINE code on a tiny CLIP ViT.

Usage::

    python tools/parity/rine.py --rine /path/to/mever-team/rine --clip /path/to/openai/CLIP \
        [--shared ../shared] [--out tests/fixtures/parity/rine]

``--rine`` is a checkout of ``mever-team/rine`` @ 9b7fd5857cc205d0412be6aeee0d7611b95bd620; ``--clip`` a checkout of
``openai/CLIP`` (the ``clip`` package RINE's requirements.txt installs; d05afc436d78f1c48dc0dbf8e5980a9d471f35f6 was
used). Nothing of either is copied into fakebench; they are imported from their checkouts.

What it does (CPU, float32, seeded):

1. Builds a tiny OpenAI CLIP with the official ``clip.model.CLIP`` (``torch.manual_seed(0)``; ViT: 4 layers, width 64,
   patch 14, 224 px; text tower 1 layer, width 64, vocab 1000) and saves its state dict in float16 (the OpenAI release
   format) as ``tiny_clip_vit_openai_format.pt``. ``clip.load(path)`` reads such a file (``os.path.isfile`` branch).
2. Config ``2class``: the official ``src.utils.get_our_trained_model(ncls=2)`` (nproj 4, proj_dim 128) with
   ``src.utils.Model`` wrapped so that the backbone is ``(tiny file, 64)`` instead of ``("ViT-L/14", 1024)``. Its
   trainable part is seeded (``torch.manual_seed(1)``), the last head layer rescaled to spread the logits, and saved the
   way ``scripts/best.py`` saves ``ckpt/model_2class_trainable.pth`` (every state-dict entry whose name lacks
   ``clip``); then the official loader reads that file (its ``exec`` assignment loop) into a fresh model.
3. Config ``nproj2``: the official ``src.models.Model`` with nproj 2, proj_dim 32 (the 4-class/LDM structure at a tiny
   width), seeded with ``torch.manual_seed(2)`` (Linears re-drawn from seed 12), saved the same way.
4. Outputs on the 12 images of ``_common.IMAGES``: preset ``crop224`` = ``get_transforms()[1]`` (CenterCrop 224 of
   the PIL image, no resize, CLIP mean/std; used by ``scripts/validation.py`` for the ProGAN-trained checkpoints);
   preset ``tencrop224`` = ``get_transforms()[2]`` (TenCrop 224, logits of the ten crops averaged, then sigmoid:
   ``src/utils.py evaluation(training="ldm")``, used for Synthbuster). TenCrop refuses images smaller than 224 px: those
   rows are written with an empty logit ("refused").
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import IMAGES, environment, git_head, put_first_on_path, sigmoid, write_expected  # noqa: E402

RINE_COMMIT = "9b7fd5857cc205d0412be6aeee0d7611b95bd620"
CLIP_COMMIT = "d05afc436d78f1c48dc0dbf8e5980a9d471f35f6"  # openai/CLIP used for the committed fixture


def tiny_clip_state_dict(clip_model_module) -> dict[str, torch.Tensor]:
    """A seeded tiny OpenAI CLIP (official class), as a float16 state dict like the released ``.pt`` files."""
    torch.manual_seed(0)
    model = clip_model_module.CLIP(embed_dim=32, image_resolution=224, vision_layers=4, vision_width=64,
                                   vision_patch_size=14, context_length=77, vocab_size=1000, transformer_width=64,
                                   transformer_heads=1, transformer_layers=1)
    # the official init leaves LayerNorms at 1/0 and the class/positional embeddings at scale**-0.5 * randn; perturb the
    # LayerNorms too so a loader that drops them fails the fixture
    gen = torch.Generator().manual_seed(3)
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.LayerNorm):
            module.weight.data = 1 + 0.2 * torch.randn(module.weight.shape, generator=gen)
            module.bias.data = 0.1 * torch.randn(module.bias.shape, generator=gen)
    return {k: v.half() for k, v in model.state_dict().items()}


def rewind_after_failed_jit_load() -> None:
    """Shim for ``clip.load`` under torch >= 2.6: a state-dict file first fails ``torch.jit.load`` (expected: clip then
    reads it with ``torch.load``), but newer torch leaves the file position at the end, so the ``torch.load`` fallback
    reads nothing. Rewind the file after the failed JIT attempt; the official code path is otherwise unchanged."""
    real = torch.jit.load

    def jit_load(f, *args, **kwargs):
        try:
            return real(f, *args, **kwargs)
        except RuntimeError:
            if hasattr(f, "seek"):
                f.seek(0)
            raise

    torch.jit.load = jit_load


def trainable_state(model) -> dict[str, torch.Tensor]:
    """What ``scripts/best.py`` stores: every state-dict entry whose name lacks ``clip``."""
    state = model.state_dict()
    return {k: state[k] for k in state if "clip" not in k}


def variance_preserving_init(model, seed: int) -> None:
    """Re-draw every trainable ``nn.Linear`` (He-normal weights, small biases) so the signal survives the 7-11 stacked
    layers; PyTorch's default init shrinks it about 2.5x per layer, which would leave logits that differ across images
    only in the 5th decimal (and a fixture that tests float noise)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear) and not name.startswith("clip"):
                fan_in = module.weight.shape[1]
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))


def spread_logits(model, tensors: list[torch.Tensor], target_std: float = 1.5) -> None:
    """Rescale the last head layer so the logits over ``tensors`` have std ``target_std`` and mean about 0."""
    with torch.no_grad():
        logits = torch.cat([model(t.unsqueeze(0))[0].reshape(-1) for t in tensors])
        last = model.head[-1]
        scale = target_std / float(logits.std())
        print(f"head rescaled by {scale:.4g} (logit std before {float(logits.std()):.4g})")
        last.weight.mul_(scale)
        last.bias.mul_(scale)
        logits = torch.cat([model(t.unsqueeze(0))[0].reshape(-1) for t in tensors])
        last.bias.sub_(logits.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rine", type=Path, required=True, help="checkout of mever-team/rine @ 9b7fd58")
    parser.add_argument("--clip", type=Path, required=True, help="checkout of openai/CLIP")
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2].parent / "shared")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "tests/fixtures/parity/rine")
    args = parser.parse_args()

    put_first_on_path(args.rine, args.clip)
    import clip  # noqa: F401 - the official package, from --clip

    rewind_after_failed_jit_load()
    from clip import model as clip_model
    from PIL import Image
    from src import models as rine_models
    from src import utils as rine_utils

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    tiny_path = out / "tiny_clip_vit_openai_format.pt"
    torch.save(tiny_clip_state_dict(clip_model), tiny_path)
    width = 64

    official_model = rine_models.Model

    def tiny_model(backbone, nproj, proj_dim, device):
        assert backbone == ("ViT-L/14", 1024), backbone  # what get_our_trained_model asks for
        return official_model(backbone=(str(tiny_path), width), nproj=nproj, proj_dim=proj_dim, device=device)

    _, crop_t, tencrop_t = rine_utils.get_transforms()
    data = args.shared / "data"
    images = [Image.open(data / rel).convert("RGB") for rel in IMAGES]
    crops = [crop_t(img) for img in images]

    configs = {}
    # -- config 2class: the official loader end to end --------------------------------------------------------------
    torch.manual_seed(1)
    seed_model = tiny_model(("ViT-L/14", 1024), 4, 128, "cpu").eval()
    variance_preserving_init(seed_model, 11)
    spread_logits(seed_model, crops)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "ckpt").mkdir()
        ckpt = Path(tmp) / "ckpt" / "model_2class_trainable.pth"
        torch.save(trainable_state(seed_model), ckpt)
        (out / "model_2class_trainable_format.pth").write_bytes(ckpt.read_bytes())
        old_cwd = Path.cwd()
        import os

        os.chdir(tmp)
        try:
            rine_utils.Model = tiny_model  # get_our_trained_model builds Model(backbone=("ViT-L/14", 1024), ...)
            torch.manual_seed(123)  # the loader overwrites every trainable tensor; a different init proves it
            configs["2class"] = rine_utils.get_our_trained_model(ncls=2, device="cpu").eval()
        finally:
            rine_utils.Model = official_model
            os.chdir(old_cwd)
    # -- config nproj2: the 4-class / LDM structure at width 32 -------------------------------------------------------
    torch.manual_seed(2)
    model = official_model(backbone=(str(tiny_path), width), nproj=2, proj_dim=32, device="cpu").eval()
    variance_preserving_init(model, 12)
    spread_logits(model, crops)
    torch.save(trainable_state(model), out / "model_nproj2_trainable_format.pth")
    configs["nproj2"] = model

    rows = []
    with torch.no_grad():
        for config, model in configs.items():
            model.eval()
            for rel, img, x in zip(IMAGES, images, crops):
                logit = float(model(x.unsqueeze(0))[0].reshape(-1)[0])
                rows.append(dict(image=rel, width=img.width, height=img.height, config=config, preset="crop224",
                                 logit=logit, prob=sigmoid(logit)))
            for rel, img in zip(IMAGES, images):
                try:
                    ten = tencrop_t(img)  # (10, 3, 224, 224)
                except ValueError:  # torchvision five_crop: crop size larger than the image
                    rows.append(dict(image=rel, width=img.width, height=img.height, config=config,
                                     preset="tencrop224", logit=None, prob=None))
                    continue
                # evaluation(training="ldm"): model(images.view(-1, 3, 224, 224))[0].view(B, 10).mean(1), sigmoid
                logit = float(model(ten.view(-1, 3, 224, 224))[0].view(1, 10).mean(1)[0])
                rows.append(dict(image=rel, width=img.width, height=img.height, config=config, preset="tencrop224",
                                 logit=logit, prob=sigmoid(logit)))
    write_expected(out / "expected.csv", rows)
    meta = {"rine_commit": git_head(args.rine) if git_head(args.rine) != "unknown" else RINE_COMMIT,
            "clip_commit": git_head(args.clip) if git_head(args.clip) != "unknown" else CLIP_COMMIT,
            "environment": environment(),
            "configs": {"2class": {"nproj": 4, "proj_dim": 128, "file": "model_2class_trainable_format.pth"},
                        "nproj2": {"nproj": 2, "proj_dim": 32, "file": "model_nproj2_trainable_format.pth"}},
            "backbone": "tiny_clip_vit_openai_format.pt"}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {len(rows)} rows to {out / 'expected.csv'}")


if __name__ == "__main__":
    main()
