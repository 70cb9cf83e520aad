"""Parquet vs folder: discovery, hashing and decoding throughput of the same images in both layouts.

Writes N synthetic RGB PNGs (``--size`` px) once as ``0_real``/``1_fake`` folders and once as parquet shards in the
hub layout (hub ``Image`` struct column, ``--row-group`` rows per row group), then times, for each layout, the three
image-source phases the runner uses: discovery (manifest entry -> records), content hashing (sha256 of every image's
bytes, the resume/cache id) and decoding to RGB (``load_image``, in row order and in a shuffled order). Single
process, best of ``--repeats``.

    python tools/bench_parquet.py --images 1000 --size 256 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from fakebench.data.images import load_image, records_for_entry
from fakebench.data.items import content_sha256
from fakebench.data.manifest import DatasetEntry, ParquetSpec


def _build(root: Path, n: int, size: int, row_group: int, shards: int) -> tuple[DatasetEntry, DatasetEntry]:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        label = i % 2
        arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        path = root / "folder" / ("1_fake" if label else "0_real") / f"{i:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(path)
        rows.append({"image": {"bytes": path.read_bytes(), "path": path.name}, "label": label})
    (root / "hub" / "data").mkdir(parents=True)
    per = -(-n // shards)
    for k in range(shards):
        part = rows[k * per:(k + 1) * per]
        pq.write_table(pa.Table.from_pylist(part), root / "hub" / "data" / f"test-{k:05d}-of-{shards:05d}.parquet",
                       row_group_size=row_group)
    folder = DatasetEntry("b-folder", "b", "g", "gan", "mixed", "real_fake", "folder")
    hub = DatasetEntry("b-hub", "b", "g", "gan", "mixed", "parquet", "hub",
                       parquet=ParquetSpec(files="data/*.parquet", image="image", label="label"))
    return folder, hub


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--row-group", type=int, default=256)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    out = {}
    with tempfile.TemporaryDirectory(prefix="bench-parquet-") as tmp:
        root = Path(tmp)
        entries = _build(root, args.images, args.size, args.row_group, args.shards)
        for entry in entries:
            records = records_for_entry(entry, root)
            ids = [r.path for r in records]
            shuffled = list(np.random.default_rng(1).permutation(ids))
            out[entry.layout] = {
                "images": len(ids),
                "discover_s": round(_best(lambda: records_for_entry(entry, root), args.repeats), 4),
                "hash_img_per_s": round(len(ids) / _best(lambda: [content_sha256(i) for i in ids], args.repeats), 1),
                "decode_img_per_s": round(len(ids) / _best(lambda: [load_image(i) for i in ids], args.repeats), 1),
                # the runner sorts native-size images by size: with many sizes, rows are visited out of order
                "decode_shuffled_img_per_s": round(len(ids) / _best(lambda: [load_image(i) for i in shuffled],
                                                                    args.repeats), 1),
            }
    print(json.dumps({"args": vars(args), "results": out}, indent=2))


if __name__ == "__main__":
    main()
