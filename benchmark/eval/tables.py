"""Rendering tables for people: Markdown from a DataFrame, with numbers to 2 decimals and blanks for missing values."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

__all__ = ["percent", "fmt_cell", "to_markdown"]


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
