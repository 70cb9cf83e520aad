"""Rendering tables for people: Markdown from a DataFrame, with numbers to 2 decimals and blanks for missing values."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

__all__ = ["percent", "fmt_cell", "to_markdown", "console_table"]


def percent(value: Any) -> float | None:
    """A fraction in [0, 1] as percent rounded to 2 decimals; ``None`` for ``None``/NaN (an undefined metric).

    >>> percent(0.12345), percent(float("nan"))
    (12.35, None)
    """
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(100 * value, 2)


def fmt_cell(value: Any) -> str:
    """``None``/NaN/``pd.NA`` -> ``""``, floats -> 2 decimals, anything else -> ``str``."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def to_markdown(frame: pd.DataFrame, *, numeric: tuple[str, ...] = ()) -> str:
    """A GitHub Markdown table of ``frame`` (header = column names); ``numeric`` columns are right-aligned."""
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---:" if c in numeric else "---" for c in cols) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(fmt_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


#: Header of a console column: the field's words, short enough for 8-character number columns.
_CONSOLE_HEADERS = {"held_in": "held-in", "n_real": "n real", "n_fake": "n fake", "real_acc": "real acc",
                    "fake_acc": "fake acc", "ap": "AP", "auc": "AUC"}
_TEXT_COLUMNS = ("dataset", "generator")
_MIN_TEXT = 12


def _shorten(text: str, size: int, head: int | None = None) -> str:
    """``text`` cut to ``size`` characters, keeping its first ``head`` (default half) and its last characters with
    an ellipsis between (both ends carry a set's identity)."""
    if len(text) <= size:
        return text
    head = size // 2 if head is None else head
    return text[:head] + "\u2026" + text[len(text) - (size - 1 - head):]


def _distinct_cut(values: list[str], size: int) -> list[str] | None:
    """``values`` each cut to ``size`` so that distinct values stay distinct (trying every split of the kept
    characters between head and tail, middle first), or ``None`` when no split does."""
    splits = sorted(range(3, size - 3), key=lambda h: abs(h - size // 2)) or [size // 2]
    for head in splits:
        short = [_shorten(v, size, head) for v in values]
        if len(set(short)) == len(set(values)):
            return short
    return None


def _console_cell(column: str, value: Any) -> str:
    if column == "held_in":
        return "yes" if value is True else ""
    return fmt_cell(value)


def _layout(frame: pd.DataFrame) -> tuple[list[str], dict[str, list[str]], dict[str, str], dict[str, int]]:
    """Columns, cell texts, headers and uncut widths of a console table."""
    cols = [str(c) for c in frame.columns]
    cells = {c: [_console_cell(c, v) for v in frame[c]] for c in cols}
    heads = {c: _CONSOLE_HEADERS.get(c, c.replace("paper_", "paper ").replace("_", " ")) for c in cols}
    widths = {c: max([len(heads[c]), *map(len, cells[c])]) for c in cols}
    return cols, cells, heads, widths


def _line_width(widths: dict[str, int]) -> int:
    """Characters of a table line with these column widths (two spaces between columns)."""
    return sum(widths.values()) + 2 * (len(widths) - 1)


def _fit(frame: pd.DataFrame, width: int) -> str:
    cols, cells, heads, widths = _layout(frame)
    text = [c for c in cols if c in _TEXT_COLUMNS]
    over = lambda: _line_width(widths) - width  # noqa: E731
    while over() > 0 and any(widths[c] > _MIN_TEXT for c in text):
        widest = max(text, key=lambda c: widths[c])  # shorten the widest text column first
        widths[widest] -= min(over(), widths[widest] - _MIN_TEXT)
    if "dataset" in text:  # set names must stay distinct: lengthen the cut until a split of head and tail does
        size = widths["dataset"]
        while (short := _distinct_cut(cells["dataset"], size)) is None:
            size += 1
        cells["dataset"], widths["dataset"] = short, max(size, len(heads["dataset"]))
    for c in text:
        if c == "dataset":
            continue
        floor = max(len(heads[c]), 6)  # what the distinct dataset names took back comes out of the other texts
        widths[c] = max(floor, widths[c] - max(over(), 0))
        cells[c] = [_shorten(v, widths[c]) for v in cells[c]]
    left = set(text)
    fmt = lambda c, v: v.ljust(widths[c]) if c in left else v.rjust(widths[c])  # noqa: E731
    lines = ["  ".join(fmt(c, heads[c]) for c in cols).rstrip()]
    lines += ["  ".join(fmt(c, cells[c][i]) for c in cols).rstrip() for i in range(len(frame))]
    return "\n".join(lines)


def console_table(frame: pd.DataFrame, *, width: int = 120) -> str:
    """A plain-text table of a metrics frame for the terminal, at most ``width`` characters per line when it can be.

    Numbers get two decimals, blanks stand for undefined values, ``held_in`` reads ``yes``. When the table is
    wider than ``width``: published (``paper_*``) columns move to a second table keyed by dataset (rather than cut
    any name), then the
    ``dataset``/``generator`` texts are cut in the middle (with an ellipsis; set names kept distinct). Nothing
    else is dropped, so a table whose number columns alone exceed ``width`` stays wider.
    """
    paper = [c for c in frame.columns if str(c).startswith("paper_")]
    whole = _fit(frame, width)
    if not paper or _line_width(_layout(frame)[3]) <= width:  # nothing to cut: one table
        return whole
    ours = _fit(frame.drop(columns=paper), width)
    rows = frame[frame[paper].notna().any(axis=1)]
    published = _fit(rows[["dataset", *paper]], width)
    return f"{ours}\n\npublished numbers (paper):\n{published}"
