"""Build the CLIP-D parity fixture by running the OFFICIAL ClipBased-SyntheticImageDetection code on a tiny ViT.

Usage::

    python tools/parity/clipdet.py --repo /path/to/grip-unina/ClipBased-SyntheticImageDetection \
        [--shared ../shared] [--out tests/fixtures/parity/clipdet]

``--repo`` is a checkout of ``grip-unina/ClipBased-SyntheticImageDetection`` @
c76ef7f5e158c5aba9e55b8b94ab0079720d281e (its Git LFS weights are not needed). Nothing of it is copied into
fakebench; ``main.py`` and ``networks/`` are imported from the checkout.

What it does (CPU, float32, seeded):

1. Registers a tiny open_clip model config UNDER THE NAME ``ViT-L-14`` (same family: pre-norm ViT, GELU, patch 14,
   224 px, CLS pooling; vision 3 layers x width 64, text 1 layer x width 64, vocab 1000, embed_dim 32), builds it with
   ``torch.manual_seed(0)``, perturbs its LayerNorms (``torch.Generator().manual_seed(3)``) and saves its state dict
   in float16 as ``tiny_openclip_vit.bin`` (the layout of the hub's ``open_clip_pytorch_model.bin``) with the config next to it
   (``tiny_openclip_vit.json``, open_clip's model-config format).
2. ``huggingface_hub.hf_hub_download`` is replaced by a function returning that file, so the official
   ``networks.create_architecture("opencliplinearnext_clipL14commonpool")`` (``OpenClipLinear``, next-to-last
   features: ``visual.proj = None``, ``encode_image(x, normalize=True)``, ``ChannelLinear`` head) builds the tiny
   backbone through open_clip exactly as it builds ViT-L/14 CommonPool XL.
3. The head (``torch.manual_seed(1)``, the official ``normal_(0, 0.02)`` init) is rescaled so the logits spread
   (std about 1.5, mean about 0) and saved as ``{'model': {'fc.weight', 'fc.bias'}}`` (what ``networks.load_weights``
   reads) in ``weights/clipdet_tiny/weights.pth`` with the official ``clipdet_latent10k/config.yaml``.
4. ``main.runnig_tests`` (the official test loop: ``Clip224`` = Resize(224, bicubic) + CenterCrop(224) + CLIP
   normalisation, batch 1) scores the 12 images of ``_common.IMAGES``; its output is the LLR (``logit``), ``prob`` =
   sigmoid(LLR).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import IMAGES, environment, put_first_on_path, sigmoid, write_expected  # noqa: E402

COMMIT = "c76ef7f5e158c5aba9e55b8b94ab0079720d281e"

#: open_clip model config of the tiny stand-in for ViT-L-14 (same keys as open_clip's ViT-L-14.json).
TINY_CONFIG = {"embed_dim": 32,
               "vision_cfg": {"image_size": 224, "layers": 3, "width": 64, "patch_size": 14},
               "text_cfg": {"context_length": 77, "vocab_size": 1000, "width": 64, "heads": 1, "layers": 1}}


def perturb_layernorms(model: torch.nn.Module, seed: int) -> None:
    """LayerNorm weight = 1 + 0.2 N(0,1), bias = 0.1 N(0,1), so a loader that drops them fails the fixture."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.copy_(1 + 0.2 * torch.randn(module.weight.shape, generator=gen))
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True, help="checkout of grip-unina/ClipBased-... @ c76ef7f")
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2].parent / "shared")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parents[2] / "tests/fixtures/parity/clipdet")
    args = parser.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)

    import huggingface_hub
    import open_clip
    from open_clip import factory

    factory._MODEL_CONFIGS["ViT-L-14"] = json.loads(json.dumps(TINY_CONFIG))  # the tiny stand-in, by the real name
    torch.manual_seed(0)
    tiny = open_clip.create_model("ViT-L-14", pretrained=None)
    perturb_layernorms(tiny, 3)
    backbone_file = out / "tiny_openclip_vit.bin"
    # float16 values (exactly representable, so fp32 open_clip loads them unchanged) keep the fixture small
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in tiny.state_dict().items()}, backbone_file)
    (out / "tiny_openclip_vit.json").write_text(json.dumps(TINY_CONFIG, indent=2) + "\n")

    def hf_hub_download(repo_id, filename, *a, **k):
        assert (repo_id, filename) == ("laion/CLIP-ViT-L-14-CommonPool.XL-s13B-b90K", "open_clip_pytorch_model.bin")
        return str(backbone_file)

    huggingface_hub.hf_hub_download = hf_hub_download
    put_first_on_path(args.repo)
    import main as official_main
    from networks import create_architecture
    from PIL import Image

    data = args.shared / "data"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        torch.manual_seed(1)
        model = create_architecture("opencliplinearnext_clipL14commonpool").eval()
        transform = official_main.Compose([official_main.Resize(224, interpolation=official_main.InterpolationMode.BICUBIC),
                                           official_main.CenterCrop((224, 224)),
                                           official_main.make_normalize("clip")])
        with torch.no_grad():
            llr = torch.cat([model(transform(Image.open(data / rel).convert("RGB"))[None])[:, 0] for rel in IMAGES])
            scale = 1.5 / float(llr.std())
            print(f"head rescaled by {scale:.4g} (LLR std before {float(llr.std()):.4g})")
            model.fc.weight.mul_(scale)
            model.fc.bias.mul_(scale)
            llr = torch.cat([model(transform(Image.open(data / rel).convert("RGB"))[None])[:, 0] for rel in IMAGES])
            model.fc.bias.sub_(llr.mean())
        weights_dir = tmp / "weights"
        (weights_dir / "clipdet_tiny").mkdir(parents=True)
        shutil.copy(args.repo / "weights" / "clipdet_latent10k" / "config.yaml", weights_dir / "clipdet_tiny")
        ckpt = {"model": {k: v.clone() for k, v in model.state_dict().items()}}
        torch.save(ckpt, weights_dir / "clipdet_tiny" / "weights.pth")
        shutil.copy(weights_dir / "clipdet_tiny" / "weights.pth", out / "weights_format.pth")
        csv_in = tmp / "in.csv"
        csv_in.write_text("filename\n" + "".join(f"\"{(data / rel).resolve()}\"\n" for rel in IMAGES))
        torch.manual_seed(2)  # the official loader overwrites the re-initialised head
        table = official_main.runnig_tests(str(csv_in), str(weights_dir), ["clipdet_tiny"], "cpu")
    rows = []
    for rel, value in zip(IMAGES, table["clipdet_tiny"].tolist()):
        img = Image.open(data / rel)
        rows.append(dict(image=rel, width=img.width, height=img.height, config="tiny", preset="clip224",
                         logit=float(value), prob=sigmoid(float(value))))
    write_expected(out / "expected.csv", rows)
    meta = {"commit": COMMIT, "open_clip": open_clip.__version__, "environment": environment(),
            "official_config": "weights/clipdet_latent10k/config.yaml (arch opencliplinearnext_clipL14commonpool, "
                               "norm_type clip, patch_size Clip224)"}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {len(rows)} rows to {out / 'expected.csv'}")


if __name__ == "__main__":
    main()
