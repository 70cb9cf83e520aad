"""Leaderboards: comparison tables built from ``results.json`` files.

One row per test set (generator), one column per detector (``name.weights@preset``), for each metric; the mean,
held-in mean and held-out mean close each table. Where the manifest has a published number for exactly that detector's
weights and preset, it is shown beside ours (Markdown: ``ours (paper)``; CSV: a ``<detector> [paper]`` column). Every
cell carries its image count (``[n=...]``) and every mean its set count; numbers from ``--limit`` runs are marked
``*`` and numbers from a run with another manifest ``†``, with footnotes.

95% confidence intervals are shown as ``ours [lo, hi]``: for a test set, the interval ``results.json`` records for it
(``metrics.per_dataset[i].ci``: Wilson / DeLong-logit + Newcombe / BCa over its images, see
:mod:`fakebench.analysis.intervals`); for a mean, which is recomputed here over the sets each column holds, a Student-t
interval over those test sets (:func:`fakebench.analysis.intervals.set_mean_interval`: about a population of test
sets like these; none with fewer than 5 sets, marked "too few sets for an interval"). A cost table (images/s, wall
time, peak host and GPU memory, device; from ``results.json["cost"]``, see :func:`fakebench.eval.cost.measure_cost`)
closes ``leaderboard.md`` and is written as ``leaderboard_cost.csv``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from fakebench.analysis.intervals import MIN_SETS, TOO_FEW_SETS, set_mean_interval
from fakebench.core.errors import DataError
from fakebench.eval.results import ResultsRecord, display_labels, read_results
from fakebench.eval.scoring import METRIC_KEYS
from fakebench.core.files import atomic_write_text
from fakebench.eval.tables import fmt_cell, percent, to_markdown

__all__ = ["find_results", "load_results", "leaderboard_frame", "cost_frame", "write_leaderboard", "MEAN_CI_BOOT"]

_MEANS = (("mean", "mean"), ("held-in mean", "held_in_mean"), ("held-out mean", "held_out_mean"))
_NAMES = {"acc": "accuracy", "real_acc": "real acc", "fake_acc": "fake acc", "ap": "AP", "auc": "ROC-AUC"}

#: Former resample count of the set-mean bootstrap (the mean CI is now a Student-t interval); kept for importers.
MEAN_CI_BOOT = 1000
#: Columns of :func:`cost_frame` (``leaderboard_cost.csv``).
COST_COLUMNS = ("detector", "data", "images", "images_per_second", "wall_seconds", "peak_host_memory_mb",
                "peak_gpu_memory_mb", "device", "device_name", "source")


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
    """Read result files (see :func:`find_results`) through the results schema, keeping their path under ``_path``.

    Raises:
        SchemaError (a :class:`DataError`): a file is not valid JSON, not a fakebench results file, or was written
            with a schema major version this fakebench cannot read.
    """
    results = []
    for path in find_results(paths):
        record = read_results(path)  # validates the schema version and the required keys
        data = json.loads(path.read_text(encoding="utf-8"))
        data["_path"] = str(path)
        data["_key"], data["_user_label"] = record.label, record.user_label
        results.append(data)
    _assign_labels(results)
    return results


def _assign_labels(results: list[dict[str, Any]]) -> None:
    """Give every result ``_key`` (canonical ``name.weights@preset``: what cells are merged on) and ``_label`` (the
    name shown: the user's ``--label`` of the latest run of that detector, told apart from other detectors by
    :func:`~fakebench.eval.results.display_labels`)."""
    for result in results:
        if "_key" not in result:
            record = ResultsRecord.from_dict(result)
            result["_key"], result["_user_label"] = record.label, record.user_label
    chosen: dict[str, str | None] = {}
    for result in sorted(results, key=lambda r: (not _limited(r), r.get("date", ""))):  # as cells: the winner last
        chosen[result["_key"]] = result.get("_user_label") or chosen.get(result["_key"])
    keys = list(chosen)
    shown = dict(zip(keys, display_labels([(k, chosen[k]) for k in keys])))
    for result in results:
        result["_label"] = shown[result["_key"]]


def _label(result: dict[str, Any]) -> str:
    if "_label" not in result:
        _assign_labels([result])
    return result["_label"]


def _key(result: dict[str, Any]) -> str:
    if "_key" not in result:
        _assign_labels([result])
    return result["_key"]


def _limited(result: dict[str, Any]) -> bool:
    """Whether a result comes from a ``--limit`` (smoke) run."""
    return bool((result.get("data") or {}).get("limit_per_label"))


def _manifest_id(result: dict[str, Any]) -> str:
    """Short id of the manifest(s) a result came from ('' for runs on plain folders)."""
    manifest = (result.get("data") or {}).get("manifest") or {}
    digests = manifest.get("sha256") or {}
    items = sorted(digests.items()) if isinstance(digests, dict) else sorted(map(str, digests))
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:8] if items else ""


def leaderboard_frame(results: list[dict[str, Any]]) -> pd.DataFrame:
    """Long table: one row per (detector, test set or mean row, metric).

    Columns: ``detector``, ``dataset``, ``generator``, ``held_in``, ``metric``, ``ours`` and ``paper`` (percent),
    ``n`` (images the number is computed on), ``n_sets`` (1 for a test set, the sets averaged for a mean),
    ``limited`` (from a ``--limit`` run), ``manifest`` (short id of the manifest of the run, '' for plain folders),
    ``ci_lo``/``ci_hi`` (percent, the 95% confidence interval; NaN when there is none), ``source`` (the results
    file).

    When two result files cover the same detector and test set, a full run always wins over a ``--limit`` (smoke)
    run, whatever their dates; between two full (or two limited) runs the later one (by date) wins. The means are computed
    here, unweighted over the test sets each detector column really holds (so they never describe other sets than the
    rows above them), each carrying its set count and image count. A test set's CI is the one its result row records
    (``ci[metric] = [lo, hi]``, fractions); a mean's CI is a Student-t interval over its test sets
    (:func:`fakebench.analysis.intervals.set_mean_interval`), NaN with fewer than 5 sets. Other extra keys in the
    result rows (``operating``, ...) are ignored.
    """
    if any("_label" not in r for r in results):
        _assign_labels(results)
    cells: dict[tuple[str, str, str], dict[str, Any]] = {}
    for result in sorted(results, key=lambda r: (not _limited(r), r.get("date", ""))):  # full runs last: they win
        label = _label(result)
        limited = _limited(result)
        manifest = _manifest_id(result)
        for row in result["metrics"]["per_dataset"]:
            n = row.get("n")
            if n is None:
                n = (row.get("n_real") or 0) + (row.get("n_fake") or 0)
            for metric in METRIC_KEYS:
                value = row.get(metric)
                lo, hi = _row_ci(row, metric) if percent(value) is not None else (None, None)
                cells[(_key(result), row["dataset"], metric)] = {
                    "detector": label, "dataset": row["dataset"], "generator": row["generator"],
                    "held_in": bool(row.get("held_in")), "metric": metric, "ours": percent(value),
                    "paper": (row.get("published") or {}).get(metric), "n": int(n), "n_sets": 1,
                    "limited": limited, "manifest": manifest, "ci_lo": lo, "ci_hi": hi, "source": result["_path"],
                    "_value": value, "_real_source": _real_source(row)}
    rows = list(cells.values())
    by_detector: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for cell in rows:
        by_detector.setdefault((cell["detector"], cell["metric"]), []).append(cell)
    means = []
    for (label, metric), part in by_detector.items():
        for name, _ in _MEANS:
            chosen = [c for c in part if name == "mean" or c["held_in"] == (name == "held-in mean")]
            chosen = [c for c in chosen if c["_value"] is not None and not math.isnan(c["_value"])]
            if metric == "real_acc":  # a real reference shared by several fake-only sets counts once
                chosen = list({c["_real_source"]: c for c in chosen}.values())
            if not chosen:
                continue
            lo, hi = set_mean_interval([c["_value"] for c in chosen])["ci"]
            means.append({"detector": label, "dataset": name, "generator": "", "held_in": None, "metric": metric,
                          "ours": percent(sum(c["_value"] for c in chosen) / len(chosen)), "paper": None,
                          "n": sum(c["n"] for c in chosen), "n_sets": len(chosen),
                          "limited": any(c["limited"] for c in chosen),
                          "manifest": ",".join(sorted({c["manifest"] for c in chosen})),
                          "ci_lo": percent(lo), "ci_hi": percent(hi),
                          "source": ",".join(sorted({c["source"] for c in chosen}))})
    frame = pd.DataFrame(rows + means)
    frame[["ci_lo", "ci_hi"]] = frame[["ci_lo", "ci_hi"]].astype(float)
    return frame.drop(columns=[c for c in ("_value", "_real_source") if c in frame])


def _row_ci(row: dict[str, Any], metric: str) -> tuple[float | None, float | None]:
    """A result row's recorded 95% CI of ``metric`` in percent, or ``(None, None)`` when it has none.

    Raises:
        DataError: the interval is malformed (not two numbers in [0, 1] with lo <= hi): refused rather than shown.
    """
    ci = (row.get("ci") or {}).get(metric)
    if ci is None:
        return None, None
    ok = isinstance(ci, (list, tuple)) and len(ci) == 2 and all(
        v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in ci)
    if ok and any(v is None or math.isnan(v) for v in ci):
        return None, None  # undefined (e.g. AP of a single-label set)
    if not ok or not (0.0 <= ci[0] <= ci[1] <= 1.0):
        raise DataError(f"Test set {row.get('dataset')!r} has a malformed {metric} confidence interval {ci!r} "
                        f"(expected [lo, hi] fractions with 0 <= lo <= hi <= 1); re-run the evaluation.")
    return percent(float(ci[0])), percent(float(ci[1]))


def _real_source(row: dict[str, Any]) -> tuple[str, ...]:
    """What a row's real acc is measured on: its reference real sets for a fake-only set, else the set itself."""
    if row.get("kind") == "fake" and row.get("references"):
        return tuple(row["references"])
    return (row["dataset"],)


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
        if sub["ci_lo"].notna().any():
            table[f"{det} [ci_lo]"] = [sub["ci_lo"].get(d) for d in order]
            table[f"{det} [ci_hi]"] = [sub["ci_hi"].get(d) for d in order]
        table[f"{det} [n]"] = pd.array([sub["n"].get(d) for d in order], dtype="Int64")
        table[f"{det} [sets]"] = pd.array([sub["n_sets"].get(d) for d in order], dtype="Int64")
        table[f"{det} [flags]"] = [_flags(sub, d, part) for d in order]
    return table


def _flags(sub: pd.DataFrame, dataset: str, part: pd.DataFrame) -> str:
    """``*`` for a number from a --limit run, ``†`` for one from a run with another manifest than most."""
    if dataset not in sub.index:
        return ""
    flags = "*" if bool(sub["limited"].get(dataset)) else ""
    ids = [m for m in part.loc[~part["dataset"].isin([m for m, _ in _MEANS]), "manifest"]]
    common = max(set(ids), key=ids.count) if ids else ""
    if len(set(ids)) > 1 and any(m != common for m in str(sub["manifest"].get(dataset)).split(",")):
        flags += "†"
    return flags


#: Text of an accuracy cell of a score-only detector (no natural threshold, see ``Detector.natural_threshold``).
NO_THRESHOLD = "n/a: no threshold"
_THRESHOLD_METRICS = ("acc", "real_acc", "fake_acc")


def score_only_labels(results: list[dict[str, Any]]) -> set[str]:
    """Labels of the runs of score-only detectors (``results.json`` ``"threshold": null``)."""
    return {_label(r) for r in results if "threshold" in r and r["threshold"] is None}


def _display(table: pd.DataFrame, no_threshold: set[str] = frozenset()) -> pd.DataFrame:
    """One column per detector: ``ours [lo, hi] (paper) [n=...]`` cells (``[lo, hi]`` only where there is a CI),
    means with ``[k sets, n=...]``; flags after the number (and its CI); mean rows in bold. Detectors in
    ``no_threshold`` (score-only, accuracy tables only) get :data:`NO_THRESHOLD` instead of an empty number."""
    dets = [c for c in table.columns[2:] if not c.endswith("]")]
    means = dict(_MEANS)
    out = pd.DataFrame({"test set": [f"**{d}**" if d in means else d for d in table["dataset"]],
                        "generator": table["generator"]})
    for det in dets:
        cells = []
        for k, dataset in enumerate(table["dataset"]):
            ours = fmt_cell(table[det].iloc[k])
            n = table[f"{det} [n]"].iloc[k]
            if det in no_threshold and not ours and not (n is pd.NA or n is None):
                cells.append(NO_THRESHOLD)
                continue
            if not ours and (n is pd.NA or n is None):
                cells.append("")
                continue
            cell = ours
            if f"{det} [ci_lo]" in table and ours:
                lo, hi = fmt_cell(table[f"{det} [ci_lo]"].iloc[k]), fmt_cell(table[f"{det} [ci_hi]"].iloc[k])
                if lo and hi:
                    cell += f" [{lo}, {hi}]"
            cell += table[f"{det} [flags]"].iloc[k]
            paper = fmt_cell(table[f"{det} [paper]"].iloc[k]) if f"{det} [paper]" in table else ""
            if paper:
                cell += f" ({paper})"
            if dataset in means:
                sets = int(table[f"{det} [sets]"].iloc[k])
                cell += f" [{sets} set{'s' if sets != 1 else ''}, n={int(n)}]"
            else:
                cell += f" [n={int(n)}]"
            cells.append(cell)
        out[det] = cells
    return out


def cost_frame(results: list[dict[str, Any]]) -> pd.DataFrame:
    """What each run cost: one row per result file, in date order.

    Columns (:data:`COST_COLUMNS`): ``detector`` (``name.weights@preset``), ``data`` (the run's data label),
    ``images`` (images the timed block processed; a run served from the prediction cache counts only the images it
    computed), ``images_per_second``, ``wall_seconds`` (s), ``peak_host_memory_mb`` (MiB, the process and its
    DataLoader workers; falls back to ``peak_rss_mb``), ``peak_gpu_memory_mb`` (MiB, ``torch.cuda``
    ``max_memory_allocated``; NaN on CPU), ``device`` (``cpu``, ``cuda:0``), ``device_name`` (GPU or CPU model),
    ``source`` (the results file). Values are those :func:`fakebench.eval.cost.measure_cost` recorded in
    ``results.json["cost"]``; a run without a ``cost`` entry (older files) gets NaN / empty fields.
    """
    rows = []
    for result in sorted(results, key=lambda r: r.get("date", "")):
        cost = result.get("cost") if isinstance(result.get("cost"), dict) else {}

        def number(key: str) -> float:
            value = cost.get(key)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            return float(value) if ok else math.nan

        host = number("peak_host_memory_mb")
        rows.append({"detector": _label(result), "data": (result.get("data") or {}).get("label") or "",
                     "images": number("images"), "images_per_second": number("images_per_second"),
                     "wall_seconds": number("wall_seconds"),
                     "peak_host_memory_mb": host if not math.isnan(host) else number("peak_rss_mb"),
                     "peak_gpu_memory_mb": number("peak_gpu_memory_mb"), "device": str(cost.get("device") or ""),
                     "device_name": str(cost.get("device_name") or ""), "source": result["_path"]})
    frame = pd.DataFrame(rows, columns=list(COST_COLUMNS))
    frame["images"] = frame["images"].astype("Int64")
    return frame


def _cost_markdown(cost: pd.DataFrame) -> str:
    def num(value: Any, digits: int) -> str:
        return "" if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) \
            else f"{value:.{digits}f}"

    rows = []
    for r in cost.itertuples(index=False):
        recorded = not (math.isnan(r.wall_seconds) and not r.device)
        device = f"{r.device} ({r.device_name})" if r.device_name else r.device
        gpu = num(r.peak_gpu_memory_mb, 0) or ("n/a (CPU)" if r.device.startswith("cpu") else "")
        rows.append({"detector": r.detector, "data": r.data,
                     "images": "" if r.images is pd.NA else str(int(r.images)),
                     "images/s": num(r.images_per_second, 1), "wall s": num(r.wall_seconds, 1),
                     "peak host MiB": num(r.peak_host_memory_mb, 0), "peak GPU MiB": gpu,
                     "device": device if recorded else "not recorded (older results file)"})
    frame = pd.DataFrame(rows, columns=["detector", "data", "images", "images/s", "wall s", "peak host MiB",
                                        "peak GPU MiB", "device"])
    return to_markdown(frame, numeric=("images", "images/s", "wall s", "peak host MiB", "peak GPU MiB"))


def write_leaderboard(results: list[dict[str, Any]], output: str | os.PathLike, *, title: str = "fakebench leaderboard",
                      note: str = "", metrics: Iterable[str] = METRIC_KEYS) -> list[Path]:
    """Write ``leaderboard.csv`` (long), ``leaderboard_<metric>.csv`` (wide), ``leaderboard_cost.csv`` (see
    :func:`cost_frame`) and ``leaderboard.md`` (tables per metric with CIs, then the cost table) into ``output``.

    Returns:
        The files written.

    Raises:
        DataError: a result row has a malformed confidence interval.
    """
    output = Path(output)
    long = leaderboard_frame(results)
    written = [atomic_write_text(output / "leaderboard.csv", long.drop(columns="source").to_csv(index=False))]
    md = [f"# {title}\n"]
    if note:
        md.append(note.strip() + "\n")
    md.append("Percent. Accuracy at fake probability > 0.5. Cells show ours, with the published number in parentheses "
              "where the manifest has one for exactly these weights and preset, and the number of images it is "
              "computed on (n). Means are unweighted over the test sets each column really holds (set count and "
              "images in brackets); held-in sets are in the detector's training distribution.\n")
    set_rows = ~long["dataset"].isin([m for m, _ in _MEANS])
    md.append("[lo, hi] = 95% confidence interval: for a test set, the interval over its images recorded in "
              "results.json (shown where the run has one): Wilson for accuracies, DeLong-logit + Newcombe for AUC, "
              "BCa bootstrap for AP; it covers new images from the same sources. For a mean, a Student-t interval "
              "over the test sets averaged: it covers the mean over a population of test sets like these (set-to-set "
              f"spread, not image sampling), and is not given below {MIN_SETS} sets ({TOO_FEW_SETS}); sets sharing a "
              "real reference are not independent, so their mean's interval is too narrow.\n")
    if not long.loc[set_rows, "ci_lo"].notna().any():
        md[-1] = md[-1].replace("(shown where the run has one)", "(none of these runs has one)")
    if long["limited"].any():
        md.append("\\* from a run with --limit (a smoke run on the first N images per label): not comparable with "
                  "full runs.\n")
    flags = _wide(long, METRIC_KEYS[0]).filter(like="[flags]").to_numpy().ravel()
    if any("†" in str(f) for f in flags):
        md.append("† from a run with another manifest than most cells (other paths, counts or protocol): compare "
                  "with care.\n")
    score_only = score_only_labels(results)
    if score_only:
        md.append(f"{NO_THRESHOLD}: {', '.join(sorted(score_only))} output a score without a natural threshold "
                  "(score-only detectors, e.g. training-free AEROBLADE), so there is no accuracy at 0.5; AP and "
                  "ROC-AUC are computed from the score. Their accuracy at a threshold fitted on a calibration split "
                  "(--calibrate-on) is in each run's metrics.md and results.json \"calibration\".\n")
    for metric in metrics:
        table = _wide(long, metric)
        written.append(atomic_write_text(output / f"leaderboard_{metric}.csv", table.to_csv(index=False)))
        display = _display(table, score_only if metric in _THRESHOLD_METRICS else frozenset())
        md.append(f"## {_NAMES[metric]}\n\n" + to_markdown(display, numeric=tuple(display.columns[2:])))
    cost = cost_frame(results)
    written.append(atomic_write_text(output / "leaderboard_cost.csv", cost.drop(columns="source").to_csv(index=False)))
    md.append("## cost\n\nWhat each run cost (from results.json \"cost\"): images scored in the timed block (images "
              "served from the prediction cache are not counted), throughput, wall time, peak host memory of the "
              "process and its data-loading workers, and peak GPU memory allocated by torch (MiB). Timings depend "
              "on the machine, batch size and workers; compare runs on the same device only.\n\n"
              + _cost_markdown(cost))
    sources = sorted({Path(r["_path"]).as_posix() for r in results})
    md.append("Result files:\n\n" + "\n".join(f"- `{s}`" for s in sources) + "\n")
    written.append(atomic_write_text(output / "leaderboard.md", "\n".join(md)))
    return written
