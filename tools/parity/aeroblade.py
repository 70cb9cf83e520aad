"""Build the AEROBLADE parity fixture by RUNNING the official code (jonasricker/aeroblade @ 50fc2b2) on tiny random
autoencoders and a random VGG16.

Usage::

    git --git-dir=/work/.mirror/jonasricker+aeroblade/repo worktree add /tmp/aeroblade 50fc2b2
    python tools/parity/aeroblade.py --official /tmp/aeroblade [--out tests/fixtures/parity/aeroblade]

What it does (nothing of the official code is copied; it is imported from the checkout and run):

* shims from outside so the official modules import offline: stub modules ``pyiqa`` and ``clip_interrogator`` (only
  used by metrics/pipelines AEROBLADE's default path does not touch), joblib ``Memory`` replaced by a no-op cache
  (its ``lz4`` compressor is not installed; caching does not change values), ``safe_mkdir`` without its prompt;
* ``AutoPipelineForImage2Image.from_pretrained`` (as imported by ``aeroblade.image``) returns, per repo id, an object
  with a tiny random diffusers ``AutoencoderKL`` (``vae``; SD repos) or ``VQModel`` (``movq``; Kandinsky) cast to the
  requested ``torch_dtype`` (float16), with no ``upcast_vae`` (as in diffusers 0.25.1's SD img2img pipeline) and a no-op
  ``enable_model_cpu_offload``;
* torchvision's ``vgg16`` (as called by ``lpips.pretrained_networks``) returns a VGG16 seeded with 7 (no download);
  the LPIPS linear layers are the real ones of the installed lpips package;
* runs the official ``compute_distances`` exactly as ``scripts/run_aeroblade.py`` does (transforms ['clean'], the three
  default repo ids, ``lpips_vgg_2``, seed 1, batch size 1), one file per entry, and takes the ``max`` rows (the
  official float16-rounded score) -- plus the same distance unrounded: the official ``_PatchedLPIPS`` layer-2 map on the
  official reconstruction PNGs, averaged in float32;
* writes ``bundle.pth`` (fakebench's AEROBLADE bundle: the tiny AEs, VGG16 features 0-7, lin1), ``expected.json`` (per
  image: path relative to ../shared/data, crop box, official float16 score, unrounded score, per-AE unrounded
  distances) and prints a summary. Crops are applied (PIL ``Image.crop``) to temporary PNG copies before the official
  code sees them; fakebench applies the same box.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"

#: (path relative to ../shared/data, crop box or None). Sizes are multiples of 4 (the tiny KL-VAE's factor); the
#: odd-sized images the official code cannot process are tested separately (refused with a message).
IMAGES = [
    ("aeroblade_examples/0_real/real.png", (64, 96, 192, 192)),          # 128x96 crop of the AEROBLADE real example
    ("aeroblade_examples/1_fake/SD1-1.png", (0, 0, 96, 128)),            # 96x128
    ("aeroblade_examples/1_fake/KD2-1.png", (200, 200, 280, 280)),       # 80x80
    ("aeroblade_examples/1_fake/MJ5.png", (400, 300, 560, 420)),         # 160x120 of a 1024 px Midjourney image
    ("gangen_began/0_real/000001_crop.png", None),                       # 128x128 native
    ("gangen_began/1_fake/BEGAN_00000000.png", None),                    # 128x128 native
    ("cifake/0_real/0000 (10).jpg", None),                               # 32x32 JPEG, smaller than anything
    ("cifake/1_fake/1000 (10).jpg", None),                               # 32x32 JPEG
    ("real_photos/cbsd68/0_real/101085.png", (1, 1, 113, 77)),            # 112x76 of a 481x321 photo
    ("forensynths_samples/stylegan/0_real/14_stylegan_real.jpg", (52, 52, 304, 304)),  # 252x252
    ("t2i_2022_dcsan/latent-diffusion/1_fake", "first"),                  # first file, 256x256 native
]

#: Tiny configurations of the real architectures (same classes, block types and norm kinds; narrow and shallow).
TINY = {
    "CompVis/stable-diffusion-v1-1": ("AutoencoderKL", dict(
        block_out_channels=(16, 32, 32), down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3, layers_per_block=1, norm_num_groups=8, latent_channels=4)),
    "stabilityai/stable-diffusion-2-base": ("AutoencoderKL", dict(
        block_out_channels=(8, 16, 16), down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3, layers_per_block=1, norm_num_groups=4, latent_channels=4)),
    "kandinsky-community/kandinsky-2-1": ("VQModel", dict(
        block_out_channels=(32, 32), down_block_types=("DownEncoderBlock2D", "AttnDownEncoderBlock2D"),
        up_block_types=("AttnUpDecoderBlock2D", "UpDecoderBlock2D"), layers_per_block=1, norm_num_groups=8,
        latent_channels=4, num_vq_embeddings=64, vq_embed_dim=4, norm_type="spatial")),
}
TAGS = {"CompVis/stable-diffusion-v1-1": "sd1", "stabilityai/stable-diffusion-2-base": "sd2",
        "kandinsky-community/kandinsky-2-1": "kd21"}
SEEDS = {"CompVis/stable-diffusion-v1-1": 11, "stabilityai/stable-diffusion-2-base": 12,
         "kandinsky-community/kandinsky-2-1": 13}
VGG_SEED = 7


def tiny_autoencoder(repo_id: str) -> torch.nn.Module:
    """The tiny random AE standing in for ``repo_id`` (seeded; norm layers perturbed off their defaults so a loader
    that skipped them would change the output)."""
    import diffusers

    cls_name, config = TINY[repo_id]
    torch.manual_seed(SEEDS[repo_id])
    ae = getattr(diffusers, cls_name)(**config).eval()
    gen = torch.Generator().manual_seed(SEEDS[repo_id] + 100)
    with torch.no_grad():
        for module in ae.modules():
            if isinstance(module, torch.nn.GroupNorm) and module.affine:
                module.weight.copy_(1 + 0.2 * torch.randn(module.weight.shape, generator=gen))
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))
    return ae


import torchvision.models  # noqa: E402

_VGG16 = torchvision.models.vgg16  # the real constructor, kept before the patch below


def random_vgg16(*args, **kwargs):
    torch.manual_seed(VGG_SEED)
    return _VGG16(weights=None)


def install_shims(official: Path) -> dict[str, torch.nn.Module]:
    """Stub modules and patches; returns the dict the fake pipeline fills with the AEs it hands out."""
    sys.modules.setdefault("pyiqa", types.ModuleType("pyiqa"))
    clip = types.ModuleType("clip_interrogator")
    clip.Config = clip.Interrogator = object
    sys.modules.setdefault("clip_interrogator", clip)
    import joblib.memory

    class NoCache:
        def __init__(self, *args, **kwargs):
            pass

        def cache(self, func=None, **kwargs):
            return func if func is not None else (lambda f: f)

    joblib.memory.Memory = NoCache
    torchvision.models.vgg16 = random_vgg16  # lpips.pretrained_networks calls tv.vgg16(pretrained=...)
    sys.path.insert(0, str(official / "src"))
    import aeroblade.high_level_funcs  # noqa: F401  (imports image, distances with the shims in place)
    import aeroblade.image as image
    import aeroblade.misc as misc

    made: dict[str, torch.nn.Module] = {}

    class FakePipeline:
        @staticmethod
        def from_pretrained(repo_id, torch_dtype=None, use_safetensors=None, variant=None):
            if repo_id not in made:
                made[repo_id] = tiny_autoencoder(repo_id)
            ae = made[repo_id].to(torch_dtype)
            pipe = types.SimpleNamespace(enable_model_cpu_offload=lambda: None)
            setattr(pipe, "movq" if TINY[repo_id][0] == "VQModel" else "vae", ae)
            return pipe

    image.AutoPipelineForImage2Image = FakePipeline
    misc.safe_mkdir = lambda d: Path(d).mkdir(parents=True, exist_ok=True)
    image.safe_mkdir = misc.safe_mkdir
    return made


def resolve(entry: tuple[str, object]) -> tuple[Path, tuple[int, int, int, int] | None, str]:
    rel, crop = entry
    path = SHARED_DATA / rel
    if crop == "first":
        path = sorted(p for p in path.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[0]
        crop = None
    return path, crop, str(path.relative_to(SHARED_DATA))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, required=True, help="checkout of jonasricker/aeroblade @ 50fc2b2")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "parity" / "aeroblade")
    args = parser.parse_args()
    torch.set_num_threads(2)
    made = install_shims(args.official.resolve())
    from PIL import Image

    from aeroblade.data import ImageFolder
    from aeroblade.distances import _PatchedLPIPS
    from aeroblade.high_level_funcs import compute_distances
    from aeroblade.image import compute_reconstructions

    repo_ids = list(TINY)
    work = Path(tempfile.mkdtemp(prefix="aeroblade_parity_"))
    files, meta = [], []
    for k, entry in enumerate(IMAGES):
        path, crop, rel = resolve(entry)
        img = Image.open(path).convert("RGB")
        if crop is not None:
            img = img.crop(crop)
        target = work / "inputs" / f"img{k:02d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        img.save(target)  # lossless copy of the (cropped) decoded RGB pixels
        files.append(target)
        meta.append({"image": rel, "crop_box": list(crop) if crop else None, "size": list(img.size)})

    frame = compute_distances(dirs=files, transforms=["clean"], repo_ids=repo_ids, distance_metrics=["lpips_vgg_2"],
                              amount=None, reconstruction_root=work / "reconstructions", seed=1, batch_size=1,
                              num_workers=0)
    official = {row.file: float(np.asarray(row.distance).reshape(-1)[0])
                for row in frame[frame["repo_id"] == "max"].itertuples()}

    # unrounded: the official LPIPS layer-2 map on the official reconstruction PNGs, averaged in float32
    model = _PatchedLPIPS(spatial=True, net="vgg").eval()
    per_ae: dict[str, dict[str, float]] = {}
    with torch.no_grad():
        for file in files:
            ds = ImageFolder(file)
            for repo_id in repo_ids:
                rec = compute_reconstructions(ds, repo_id=repo_id, output_root=work / "reconstructions", seed=1,
                                              batch_size=1, num_workers=0)  # already on disk: just listed
                a, b = ds[0][0][None], ImageFolder(rec)[0][0][None]
                _, layers = model(a, b, retPerLayer=True, normalize=True)
                per_ae.setdefault(file.name, {})[TAGS[repo_id]] = float(layers[1].float().mean())

    for item, file in zip(meta, files):
        dists = per_ae[file.name]
        item["official_score_fp16"] = official[file.name]
        item["score"] = max(-d for d in dists.values())
        item["distances"] = dists

    args.out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    from fakebench.detectors.aeroblade import write_bundle
    import lpips

    vgg = random_vgg16().features.state_dict()
    lin = model.lins[1].model[1].weight
    write_bundle(args.out / "bundle.pth", {TAGS[r]: made[r].to(torch.float16) for r in repo_ids}, vgg, lin)
    import diffusers
    import torchvision

    record = {
        "official": "jonasricker/aeroblade @ 50fc2b22c929 (scripts/run_aeroblade.py defaults via compute_distances)",
        "torch": torch.__version__, "torchvision": torchvision.__version__, "diffusers": diffusers.__version__,
        "lpips": getattr(lpips, "__version__", "0.1.4"), "device": "cpu",
        "seeds": {"autoencoders": {TAGS[r]: SEEDS[r] for r in repo_ids}, "vgg16": VGG_SEED, "latent_noise": 1},
        "images": meta,
    }
    (args.out / "expected.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    for item in meta:
        print(f"{item['image']:<70} {item['size']} official(fp16) {item['official_score_fp16']:.6f} "
              f"unrounded {item['score']:.7f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
