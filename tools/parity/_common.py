"""Shared helpers of the CLIP-family parity scripts (``tools/parity/{rine,clipdet,c2p_clip,commfor}.py``).

The scripts run the OFFICIAL code of a detector (from a checkout at the recorded commit) on a tiny, seeded,
randomly initialised configuration of its architecture and write what it outputs on :data:`IMAGES` to
``tests/fixtures/parity/<name>/``. The images stay in ``../shared/data`` and are referenced by their path there.
"""

from __future__ import annotations

import csv
import math
import platform
import sys
from pathlib import Path

#: 12 images of ``../shared/data`` (paths relative to it) with mixed sizes: smaller than every crop (32x32, 128x128),
#: odd and non-square (321x481, 481x321, 1024x683, 640x1141), portrait and landscape, PNG and JPEG.
IMAGES = (
    "gangen_began/0_real/000001_crop.png",  # 128x128
    "gangen_began/1_fake/BEGAN_00000000.png",  # 128x128
    "real_photos/cbsd68/0_real/101085.png",  # 321x481
    "real_photos/cbsd68/0_real/103070.png",  # 481x321
    "real_photos/sun_hays80/0_real/badlands_sun_bvwwfrhtvupdxldb.jpg",  # 1024x683
    "real_photos/sun_hays80/0_real/beach_sun_bgtlposotyokcsdg.jpg",  # 768x1024
    "cifake/1_fake/1000 (10).jpg",  # 32x32
    "t2i_2022_dcsan/dalle-mini/1_fake/advertisement-soundcancelling-headphones-style-surrealism-20867902__dmin-1.png",
    "forensynths_samples/biggan/1_fake/124_biggan_fake.jpg",  # 356x356
    "aeroblade_examples/1_fake/KD2-1.png",  # 512x512
    "sentry_samples/mpbench/Midjourney/1_fake/1.png",  # 640x1141
    "grip_gan_examples/biggan/1_fake/fake_biggan.png",  # 256x256
)

FIELDS = ("image", "width", "height", "config", "preset", "logit", "prob")


def sigmoid(x: float) -> float:
    """Logistic function in float64."""
    return 1.0 / (1.0 + math.exp(-x))


def write_expected(path: Path, rows: list[dict]) -> None:
    """Write ``rows`` (keys :data:`FIELDS`; logit/prob as floats or ``None`` for an input the official code refuses)
    to a CSV with 8-decimal floats."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        for row in rows:
            out = dict(row)
            for key in ("logit", "prob"):
                out[key] = "" if row[key] is None else f"{row[key]:.8f}"
            writer.writerow(out)


def environment() -> str:
    """One line naming the Python, torch and torchvision versions used (for the fixture README)."""
    import torch
    import torchvision

    return f"Python {platform.python_version()}, torch {torch.__version__}, torchvision {torchvision.__version__}"


def git_head(checkout: Path) -> str:
    """The commit checked out at ``checkout`` (``unknown`` when it is not a git work tree)."""
    import subprocess

    try:
        return subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def put_first_on_path(*folders: Path) -> None:
    """Make the official checkouts importable (first on ``sys.path``)."""
    for folder in reversed(folders):
        sys.path.insert(0, str(Path(folder).resolve()))
