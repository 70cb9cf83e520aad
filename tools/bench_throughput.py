"""Throughput benchmark: the full pipeline against the model forward alone, same batch size, same run.

* **pipeline** -- :func:`fakebench.eval.runner.collect_predictions` from files on disk to rows in ``predictions.csv``:
  hashing, decoding, preprocessing in DataLoader workers, model, writing (prediction cache off);
* **forward only** -- :meth:`Detector.predict` on the same images already decoded and preprocessed into tensors.

The ratio pipeline / forward-only tells how much the data path costs; 1.0 means it is fully hidden behind the model.
Each row also gives the peak memory of the process (resident set size, MiB, ``getrusage`` max RSS: the high-water
mark since start, so rows are cumulative) and, on CUDA, the peak GPU memory allocated during that detector's runs; the
pipeline's forward passes are bounded by ``--max-pixels-per-batch`` (default: the runner's).
Weights do not change the speed, so the detectors are built untrained (explicitly labelled) unless ``--weights`` is
given; UnivFD uses a randomly initialised ViT-L/14 (the real architecture) unless ``--backbone`` is given.

Usage::

    python -m benchmark.bench --detector npr --detector cnnspot \\
        --data-dir ../shared/data/forensynths_samples --crop-box 50,50,306,306 --images 160
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

__all__ = ["build_detector", "bench_detector", "main"]


def build_detector(name: str, *, weights: str | None = None, preset: str | None = None, backbone: str | None = None):
    """The detector to time: loaded from ``weights`` when given, else untrained (``WeightsInfo.tag='random-init'``)."""
    from fakebench import detectors

    cls = detectors.get_detector_class(name)
    if weights:
        kwargs = {"backbone": backbone} if name == "univfd" and backbone else {}
        return cls.load(weights, preset=preset, **kwargs)
    if name == "univfd":
        import open_clip
        from torch import nn

        from fakebench.detectors.base import WeightsInfo
        from fakebench.detectors.univfd import UnivFD, UnivFDNet, load_openai_clip_visual

        visual = (load_openai_clip_visual(backbone) if backbone else
                  open_clip.create_model("ViT-L-14", pretrained=None, precision="fp32").visual.eval())
        return UnivFD(UnivFDNet(visual, nn.Linear(768, 1)), preset=preset, weights=WeightsInfo(tag="random-init"))
    return cls.untrained(preset=preset)


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def bench_detector(detector, records, *, batch_size: int, num_workers: int, repeats: int = 1,
                   max_pixels_per_batch: int | None = None) -> dict:
    """Time the pipeline and the forward pass on ``records``; returns images/s of both, their ratio, and the peak
    memory (process RSS in MiB; CUDA peak allocated in MiB when on a GPU)."""
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    from fakebench.data.images import ImageDataset, collate_by_shape
    from fakebench.eval.runner import collect_predictions

    # forward only: decode + preprocess everything first (not timed), then time predict() over the same batches
    dataset = ImageDataset(records, detector.transform())
    items = [dataset[i] for i in range(len(dataset))]
    batches = [collate_by_shape(items[i:i + batch_size]) for i in range(0, len(items), batch_size)]
    n_ok = sum(len(idx) for b in batches for idx, _ in b["groups"])
    with torch.inference_mode():
        detector.predict(batches[0]["groups"][0][1])  # warm-up (allocator, lazy init)
    forward_s = []
    for _ in range(repeats):
        start = time.perf_counter()
        with torch.inference_mode():
            for batch in batches:
                for _, images in batch["groups"]:
                    detector.predict(images)
        forward_s.append(time.perf_counter() - start)
    pipeline_s = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            collect_predictions(detector, records, Path(tmp) / "p.csv", batch_size=batch_size,
                                num_workers=num_workers, cache=None, progress=False,
                                max_pixels_per_batch=max_pixels_per_batch)
            pipeline_s.append(time.perf_counter() - start)
    fwd, pipe = n_ok / min(forward_s), len(records) / min(pipeline_s)
    return {"detector": detector.name, "preset": detector.preset.name, "images": len(records),
            "batch_size": batch_size, "workers": num_workers, "torch_threads": torch.get_num_threads(),
            "forward_only_img_s": round(fwd, 2), "pipeline_img_s": round(pipe, 2), "ratio": round(pipe / fwd, 3),
            "max_pixels_per_batch": max_pixels_per_batch, "peak_rss_mib": peak_rss_mib(),
            "peak_cuda_mib": round(torch.cuda.max_memory_allocated() / 2 ** 20, 1) if torch.cuda.is_available()
            else None}


def main(argv: list[str] | None = None) -> list[dict]:
    """Command-line entry point; prints one line per detector and the JSON of all rows."""
    from fakebench.cli.common import parse_crop_box
    from fakebench.data.images import discover_data_dir
    from fakebench.eval.runner import default_num_workers

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detector", action="append", required=True)
    parser.add_argument("--data-dir", required=True, help="0_real/1_fake test root with generator folders")
    parser.add_argument("--crop-box", help="LEFT,TOP,RIGHT,BOTTOM crop applied to every image")
    parser.add_argument("--images", type=int, default=160, help="number of images (first N in sorted order)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=default_num_workers())
    parser.add_argument("--repeats", type=int, default=2, help="take the best of this many runs of each")
    parser.add_argument("--max-pixels-per-batch", type=int,
                        help="pixel budget of one forward pass in the pipeline (default: the runner's)")
    parser.add_argument("--preset")
    parser.add_argument("--weights")
    parser.add_argument("--backbone")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    records = discover_data_dir(args.data_dir, crop_box=parse_crop_box(args.crop_box))[: args.images]
    rows = []
    for name in args.detector:
        det = build_detector(name, weights=args.weights, preset=args.preset, backbone=args.backbone)
        row = bench_detector(det, records, batch_size=args.batch_size, num_workers=args.workers,
                             repeats=args.repeats, max_pixels_per_batch=args.max_pixels_per_batch)
        rows.append(row)
        cuda = "" if row["peak_cuda_mib"] is None else f", peak CUDA {row['peak_cuda_mib']:.0f} MiB"
        print(f"{name:10s} preset={row['preset']:10s} forward-only {row['forward_only_img_s']:8.2f} img/s  "
              f"pipeline {row['pipeline_img_s']:8.2f} img/s  ratio {row['ratio']:.3f}  "
              f"peak RSS {row['peak_rss_mib']:.0f} MiB"
              f"{cuda}  "
              f"({row['images']} images, batch {row['batch_size']}, {row['workers']} workers, "
              f"{row['torch_threads']} torch threads)", flush=True)
    print(json.dumps(rows, indent=2))
    if args.json:
        from fakebench.core.files import atomic_write_json

        atomic_write_json(args.json, {"cpu_count": os.cpu_count(), "rows": rows})
    return rows


if __name__ == "__main__":
    main()
