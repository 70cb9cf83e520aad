"""Parity fixture of FatFormer: run the OFFICIAL model and test transform on a tiny seeded configuration.

Usage (``pytorch_wavelets`` 1.3.0 must be importable: the official ``models/clip/model.py`` imports it)::

    git --git-dir=/work/.mirror/Michel-liu+FatFormer/repo archive febc24c | tar -x -C /tmp/fatformer_official
    pip install --target /tmp/pwlib --no-deps pytorch_wavelets==1.3.0
    PYTHONPATH=/tmp/pwlib python tools/parity/fatformer.py /tmp/fatformer_official [--shared ../shared/data]

What it does, all with the official code (``Michel-liu/FatFormer`` @ febc24c):

1. writes a tiny OpenAI-format CLIP state dict (built with the official ``models/clip/model.py`` ``CLIP``: ViT with
   width 128, 2 layers, patch 14 at 224; text tower width 72, 1 layer, context 77, the full 49,408-token vocabulary;
   embed dim 72) to ``<tmp>/pretrained/ViT-L-14.pt``, the path the official ``clip.load`` reads;
2. builds the official ``models.build_model(args)`` (``CLIPModel``) from it with ``--num_vit_adapter 1`` (one adapter,
   on block 1, by the official placement rule) and ``--num_context_embedding 8``. Two shims, applied from outside: (a)
   ``ForgeryAwareAdapterLayer()`` is constructed without arguments upstream, so its ``d_model`` default (1024, the
   ViT-L/14 width) is set to the tiny width 128 through the function's ``__defaults__``; (b) ``clip.load`` reads
   ``pretrained/ViT-L-14.pt`` by first trying ``torch.jit.load`` on the open file (OpenAI's file is TorchScript),
   then ``torch.load`` on the same file object, which torch >= 2 has moved past the start: a wrapper rewinds it after
   the failed ``jit.load``;
3. perturbs every parameter (seeded) so that no LayerNorm is the identity and the adapter's ``freq_scale`` (zero at
   initialisation) is non-zero, rounds every tensor to float16-representable values (so the checkpoint can be stored
   in float16 losslessly; the ``pytorch_wavelets`` filter buffers stay as they are, float32) and zeroes
   ``clip_model.token_embedding.weight`` (not used in the forward: the prompts come
   from the ``token_prefix``/``token_suffix`` buffers; zeroed so the xz-compressed fixture stays small);
4. saves ``{'model': model.state_dict()}`` (the format ``main.py`` loads with ``load_state_dict(checkpoint['model'])``,
   strict), rebuilds the official model with another seed, loads the file as ``main.py`` does, and records the
   per-image logits ``l`` (``(N, 2)``; the official ``prob = softmax(l)[:, 1]``) on :data:`_common.IMAGES` with the
   official test transform (``utils/dataset.py`` ``Dataset_Creator.transforms['test']`` with ``main.py``'s defaults
   ``img_resolution=256``, ``crop_resolution=224``) after ``ImageFolder``'s RGB loading;
5. records the official ``pytorch_wavelets`` ``DWTForward(J=1, wave='haar')`` / ``DWTInverse(wave='haar')`` outputs
   on a fixed tensor (``wavelets_haar.pt``) for the wavelet test.

6. writes the keys and shapes of the official FULL-SIZE model's state dict (ViT-L/14, 3 adapters, 8 context
   embeddings; built on the meta device, no weights) to ``full_size_layout.json``.

Outputs in ``tests/fixtures/parity/fatformer/``: ``fatformer_tiny.pth.xz``, ``expected.csv``, ``wavelets_haar.pt``,
``full_size_layout.json``, ``README.md``.
"""

from __future__ import annotations

import argparse
import lzma
import os
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import IMAGES, environment, git_head, put_first_on_path, write_expected  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "parity" / "fatformer"
VISION_WIDTH, VISION_LAYERS, PATCH, RESOLUTION = 128, 2, 14, 224
TEXT_WIDTH, TEXT_LAYERS, CONTEXT, VOCAB, EMBED = 72, 1, 77, 49408, 72
SEED = 0


def _tiny_openai_clip(official) -> dict[str, torch.Tensor]:
    """An OpenAI-format CLIP state dict of the tiny configuration, from the official ``CLIP`` class (adapter-free)."""
    args = SimpleNamespace(num_vit_adapter=0)
    torch.manual_seed(SEED)
    clip = official.CLIP(EMBED, RESOLUTION, VISION_LAYERS, VISION_WIDTH, PATCH, CONTEXT, VOCAB, TEXT_WIDTH,
                         TEXT_WIDTH // 64, TEXT_LAYERS, args=args)
    return {k: v.clone() for k, v in clip.state_dict().items()}


def _args() -> SimpleNamespace:
    """``main.py``'s arguments that ``build_model`` reads (README command: adapters and 8 context embeddings)."""
    return SimpleNamespace(backbone="CLIP:ViT-L/14", num_classes=2, num_vit_adapter=1, num_context_embedding=8,
                           init_context_embedding="")


def _wavelet_filter(key: str) -> bool:
    """True for the ``pytorch_wavelets`` filter buffers (``...dwt_transform.h0_col``, ``...idwt_transform.g1_row``,
    ...): they stay float32, as in a real checkpoint, and are neither perturbed nor rounded."""
    return ".dwt_transform." in key or ".idwt_transform." in key


def _half_storage_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Float16 copies of ``state``; aliased entries (``image_encoder.*`` = ``clip_model.visual.*``, ...) keep sharing
    one storage so the file holds each tensor once, as ``torch.save`` of the float32 model would."""
    seen: dict[tuple[int, torch.Size], torch.Tensor] = {}
    out = {}
    for key, value in state.items():
        ident = (value.data_ptr(), value.shape)
        if ident not in seen:
            seen[ident] = value.half() if value.is_floating_point() and not _wavelet_filter(key) else value.clone()
        out[key] = seen[ident]
    return out


def _write_full_size_layout(models, official) -> None:
    """Keys and shapes of the official full-size state dict (ViT-L/14, ``--num_vit_adapter 3``,
    ``--num_context_embedding 8``), built on the meta device (no weights) with the official ``CLIP`` in place of
    ``clip.load``'s file reading, to ``full_size_layout.json``: what a released checkpoint must hold."""
    import json

    from models import clip_models

    defaults = list(official.ForgeryAwareAdapterLayer.__init__.__defaults__)
    defaults[0] = 1024  # back to the upstream default
    official.ForgeryAwareAdapterLayer.__init__.__defaults__ = tuple(defaults)
    args = SimpleNamespace(**{**vars(_args()), "num_vit_adapter": 3})
    load = clip_models.clip.load
    clip_models.clip.load = lambda name, device="cpu", args=None: (
        official.CLIP(768, 224, 24, 1024, 14, 77, 49408, 768, 12, 12, args=args), None)
    try:
        with torch.device("meta"):
            full = models.build_model(args)
    finally:
        clip_models.clip.load = load
    layout = {key: list(value.shape) for key, value in full.state_dict().items()}
    lines = [f"{json.dumps(key)}: {json.dumps(layout[key])}" for key in sorted(layout)]
    (OUT / "full_size_layout.json").write_text("{\n" + ",\n".join(lines) + "\n}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="official FatFormer checkout at febc24c")
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data")
    opts = parser.parse_args()
    checkout = opts.checkout.resolve()
    put_first_on_path(checkout)
    torch.set_num_threads(2)

    import models  # official
    from models.clip import model as official
    from utils.dataset import Dataset_Creator  # official
    from torchvision.datasets.folder import pil_loader
    from pytorch_wavelets import DWTForward, DWTInverse

    # first shim: the adapter is built as ForgeryAwareAdapterLayer() (d_model default 1024 = ViT-L/14 width)
    defaults = list(official.ForgeryAwareAdapterLayer.__init__.__defaults__)
    defaults[0] = VISION_WIDTH
    official.ForgeryAwareAdapterLayer.__init__.__defaults__ = tuple(defaults)

    # second shim: OpenAI's ViT-L-14.pt is a TorchScript archive; a plain state dict makes clip.load fall back to
    # torch.load on the same file object, which torch >= 2 leaves past the start after the failed jit.load: rewind it
    jit_load = torch.jit.load

    def _jit_load_rewinding(f, *args, **kwargs):
        try:
            return jit_load(f, *args, **kwargs)
        except RuntimeError:
            f.seek(0)
            raise

    torch.jit.load = _jit_load_rewinding

    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="fatformer_parity_"))
    (work / "pretrained").mkdir()
    torch.save(_tiny_openai_clip(official), work / "pretrained" / "ViT-L-14.pt")
    cwd = os.getcwd()
    os.chdir(work)  # clip.load reads "pretrained/ViT-L-14.pt" relative to the working directory
    try:
        torch.manual_seed(SEED + 1)
        model = models.build_model(_args()).eval()
        gen = torch.Generator().manual_seed(SEED + 2)
        with torch.no_grad():
            for name, param in model.named_parameters():
                param.add_(torch.randn(param.shape, generator=gen) * 0.05)
                if name.endswith("freq_scale"):
                    param.fill_(0.8)
            for key, value in model.state_dict().items():
                if value.is_floating_point() and not _wavelet_filter(key):
                    value.copy_(value.half().float())
            model.clip_model.token_embedding.weight.zero_()
        ckpt = work / "fatformer_tiny.pth"
        torch.save({"model": _half_storage_state(model.state_dict())}, ckpt)

        torch.manual_seed(SEED + 3)
        fresh = models.build_model(_args()).eval()
        fresh.load_state_dict(torch.load(ckpt, map_location="cpu")["model"])  # as main.py (strict)
    finally:
        os.chdir(cwd)
        torch.jit.load = jit_load
    (OUT / "fatformer_tiny.pth.xz").write_bytes(lzma.compress(ckpt.read_bytes(), preset=9))

    transform = Dataset_Creator(dataset_path=".", batch_size=1, img_resolution=256,
                                crop_resolution=224).transforms["test"]
    rows = []
    with torch.no_grad():
        for rel in IMAGES:
            img = pil_loader(str(opts.shared / rel))
            logits = fresh(transform(img)[None])[0].double()
            prob = torch.softmax(logits, 0)[1].item()
            rows.append({"image": rel, "width": img.width, "height": img.height, "config": "tiny",
                         "preset": "resize256_crop224", "logit": (logits[1] - logits[0]).item(), "prob": prob,
                         })
            print(f"{rel}: logits {logits.tolist()} prob {prob:.6f}")
    write_expected(OUT / "expected.csv", rows)

    gen = torch.Generator().manual_seed(SEED + 4)
    x = torch.randn(2, 8, 16, 16, generator=gen)
    low, highs = DWTForward(J=1, wave="haar")(x)
    y = DWTInverse(wave="haar")((low + 0.5, [highs[0] * 1.5]))
    torch.save({"x": x, "low": low, "highs": highs[0], "inverse_of_low+0.5_highs*1.5": y}, OUT / "wavelets_haar.pt")

    _write_full_size_layout(models, official)

    (OUT / "README.md").write_text(
        "# FatFormer parity fixture\n\n"
        f"Made by `tools/parity/fatformer.py` from the official code, Michel-liu/FatFormer @ {git_head(checkout)} "
        "(febc24c when run from a `git archive`, which has no .git), pytorch_wavelets 1.3.0.\n"
        f"{environment()}; seeds {SEED}..{SEED + 4}; CPU, float32.\n\n"
        f"* `fatformer_tiny.pth.xz`: xz of `{{'model': state_dict}}` of the official `CLIPModel` (tiny: ViT width "
        f"{VISION_WIDTH}, {VISION_LAYERS} layers, patch {PATCH} at {RESOLUTION}, one forgery-aware adapter on block 1; "
        f"text width {TEXT_WIDTH}, {TEXT_LAYERS} layer; embed {EMBED}; 8 context embeddings). Tensors are float16 "
        "except the pytorch_wavelets filter buffers (float32, untouched); values were rounded to float16 before the "
        "logits were computed, so nothing is lost; the unused token "
        "embedding is zero.\n"
        "* `expected.csv`: per-image `logit = l_fake - l_real` and `prob = softmax(l)[1]` of the official model after "
        "`load_state_dict(torch.load(file)['model'])`, on the official test transform (Resize((256, 256)), "
        "CenterCrop(224), ImageNet mean/std); images are paths under ../shared/data.\n"
        "* `wavelets_haar.pt`: pytorch_wavelets `DWTForward(J=1, wave='haar')` of a seeded (2, 8, 16, 16) tensor and "
        "`DWTInverse(wave='haar')` of its modified bands.\n"
        "* `full_size_layout.json`: keys and shapes of the official full-size model's state dict (ViT-L/14, "
        "--num_vit_adapter 3, --num_context_embedding 8), built on the meta device: the layout of a released "
        "checkpoint.\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
