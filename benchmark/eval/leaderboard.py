"""Leaderboards: comparison tables built from ``results.json`` files.

One row per test set (generator), one column per detector (``name.weights@preset``), for each metric; the mean,
held-in mean and held-out mean close each table. Where the manifest has a published number for that detector and set,
it is shown beside ours (Markdown: ``ours (paper)``; CSV: a ``<detector> [paper]`` column).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from fakebench.core.errors import DataError
from fakebench.eval.scoring import METRIC_KEYS
from fakebench.core.files import atomic_write_text
from fakebench.eval.tables import fmt_cell, to_markdown

__all__ = ["find_results", "load_results", "leaderboard_frame", "write_leaderboard"]

_MEANS = (("mean", "mean"), ("held-in mean", "held_in_mean"), ("held-out mean", "held_out_mean"))
_NAMES = {"acc": "accuracy", "real_acc": "real acc", "fake_acc": "fake acc", "ap": "AP", "auc": "ROC-AUC"}


def find_results(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """``results.json`` files given directly or found recursively under folders, sorted.

    Raises:
        DataError: a path does not exist, or nothing is found.
    """
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found += sorted(path.rglob("results.json"))
        else:
            raise DataError(f"{path} does not exist; pass result folders or results.json files.")
    if not found:
        raise DataError(f"No results.json found under {', '.join(map(str, paths))}; run `fakebench evaluate` first.")
    return sorted(set(found))


def load_results(paths: Iterable[str | os.PathLike]) -> list[dict[str, Any]]:
    """Read result files (see :func:`find_results`), keeping their path under ``_path``.

    Raises:
        DataError: a file is not valid JSON or not a fakebench results file.
    """
    results = []
    for path in find_results(paths):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} is not valid JSON ({exc}); delete it or re-run the evaluation.") from exc
        if not isinstance(data, dict) or not str(data.get("schema", "")).startswith("fakebench.results/"):
            raise DataError(f"{path} is not a fakebench results file (no 'schema': 'fakebench.results/1').")
        data["_path"] = str(path)
        results.append(data)
    return results


def _label(result: dict[str, Any]) -> str:
    from fakebench.detectors.base import WeightsInfo

    det = result["detector"]
    return f"{det['name']}.{WeightsInfo(**det['weights']).label}@{det['preset']['name']}"


def leaderboard_frame(results: list[dict[str, Any]]) -> pd.DataFrame:
    """Long table: one row per (detector, test set or mean row, metric) with ``ours`` and ``paper`` in percent.

    When two result files cover the same detector and test set, the later one (by date) wins.
    """
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for result in sorted(results, key=lambda r: r.get("date", "")):
        label = _label(result)
        metrics = result["metrics"]
        for order, row in enumerate(metrics["per_dataset"]):
            for metric in METRIC_KEYS:
                value = row.get(metric)
                rows[(label, row["dataset"], metric)] = {
                    "detector": label, "dataset": row["dataset"], "generator": row["generator"],
                    "held_in": bool(row.get("held_in")), "metric": metric,
                    "ours": None if value is None or math.isnan(value) else round(100 * value, 2),
                    "paper": row.get("published", {}).get(metric), "source": result["_path"]}
        for name, key in _MEANS:
            mean = metrics.get(key, {})
            if not mean.get("n_datasets"):
                continue
            for metric in METRIC_KEYS:
                value = mean.get(metric)
                rows[(label, name, metric)] = {
                    "detector": label, "dataset": name, "generator": f"{mean['n_datasets']} sets",
                    "held_in": None, "metric": metric,
                    "ours": None if value is None or math.isnan(value) else round(100 * value, 2),
                    "paper": None, "source": result["_path"]}
    return pd.DataFrame(list(rows.values()))


def _wide(long: pd.DataFrame, metric: str) -> pd.DataFrame:
    part = long[long["metric"] == metric]
    order = list(dict.fromkeys(part.loc[~part["dataset"].isin([m for m, _ in _MEANS]), "dataset"]))
    order += [m for m, _ in _MEANS if m in set(part["dataset"])]
    generators = part.drop_duplicates("dataset").set_index("dataset")["generator"]
    table = pd.DataFrame({"dataset": order, "generator": [generators[d] for d in order]})
    for det in dict.fromkeys(part["detector"]):
        sub = part[part["detector"] == det].set_index("dataset")
        table[det] = [sub["ours"].get(d) for d in order]
        if sub["paper"].notna().any():
            table[f"{det} [paper]"] = [sub["paper"].get(d) for d in order]
    return table


def _display(table: pd.DataFrame) -> pd.DataFrame:
    """One column per detector with ``ours (paper)`` cells; mean rows in bold."""
    dets = [c for c in table.columns[2:] if not c.endswith(" [paper]")]
    means = dict(_MEANS)
    out = pd.DataFrame({"test set": [f"**{d}**" if d in means else d for d in table["dataset"]],
                        "generator": table["generator"]})
    for det in dets:
        ours = table[det].map(fmt_cell)
        if f"{det} [paper]" in table:
            paper = table[f"{det} [paper]"].map(fmt_cell)
            ours = [f"{o} ({p})" if p else o for o, p in zip(ours, paper)]
        out[det] = list(ours)
    return out


def write_leaderboard(results: list[dict[str, Any]], output: str | os.PathLike, *, title: str = "fakebench leaderboard",
                      note: str = "", metrics: Iterable[str] = METRIC_KEYS) -> list[Path]:
    """Write ``leaderboard.csv`` (long), ``leaderboard_<metric>.csv`` (wide) and ``leaderboard.md`` into ``output``.

    Returns:
        The files written.
    """
    output = Path(output)
    long = leaderboard_frame(results)
    written = [atomic_write_text(output / "leaderboard.csv", long.drop(columns="source").to_csv(index=False))]
    md = [f"# {title}\n"]
    if note:
        md.append(note.strip() + "\n")
    md.append("Percent. Accuracy at fake probability > 0.5. Cells show ours, with the published number in parentheses "
              "where the manifest has one. Means are unweighted over test sets; held-in sets are in the detector's "
              "training distribution.\n")
    for metric in metrics:
        table = _wide(long, metric)
        written.append(atomic_write_text(output / f"leaderboard_{metric}.csv", table.to_csv(index=False)))
        display = _display(table)
        md.append(f"## {_NAMES[metric]}\n\n" + to_markdown(display, numeric=tuple(display.columns[2:])))
    sources = sorted({Path(r["_path"]).as_posix() for r in results})
    md.append("Result files:\n\n" + "\n".join(f"- `{s}`" for s in sources) + "\n")
    written.append(atomic_write_text(output / "leaderboard.md", "\n".join(md)))
    return written
