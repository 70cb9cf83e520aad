"""What a run cost: wall time, images/s, CPU time, peak host memory and peak GPU memory, and the device.

:func:`measure_cost` wraps the scoring part of a run and fills a plain dict (JSON-ready, recorded in ``results.json``
under ``"cost"``), so leaderboards can show speed and memory beside accuracy::

    with measure_cost(device=detector.device, images=len(records)) as cost:
        predictions, stats = collect_predictions(...)
        cost["images"] = stats.computed  # optional: count only images that needed model work
    results["cost"] = cost

Memory is measured three ways, because each answers another question:

* ``peak_rss_mb``: the peak resident set of this process during the block. On Linux the kernel's high-water mark
  (``VmHWM``) is reset on entry by writing ``5`` to ``/proc/self/clear_refs`` (see ``proc(5)``); where that is not
  possible it is ``getrusage(RUSAGE_SELF).ru_maxrss``, the lifetime peak (``peak_rss_scope`` says which).
* ``peak_host_memory_mb``: the peak of the summed resident sets of this process and its children (DataLoader
  workers), sampled every ``interval`` seconds with psutil. Pages shared after ``fork`` are counted once per process,
  so this is an upper bound; it is what "the whole job's peak memory" means when comparing pipelines.
* ``peak_gpu_memory_mb``: ``torch.cuda.max_memory_allocated`` on the run's CUDA device (statistics reset on entry);
  ``None`` on CPU. Memory held by the caching allocator but not allocated to tensors is not included.
"""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["COST_KEYS", "device_description", "measure_cost", "combine_rank_costs"]

#: Keys of the dict :func:`measure_cost` yields (all present after the block; ``None`` where not measurable).
COST_KEYS = ("device", "device_name", "torch_threads", "images", "wall_seconds", "images_per_second",
             "user_cpu_seconds", "system_cpu_seconds", "peak_rss_mb", "peak_rss_scope", "peak_host_memory_mb",
             "peak_gpu_memory_mb")

_MB = 1024 * 1024


def _cuda_index(device: Any) -> int | None:
    """The CUDA device index of ``device`` (``"cuda"``, ``"cuda:1"``, a ``torch.device``), or ``None`` for others."""
    text = str(device) if device is not None else "cpu"
    if not text.startswith("cuda"):
        return None
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    _, _, index = text.partition(":")
    return int(index) if index else torch.cuda.current_device()


def device_description(device: Any = "cpu") -> str:
    """Human name of the hardware behind ``device``: the GPU model for CUDA, else the CPU model and core count.

    >>> isinstance(device_description("cpu"), str)
    True
    """
    index = _cuda_index(device)
    if index is not None:
        return sys.modules["torch"].cuda.get_device_name(index)
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{name} ({os.cpu_count()} logical cores)"


def _reset_hwm() -> bool:
    """Reset this process's peak-RSS counter (Linux >= 4.0); True when it worked."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _read_hwm_mb() -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / _MB
    except (OSError, ValueError, IndexError):
        pass
    return None


class _Sampler(threading.Thread):
    """Background thread: the peak of the summed RSS of this process and its children (psutil).

    The list of child processes is refreshed at most once per ``refresh`` seconds: finding children walks every
    process of the machine (``psutil.Process.children`` reads ``/proc/*/stat``), about 0.6 ms on an idle 2-core
    machine and far more on a busy node, while reading a known process's RSS costs about 10 us. A worker started
    between two refreshes is counted from the next one.
    """

    def __init__(self, interval: float, refresh: float = 1.0) -> None:
        super().__init__(name="fakebench-cost-sampler", daemon=True)
        import psutil

        self._proc = psutil.Process()
        self._psutil = psutil
        self._interval = interval
        self._refresh = refresh
        self._children: list = []
        self._listed = float("-inf")
        self._halt = threading.Event()
        self.peak = 0

    def sample(self, *, relist: bool = False) -> None:
        now = time.monotonic()
        if relist or now - self._listed >= self._refresh:
            try:
                self._children = self._proc.children(recursive=True)
            except (self._psutil.NoSuchProcess, self._psutil.AccessDenied):
                self._children = []
            self._listed = now
        total = 0
        for proc in [self._proc, *self._children]:
            try:
                total += proc.memory_info().rss
            except (self._psutil.NoSuchProcess, self._psutil.AccessDenied, self._psutil.ZombieProcess):
                continue
        self.peak = max(self.peak, total)

    def run(self) -> None:
        while not self._halt.wait(self._interval):
            self.sample()

    def stop(self) -> int:
        self._halt.set()
        self.join()
        self.sample(relist=True)
        return self.peak


@contextlib.contextmanager
def measure_cost(device: Any = "cpu", images: int | None = None, *, interval: float = 0.05
                 ) -> Iterator[dict[str, Any]]:
    """Measure the cost of the block; yields a dict that is completed when the block exits (also on error).

    Args:
        device: the torch device the model runs on (``"cpu"``, ``"cuda:0"``, a ``torch.device``); CUDA peak memory is
            measured on it. torch is not imported here: CUDA is only queried when the caller already imported torch.
        images: number of images processed; the caller may set or change ``cost["images"]`` inside the block.
        interval: seconds between host-memory samples (psutil); smaller catches shorter peaks.

    Yields:
        A dict with the keys of :data:`COST_KEYS`: ``device`` (str), ``device_name`` (GPU or CPU model),
        ``torch_threads`` (intra-op threads, or ``None``), ``images`` (int or ``None``), ``wall_seconds`` (float, s),
        ``images_per_second`` (``images / wall_seconds``; ``None`` when ``images`` is unset or 0), ``user_cpu_seconds`` /
        ``system_cpu_seconds`` (CPU time of this process and its reaped children, s), ``peak_rss_mb`` (MiB, this
        process), ``peak_rss_scope`` (``"block"`` or ``"process lifetime"``), ``peak_host_memory_mb`` (MiB, this
        process plus children, sampled; ``None`` without psutil) and ``peak_gpu_memory_mb`` (MiB, ``None`` on CPU).
        Values are filled on exit; reading them inside the block gives ``None``.

    Source: wall time by ``time.perf_counter``; CPU time by ``resource.getrusage``; peak memory as described in the
    module docstring.
    """
    cost: dict[str, Any] = dict.fromkeys(COST_KEYS)
    cost["device"] = str(device)
    cost["device_name"] = device_description(device)
    cost["images"] = images
    torch = sys.modules.get("torch")
    cost["torch_threads"] = torch.get_num_threads() if torch is not None else None
    cuda = _cuda_index(device)
    if cuda is not None:
        torch.cuda.synchronize(cuda)
        torch.cuda.reset_peak_memory_stats(cuda)
    scoped = _reset_hwm() and _read_hwm_mb() is not None
    sampler = None
    try:
        sampler = _Sampler(interval)
        sampler.sample()
        sampler.start()
    except ImportError:
        sampler = None
    self0, child0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        yield cost
    finally:
        if cuda is not None:
            torch.cuda.synchronize(cuda)
        wall = time.perf_counter() - start
        self1, child1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        cost["wall_seconds"] = round(wall, 4)
        n = cost.get("images")
        cost["images_per_second"] = round(n / wall, 3) if n and wall > 0 else None
        cost["user_cpu_seconds"] = round((self1.ru_utime - self0.ru_utime) + (child1.ru_utime - child0.ru_utime), 3)
        cost["system_cpu_seconds"] = round((self1.ru_stime - self0.ru_stime) + (child1.ru_stime - child0.ru_stime),
                                           3)
        hwm = _read_hwm_mb() if scoped else None
        if hwm is not None:
            cost["peak_rss_mb"], cost["peak_rss_scope"] = round(hwm, 1), "block"
        else:  # ru_maxrss is in KiB on Linux, bytes on macOS
            scale = 1 if sys.platform == "darwin" else 1024
            cost["peak_rss_mb"] = round(self1.ru_maxrss * scale / _MB, 1)
            cost["peak_rss_scope"] = "process lifetime"
        if sampler is not None:
            cost["peak_host_memory_mb"] = round(max(sampler.stop() / _MB, cost["peak_rss_mb"]), 1)
        if cuda is not None:
            cost["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated(cuda) / _MB, 1)


def combine_rank_costs(ranks: list[dict[str, Any]], merge: dict[str, Any] | None = None) -> dict[str, Any]:
    """The cost of a distributed run as a whole, from each rank's :func:`measure_cost` dict of scoring its shard and
    rank 0's dict of merging and scoring the merged predictions (which scores no image).

    Args:
        ranks: one cost dict per rank (:data:`COST_KEYS`), in rank order.
        merge: rank 0's cost of the merge step, or ``None``.

    Returns:
        A dict with :data:`COST_KEYS` plus ``processes`` (the rank count): ``images`` the sum over ranks;
        ``wall_seconds`` the slowest rank plus the merge (the ranks run in parallel); ``images_per_second`` =
        images / wall_seconds; CPU seconds summed; ``peak_*_mb`` the largest single process (``peak_rss_scope``
        says so); ``device``/``device_name`` the distinct values joined by ``", "``; ``torch_threads`` rank 0's.
    """
    parts = [r for r in ranks if isinstance(r, dict)]

    def values(key: str) -> list[Any]:
        return [r.get(key) for r in parts if r.get(key) is not None]

    def join(key: str) -> str | None:
        found = list(dict.fromkeys(str(v) for v in values(key)))
        return ", ".join(found) if found else None

    images = sum(values("images"))
    wall = max(values("wall_seconds"), default=0.0) + float((merge or {}).get("wall_seconds") or 0.0)
    out: dict[str, Any] = dict.fromkeys(COST_KEYS)
    out.update({
        "device": join("device"), "device_name": join("device_name"),
        "torch_threads": parts[0].get("torch_threads") if parts else None, "images": images,
        "wall_seconds": round(wall, 4), "images_per_second": round(images / wall, 3) if images and wall > 0 else None,
        "processes": len(parts)})
    for key in ("user_cpu_seconds", "system_cpu_seconds"):
        found = values(key) + ([merge[key]] if merge and merge.get(key) is not None else [])
        out[key] = round(sum(found), 3) if found else None
    for key in ("peak_rss_mb", "peak_host_memory_mb", "peak_gpu_memory_mb"):
        found = values(key) + ([merge[key]] if merge and merge.get(key) is not None else [])
        out[key] = max(found) if found else None
    out["peak_rss_scope"] = f"largest of {len(parts)} processes"
    return out
