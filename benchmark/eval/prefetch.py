"""Ordered, bounded prefetching of batches in threads: the runner's data path for the preset transforms.

:func:`prefetch` maps a loading function over batch descriptions in a thread pool and yields the results in input
order, keeping at most ``workers * depth`` batches in flight. The runner uses it for the preset pipeline, whose
per-image work (file read, PIL decode, PIL resize/crop, ``uint8`` copy; :func:`fakebench.detectors.preprocess.
split_transform`) runs in C code that releases the GIL, so threads decode on the spare cores while the main thread
runs the model. Against DataLoader worker *processes* this saves what dominated small images on 2 cores (measured
with ``tools/bench_pipeline.py --mode ceiling``, NPR on 128 px GANGen, README "Throughput"): no fork (whose
copy-on-write page faults made the first forward pass after it ~30-70% slower), no worker start-up, no pickling or
shared-memory hand-off of every batch. Detectors with their own (possibly Python-heavy) transform keep processes.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

__all__ = ["prefetch"]

B = TypeVar("B")
R = TypeVar("R")


def prefetch(load: Callable[[B], R], batches: Iterable[B], *, workers: int, depth: int = 4) -> Iterator[R]:
    """``load(batch)`` for each of ``batches``, yielded in input order, computed ahead in ``workers`` threads.

    Args:
        load: called once per batch (from a worker thread; must be thread-safe).
        batches: the batch descriptions (e.g. index lists), consumed lazily.
        workers: threads (0: each batch is loaded in the calling thread when it is asked for, nothing ahead).
        depth: batches in flight per thread (at most ``workers * depth`` loaded or loading ahead of the consumer).

    Yields:
        ``load(batch)`` in the order of ``batches``. An exception raised by ``load`` is raised at that batch's place.
        Closing the generator early (``break``, an exception in the consumer) cancels the batches not yet started
        and waits for the running ones.

    Raises:
        ValueError: ``workers`` < 0 or ``depth`` < 1.
    """
    if workers < 0 or depth < 1:
        raise ValueError(f"prefetch needs workers >= 0 and depth >= 1 (got workers={workers}, depth={depth}).")
    if workers == 0:
        for batch in batches:
            yield load(batch)
        return
    todo = iter(batches)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fakebench-decode") as pool:
        pending = deque(pool.submit(load, b) for _, b in zip(range(workers * depth), todo))
        try:
            while pending:
                future = pending.popleft()
                for b in todo:  # keep the window full: one new batch for the one handed out
                    pending.append(pool.submit(load, b))
                    break
                yield future.result()
        finally:
            for future in pending:
                future.cancel()
