"""Benchmark: PIL (fakebench's :func:`~fakebench.data.images.load_image`, i.e. ``.convert('RGB')`` pixels) against
``torchvision.io.decode_image(..., mode=RGB)``, per image format: are the pixels identical, and how many images/s does
each decode (to a ``(3, H, W)`` ``uint8`` tensor, one thread)? Not a test: it prints a table and writes JSON.

Formats: generated here with PIL (PNG 8-bit RGB/RGBA/palette/palette+transparency/grey/grey+alpha/16-bit grey, JPEG
baseline 4:2:0 and 4:4:4/progressive/grey/CMYK/EXIF-rotated, WebP lossy/lossless/alpha, BMP, GIF still/animated,
TIFF) at ``--size`` pixels from a seeded noisy gradient, and every real JPEG and PNG of ``../shared/data`` (up to
``--per-format`` of each, sorted order). A format is "identical" when every image of it decodes to the same array
both ways.

Usage::

    python tools/bench_decode.py --json decode.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

SHARED = Path(os.environ.get("FAKEBENCH_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def _pattern(size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    base = np.stack([x * 255 // size, y * 255 // size, (x + y) * 127 // size], -1)
    return np.clip(base + rng.integers(-40, 40, base.shape), 0, 255).astype(np.uint8)


def generated(folder: Path, size: int, count: int) -> dict[str, list[Path]]:
    """``{format label: files}`` written with PIL into ``folder``."""
    out: dict[str, list[Path]] = {}

    def save(label: str, k: int, img: Image.Image, ext: str, **kw) -> None:
        path = folder / f"{label}_{k}.{ext}"
        img.save(path, **kw)
        out.setdefault(label, []).append(path)

    for k in range(count):
        rgb = Image.fromarray(_pattern(size, k))
        alpha = Image.fromarray(_pattern(size, 100 + k)[..., 0])
        rgba = rgb.copy()
        rgba.putalpha(alpha)
        grey = rgb.convert("L")
        save("png-rgb", k, rgb, "png")
        save("png-rgba", k, rgba, "png")
        save("png-palette", k, rgb.convert("P", palette=Image.Palette.ADAPTIVE), "png")
        pal_t = rgb.convert("P", palette=Image.Palette.ADAPTIVE)
        save("png-palette-transparency", k, pal_t, "png", transparency=3)
        save("png-grey", k, grey, "png")
        save("png-grey-alpha", k, Image.merge("LA", (grey, alpha)), "png")
        save("png-16bit-grey", k, Image.fromarray((np.asarray(grey, np.uint16) * 257 + k).astype(np.uint16)),
             "png")
        save("jpeg-baseline-420", k, rgb, "jpg", quality=90)
        save("jpeg-baseline-444", k, rgb, "jpg", quality=90, subsampling=0)
        save("jpeg-progressive", k, rgb, "jpg", quality=90, progressive=True)
        save("jpeg-grey", k, grey, "jpg", quality=90)
        save("jpeg-cmyk", k, rgb.convert("CMYK"), "jpg", quality=90)
        exif = Image.Exif()
        exif[0x0112] = 6
        save("jpeg-exif-orientation-6", k, rgb, "jpg", quality=90, exif=exif)
        save("webp-lossy", k, rgb, "webp", quality=80)
        save("webp-lossless", k, rgb, "webp", lossless=True)
        save("webp-alpha", k, rgba, "webp", lossless=True)
        save("bmp", k, rgb, "bmp")
        save("gif-still", k, rgb.convert("P", palette=Image.Palette.ADAPTIVE), "gif")
        frames = [rgb.convert("P", palette=Image.Palette.ADAPTIVE),
                  Image.fromarray(_pattern(size, 50 + k)).convert("P", palette=Image.Palette.ADAPTIVE)]
        save("gif-animated", k, frames[0], "gif", save_all=True, append_images=frames[1:])
        save("tiff", k, rgb, "tif")
    return out


def shared_files(per_format: int) -> dict[str, list[Path]]:
    """Real JPEGs and PNGs of ``../shared/data`` (sorted, up to ``per_format`` each)."""
    files = sorted(p for p in (SHARED / "data").rglob("*") if p.is_file())
    out = {"shared-jpeg": [p for p in files if p.suffix.lower() in (".jpg", ".jpeg")][:per_format],
           "shared-png": [p for p in files if p.suffix.lower() == ".png"][:per_format]}
    return {k: v for k, v in out.items() if v}


def pil_decode(path: Path):
    from torchvision.transforms.functional import pil_to_tensor

    from fakebench.data.images import load_image

    return pil_to_tensor(load_image(path)[0])


def tv_decode(path: Path):
    from torchvision.io import ImageReadMode, decode_image, read_file

    return decode_image(read_file(str(path)), mode=ImageReadMode.RGB)


def compare(label: str, paths: list[Path], repeats: int) -> dict:
    """One format's row: identical?, max |difference|, images/s both ways (best of ``repeats``)."""
    import torch

    same, max_diff, errors = True, 0, []
    for path in paths:
        a = pil_decode(path)
        try:
            b = tv_decode(path)
        except Exception as exc:  # a format torchvision cannot decode
            errors.append(f"{path.name}: {type(exc).__name__}: {str(exc)[:120]}")
            same = False
            continue
        if b.dtype != torch.uint8 or b.shape != a.shape:
            errors.append(f"{path.name}: torchvision {tuple(b.shape)} {b.dtype} vs PIL {tuple(a.shape)} uint8")
            same = False
            continue
        diff = int((a.int() - b.int()).abs().max())
        max_diff = max(max_diff, diff)
        same = same and diff == 0
    speed = {}
    for name, fn in (("pil", pil_decode), ("torchvision", tv_decode)):
        best = None
        for _ in range(repeats):
            start = time.perf_counter()
            try:
                for path in paths:
                    fn(path)
            except Exception:
                best = None
                break
            seconds = time.perf_counter() - start
            best = seconds if best is None else min(best, seconds)
        speed[name] = round(len(paths) / best, 1) if best else None
    return {"format": label, "images": len(paths), "identical": same, "max_abs_diff": max_diff,
            "pil_img_s": speed["pil"], "torchvision_img_s": speed["torchvision"], "errors": errors[:3]}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256, help="side of the generated images (default 256)")
    parser.add_argument("--count", type=int, default=8, help="generated images per format (default 8)")
    parser.add_argument("--per-format", type=int, default=200, help="shared images per format (default 200)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    rows = []
    print("| format | images | identical | max abs diff | PIL img/s | torchvision img/s |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        groups = generated(Path(tmp), args.size, args.count)
        groups.update(shared_files(args.per_format))
        for label, paths in groups.items():
            row = compare(label, paths, args.repeats)
            rows.append(row)
            print(f"| {label} | {row['images']} | {'yes' if row['identical'] else 'NO'} | {row['max_abs_diff']} | "
                  f"{row['pil_img_s']} | {row['torchvision_img_s']} |" + (f" {row['errors'][0]}" if row["errors"]
                                                                          else ""), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"argv": sys.argv[1:] if argv is None else argv,
                                               "load_average": os.getloadavg(), "rows": rows}, indent=1))
    return rows


if __name__ == "__main__":
    main()
