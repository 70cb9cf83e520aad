"""Paired comparison of two runs (two detectors, or two weights/presets) scored on the same images.

:func:`compare_runs` reads two run folders (``predictions.csv`` + ``results.json``), joins their predictions by image
content (``sha256``) within each test set, and REFUSES (:class:`RunMismatchError`) when the two runs did not score the
same images or disagree on a label: a difference between runs on different images is not a comparison.

For every test set of the runs and for the unweighted mean over sets it reports the differences ``A - B`` (fractions)
of

* **acc** -- accuracy over the set's own images (a fake-only set's accuracy is its fake acc, a real-only set's its
  real acc), each run deciding with its own threshold; CI and p-value from the paired bootstrap;
* **ap** -- AP over the images the set is scored on (a fake-only set's fakes pooled with its reference reals, as in
  ``results.json``); paired bootstrap;
* **auc** -- ROC-AUC over the same images; per set DeLong's test (normal CI), for the mean the paired bootstrap;
* **mcnemar** -- McNemar's test of the decisions on the set's own images (for the mean: on all images, each once).

Bootstrap: all images of all sets are resampled JOINTLY, stratified by (test set, label), ``n_boot`` times; both runs
and all sets see the same resamples, so a real reference shared by several fake-only sets stays shared, and the
replicates of the mean difference are the means of the per-set replicate differences. See
:mod:`fakebench.analysis.paired` for the tests and p-value definitions.
"""

from __future__ import annotations

import csv as csv_module
import itertools
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fakebench.analysis.bootstrap import informative, percentile_interval, resample_counts, weighted_metrics
from fakebench.analysis.paired import bootstrap_p_value, delong_test, mcnemar_test
from fakebench.eval.predictions import read_predictions
from fakebench.core.errors import DataError
from fakebench.eval.results import ResultsRecord, read_results

__all__ = ["RunMismatchError", "load_run", "compare_runs", "format_comparison", "COMPARE_SCHEMA"]

COMPARE_SCHEMA = "fakebench.compare/1"
_EXAMPLES = 5


class RunMismatchError(DataError):
    """Two runs cannot be compared: different test sets, different images, or different labels for an image."""


def load_run(run_dir: str | os.PathLike) -> tuple[ResultsRecord, pd.DataFrame]:
    """Read a run folder's ``results.json`` and ``predictions.csv`` (read-only; the folder is not modified).

    Returns:
        ``(record, predictions)``: the typed results and one row per image (duplicate ``image`` rows from a resumed
        run keep the last).

    Raises:
        DataError: the folder, ``predictions.csv`` or ``results.json`` is missing or unreadable, required columns
            are missing, or ``predictions.csv`` holds another number of scored images of a test set than
            ``results.json`` reports (a damaged file, named).
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a run folder; pass the folder holding predictions.csv and results.json "
                        f"(written by `fakebench evaluate`).")
    csv = folder / "predictions.csv"
    if not csv.is_file():
        raise DataError(f"{csv} does not exist; pass a run folder written by `fakebench evaluate` (it holds "
                        f"predictions.csv and results.json).")
    record = read_results(folder)
    try:
        frame = read_predictions(csv)  # the runner's own reader (quoted newlines, a cut last row); changes nothing
    except (csv_module.Error, UnicodeDecodeError, ValueError, KeyError) as exc:
        raise DataError(f"{csv} cannot be read as CSV ({exc}); re-run the evaluation.") from None
    missing = [c for c in ("image", "sha256", "dataset", "label", "prob") if c not in frame.columns]
    if missing:
        raise DataError(f"{csv} lacks column(s) {missing}; it was not written by `fakebench evaluate`.")
    frame = frame.drop_duplicates("image", keep="last").reset_index(drop=True)
    scored = frame[frame["prob"].notna()].groupby("dataset").size()
    for row in record.metrics["per_dataset"]:  # the two files of one run must agree, else one is damaged
        expected, found = row.get("n"), int(scored.get(row["dataset"], 0))
        if isinstance(expected, int) and found != expected:
            raise DataError(f"{csv} is damaged (cut short or edited?): it holds {found} scored images of test set "
                            f"{row['dataset']!r} where {folder / 'results.json'} reports {expected}. Re-run the "
                            f"evaluation into that folder (it resumes) or restore the file.")
    return record, frame


def _references(record: ResultsRecord) -> dict[str, list[str]]:
    entries = {e.get("name"): e for e in record.data.datasets if isinstance(e, dict)}
    out = {}
    for row in record.metrics["per_dataset"]:
        refs = row.get("references")
        if refs is None and row.get("labels", row.get("kind")) == "fake":
            refs = entries.get(row["dataset"], {}).get("real_reference") or []
        out[row["dataset"]] = list(refs or [])
    return out


def _keyed(frame: pd.DataFrame) -> pd.DataFrame:
    """Scored rows with a join key: (dataset, sha256, occurrence of that sha256 in the set)."""
    scored = frame[frame["prob"].notna()].copy()
    scored = scored.sort_values(["dataset", "sha256", "image"], kind="mergesort")
    scored["occ"] = scored.groupby(["dataset", "sha256"]).cumcount()
    return scored


def _examples(frame: pd.DataFrame) -> str:
    items = [f"{r.sha256[:16]}… ({r.image})" for r in frame.head(_EXAMPLES).itertuples()]
    more = f" and {len(frame) - _EXAMPLES} more" if len(frame) > _EXAMPLES else ""
    return ", ".join(items) + more


def _join(path_a: Path, path_b: Path, pred_a: pd.DataFrame, pred_b: pd.DataFrame,
          datasets: list[str]) -> pd.DataFrame:
    ka, kb = _keyed(pred_a), _keyed(pred_b)
    ka, kb = ka[ka["dataset"].isin(datasets)], kb[kb["dataset"].isin(datasets)]
    key = ["dataset", "sha256", "occ"]
    merged = ka.merge(kb, on=key, how="outer", suffixes=("_a", "_b"), indicator=True)
    problems = []
    for name in datasets:
        part = merged[merged["dataset"] == name]
        only_a = part[part["_merge"] == "left_only"].rename(columns={"image_a": "image"})
        only_b = part[part["_merge"] == "right_only"].rename(columns={"image_b": "image"})
        if len(only_a):
            problems.append(f"test set {name!r}: {len(only_a)} scored image(s) only in A, e.g. {_examples(only_a)}")
        if len(only_b):
            problems.append(f"test set {name!r}: {len(only_b)} scored image(s) only in B, e.g. {_examples(only_b)}")
    if problems:
        raise RunMismatchError(
            f"Cannot compare run A ({path_a}) with run B ({path_b}): they were not scored on the same images. "
            + "; ".join(problems) + ". Re-run both on the same data (same manifest, data root and --limit; "
            "unreadable images count as missing).")
    both = merged[merged["_merge"] == "both"].copy()
    bad = both[both["label_a"].astype(int) != both["label_b"].astype(int)]
    if len(bad):
        raise RunMismatchError(
            f"Cannot compare run A ({path_a}) with run B ({path_b}): {len(bad)} image(s) have a different label in "
            f"the two runs, e.g. {_examples(bad.rename(columns={'image_a': 'image'}))}. Check the data layout of both "
            f"runs.")
    return both.reset_index(drop=True)


def _ranking(frame: pd.DataFrame, suffix: str) -> np.ndarray:
    logit = frame.get(f"logit{suffix}")
    if logit is not None and logit.notna().all():
        return logit.to_numpy(float)
    return frame[f"prob{suffix}"].to_numpy(float)


def _entry(a: float, b: float, reps: np.ndarray | None, level: float, *, test: str) -> dict[str, Any]:
    out: dict[str, Any] = {"a": float(a), "b": float(b), "diff": float(a - b), "test": test}
    if reps is not None:
        out["ci"] = list(percentile_interval(reps, level)) if not math.isnan(a - b) else [math.nan, math.nan]
        out["p_value"] = bootstrap_p_value(reps) if not math.isnan(a - b) else math.nan
    return out


def compare_runs(run_a: str | os.PathLike, run_b: str | os.PathLike, *, n_boot: int = 1000, seed: int = 0,
                 level: float = 0.95) -> dict[str, Any]:
    """Paired differences ``A - B`` per test set and for the unweighted mean over sets.

    Args:
        run_a, run_b: run folders (``predictions.csv`` + ``results.json``).
        n_boot: paired bootstrap resamples (>= 1). seed: RNG seed. level: CI coverage (0.95).

    Returns:
        ``{"schema", "run_a": {"label", "path"}, "run_b": {...}, "n_boot", "seed", "level", "per_dataset": [row],
        "mean": {...}}``; each row has ``dataset``, ``generator``, ``labels``, ``n`` (own images), ``n_real``/``n_fake``
        (images AP/AUC use) and, for ``acc``, ``ap``, ``auc``: ``{"a", "b", "diff", "ci": [lo, hi], "p_value",
        "test"}`` (fractions; ``nan`` where undefined), plus ``mcnemar`` (see
        :func:`fakebench.analysis.paired.mcnemar_test`). The mean has the same metric entries (paired bootstrap for
        all three), ``n_datasets`` and ``mcnemar`` over all images.

    Raises:
        RunMismatchError: different test sets, images (sha256 per test set) or labels; the message names both runs
            and lists a few differing images.
        DataError: a run folder or its files are missing or unreadable.
    """
    path_a, path_b = Path(run_a), Path(run_b)
    rec_a, pred_a = load_run(path_a)
    rec_b, pred_b = load_run(path_b)
    rows_a = {r["dataset"]: r for r in rec_a.metrics["per_dataset"]}
    rows_b = {r["dataset"]: r for r in rec_b.metrics["per_dataset"]}
    if set(rows_a) != set(rows_b):
        raise RunMismatchError(
            f"Cannot compare run A ({path_a}) with run B ({path_b}): different test sets; only in A: "
            f"{sorted(set(rows_a) - set(rows_b))}, only in B: {sorted(set(rows_b) - set(rows_a))}.")
    refs = _references(rec_a)
    names = list(rows_a)
    involved = list(dict.fromkeys(names + [r for n in names for r in refs[n]]))
    joined = _join(path_a, path_b, pred_a, pred_b, involved)
    y = joined["label_a"].astype(int).to_numpy()
    pa, pb = joined["prob_a"].to_numpy(float), joined["prob_b"].to_numpy(float)
    thr_a, thr_b = rec_a.threshold, rec_b.threshold
    dec_a, dec_b = (pa > thr_a).astype(int), (pb > thr_b).astype(int)
    dataset = joined["dataset"].to_numpy()

    plans = []
    for name in names:
        own = np.flatnonzero(dataset == name)
        pool = np.flatnonzero(np.isin(dataset, [name] + refs[name]))
        sub = joined.iloc[pool]
        plans.append({"name": name, "own": own, "pool": pool, "ra": _ranking(sub, "_a"), "rb": _ranking(sub, "_b")})

    keys = ("acc", "ap", "auc")
    reps: dict[str, dict[str, list[np.ndarray]]] = {p["name"]: {k: [] for k in keys} for p in plans}
    points: dict[str, dict[str, tuple[float, float]]] = {}
    strata = np.unique(dataset, return_inverse=True)[1].reshape(-1) * 2 + y
    full = np.ones((1, y.size))
    for w_all in itertools.chain([full], resample_counts(y, n_boot=n_boot, seed=seed, strata=strata)):
        for plan in plans:
            own, pool = plan["own"], plan["pool"]
            vals = {}
            for side, p, thr, r in (("a", pa, thr_a, plan["ra"]), ("b", pb, thr_b, plan["rb"])):
                acc = weighted_metrics(w_all[:, own], y[own], p[own], threshold=thr, metrics=("acc",))["acc"]
                rank = weighted_metrics(w_all[:, pool], y[pool], p[pool], ranking=r, threshold=thr,
                                        metrics=("ap", "auc"))
                vals[side] = {"acc": acc, "ap": rank["ap"], "auc": rank["auc"]}
            if w_all is full:
                points[plan["name"]] = {k: (float(vals["a"][k][0]), float(vals["b"][k][0])) for k in keys}
            else:
                for k in keys:
                    reps[plan["name"]][k].append(vals["a"][k] - vals["b"][k])

    out_rows = []
    stacked: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for plan in plans:
        name = plan["name"]
        row_a = rows_a[name]
        r = {k: np.concatenate(reps[name][k]) for k in keys}
        pool_y = y[plan["pool"]]
        row: dict[str, Any] = {"dataset": name, "generator": row_a.get("generator", name),
                               "labels": row_a.get("labels", row_a.get("kind", "mixed")), "references": refs[name],
                               "n": int(plan["own"].size), "n_real": int((pool_y == 0).sum()),
                               "n_fake": int((pool_y == 1).sum())}
        # one image of a class: every resample is the sample itself, so the set has no CI and no p-value of its
        # own (its fixed difference still enters the mean's replicates, as it enters the mean)
        shown = r if informative(pool_y) else {k: np.full(v.shape, np.nan) for k, v in r.items()}
        row["acc"] = _entry(*points[name]["acc"], shown["acc"], level, test="paired bootstrap")
        row["ap"] = _entry(*points[name]["ap"], shown["ap"], level, test="paired bootstrap")
        if row["n_real"] >= 2 and row["n_fake"] >= 2:
            dl = delong_test(pool_y, plan["ra"], plan["rb"], level=level)
            row["auc"] = {"a": dl["auc_a"], "b": dl["auc_b"], "diff": dl["diff"], "ci": list(dl["ci"]),
                          "p_value": dl["p_value"], "test": "DeLong", "se": dl["se"], "z": dl["z"]}
        else:
            row["auc"] = _entry(math.nan, math.nan, r["auc"], level, test="DeLong")
        own = plan["own"]
        row["mcnemar"] = mcnemar_test(y[own], dec_a[own], dec_b[own])
        for k in keys:
            stacked[k].append(r[k] if not math.isnan(row[k]["diff"]) else np.full(r[k].shape, np.nan))
        out_rows.append(row)

    mean: dict[str, Any] = {"n_datasets": len(out_rows)}
    for k in keys:
        a_vals = [row[k]["a"] for row in out_rows if not math.isnan(row[k]["diff"])]
        b_vals = [row[k]["b"] for row in out_rows if not math.isnan(row[k]["diff"])]
        if not a_vals:
            mean[k] = _entry(math.nan, math.nan, np.full(n_boot, np.nan), level, test="paired bootstrap")
            continue
        with warnings.catch_warnings():  # an all-nan column (undefined in every set) gives nan, as intended
            warnings.simplefilter("ignore", RuntimeWarning)
            mean_reps = np.nanmean(np.vstack(stacked[k]), axis=0)
        mean[k] = _entry(float(np.mean(a_vals)), float(np.mean(b_vals)), mean_reps, level, test="paired bootstrap")
    mean["mcnemar"] = mcnemar_test(y, dec_a, dec_b)
    return {"schema": COMPARE_SCHEMA,
            "run_a": {"label": rec_a.label, "path": str(path_a)}, "run_b": {"label": rec_b.label, "path": str(path_b)},
            "n_boot": int(n_boot), "seed": int(seed), "level": float(level), "thresholds": [thr_a, thr_b],
            "per_dataset": out_rows, "mean": mean}


def _pp(entry: dict[str, Any]) -> str:
    """``+2.31 [+0.50, +4.10] p=0.012`` in percentage points."""
    d = entry["diff"]
    if math.isnan(d):
        return "n/a"
    lo, hi = entry.get("ci", [math.nan, math.nan])
    p = entry.get("p_value", math.nan)
    ci = "[n/a]" if math.isnan(lo) else f"[{100 * lo:+.2f}, {100 * hi:+.2f}]"
    return f"{100 * d:+.2f} {ci} p={p:.3g}"


def format_comparison(result: dict[str, Any]) -> str:
    """A plain-text table of :func:`compare_runs` output (differences A - B in percentage points)."""
    a, b = result["run_a"], result["run_b"]
    level = int(round(100 * result["level"]))
    lines = [f"A = {a['label']} ({a['path']})", f"B = {b['label']} ({b['path']})",
             f"Differences A - B in percentage points, [{level}% CI], two-sided p. acc and AP: paired bootstrap "
             f"({result['n_boot']} resamples, seed {result['seed']}); AUC: DeLong per set, paired bootstrap for the "
             f"mean; McNemar on decisions (A-only right / B-only right).", ""]
    header = ("test set", "n", "d acc", "d AP", "d AUC", "McNemar")
    table = []
    for row in [*result["per_dataset"], {"dataset": "mean", "n": "", **result["mean"]}]:
        mc = row["mcnemar"]
        table.append((str(row["dataset"]), str(row["n"]), _pp(row["acc"]), _pp(row["ap"]), _pp(row["auc"]),
                      f"{mc['a_only']}/{mc['b_only']} p={mc['p_value']:.3g}"))
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines.append(fmt.format(*header))
    lines.append(fmt.format(*("-" * w for w in widths)))
    lines += [fmt.format(*t) for t in table]
    return "\n".join(lines)
