"""Build the C2P-CLIP parity fixture by running the OFFICIAL C2P-CLIP inference code on a tiny CLIP ViT.

Usage::

    python tools/parity/c2p_clip.py --repo /path/to/chuangchuangtan/C2P-CLIP-DeepfakeDetection \
        [--shared ../shared] [--out tests/fixtures/parity/c2p_clip]

``--repo`` is a checkout of ``chuangchuangtan/C2P-CLIP-DeepfakeDetection`` @ 27b52325df1d80cf2291ef83a5c59f5fe715052f.
Run it with the README's environment for detection inference (transformers 4.42.3; the fixture was made with it in a
separate virtual environment). Nothing of the repository is copied into fakebench; ``inference.py`` and ``data.py`` are
imported from the checkout.

What it does (CPU, float32, seeded):

1. ``transformers.CLIPModel.from_pretrained`` is replaced by a function returning a tiny ``CLIPModel`` (ViT-L/14
   family: patch 14, 224 px, QuickGELU, pre-LayerNorm; vision 3 layers x width 64, 1 head; text 1 layer x width 32,
   vocab 1000; projection_dim 768 because the official ``fc`` is ``nn.Linear(768, 1)``), built with
   ``torch.manual_seed(0)``, LayerNorms perturbed (``torch.Generator().manual_seed(3)``), every float rounded through
   float16 (so the zip compresses).
2. The official ``inference.C2P_CLIP(name='openai/clip-vit-large-patch14')`` deletes the text tower and adds ``fc``
   (``torch.manual_seed(1)``, the official normal(0, 0.02) init), rescaled so the logits spread (std about 1.5, mean
   about 0). Its full ``state_dict()`` is saved as the release is shipped: a zip holding one torch file
   (``c2p_clip_tiny_release_format.zip``, like ``C2P_CLIP_release_20240901.zip``).
3. That zip is read back by the official loader, ``torch.hub.load_state_dict_from_url(<file:// URL>,
   map_location="cpu")`` (torch's legacy-zip branch), into a fresh ``C2P_CLIP`` with ``strict=True``.
4. The images go through the official ``data.dataset_folder`` (``pil_loader``; ``Resize(224)`` bilinear on the
   shorter side, ``CenterCrop(224)``, ``ToTensor``, CLIP ``Normalize``); ``model(img).sigmoid()`` as ``inference.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import IMAGES, environment, put_first_on_path, sigmoid, write_expected  # noqa: E402

COMMIT = "27b52325df1d80cf2291ef83a5c59f5fe715052f"

#: transformers CLIPConfig keyword arguments of the tiny stand-in for openai/clip-vit-large-patch14.
TINY_CONFIG = {
    "projection_dim": 768,
    "vision_config": {"hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 3, "num_attention_heads": 1,
                      "patch_size": 14, "image_size": 224, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5},
    "text_config": {"vocab_size": 1000, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                    "num_attention_heads": 1, "max_position_embeddings": 77, "bos_token_id": 998,
                    "eos_token_id": 999, "pad_token_id": 1},
}


def tiny_clip():
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig(**json.loads(json.dumps(TINY_CONFIG))))
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.copy_(1 + 0.2 * torch.randn(module.weight.shape, generator=gen))
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))
        for p in model.parameters():
            p.copy_(p.half().float())
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True, help="checkout of C2P-CLIP-DeepfakeDetection @ 27b5232")
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2].parent / "shared")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parents[2] / "tests/fixtures/parity/c2p_clip")
    args = parser.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)

    import transformers

    transformers.CLIPModel.from_pretrained = classmethod(lambda cls, name, *a, **k: tiny_clip())
    put_first_on_path(args.repo)
    argv, sys.argv = sys.argv, sys.argv[:1]
    import data as official_data
    import inference as official  # runs seed_torch(123) at import, as the script does
    sys.argv = argv

    data = args.shared / "data"
    torch.manual_seed(1)
    model = official.C2P_CLIP(name="openai/clip-vit-large-patch14", num_classes=1).eval()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = tmp / "set"
        for label in ("0_real", "1_fake"):
            (root / label).mkdir(parents=True)
        for i, rel in enumerate(IMAGES):  # DatasetFolder sorts by name: index-named links keep IMAGES' order
            os.symlink((data / rel).resolve(), root / "0_real" / f"{i:03d}{Path(rel).suffix.lower()}")
        os.symlink((data / IMAGES[0]).resolve(), root / "1_fake" / "000.png")  # DatasetFolder needs both classes
        opt = argparse.Namespace(loadSize=224, cropSize=224)
        dataset = official_data.dataset_folder(opt, str(root))
        inputs = [dataset[i][0] for i in range(len(IMAGES))]
        with torch.no_grad():
            logits = torch.cat([model(x[None]).reshape(-1) for x in inputs])
            scale = 1.5 / float(logits.std())
            print(f"fc rescaled by {scale:.4g} (logit std before {float(logits.std()):.4g})")
            model.model.fc.weight.mul_(scale)
            model.model.fc.bias.mul_(scale)
            logits = torch.cat([model(x[None]).reshape(-1) for x in inputs])
            model.model.fc.bias.sub_(logits.mean())
        inner = tmp / "c2p_clip_tiny.pth"
        torch.save(model.state_dict(), inner)
        release = out / "c2p_clip_tiny_release_format.zip"
        with zipfile.ZipFile(release, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            zf.write(inner, inner.name)
        torch.hub.set_dir(str(tmp / "hub"))
        state_dict = torch.hub.load_state_dict_from_url(release.resolve().as_uri(), map_location="cpu",
                                                        progress=False)
        torch.manual_seed(2)
        fresh = official.C2P_CLIP(name="openai/clip-vit-large-patch14", num_classes=1)
        fresh.load_state_dict(state_dict, strict=True)
        fresh.eval()
        rows = []
        with torch.no_grad():
            for rel, x in zip(IMAGES, inputs):
                logit = float(fresh(x[None]).reshape(-1)[0])
                img = official_data.pil_loader(str(data / rel))
                rows.append(dict(image=rel, width=img.width, height=img.height, config="tiny", preset="resize224_crop224",
                                 logit=logit, prob=sigmoid(logit)))
    write_expected(out / "expected.csv", rows)
    (out / "tiny_clip_config.json").write_text(json.dumps(TINY_CONFIG, indent=2) + "\n")
    meta = {"commit": COMMIT, "transformers": transformers.__version__, "environment": environment(),
            "state_dict_keys": len(state_dict)}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {len(rows)} rows to {out / 'expected.csv'}")


if __name__ == "__main__":
    main()
