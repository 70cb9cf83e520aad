"""The ``predictions.csv`` file of a run: its columns, and reading, appending and rewriting it safely.

One row per image, written by the runner (:mod:`fakebench.eval.runner`) and read by everything that works from saved
predictions (the harness, reports, comparisons, the API). The file is appended batch by batch (flushed and fsynced)
and otherwise only ever replaced atomically; reading tolerates a last row cut short by an interruption, even inside
a quoted file name holding a newline. No torch import.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from fakebench.core.errors import DataError
from fakebench.core.files import atomic_write_text

__all__ = ["PRED_COLUMNS", "read_predictions", "parse_csv", "write_csv", "keep_rows", "sort_file",
           "PredictionWriter"]

log = logging.getLogger(__name__)

#: Columns of ``predictions.csv``: image path, content sha256, test set, generator, label (0 real / 1 fake), logit,
#: fake probability, decision (0/1 at prob > 0.5), error (unreadable file), note (lossy conversion, zero padding,
#: the detector's :meth:`~fakebench.detectors.base.Detector.input_note` such as NPR's odd-size trim; "; "-joined).
PRED_COLUMNS = ("image", "sha256", "dataset", "generator", "label", "logit", "prob", "decision", "error", "note")


def parse_csv(text: str) -> tuple[list[str], list[list[str]], bool]:
    """Header, rows and whether anything was dropped, from ``predictions.csv`` text. A last row cut by a kill (no
    final newline, or an unclosed quote -- a file name may hold a newline) and malformed rows are dropped."""
    complete = text.endswith("\n") and text.count('"') % 2 == 0
    rows = list(csv.reader(io.StringIO(text, newline="")))
    dropped = False
    if rows and not complete:
        rows.pop()
        dropped = True
    if not rows:
        return list(PRED_COLUMNS), [], dropped
    header, body = rows[0], rows[1:]
    good = [r for r in body if len(r) == len(header)]
    return header, good, dropped or len(good) != len(body)


def _frame(header: list[str], rows: list[list[str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=header)
    for column in ("label", "logit", "prob", "decision"):
        if column in frame:
            frame[column] = pd.to_numeric(frame[column].replace("", np.nan))
    return frame


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """Atomically replace ``path`` by ``header`` + ``rows`` (the dialect :class:`PredictionWriter` appends in)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def read_predictions(path: str | os.PathLike, *, repair: bool = False) -> pd.DataFrame:
    """Read a ``predictions.csv``, keeping, per image, the last row.

    A last line cut short by an interruption (even inside a quoted file name holding a newline) is dropped. With
    ``repair`` (the runner, resuming into the file) the file itself is repaired by an atomic replace
    (:func:`fakebench.core.files.atomic_write_text`), never rewritten in place; readers of finished runs (reports,
    comparisons) leave the file as it is.
    Raises:
        DataError: the file is not UTF-8 text.

    Returns an empty frame with :data:`PRED_COLUMNS` when the file does not exist. ``label`` is int, ``logit``,
    ``prob`` float (NaN when empty), ``decision`` int (float with NaN when some row has none), the rest str.
    """
    path = Path(path)
    if not path.is_file():
        return pd.DataFrame(columns=list(PRED_COLUMNS))
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            text = handle.read()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}): it is damaged or not a "
                        f"fakebench predictions.csv; re-run the evaluation into a new folder.") from None
    header, rows, dropped = parse_csv(text)
    if dropped and repair:
        log.warning("%s: dropped a row cut short by an interruption; its image is scored again.", path)
        write_csv(path, header, rows)
    if not rows:
        return pd.DataFrame(columns=list(PRED_COLUMNS))
    return _frame(header, rows).drop_duplicates("image", keep="last").reset_index(drop=True)


def keep_rows(path: Path, keep: Callable[[dict[str, str]], bool]) -> int:
    """Drop the rows of ``path`` for which ``keep(row)`` is false (atomic replace); returns how many were dropped."""
    if not path.is_file():
        return 0
    with open(path, encoding="utf-8", newline="") as handle:
        header, rows, _ = parse_csv(handle.read())
    kept = [r for r in rows if keep(dict(zip(header, r)))]
    if len(kept) != len(rows):
        write_csv(path, header, kept)
    return len(rows) - len(kept)


class PredictionWriter:
    """Appends rows to predictions.csv: one flushed write per batch (a killed process loses no written row), fsynced
    at most every ``sync_seconds`` and on close (an fsync costs milliseconds, as much as a forward pass of a small
    batch; only a crash of the machine itself can lose the rows of the last ``sync_seconds``, which a resume scores
    again)."""

    def __init__(self, path: Path, sync_seconds: float = 2.0) -> None:
        import time

        self._clock = time.monotonic
        self._sync_seconds = sync_seconds
        self._synced = self._clock()
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists() or path.stat().st_size == 0
        self._handle = open(path, "a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._handle)
        if new:
            self._writer.writerow(PRED_COLUMNS)
            self._handle.flush()

    def write(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._writer.writerows([[row.get(c, "") for c in PRED_COLUMNS] for row in rows])
            self._handle.flush()
            if self._clock() - self._synced >= self._sync_seconds:
                os.fsync(self._handle.fileno())
                self._synced = self._clock()

    def close(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()


def sort_file(path: Path, order: dict[str, int]) -> None:
    """Rewrite ``path`` (atomically) with one row per image in record order, so the file does not depend on which
    images came from the cache, a resume or the model."""
    with open(path, encoding="utf-8", newline="") as handle:
        header, rows, _ = parse_csv(handle.read())
    column = header.index("image")
    last = {r[column]: r for r in rows}
    ordered = sorted(last.values(), key=lambda r: order.get(r[column], len(order)))
    if ordered != rows:
        write_csv(path, header, ordered)
