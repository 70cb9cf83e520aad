"""Helpers shared by the artifact-family parity scripts (tools/parity/{safe,corvi2023,ladeda}.py; the CLIP family has its own _common.py).

Run from the repository root; every script takes the path of a checkout of the official repository at the recorded
commit and writes ``tests/fixtures/parity/<name>/``.
"""

from __future__ import annotations

import csv
import hashlib
import lzma
import sys
from pathlib import Path

import torch

#: Fixture images, as paths relative to ``../shared/data`` (mixed sizes: smaller than the crops, odd, non-square).
IMAGES = (
    "gangen_began/0_real/000001_crop.png",            # 128x128
    "gangen_began/1_fake/BEGAN_00000000.png",         # 128x128
    "cifake/1_fake/1000 (10).jpg",                    # 32x32 JPEG
    "real_photos/cbsd68/0_real/101085.png",           # 321x481 (odd, portrait)
    "real_photos/cbsd68/0_real/101087.png",           # 321x481
    "grip_gan_examples/progan/0_real/real_progan.png",  # 256x256
    "grip_gan_examples/progan/1_fake/fake_progan.png",  # 256x256
    "forensynths_samples/stylegan/1_fake/156_stylegan_fake.jpg",  # 356x356 JPEG
    "cnndetection_examples/0_real/real.png",          # 256x256
    "aeroblade_examples/1_fake/KD2-1.png",            # 512x512
    "real_photos/sun_hays80/0_real/aqueduct_sun_ancegghzusmmvzjn.jpg",  # 1024x768 JPEG
    "t2i_2022_dcsan/dalle-mini/1_fake/advertisement-soundcancelling-headphones-style-surrealism-20867902__dmin-1.png",
)


def shared_data() -> Path:
    """``../shared/data`` next to the repository root."""
    path = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    if not path.is_dir():
        sys.exit(f"{path} not found: the fixture images live in ../shared/data")
    return path


def perturb_batchnorm(model: torch.nn.Module, seed: int) -> None:
    """Give every BatchNorm2d non-default values (so a loader that skips BN buffers fails the fixture)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(1 + 0.2 * torch.randn(n, generator=gen))
                m.bias.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_var.copy_(torch.exp(0.3 * torch.randn(n, generator=gen)))


def quantise(model: torch.nn.Module) -> None:
    """``w <- s * clamp(round(w / s), -2, 2)`` (``s`` = the tensor's std) for every conv/linear weight, so the
    checkpoint compresses well with xz."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                s = m.weight.std()
                m.weight.copy_(s * torch.clamp(torch.round(m.weight / s), -2, 2))


def write_xz(obj, path: Path) -> str:
    """``torch.save(obj)`` then xz-compress (preset 9) to ``path``; returns the sha256 of the .xz file."""
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    path.write_bytes(lzma.compress(buf.getvalue(), preset=9))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
