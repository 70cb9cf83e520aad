"""Test sets stored as parquet shards (the Hugging Face hub's layout): one row per image, read without unpacking.

A manifest dataset with ``layout: parquet`` names its shards (a glob under the dataset folder, e.g.
``data/test-*.parquet``) and columns (:class:`~fakebench.data.manifest.ParquetSpec`): the encoded image bytes, the
label, optionally the generator, and a ``where`` filter that selects one subset of a shared shard collection.
:func:`discover_parquet` reads only the small columns (label, generator, filter) in streaming batches with pyarrow and
returns one :class:`~fakebench.data.images.ImageRecord` per row, whose id is ``<shard>#<image column>=<row>``
(:mod:`fakebench.data.items`); the image bytes are read later, a row group at a time, by whoever scores the image.
:func:`count_parquet` counts real/fake rows the same way (for downloads and ``fakebench list datasets``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

from fakebench.core.errors import DataError

__all__ = ["parquet_shards", "iter_rows", "discover_parquet", "count_parquet", "BATCH_ROWS"]

#: Rows per streamed batch when reading the label/generator columns (bounded memory on 100 GB collections).
BATCH_ROWS = 65_536


def parquet_shards(folder: str | os.PathLike, pattern: str) -> list[Path]:
    """The shards under ``folder`` matching ``pattern`` (a glob relative to it; ``**`` recurses), sorted."""
    root = Path(folder)
    return sorted(p for p in root.glob(pattern) if p.is_file() and not p.name.startswith("."))


def _label_of(value: Any, spec: Any) -> int | None:
    def same(a: Any, b: Any) -> bool:
        if isinstance(a, str) and isinstance(b, str):
            return a.strip().lower() == b.strip().lower()
        if isinstance(a, bool) or isinstance(b, bool):
            return a is b
        return not isinstance(a, str) and not isinstance(b, str) and a == b

    if any(same(value, v) for v in spec.real_values):
        return 0
    if any(same(value, v) for v in spec.fake_values):
        return 1
    return None


def _wanted(value: Any, allowed: Any) -> bool:
    options = allowed if isinstance(allowed, (list, tuple)) else [allowed]
    return any(value == o or (isinstance(value, str) and isinstance(o, str) and value.lower() == o.lower())
               for o in options)


def iter_rows(shard: Path, spec: Any, labels: str) -> Iterator[tuple[int, int | None, Any, Any]]:
    """``(row, label, generator value, raw label)`` for every row of ``shard`` that passes ``spec.where``.

    ``label`` is 0/1, or ``None`` when the label column holds a value that is neither in ``real_values`` nor in
    ``fake_values``. Single-label sets (``labels`` ``real``/``fake``) without a label column get that label.

    Raises:
        DataError: the shard cannot be read, or lacks a named column (the message lists the shard's columns).
    """
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(shard)
    except Exception as exc:
        raise DataError(f"{shard}: not a readable parquet file ({type(exc).__name__}: {exc}). Delete it and "
                        f"download it again.") from exc
    names = handle.schema_arrow.names
    wanted = [c for c in (spec.label, spec.generator, *spec.where) if c]
    missing = [c for c in [spec.image, *wanted] if c not in names]
    if missing:
        raise DataError(f"{shard}: no column {', '.join(map(repr, missing))}; its columns are {', '.join(names)}. Fix "
                        f"the dataset's parquet mapping (image/label/generator/where) in the manifest.")
    columns = list(dict.fromkeys(wanted))
    fixed = {"real": 0, "fake": 1}.get(labels)
    row = 0
    if not columns:  # nothing but the image column: every row, with the set's own label
        for _ in range(handle.metadata.num_rows):
            yield row, fixed, None, None
            row += 1
        return
    for batch in handle.iter_batches(batch_size=BATCH_ROWS, columns=columns):
        data = batch.to_pydict()
        for k in range(batch.num_rows):
            if all(_wanted(data[c][k], v) for c, v in spec.where.items()):
                raw = data[spec.label][k] if spec.label else None
                label = _label_of(raw, spec) if spec.label else fixed
                yield row + k, label, data[spec.generator][k] if spec.generator else None, raw
        row += batch.num_rows


def discover_parquet(folder: str | os.PathLike, spec: Any, *, labels: str, dataset: str, generator: str,
                     crop_box: tuple[int, int, int, int] | None = None,
                     skipped: list[tuple[str, str]] | None = None) -> list[Any]:
    """The images of a ``layout: parquet`` dataset as :class:`~fakebench.data.images.ImageRecord` s, in shard and
    row order (ids ``<shard>#<image column>=<row>``).

    Args:
        folder: the dataset folder (``<data root>/<path>``).
        spec: its :class:`~fakebench.data.manifest.ParquetSpec`.
        labels: the dataset's ``labels`` (``mixed``: from the label column; ``real``/``fake``: every row).
        dataset, generator: names for the records (a generator column, when given, names each row's generator).
        crop_box: optional crop applied after decoding.
        skipped: ``(image id, reason)`` appended for rows left out (a label value that is neither real nor fake).

    Raises:
        DataError: no shard matches, a shard is unreadable or lacks a column, or no row is left.
    """
    from fakebench.data.images import ImageRecord
    from fakebench.data.items import member_id

    root = Path(folder).expanduser().resolve()
    shards = parquet_shards(root, spec.files)
    if not shards:
        raise DataError(f"No parquet shard matching {spec.files!r} in {root}. Download the dataset (fakebench download "
                        f"--dataset {dataset}) or fix parquet.files in the manifest.")
    records = []
    for shard in shards:
        for row, label, gen, raw in iter_rows(shard, spec, labels):
            image = member_id(shard, spec.image, row)
            if label is None:
                if skipped is not None:
                    skipped.append((image, f"label {raw!r} in column {spec.label!r} is neither real "
                                           f"{list(spec.real_values)} nor fake {list(spec.fake_values)}"))
                continue
            records.append(ImageRecord(image, label, dataset, str(gen) if gen is not None else generator, crop_box))
    if not records:
        raise DataError(f"No image rows in the {len(shards)} parquet shard(s) under {root} pass the manifest's "
                        f"filter {dict(spec.where)} with a real/fake label; check parquet.where and the label values.")
    return records


def count_parquet(folder: str | os.PathLike, spec: Any, labels: str) -> dict[str, int]:
    """``{'real': n, 'fake': m}`` rows of a parquet dataset (label/filter columns only; 0/0 when no shard)."""
    counts = {"real": 0, "fake": 0}
    for shard in parquet_shards(folder, spec.files):
        for _, label, _, _ in iter_rows(shard, spec, labels):
            if label is not None:
                counts["real" if label == 0 else "fake"] += 1
    return counts
