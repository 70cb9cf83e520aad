"""Benchmark: fakebench's pipeline against its ceiling (the forward pass alone, same batches) and, whole process,
against an official-style loop. Not a test: it prints a table and writes JSON.

Two modes (``--mode``, default both):

* ``ceiling`` -- one process, the model loaded once, per scenario:

  - **forward only**: the runner's own plan (:func:`fakebench.eval.runner.plan_batches`: the same images in the same
    order, the same batch size and pixel budget), every image decoded and preprocessed *ahead of time* (not timed)
    and stacked per size; then only :meth:`Detector.predict` is timed over those batches. This is the ceiling: the
    pipeline cannot be faster than its own forward passes.
  - **pipeline**: :func:`fakebench.eval.runner.collect_predictions` on the same images (prediction cache off): hashing,
    size sniffing, decoding and the preset's PIL steps in decode threads (:mod:`fakebench.eval.prefetch`; DataLoader
    worker processes for a detector with its own transform), the same forward passes, writing
    ``predictions.csv``.

  Rounds are interleaved and the best of ``--repeats`` counts (every time is kept in the JSON: on a shared machine
  the spread is the honest error bar). The ratio pipeline / forward-only is at most 1; 1 means the data path is
  completely hidden behind the model. Peak host memory is the summed resident set of the process and any DataLoader
  workers (:func:`fakebench.eval.cost.measure_cost`); peak GPU memory is ``torch.cuda.max_memory_allocated``.

* ``process`` -- paired whole-process runs, interleaved: ``fakebench evaluate`` (a fresh interpreter: imports, model
  load, hashing, scoring, bootstrap CIs, result files; ``--no-cache``) against an official-style script (a fresh
  interpreter: the loop of the official ``test.py``/``eval.py``, written from ``../shared/reference/baselines.md``:
  a file list, ``PIL.Image.open().convert('RGB')``, torchvision ``[CenterCrop(224)] + ToTensor + Normalize``, one
  ``DataLoader`` worker, batch 1 for mixed sizes (the official scripts cannot stack them) or 64 for equal sizes,
  ``model(x).sigmoid()`` under ``no_grad``, accuracy/AP printed). The same parity checkpoint, the same images. The
  ratio is fakebench wall / official wall (lower is better for fakebench).

Scenarios (``--scenario``, repeatable; default all), parity checkpoints of ``../shared/parity``:

* ``npr-gangen``: NPR ``native`` on 128 px GANGen BEGAN real/fake PNGs (official batch 64);
* ``npr-mixed``: NPR ``native`` on text-to-image renders of 256, 384 and 512 px (official batch 1);
* ``cnnspot-crop224``: CNNSpot ``crop224`` on 256 px renders and CBSD68 photos (official batch 64).

Usage::

    python tools/bench_pipeline.py --images 128 --repeats 3 --json results/bench_pipeline.json
    python tools/bench_pipeline.py --mode process --scenario npr-gangen --images 200 --repeats 3
    python tools/bench_pipeline.py --mode ceiling --scenario npr-mixed --max-pixels 16000000   # another budget
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(os.environ.get("FAKEBENCH_SHARED", Path(__file__).resolve().parents[2] / "shared"))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

SCENARIOS = {
    # name: (detector, checkpoint, preset, official batch, official crop)
    "npr-gangen": ("npr", "parity/npr/model_epoch_last_3090_format.pth", "native", 64, None),
    "npr-mixed": ("npr", "parity/npr/model_epoch_last_3090_format.pth", "native", 1, None),
    "cnnspot-crop224": ("cnnspot", "parity/cnnspot/blur_jpg_prob0.5_format.pth.xz", "crop224", 64, 224),
}


def images_for(scenario: str, n: int) -> list[tuple[str, int]]:
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
        picked: list[Path] = []
        while len(picked) < n and any(pools):
            for pool in pools:
                if pool and len(picked) < n:
                    picked.append(pool.pop(0))
        return [(str(p), 1) for p in picked]
    photos = sorted((data / "real_photos" / "cbsd68" / "0_real").iterdir())[: n // 2]
    return [(str(p), 0) for p in photos] + [(str(p), 1) for p in by_size[256][: n - n // 2]]


def _records(items: list[tuple[str, int]]):
    from fakebench.data.images import ImageRecord

    return [ImageRecord(path, label, "bench", "bench") for path, label in items]


# -- ceiling mode --------------------------------------------------------------------------------------------------------
def forward_batches(detector, records, *, batch_size: int, budget: int) -> list:
    """The runner's batches of ``records`` (:func:`~fakebench.eval.runner.plan_batches`), decoded and preprocessed
    now, as lists of ``(B, 3, H, W)`` float32 tensors (one per image size in the batch)."""
    from fakebench.data.images import ImageDataset, collate_by_shape
    from fakebench.eval.runner import plan_batches

    plan = plan_batches(records, detector.preset, batch_size=batch_size, budget=budget)
    dataset = ImageDataset(plan.records, detector.transform(), pad_below=detector.preset.pads_below)
    return [[images for _, images in collate_by_shape([dataset[i] for i in batch])["groups"]]
            for batch in plan.batches]


def time_forward(detector, batches: list) -> float:
    """Seconds of :meth:`Detector.predict` over prepared batches."""
    start = time.perf_counter()
    for groups in batches:
        for images in groups:
            detector.predict(images)
    if str(detector.device).startswith("cuda"):
        import torch

        torch.cuda.synchronize(detector.device)
    return time.perf_counter() - start


def time_pipeline(detector, records, *, batch_size: int, workers: int | None, budget: int) -> tuple[float, dict]:
    """Seconds of :func:`~fakebench.eval.runner.collect_predictions` (cache off) into a temporary file, and its cost
    dict (:func:`~fakebench.eval.cost.measure_cost`)."""
    from fakebench.eval.cost import measure_cost
    from fakebench.eval.runner import collect_predictions

    with tempfile.TemporaryDirectory() as tmp:
        with measure_cost(detector.device, images=len(records)) as cost:
            _, stats = collect_predictions(detector, records, Path(tmp) / "predictions.csv", batch_size=batch_size,
                                           num_workers=workers, cache=None, progress=False,
                                           max_pixels_per_batch=budget)
    if stats.computed != len(records):
        raise RuntimeError(f"the pipeline scored {stats.computed} of {len(records)} images")
    return cost["wall_seconds"], cost


def bench_ceiling(scenario: str, *, images: int, repeats: int, batch_size: int, workers: int | None,
                  max_pixels: int | None, device: str) -> dict:
    """One scenario in ``ceiling`` mode; returns its row."""
    import torch

    from fakebench import detectors
    from fakebench.eval.cost import measure_cost
    from fakebench.eval.runner import default_max_pixels, default_num_workers

    name, checkpoint, preset, _, _ = SCENARIOS[scenario]
    det = detectors.get_detector_class(name).load(SHARED / checkpoint, preset=preset, device=device)
    records = _records(images_for(scenario, images))
    budget = max_pixels or default_max_pixels(det.device)
    batches = forward_batches(det, records, batch_size=batch_size, budget=budget)
    n_forward = sum(int(g.shape[0]) for groups in batches for g in groups)
    assert n_forward == len(records), "every image must be in the ceiling's batches"
    time_forward(det, batches[:1])  # warm-up (allocator, oneDNN primitives)
    forward_s, pipeline_s, forward_cost, pipeline_cost = [], [], None, None
    for _ in range(repeats):
        with measure_cost(det.device, images=len(records)) as cost:
            seconds = time_forward(det, batches)
        forward_s.append(seconds)
        forward_cost = cost if forward_cost is None or seconds <= min(forward_s) else forward_cost
        seconds, cost = time_pipeline(det, records, batch_size=batch_size, workers=workers, budget=budget)
        pipeline_s.append(seconds)
        pipeline_cost = cost if pipeline_cost is None or seconds <= min(pipeline_s) else pipeline_cost
    fwd, pipe = len(records) / min(forward_s), len(records) / min(pipeline_s)
    return {"mode": "ceiling", "scenario": scenario, "detector": name, "preset": preset, "images": len(records),
            "device": str(det.device), "device_name": pipeline_cost["device_name"],
            "torch_threads": torch.get_num_threads(), "batch_size": batch_size, "max_pixels": budget,
            "workers": default_num_workers() if workers is None else workers,
            "forward_batches": len(batches), "forward_only_img_s": round(fwd, 2), "pipeline_img_s": round(pipe, 2),
            "ratio": round(pipe / fwd, 3), "forward_s": [round(s, 3) for s in forward_s],
            "pipeline_s": [round(s, 3) for s in pipeline_s],
            "forward_peak_host_mb": forward_cost["peak_host_memory_mb"],
            "pipeline_peak_host_mb": pipeline_cost["peak_host_memory_mb"],
            "pipeline_peak_gpu_mb": pipeline_cost["peak_gpu_memory_mb"]}


# -- process mode --------------------------------------------------------------------------------------------------------
_OFFICIAL = r'''
import sys, time
start = time.perf_counter()
import json, lzma, io
import torch
from PIL import Image
from torchvision import transforms
from fakebench.detectors import get_detector_class

name, checkpoint, batch, crop, listing = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
items = json.loads(open(listing).read())
model = get_detector_class(name).build_model()          # the official architecture (same module names)
raw = lzma.open(checkpoint).read() if checkpoint.endswith(".xz") else open(checkpoint, "rb").read()
state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
state = state.get("model", state)
model.load_state_dict({k[7:] if k.startswith("module.") else k: v for k, v in state.items()}, strict=True)
model.eval()
steps = ([transforms.CenterCrop(int(crop))] if crop != "-" else []) + [
    transforms.ToTensor(), transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))]
transform = transforms.Compose(steps)

class Files(torch.utils.data.Dataset):
    def __len__(self):
        return len(items)
    def __getitem__(self, i):
        path, label = items[i]
        return transform(Image.open(path).convert("RGB")), label

loader = torch.utils.data.DataLoader(Files(), batch_size=batch, shuffle=False, num_workers=1)
probs, labels = [], []
with torch.no_grad():
    for x, y in loader:
        probs += model(x).sigmoid().flatten().tolist()
        labels += y.tolist()
from sklearn.metrics import accuracy_score, average_precision_score
acc = accuracy_score(labels, [p > 0.5 for p in probs])
ap = average_precision_score(labels, probs) if len(set(labels)) == 2 else float("nan")
print(json.dumps({"n": len(probs), "acc": acc, "ap": ap, "seconds": time.perf_counter() - start}))
'''


def _child(argv: list[str], cwd: str) -> tuple[float, float, str]:
    """Run a child process; (wall seconds, peak RSS MiB of its main process, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:4]} failed ({proc.returncode}): {err[-2000:]}")
    import resource

    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # max over children so far (KiB -> MiB)
    return wall, peak, out


def bench_process(scenario: str, *, images: int, repeats: int) -> dict:
    """One scenario in ``process`` mode; returns its row."""
    name, checkpoint, preset, official_batch, crop = SCENARIOS[scenario]
    items = images_for(scenario, images)
    walls: dict[str, list[float]] = {"official": [], "fakebench": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "data"
        for k, (path, label) in enumerate(items):  # the same images, as a 0_real/1_fake folder of links
            link = data / ("1_fake" if label else "0_real") / f"{k:05d}{Path(path).suffix}"
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path)
        listing = root / "items.json"
        listing.write_text(json.dumps([[str(data / ("1_fake" if label else "0_real") / f"{k:05d}{Path(p).suffix}"),
                                        label] for k, (p, label) in enumerate(items)]))
        official = [sys.executable, "-c", _OFFICIAL, name, str(SHARED / checkpoint), str(official_batch),
                    str(crop or "-"), str(listing)]
        env_cache = root / "cache"
        ours = ["env", f"FAKEBENCH_CACHE={env_cache}", sys.executable, "-c",
                "import sys; from fakebench.cli import main; sys.exit(main())", "evaluate", "--detector", name,
                "--weights", str(SHARED / checkpoint), "--preset", preset, "--data-dir", str(data), "--no-cache",
                "--quiet"]
        for r in range(repeats):
            wall, _, out = _child(official, tmp)
            walls["official"].append(round(wall, 3))
            wall, _, _ = _child(ours + ["--output", str(root / f"runs{r}")], tmp)
            walls["fakebench"].append(round(wall, 3))
    best_official, best_ours = min(walls["official"]), min(walls["fakebench"])
    return {"mode": "process", "scenario": scenario, "detector": name, "preset": preset, "images": len(items),
            "official_batch": official_batch, "official_wall_s": walls["official"],
            "fakebench_wall_s": walls["fakebench"], "ratio_wall": round(best_ours / best_official, 3),
            "official_result": json.loads(out.strip().splitlines()[-1])}


def main(argv: list[str] | None = None) -> list[dict]:
    """Command-line entry point: prints the table of each mode and optionally writes every row as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", action="append", choices=("ceiling", "process"))
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--images", type=int, default=128, help="images per scenario (default 128)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many interleaved rounds (default 3)")
    parser.add_argument("--batch-size", type=int, default=32, help="fakebench batch size (default 32)")
    parser.add_argument("--workers", type=int, help="fakebench decoding workers (default: cores - 1)")
    parser.add_argument("--max-pixels", type=int, help="pixel budget of one forward pass (default: the runner's)")
    parser.add_argument("--device", default="cpu", help="torch device of the ceiling mode (default cpu)")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    modes = args.mode or ["ceiling", "process"]
    scenarios = args.scenario or list(SCENARIOS)
    rows: list[dict] = []
    if "ceiling" in modes:
        print("| scenario | images | batch / pixel budget | workers | forward-only img/s | pipeline img/s | "
              "pipeline / forward-only | peak host MiB (pipeline) | peak GPU MiB |", flush=True)
        print("|---|---|---|---|---|---|---|---|---|", flush=True)
        for s in scenarios:
            r = bench_ceiling(s, images=args.images, repeats=args.repeats, batch_size=args.batch_size,
                              workers=args.workers, max_pixels=args.max_pixels, device=args.device)
            rows.append(r)
            print(f"| {s} | {r['images']} | {r['batch_size']} / {r['max_pixels']:,} | {r['workers']} | "
                  f"{r['forward_only_img_s']:.1f} | {r['pipeline_img_s']:.1f} | {r['ratio']:.2f} | "
                  f"{r['pipeline_peak_host_mb']} | {r['pipeline_peak_gpu_mb'] or '-'} |", flush=True)
    if "process" in modes:
        print("\n| scenario | images | official batch | official wall s | fakebench wall s | fakebench / official |",
              flush=True)
        print("|---|---|---|---|---|---|", flush=True)
        for s in scenarios:
            r = bench_process(s, images=args.images, repeats=args.repeats)
            rows.append(r)
            print(f"| {s} | {r['images']} | {r['official_batch']} | {min(r['official_wall_s']):.2f} | "
                  f"{min(r['fakebench_wall_s']):.2f} | {r['ratio_wall']:.2f} |", flush=True)
    if args.json:
        from fakebench.core.files import atomic_write_json

        atomic_write_json(args.json, {"argv": sys.argv[1:] if argv is None else argv, "cpu_count": os.cpu_count(),
                                      "load_average": os.getloadavg(), "rows": rows})
    return rows


if __name__ == "__main__":
    main()
