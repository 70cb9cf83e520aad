"""Distributed evaluation under ``torchrun`` (or ``accelerate launch``): shard images across ranks, merge on rank 0.

When the launcher sets ``WORLD_SIZE > 1``, :func:`evaluate_distributed` runs one (detector, test sets) pair on every
rank:

1. every image is assigned to one rank by its content: ``int(sha256[:8], 16) % world_size`` (sha256 of the file's
   bytes, :func:`fakebench.core.files.sha256_file`; a file that cannot be read is assigned by the sha256 of its path).
   The assignment depends only on the bytes and the world size, so a restarted job gives every rank the same shard.
   The hashing itself is split across ranks and the digests are exchanged (``all_gather_object``);
2. each rank scores its shard with :func:`fakebench.eval.runner.collect_predictions` into its own
   ``predictions.rank{k}.csv`` in the run folder (resumable exactly like ``predictions.csv``);
3. the ranks agree that every shard succeeded (an ``all_reduce`` over the gloo group, which is also the barrier); then
   rank 0 merges the shard files into ``predictions.csv`` with the rows in record order and calls
   :func:`fakebench.eval.harness.run_evaluation` on the full test sets. That call finds every image already predicted
   (the runner's resume) and only scores and writes the result files. The merged predictions hold the same images,
   rows, labels and decisions as a single-process run's; a logit can differ in its last digits (up to 2e-5 measured
   for NPR on the CPU, issue #20), because each rank batches other images together and a batched convolution rounds
   differently, so metrics computed from them agree to that precision. Rank 0 adds ``"distributed": {"world_size",
   "shard_rule", "ranks": [...], "merge_cost"}`` to ``results.json``: per rank, its shard size, runner counts and
   :func:`fakebench.eval.cost.measure_cost` figures; ``"cost"`` is the whole run's
   (:func:`fakebench.eval.cost.combine_rank_costs`: images summed over ranks, wall time of the slowest rank plus the
   merge), which the leaderboard's cost table shows.

The process group is created with the ``gloo`` backend when the launcher has not made one (it works on CPU and for
the small collectives used here; the model itself is never wrapped). Multi-node jobs use torchrun's own rendezvous
(see ``docs/scale.md``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from fakebench.core.errors import FakebenchError
from fakebench.core.files import atomic_write_json, atomic_write_text

__all__ = [
    "DistributedError",
    "all_ok",
    "barrier",
    "claim_run_folder",
    "combined_counts",
    "evaluate_distributed",
    "init",
    "is_distributed",
    "local_rank",
    "merge_shards",
    "rank",
    "rank_device",
    "run_dir_for",
    "shard_of",
    "shard_records",
    "world_size",
]

log = logging.getLogger(__name__)


class DistributedError(FakebenchError):
    """Another rank failed, or the shard files of a distributed run do not fit together."""


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise FakebenchError(f"Expected the environment variable {name} to be an integer (set by torchrun), got "
                             f"{raw!r}.") from None


def world_size() -> int:
    """``WORLD_SIZE`` set by torchrun / accelerate (1 when unset)."""
    return _env_int("WORLD_SIZE", 1)


def rank() -> int:
    """Global rank ``RANK`` (0 when unset)."""
    return _env_int("RANK", 0)


def local_rank() -> int:
    """Rank on this node, ``LOCAL_RANK`` (0 when unset); picks the GPU."""
    return _env_int("LOCAL_RANK", 0)


def is_distributed() -> bool:
    """True when launched with more than one process (``WORLD_SIZE > 1``)."""
    return world_size() > 1


def rank_device(device: str) -> str:
    """The device this rank should load the model on: a bare ``"cuda"`` becomes ``"cuda:<LOCAL_RANK>"`` under a
    multi-process launch (one replica per GPU); anything else is returned unchanged.

    >>> rank_device("cpu")
    'cpu'
    """
    return f"cuda:{local_rank()}" if device == "cuda" and is_distributed() else device


def init(timeout_s: float = 1800.0) -> None:
    """Join the process group (``gloo``) from the torchrun environment, if not joined yet. No-op for one process.

    Raises:
        DistributedError: ``WORLD_SIZE > 1`` but torchrun's rendezvous variables (``MASTER_ADDR``...) are missing.
    """
    if not is_distributed():
        return
    import torch.distributed as dist

    if dist.is_initialized():
        return
    missing = [v for v in ("MASTER_ADDR", "MASTER_PORT", "RANK") if v not in os.environ]
    if missing:
        raise DistributedError(f"WORLD_SIZE={world_size()} but {', '.join(missing)} is not set; launch with torchrun "
                               f"(python -m torch.distributed.run --nproc_per_node N ...).")
    dist.init_process_group("gloo", timeout=timedelta(seconds=timeout_s))


def _group() -> Any:
    """A gloo group for the collectives here (the default group when it is gloo; a new one over nccl)."""
    import torch.distributed as dist

    init()
    if dist.get_backend() == "gloo":
        return None
    global _GLOO
    if _GLOO is None:
        _GLOO = dist.new_group(backend="gloo")
    return _GLOO


_GLOO: Any = None


def all_ok(ok: bool) -> bool:
    """Collective: True when ``ok`` is true on every rank. Every rank must call it (it is also a barrier); with one
    process it returns ``ok``."""
    if not is_distributed():
        return ok
    import torch
    import torch.distributed as dist

    group = _group()
    flag = torch.tensor([0 if ok else 1], dtype=torch.int64)
    dist.all_reduce(flag, group=group)
    return int(flag.item()) == 0


def barrier() -> None:
    """Wait for every rank (no-op for one process)."""
    all_ok(True)


def shard_of(sha256: str, world: int) -> int:
    """The rank that scores the image with content hash ``sha256`` (hex): ``int(sha256[:8], 16) % world``.

    >>> shard_of("00000005" + "0" * 56, 2)
    1
    """
    return int(sha256[:8], 16) % world


def _digest(path: str) -> str:
    from fakebench.data.items import content_sha256

    try:
        return content_sha256(path)  # a file or a parquet row: the same content id as the runner's
    except OSError:  # the runner reports the file as unreadable; shard it by its path
        return hashlib.sha256(os.fsencode(path)).hexdigest()


def _digests(paths: Sequence[str], world: int, me: int) -> list[str]:
    """sha256 of every path; inside a process group of ``world`` ranks each rank hashes every ``world``-th file and
    they exchange the digests, otherwise this process hashes them all."""
    shared = False
    if world > 1 and "torch" in sys.modules:
        import torch.distributed as dist

        shared = dist.is_available() and dist.is_initialized() and dist.get_world_size() == world
    mine = list(range(me, len(paths), world)) if shared else list(range(len(paths)))
    with ThreadPoolExecutor(max_workers=4) as pool:
        hashed = dict(zip(mine, pool.map(_digest, [paths[i] for i in mine])))
    if shared:
        gathered: list[Any] = [None] * world
        dist.all_gather_object(gathered, hashed, group=_group())
        for part in gathered:
            hashed.update(part)
    return [hashed[i] for i in range(len(paths))]


def shard_records(records: Sequence[Any], world: int | None = None, me: int | None = None) -> list[Any]:
    """The records (:class:`~fakebench.data.images.ImageRecord`) that rank ``me`` of ``world`` scores, in their
    original order. Every record lands on exactly one rank (see :func:`shard_of`).

    Args:
        records: all images of the run, on every rank in the same order.
        world, me: world size and rank (default: from the environment). Inside an initialised process group of
            that size this is a collective call (the hashing is split across ranks); without one, this process
            hashes every file (the same assignment).
    """
    world = world_size() if world is None else world
    me = rank() if me is None else me
    if world <= 1:
        return list(records)
    shas = _digests([r.path for r in records], world, me)
    return [r for r, sha in zip(records, shas) if shard_of(sha, world) == me]


def run_dir_for(detector: Any, sets: Sequence[Any], output: str | os.PathLike, data_label: str,
                name: str | None = None) -> Path:
    """The folder :func:`~fakebench.eval.harness.run_evaluation` writes for this detector and data selection (see
    :func:`fakebench.eval.harness.run_folder`)."""
    from fakebench.eval.harness import run_folder

    return run_folder(detector, sets, output=output, data_label=data_label, name=name)[0]


def claim_run_folder(detector: Any, sets: Sequence[Any], output: str | os.PathLike, data_label: str,
                     name: str | None = None) -> Path:
    """The run folder of this detector and data selection, claimed (its ``run.json`` written, or checked) the way
    :func:`~fakebench.eval.harness.run_evaluation` claims it; rank 0 does this before shards are merged into it.

    Raises:
        DataError: the folder holds a run of another detector or data selection.
    """
    from fakebench.eval import harness

    run_dir, record = harness.run_folder(detector, sets, output=output, data_label=data_label, name=name)
    claim = getattr(harness, "claim_run_dir", None) or harness._claim_run_dir
    claim(run_dir, record)
    return run_dir


def _read_rows(path: Path) -> tuple[list[str] | None, dict[str, list[str]]]:
    """Header and rows (by image, last row wins; a row cut short by a kill and malformed rows dropped) of a
    predictions CSV, as raw strings."""
    if not path.is_file():
        return None, {}
    with open(path, encoding="utf-8", newline="") as handle:
        text = handle.read()
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    rows: dict[str, list[str]] = {}
    if header is None:
        return None, rows
    column = header.index("image") if "image" in header else 0
    for row in reader:
        if len(row) == len(header):
            rows.pop(row[column], None)  # keep the last row, at its last position
            rows[row[column]] = row
    return header, rows


def merge_shards(run_dir: str | os.PathLike, records: Sequence[Any], world: int) -> Path:
    """Merge ``predictions.rank{0..world-1}.csv`` (and an existing ``predictions.csv``) into ``predictions.csv``.

    Rows are copied verbatim (no re-formatting of logits/probabilities); one row per scored image (the shard's, else
    the existing file's), in the order of ``records`` (the order the runner leaves ``predictions.csv`` in), followed by
    rows of images not in ``records`` (kept from an earlier ``predictions.csv``). Rows of unreadable images are not
    copied: the runner retries those on resume, so rank 0's evaluation writes them. The owner record (detector
    fingerprint) of rank 0's shard is copied so the runner resumes from the merged file.

    Returns:
        The path of ``predictions.csv``.

    Raises:
        DistributedError: a shard file is missing, the shard files have different columns, or ``predictions.csv``
            belongs to another detector fingerprint.
    """
    import json

    run_dir = Path(run_dir)
    target = run_dir / "predictions.csv"
    header, merged = _read_rows(target)
    shard_owner = run_dir / "predictions.rank0.csv.owner.json"
    fingerprint = json.loads(shard_owner.read_text(encoding="utf-8")).get("fingerprint") \
        if shard_owner.is_file() else None
    owner = target.with_name(target.name + ".owner.json")
    if owner.is_file() and fingerprint is not None:
        recorded = json.loads(owner.read_text(encoding="utf-8")).get("fingerprint")
        if recorded != fingerprint:
            raise DistributedError(f"{target} holds predictions of another detector fingerprint ({str(recorded)[:12]}, "
                                   f"shards {fingerprint[:12]}); delete {run_dir} or pass another output folder.")
    for k in range(world):
        shard = run_dir / f"predictions.rank{k}.csv"
        if not shard.is_file():
            raise DistributedError(f"{shard} is missing: rank {k} did not write its shard; rerun the job.")
        shard_header, rows = _read_rows(shard)
        if header is not None and shard_header is not None and shard_header != header:
            raise DistributedError(f"{shard} has columns {shard_header}, expected {header}; delete {run_dir} and "
                                   f"rerun.")
        header = header or shard_header
        error = header.index("error") if header and "error" in header else None
        for image, row in rows.items():  # unreadable images are left to rank 0's evaluation, which retries them
            if error is None or len(row) <= error or not row[error]:
                merged.pop(image, None)
                merged[image] = row
    if header is None:
        raise DistributedError(f"No predictions in {run_dir}: every shard file is empty.")
    order = [r.path for r in records if r.path in merged]
    known = set(order)
    rest = [image for image in merged if image not in known]
    out = io.StringIO(newline="")
    writer = csv.writer(out)  # the runner's dialect (excel: comma, \r\n)
    writer.writerow(header)
    writer.writerows(merged[image] for image in order + rest)
    atomic_write_text(target, out.getvalue())
    if not owner.is_file() and shard_owner.is_file():
        shutil.copyfile(shard_owner, owner)
    return target


def combined_counts(merged: dict[str, Any], ranks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The run counts of a distributed run: what the ranks did to their shards plus what rank 0's final evaluation
    of the merged predictions did.

    Rank 0's evaluation finds every image the ranks predicted already in ``predictions.csv`` (``resumed``), so its own
    counts alone would say "0 scored". Here ``computed`` and ``cached`` are the ranks' sums plus that evaluation's
    (it re-tries the images a rank could not read), ``resumed`` is the ranks' sum (images resumed from their shard
    files), ``unreadable`` and ``total`` are the final evaluation's; so ``computed + cached + resumed + unreadable ==
    total``. ``seconds`` is the final evaluation's; ``merged`` keeps its counts as they were.

    Args:
        merged: rank 0's ``RunStats.to_dict()`` of the final evaluation.
        ranks: per rank, ``{"computed", "cached", "resumed", ...}`` (a rank that failed has none: counted 0).

    Returns:
        A new dict with the keys of ``merged`` plus ``merged``.
    """
    out = dict(merged)
    for key in ("computed", "cached", "resumed"):
        out[key] = sum(int(r.get(key) or 0) for r in ranks) + (int(merged.get(key) or 0) if key != "resumed" else 0)
    out["merged"] = dict(merged)
    return out


def evaluate_distributed(detector: Any, sets: Sequence[Any], *, output: str | os.PathLike, data_label: str,
                         batch_size: int = 32, num_workers: int | None = None, use_cache: bool = True,
                         progress: bool = True, **harness_kwargs: Any) -> tuple[Path, dict[str, Any] | None]:
    """Score ``sets`` with ``detector`` across all ranks and write one run folder (collective: every rank calls it
    with the same ``sets``, in the same order).

    Args:
        detector: this rank's loaded detector (on ``rank_device(device)``).
        sets: the :class:`~fakebench.eval.harness.TestSet` list, identical on every rank.
        output, data_label, batch_size, num_workers, use_cache: as for :func:`~fakebench.eval.harness.run_evaluation`.
        progress: progress bars (shown on rank 0 only).
        **harness_kwargs: passed to ``run_evaluation`` on rank 0 (``manifest``, ``data_root``, ``limit``, ``name``,
            ``max_pixels_per_batch``, ...); ``name`` also places the shard files, ``max_pixels_per_batch`` also
            bounds each rank's batches.

    Returns:
        ``(run_dir, results)`` on rank 0, ``(run_dir, None)`` on the other ranks. With one process this is
        ``run_evaluation`` itself.

    Raises:
        DistributedError: another rank failed (scoring its shard, or rank 0 merging/scoring); the failing rank raises
            its own error.
    """
    from fakebench.eval.harness import run_evaluation

    world, me = world_size(), rank()
    kwargs = dict(output=output, data_label=data_label, batch_size=batch_size, num_workers=num_workers,
                  use_cache=use_cache, **harness_kwargs)
    if world <= 1:
        return run_evaluation(detector, sets, progress=progress, **kwargs)
    init()
    from fakebench.core.env import cache_root
    from fakebench.eval.cache import PredictionCache
    from fakebench.eval.cost import combine_rank_costs, measure_cost
    from fakebench.eval.runner import collect_predictions

    records = [r for s in sets for r in s.records]
    run_dir = Path(output)
    error: BaseException | None = None
    shard_cost: dict[str, Any] = {"rank": me}
    try:
        run_dir = run_dir_for(detector, sets, output, data_label, harness_kwargs.get("name"))
        if me == 0:  # refuse a folder holding another run before anyone scores
            claim_run_folder(detector, sets, output, data_label, harness_kwargs.get("name"))
        shard = shard_records(records, world, me)
        cache = PredictionCache(cache_root() / "predictions.sqlite") if use_cache else None
        try:
            extra = ({"max_pixels_per_batch": harness_kwargs["max_pixels_per_batch"]}
                     if harness_kwargs.get("max_pixels_per_batch") else {})
            with measure_cost(device=getattr(detector, "device", "cpu")) as cost:
                _, stats = collect_predictions(detector, shard, run_dir / f"predictions.rank{me}.csv",
                                               batch_size=batch_size, num_workers=num_workers, cache=cache,
                                               progress=progress and me == 0, **extra)
                cost["images"] = stats.computed
        finally:
            if cache is not None:
                cache.close()
        shard_cost = {"rank": me, "shard_images": len(shard), **stats.to_dict(), "cost": cost}
        log.info("rank %d/%d: %d of %d images (%d scored, %d cached, %d resumed)", me, world, len(shard),
                 len(records), stats.computed, stats.cached, stats.resumed)
    except Exception as exc:  # noqa: BLE001 -- every rank must reach the collective below
        error = exc
    if not all_ok(error is None):
        if error is not None:
            raise error
        raise DistributedError(f"Another rank failed while scoring its shard of {data_label!r} (see its log); rank "
                               f"{me} stops. Rerunning resumes from the predictions.rank*.csv files in {run_dir}.")
    gathered: list[Any] = [None] * world
    import torch.distributed as dist

    dist.all_gather_object(gathered, shard_cost, group=_group())
    results = None
    if me == 0:
        try:
            merge_shards(run_dir, records, world)
            written, results = run_evaluation(detector, sets, progress=progress, **kwargs)
            results["run"] = combined_counts(results["run"], gathered)
            results["distributed"] = {"world_size": world, "shard_rule": "int(sha256[:8], 16) % world_size",
                                      "ranks": gathered, "merge_cost": results.get("cost")}
            # the run's cost is the ranks' scoring, not rank 0's merge step (which scores no image)
            results["cost"] = combine_rank_costs([g.get("cost") for g in gathered], results.get("cost"))
            atomic_write_json(Path(written) / "results.json", results)
            if Path(written).resolve() != run_dir.resolve():
                log.warning("run_evaluation wrote %s, but the shards were merged into %s; the run folder layout "
                            "changed, update fakebench.eval.distributed.run_dir_for", written, run_dir)
                run_dir = Path(written)
        except Exception as exc:  # noqa: BLE001
            error = exc
    if not all_ok(error is None):
        if error is not None:
            raise error
        raise DistributedError(f"Rank 0 failed merging or scoring {data_label!r} (see its log).")
    return run_dir, results
