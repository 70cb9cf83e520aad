"""Parity fixture of SPAI: run the OFFICIAL model, checkpoint loader and test transform on a tiny seeded configuration.

Usage (the official code's imports: ``pip install einops yacs albumentations==1.4.14 albucore==0.0.16 filetype lmdb
seaborn``; timm >= 1.0 works for the modules used)::

    mkdir /tmp/spai_official && git --git-dir=/work/.mirror/mever-team+spai/repo archive 8ff7b3b -- spai configs \\
        | tar -x -C /tmp/spai_official   # (the mirror lacks docs/overview.svg; git's error about it is harmless)
    NO_ALBUMENTATIONS_UPDATE=1 python tools/parity/spai.py /tmp/spai_official [--shared ../shared/data]

What it does, all with the official code (``mever-team/spai`` @ 8ff7b3b), from a temporary copy of the checkout:

1. reads ``configs/spai.yaml`` over ``spai/config.py``'s defaults (``_update_config_from_file``, as ``get_config``)
   and makes the model tiny with ``merge_from_list``: ViT width 128, 2 blocks, 2 heads (``INTERMEDIATE_LAYERS`` [0, 1]:
   all blocks, as the yaml), ``PROJECTION_DIM`` 16, ``PATCH_VIT.ATTN_EMBED_DIM`` 24 with 2 heads. Everything else is
   the yaml's: 224px patches of 16px tokens, stride 224, ``MINIMUM_PATCHES`` 4, masking radius 16, head MLP ratio 3;
2. builds ``spai.models.build_cls_model(config)`` (``PatchBasedMFViT``), perturbs every float parameter (seeded) so
   that no LayerNorm is the identity, sets the last bias of ``cls_head`` so that about half of the images come out
   fake, zeroes the ViT modules the SPAI forward does not use (``head``, ``cls_blocks``, ``cls_pos_embed``,
   ``actual_cls_token``) so the fixture compresses, and rounds every float tensor to float16-representable values;
3. saves it as ``spai/utils.py`` ``save_checkpoint`` does (``{'model', 'optimizer', 'lr_scheduler', 'max_accuracy',
   'epoch', 'config'}``, ``config`` the yacs ``CfgNode``; the state dict in float16, the int64 ``frequencies_mask``
   as is; no ``'amp'`` entry: apex is not installed), rebuilds the model with another seed and loads the file with
   the official ``spai.utils.load_pretrained`` (and checks every tensor arrived);
4. scores :data:`_common.IMAGES` as ``spai/__main__.py`` ``validate`` does in arbitrary-resolution mode: each image
   read by ``readers.FileSystemReader.load_image`` (PIL, RGB), the official ``build_transform(is_train=False,
   config)`` (``PadIfNeeded(224)`` + ``Normalize(0, 1)`` + ``ToTensorV2``), all 12 images in one call
   ``model(list_of_1xCxHxW, config.MODEL.FEATURE_EXTRACTION_BATCH)`` (400); ``prob = sigmoid(logit)``;
5. checks that fakebench's :class:`~fakebench.detectors.spai.SPAI` transform gives the official transform's tensors
   bit for bit (and says so in the README);
6. writes the keys and shapes of the official FULL-SIZE model's state dict (configs/spai.yaml, randomly initialised
   on the CPU, only the shapes kept) to ``full_size_layout.json``.

Shims (none touches the maths): ``spai/models/backbones.py`` imports OpenAI's ``clip`` package (not on PyPI; used only
by the CLIP backbone option, not by ``MODEL_WEIGHTS: mfm``): an empty module stands in for it. ``spai/data/
__init__.py`` imports the pre-training loader, which needs ``timm.data.transforms._pil_interp`` (gone from timm >=
0.9): ``spai.data`` is registered as a bare package so that ``spai.data.data_finetune`` imports alone.

Outputs in ``tests/fixtures/parity/spai/``: ``spai_tiny.pth.xz``, ``expected.csv``, ``full_size_layout.json``,
``README.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import lzma
import shutil
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import IMAGES, environment, git_head, put_first_on_path, sigmoid, write_expected  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "parity" / "spai"
TINY = ["MODEL.VIT.EMBED_DIM", 128, "MODEL.VIT.DEPTH", 2, "MODEL.VIT.NUM_HEADS", 2,
        "MODEL.VIT.INTERMEDIATE_LAYERS", [0, 1], "MODEL.VIT.PROJECTION_DIM", 16,
        "MODEL.PATCH_VIT.ATTN_EMBED_DIM", 24, "MODEL.PATCH_VIT.NUM_HEADS", 2]
SEED = 0
UNUSED = ("mfvit.vit.head.", "mfvit.vit.cls_blocks.", "mfvit.vit.cls_pos_embed", "mfvit.vit.actual_cls_token")


def _shims(copy: Path) -> None:
    """The two import shims of the module docstring."""
    sys.modules.setdefault("clip", types.ModuleType("clip"))
    data = types.ModuleType("spai.data")
    data.__path__ = [str(copy / "spai" / "data")]
    sys.modules["spai.data"] = data


def _config(copy: Path, tiny: bool):
    from spai.config import _C, _update_config_from_file

    config = _C.clone()
    _update_config_from_file(config, str(copy / "configs" / "spai.yaml"))
    config.defrost()
    if tiny:
        config.merge_from_list(TINY)
    config.freeze()
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="official spai checkout at 8ff7b3b (spai/ and configs/)")
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data")
    opts = parser.parse_args()
    torch.set_num_threads(2)
    work = Path(tempfile.mkdtemp(prefix="spai_parity_"))
    copy = work / "spai_official"
    copy.mkdir()
    for part in ("spai", "configs"):
        shutil.copytree(opts.checkout.resolve() / part, copy / part)
    put_first_on_path(copy)
    _shims(copy)

    from spai.models import build_cls_model  # official
    from spai.utils import load_pretrained
    from spai.data.data_finetune import build_transform
    from spai.data.readers import FileSystemReader

    config = _config(copy, tiny=True)
    assert config.MODEL.VIT.INIT_VALUES is None and config.MODEL.FRE.PROJECTOR_LAST_LAYER_ACTIVATION_TYPE is None
    torch.manual_seed(SEED)
    model = build_cls_model(config).eval()
    gen = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.is_floating_point():
                param.add_(torch.randn(param.shape, generator=gen) * (0.3 if "norm" in name else 0.1))
        model.cls_head.head[-1].weight.mul_(40)  # logits of a few units, not a few hundredths
        for key, value in model.state_dict().items():
            if key.startswith(UNUSED):
                value.zero_()

    transform = build_transform(False, config)
    reader = FileSystemReader(Path("/"))
    inputs = []
    for rel in IMAGES:
        img = reader.load_image(str((opts.shared / rel).resolve()), channels=3)
        inputs.append((rel, img, transform(image=np.array(img))["image"]))
    batch = config.MODEL.FEATURE_EXTRACTION_BATCH
    with torch.no_grad():  # centre the tiny model's logits so that about half of the images are "fake"
        logits = model([t[None] for _, _, t in inputs], batch)[:, 0]
        model.cls_head.head[-1].bias.sub_(logits.median() + 0.01)
        for value in model.state_dict().values():
            if value.is_floating_point():
                value.copy_(value.half().float())

    ckpt = work / "spai_tiny.pth"
    state = {k: (v.half() if v.is_floating_point() else v.clone()) for k, v in model.state_dict().items()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.TRAIN.BASE_LR)
    torch.save({"model": state, "optimizer": optimizer.state_dict(), "lr_scheduler": {"last_epoch": 0},
                "max_accuracy": 0.5, "epoch": 0, "config": config}, ckpt)

    torch.manual_seed(SEED + 2)
    fresh = build_cls_model(config).eval()
    load_pretrained(config, fresh, logging.getLogger("spai_parity"), checkpoint_path=ckpt, verbose=False)
    for key, value in fresh.state_dict().items():
        assert torch.equal(value, state[key].to(value.dtype)), key
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "spai_tiny.pth.xz").write_bytes(lzma.compress(ckpt.read_bytes(), preset=9))

    with torch.no_grad():
        logits = fresh([t[None] for _, _, t in inputs], batch)[:, 0].double()
    rows = []
    for (rel, img, tensor), logit in zip(inputs, logits.tolist()):
        rows.append({"image": rel, "width": img.width, "height": img.height, "config": "tiny", "preset": "native",
                     "logit": logit, "prob": sigmoid(logit)})
        print(f"{rel} {img.width}x{img.height} -> {tuple(tensor.shape)}: logit {logit:.6f} prob {sigmoid(logit):.6f}")
    write_expected(OUT / "expected.csv", rows)

    from fakebench.detectors.spai import _SPAITransform  # the detector's transform (it needs no weights)

    ours = _SPAITransform(config.DATA.IMG_SIZE)
    same = all(torch.equal(ours(img), tensor) for _, img, tensor in inputs)
    base = inputs[4][1]  # more padding cases: odd, 1-pixel and barely-short sides, from crops of a 1024x683 photo
    for box in [(0, 0, 37, 201), (5, 9, 6, 309), (100, 50, 323, 275), (3, 3, 228, 226), (0, 0, 2, 2), (7, 1, 500, 30),
                (10, 10, 11, 60), (10, 10, 70, 11)]:
        crop = base.crop(box)
        same &= torch.equal(ours(crop), transform(image=np.array(crop))["image"])
    print("fakebench transform bit-identical to the official one (12 images + 8 padded crops):", same)
    assert same

    full = _config(copy, tiny=False)
    big = build_cls_model(full)  # on the CPU (~0.4 GB): the ViT's stochastic-depth rule calls .item(), no meta device
    layout = {key: list(value.shape) for key, value in big.state_dict().items()}
    lines = [f"{json.dumps(key)}: {json.dumps(layout[key])}" for key in sorted(layout)]
    (OUT / "full_size_layout.json").write_text("{\n" + ",\n".join(lines) + "\n}\n")

    import albumentations
    (OUT / "README.md").write_text(
        "# SPAI parity fixture\n\n"
        f"Made by `tools/parity/spai.py` from the official code, mever-team/spai @ {git_head(opts.checkout)} "
        f"(8ff7b3b when run from a `git archive`, which has no .git), albumentations {albumentations.__version__}.\n"
        f"{environment()}; seeds {SEED}..{SEED + 2}; CPU, float32.\n\n"
        "* `spai_tiny.pth.xz`: xz of the official `save_checkpoint` dict (`model`, `optimizer`, `lr_scheduler`, "
        "`max_accuracy`, `epoch`, `config` = the yacs CfgNode) of the official `PatchBasedMFViT` built from "
        "configs/spai.yaml with " + ", ".join(f"{TINY[i]}={TINY[i + 1]}" for i in range(0, len(TINY), 2)) + ". "
        "Float tensors are float16 (rounded before the logits were computed, so nothing is lost); the unused ViT "
        "`head`, `cls_blocks`, `cls_pos_embed` and `actual_cls_token` are zero.\n"
        "* `expected.csv`: per-image logit and `prob = sigmoid(logit)` of the official model after "
        "`spai.utils.load_pretrained`, on the official test transform (`build_transform(is_train=False)`: "
        "PadIfNeeded(224), Normalize(0, 1)), all images in one arbitrary-resolution call with "
        "FEATURE_EXTRACTION_BATCH 400; images are paths under ../shared/data. fakebench's transform gave the same "
        f"tensors bit for bit on them and on 8 crops that need padding (37x201, 1x300, 223x225, 225x223, 2x2, "
        f"493x29, 1x50, 60x1): {same}.\n"
        "* `full_size_layout.json`: keys and shapes of the official full-size model's state dict (configs/spai.yaml): "
        "the layout of a released checkpoint.\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
