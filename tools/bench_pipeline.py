"""Benchmark: fakebench's evaluation pipeline against an official-style test loop, same images, same machine, one run.

Not a test: it prints images/s and ratios (higher = fakebench faster). Each scenario times, with the model already
loaded and the same weights in both (the parity checkpoints of ``../shared/parity``; the official side runs a copy in
the default contiguous memory format, as the official scripts do):

* **official-style** -- the loop the official ``test.py``/``eval.py`` scripts run, written from the facts in
  ``../shared/reference/baselines.md`` and ``../shared/parity/README.md``: a file list, ``PIL.Image.open().convert
  ('RGB')``, torchvision ``[CenterCrop(224)] + ToTensor + Normalize(ImageNet)``, one ``DataLoader`` worker, batch 1
  for mixed image sizes (the official scripts cannot stack them) or 64 for fixed sizes, ``model(x).sigmoid()`` under
  ``no_grad``; nothing written;
* **fakebench** -- :func:`fakebench.eval.harness.run_evaluation` from files to a complete run folder (hashing,
  decoding, preprocessing in DataLoader workers, shape-bucketed batches, predictions.csv, metrics, results.json),
  prediction cache off, at the default batch size and workers unless told otherwise;
* **forward only** -- :meth:`Detector.predict` on the preprocessed tensors in fakebench's batches (the ceiling).

Scenarios (``--scenario``, repeatable; default all):

* ``npr-mixed``: NPR ``native`` preset on text-to-image renders of 256, 384 and 512 px (``t2i_2022_dcsan``);
* ``npr-gangen``: NPR ``native`` on 128 px GANGen BEGAN real/fake images (official batch 64);
* ``cnnspot-crop224``: CNNSpot ``crop224`` on 256 px renders and CBSD68 photos (official batch 64).

Each side runs ``--repeats`` times, interleaved, and the best time counts (every run's time is printed too: on a
shared machine the spread is the honest error bar). Peak host memory (this process plus its
DataLoader workers, sampled) comes from :func:`fakebench.eval.cost.measure_cost`.

Usage::

    python tools/bench_pipeline.py --images 24 --repeats 2 --json results/bench_pipeline.json
    python tools/bench_pipeline.py --scenario npr-mixed --max-pixels 16000000   # the old CPU budget
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
from pathlib import Path

import torch

SHARED = Path(os.environ.get("FAKEBENCH_SHARED", Path(__file__).resolve().parents[2] / "shared"))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

SCENARIOS = {
    # name: (detector, checkpoint, preset, official batch, crop)
    "npr-mixed": ("npr", "parity/npr/model_epoch_last_3090_format.pth", "native", 1, None),
    "npr-gangen": ("npr", "parity/npr/model_epoch_last_3090_format.pth", "native", 64, None),
    "cnnspot-crop224": ("cnnspot", "parity/cnnspot/blur_jpg_prob0.5_format.pth.xz", "crop224", 64, 224),
}


def _images(scenario: str, n: int) -> list[tuple[str, int]]:
    """``n`` (path, label) pairs for a scenario, deterministic (sorted order), balanced across sizes or labels."""
    from PIL import Image

    data = SHARED / "data"
    if scenario == "npr-gangen":
        real = sorted((data / "gangen_began" / "0_real").iterdir())[: n // 2]
        fake = sorted((data / "gangen_began" / "1_fake").iterdir())[: n - n // 2]
        return [(str(p), 0) for p in real] + [(str(p), 1) for p in fake]
    renders = sorted((data / "t2i_2022_dcsan").glob("*/1_fake/*"))
    by_size: dict[int, list[Path]] = {}
    for path in renders:
        with Image.open(path) as img:
            if img.size[0] == img.size[1]:
                by_size.setdefault(img.size[0], []).append(path)
    if scenario == "npr-mixed":
        pools = [list(by_size[s]) for s in (256, 384, 512)]  # round-robin over the three sizes
        picked = []
        while len(picked) < n and any(pools):
            for pool in pools:
                if pool and len(picked) < n:
                    picked.append(pool.pop(0))
        return [(str(p), 1) for p in picked]
    photos = sorted((data / "real_photos" / "cbsd68" / "0_real").iterdir())[: n // 2]
    return [(str(p), 0) for p in photos] + [(str(p), 1) for p in by_size[256][: n - n // 2]]


class _Files(torch.utils.data.Dataset):
    """The official scripts' dataset: a file list, PIL RGB decode, a torchvision transform."""

    def __init__(self, items: list[tuple[str, int]], transform) -> None:
        self.items, self.transform = items, transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        from PIL import Image

        path, label = self.items[index]
        return self.transform(Image.open(path).convert("RGB")), label


def official_style(model: torch.nn.Module, items: list[tuple[str, int]], *, batch_size: int,
                   crop: int | None) -> list[float]:
    """The official test loop (see the module docstring); returns the fake probabilities."""
    from torchvision import transforms

    steps = ([transforms.CenterCrop(crop)] if crop else []) + [transforms.ToTensor(),
                                                               transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    loader = torch.utils.data.DataLoader(_Files(items, transforms.Compose(steps)), batch_size=batch_size,
                                         shuffle=False, num_workers=1)
    probs: list[float] = []
    with torch.no_grad():
        for images, _ in loader:
            probs += model(images).sigmoid().flatten().tolist()
    return probs


def _records(items: list[tuple[str, int]]):
    from fakebench.data.images import ImageRecord

    return [ImageRecord(path, label, "bench", "bench") for path, label in items]


def fakebench_run(detector, items: list[tuple[str, int]], *, batch_size: int, workers: int | None,
                  max_pixels: int | None = None) -> dict:
    """``run_evaluation`` into a temporary folder (cache off); returns its results dict."""
    from fakebench.eval.harness import TestSet, run_evaluation
    from fakebench.eval.scoring import TestSetSpec

    labels = "mixed" if len({label for _, label in items}) == 2 else ("fake" if items[0][1] else "real")
    sets = [TestSet(TestSetSpec(dataset="bench", generator="bench", labels=labels), _records(items))]
    with tempfile.TemporaryDirectory() as tmp:
        _, results = run_evaluation(detector, sets, output=tmp, data_label="bench", batch_size=batch_size,
                                    num_workers=workers, use_cache=False, progress=False,
                                    max_pixels_per_batch=max_pixels)
    return results


def forward_only(detector, items: list[tuple[str, int]], *, batch_size: int, max_pixels: int | None = None) -> float:
    """Seconds of ``detector.predict`` alone over fakebench's batches (decoded and preprocessed beforehand; the
    runner's batches: sorted by size, at most ``batch_size`` images and ``max_pixels`` pixels, default the runner's
    budget for the detector's device)."""
    import time

    from fakebench.data.images import ImageDataset, collate_by_shape
    from fakebench.eval.runner import _budget_batches, default_max_pixels

    dataset = ImageDataset(_records(items), detector.transform(), pad_below=detector.preset.pads_below)
    tensors = sorted((dataset[i] for i in range(len(dataset))), key=lambda it: tuple(it["image"].shape))
    budget = max_pixels or default_max_pixels(detector.device)
    plan = _budget_batches([int(it["image"].shape[-2] * it["image"].shape[-1]) for it in tensors], batch_size, budget)
    batches = [collate_by_shape([tensors[i] for i in group]) for group in plan]
    start = time.perf_counter()
    for batch in batches:
        for _, images in batch["groups"]:
            detector.predict(images)
    return time.perf_counter() - start


def bench(scenario: str, *, images: int, repeats: int, batch_size: int, workers: int | None,
          max_pixels: int | None = None) -> dict:
    """Run one scenario; returns its row (images/s of each side, ratios, peak host memory)."""
    from fakebench import detectors
    from fakebench.eval.cost import measure_cost
    from fakebench.eval.runner import default_max_pixels

    name, checkpoint, preset, official_batch, crop = SCENARIOS[scenario]
    det = detectors.get_detector_class(name).load(SHARED / checkpoint, preset=preset)
    items = _images(scenario, images)
    # the official scripts run the network in the default (contiguous) memory format; fakebench may use channels-last
    # on the CPU (LogitDetector.cpu_channels_last), so the official side gets its own contiguous copy
    model = copy.deepcopy(det.model).to(memory_format=torch.contiguous_format)
    official_probs = official_style(model, items[:2], batch_size=official_batch, crop=crop)  # warm-up
    best: dict[str, dict] = {}
    walls: dict[str, list[float]] = {"official": [], "fakebench": []}
    for _ in range(repeats):
        with measure_cost("cpu", images=len(items)) as cost:
            official_probs = official_style(model, items, batch_size=official_batch, crop=crop)
        walls["official"].append(cost["wall_seconds"])
        if "official" not in best or cost["wall_seconds"] < best["official"]["wall_seconds"]:
            best["official"] = cost
        with measure_cost("cpu", images=len(items)) as cost:
            results = fakebench_run(det, items, batch_size=batch_size, workers=workers, max_pixels=max_pixels)
        walls["fakebench"].append(cost["wall_seconds"])
        if "fakebench" not in best or cost["wall_seconds"] < best["fakebench"]["wall_seconds"]:
            best["fakebench"] = cost
    fwd = min(forward_only(det, items, batch_size=batch_size, max_pixels=max_pixels) for _ in range(repeats))
    official_ips = best["official"]["images_per_second"]
    ours_ips = best["fakebench"]["images_per_second"]
    return {
        "scenario": scenario, "detector": name, "preset": preset, "images": len(items),
        "official_batch": official_batch, "fakebench_batch": batch_size,
        "fakebench_max_pixels": max_pixels or default_max_pixels(det.device),
        "fakebench_workers": workers if workers is not None else "default",
        "torch_threads": torch.get_num_threads(), "cpu": best["official"]["device_name"],
        "official_img_s": official_ips, "fakebench_img_s": ours_ips,
        "forward_only_img_s": round(len(items) / fwd, 3),
        "ratio_vs_official": round(ours_ips / official_ips, 3),
        "ratio_vs_forward_only": round(ours_ips * fwd / len(items), 3),
        "official_peak_host_mb": best["official"]["peak_host_memory_mb"],
        "fakebench_peak_host_mb": best["fakebench"]["peak_host_memory_mb"],
        "fakebench_scored": results["run"]["computed"], "official_scored": len(official_probs),
        "official_wall_s": walls["official"], "fakebench_wall_s": walls["fakebench"],
    }


def main(argv: list[str] | None = None) -> list[dict]:
    """Command-line entry point: prints a Markdown table of the scenarios and optionally writes JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--images", type=int, default=24, help="images per scenario (default 24)")
    parser.add_argument("--repeats", type=int, default=2, help="best of this many interleaved runs (default 2)")
    parser.add_argument("--batch-size", type=int, default=32, help="fakebench batch size (default 32)")
    parser.add_argument("--workers", type=int, help="fakebench DataLoader workers (default: cores - 1)")
    parser.add_argument("--max-pixels", type=int,
                        help="fakebench pixel budget of one forward pass (default: the runner's, per device)")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    rows = [bench(s, images=args.images, repeats=args.repeats, batch_size=args.batch_size, workers=args.workers,
                  max_pixels=args.max_pixels)
            for s in (args.scenario or list(SCENARIOS))]
    print(f"\n{rows[0]['cpu']}, {rows[0]['torch_threads']} torch threads; images/s, best of {args.repeats}\n")
    print("| scenario | images | official batch | official img/s | fakebench batch / pixel budget | fakebench img/s | "
          "forward-only img/s | fakebench / official | fakebench / forward-only | peak MB official / fakebench | "
          "all runs s, official / fakebench |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['scenario']} | {r['images']} | {r['official_batch']} | {r['official_img_s']:.2f} | "
              f"{r['fakebench_batch']} / {r['fakebench_max_pixels']:,} | {r['fakebench_img_s']:.2f} | "
              f"{r['forward_only_img_s']:.2f} | "
              f"{r['ratio_vs_official']:.2f}x | {r['ratio_vs_forward_only']:.2f}x | "
              f"{r['official_peak_host_mb']:.0f} / {r['fakebench_peak_host_mb']:.0f} | "
              f"{' '.join(f'{w:.1f}' for w in r['official_wall_s'])} / "
              f"{' '.join(f'{w:.1f}' for w in r['fakebench_wall_s'])} |")
    if args.json:
        from fakebench.core.files import atomic_write_json

        atomic_write_json(args.json, {"argv": argv, "rows": rows})
    return rows


if __name__ == "__main__":
    main()
