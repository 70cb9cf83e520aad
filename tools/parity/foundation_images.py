"""The images (paths relative to ``../shared/data``) on which the foundation-family parity fixtures (drct, bfree,
effort, fatformer) record the official outputs, and small helpers shared by their scripts.

Mixed sizes on purpose: 128x128 and 32x32 (smaller than every crop), 321x481 / 481x321 (odd, non-square),
1024x683 (odd crop offset: floor and round-half-even centre crops differ there), JPEG and PNG inputs, up to 1024x1024.
"""

from __future__ import annotations

import csv
from pathlib import Path

IMAGES = (
    "gangen_began/0_real/000001_crop.png",
    "gangen_began/1_fake/BEGAN_00000000.png",
    "real_photos/cbsd68/0_real/101085.png",
    "real_photos/cbsd68/0_real/102061.png",
    "real_photos/sun_hays80/0_real/badlands_sun_bvwwfrhtvupdxldb.jpg",
    "real_photos/sun_hays80/0_real/abbey_sun_asztnlqhlrvirneh.jpg",
    "cifake/1_fake/1000 (10).jpg",
    "forensynths_samples/stylegan/1_fake/156_stylegan_fake.jpg",
    "aeroblade_examples/1_fake/KD2-1.png",
    "aeroblade_examples/1_fake/MJ4.png",
    "t2i_2022_dcsan/majesty-diffusion/1_fake/girl-lost-forest-15746896__mdif-1.png",
    "grip_gan_examples/progan/1_fake/fake_progan.png",
)


def write_expected(path: Path, rows: list[dict]) -> None:
    """Write ``rows`` (dicts with the same keys) as a CSV at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
