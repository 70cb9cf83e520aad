"""Paired comparison of two runs (two detectors, or two weights/presets) scored on the same images.

:func:`compare_runs` reads two run folders (``predictions.csv`` + ``results.json``), joins their predictions by image
content (``sha256``) within each test set, and REFUSES (:class:`RunMismatchError`) when the two runs did not score the
same images or disagree on a label: a difference between runs on different images is not a comparison.

For every test set of the runs and for the unweighted mean over sets it reports the differences ``A - B`` (fractions)
of

* **acc** -- accuracy over the set's own images (a fake-only set's accuracy is its fake acc, a real-only set's its
  real acc), each run deciding with its own threshold; per set McNemar's test (exact below 25 discordant images) and
  Newcombe's interval of a paired difference of proportions (never zero-width, even on 4 images);
* **ap** -- AP over the images the set is scored on (a fake-only set's fakes pooled with its reference reals, as in
  ``results.json``); paired bootstrap, with no CI or p-value below 10 images of a class;
* **auc** -- ROC-AUC over the same images; per set DeLong's test (no p-value below 10 images of a class, or when the
  difference has zero variance);
* **mcnemar** -- McNemar's test of the decisions on the set's own images (for the mean: on all images, each once).

**Many sets, many p-values.** Each per-set p-value column (acc, ap, auc, mcnemar) also gets Holm's step-down
(family-wise error; Holm, Scand. J. Statist. 6, 1979) and Benjamini-Hochberg (false discovery rate; JRSS B 57, 1995)
adjusted p-values across the sets that have one (``statsmodels.stats.multitest.multipletests``): ``p_holm``,
``p_bh``. The per-set p-values are analytic (DeLong, McNemar) or from the bootstrap standard error, so they can be
small enough for a correction over 50 sets to reject (a tail count over 1,000 resamples cannot go below 0.002).

**The mean answers two different questions**, both reported:

* ``mean[metric]`` (``question: "images"``): how sure are we of the mean difference over THESE test sets, if new
  images were drawn from the same sources? All images of all sets are resampled JOINTLY, stratified by (test set,
  label), ``n_boot`` times; both runs and all sets see the same resamples, so a real reference shared by several
  fake-only sets stays shared; the replicates of the mean are the means of the per-set replicate differences.
* ``mean[metric]["sets"]`` (``question: "sets"``): would the difference hold on average over OTHER test sets like
  these (a population of generators)? A paired Student-t interval and t-test over the per-set differences; none with
  fewer than 5 sets. This interval is typically much wider: set-to-set spread dominates.
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

from fakebench.analysis.bootstrap import informative, resample_counts, weighted_metrics
from fakebench.analysis.intervals import MIN_SETS, TOO_FEW_SETS, set_mean_interval
from fakebench.analysis.paired import (_jackknife_se, capped_interval, delong_test, mcnemar_test, normal_p_value,
                                       paired_accuracy_ci, too_few)
from fakebench.eval.predictions import read_predictions
from fakebench.core.errors import DataError
from fakebench.eval.results import ResultsRecord, display_labels, read_results

__all__ = ["RunMismatchError", "load_run", "compare_runs", "format_comparison", "comparison_table", "COMPARE_SCHEMA",
           "adjust_p_values", "QUESTIONS"]

COMPARE_SCHEMA = "fakebench.compare/1"
#: What each CI of the mean difference answers.
QUESTIONS = {"images": "these test sets, new images from the same sources (images resampled within the fixed sets)",
             "sets": "a population of test sets like these (per-set differences resampled as sets, Student t)"}
_TESTS = ("acc", "ap", "auc", "mcnemar")
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


def _entry(a: float, b: float, reps: np.ndarray | None, level: float, *, test: str,
           n_min: int | None = None, jackknife_se: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"a": float(a), "b": float(b), "diff": float(a - b), "test": test}
    if reps is not None:
        undefined = math.isnan(a - b)
        out["ci"] = [math.nan, math.nan] if undefined else list(capped_interval(reps, a - b, level))
        out["p_value"] = math.nan if undefined else normal_p_value(a - b, reps, n_min, jackknife_se)
    return out


def adjust_p_values(p_values) -> dict[str, list[float]]:
    """Holm and Benjamini-Hochberg adjusted p-values of one family (``nan`` entries are left out and stay ``nan``).

    Args:
        p_values: ``(K,)`` raw p-values (one per test set), ``nan`` where a set has none.

    Returns:
        ``{"holm": [...], "bh": [...]}`` in the input order (``statsmodels.stats.multitest.multipletests`` with
        ``method="holm"`` / ``"fdr_bh"``).
    """
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p_values, dtype=np.float64)
    out = {"holm": np.full(p.shape, np.nan), "bh": np.full(p.shape, np.nan)}
    ok = ~np.isnan(p)
    if ok.any():
        for key, method in (("holm", "holm"), ("bh", "fdr_bh")):
            out[key][ok] = multipletests(p[ok], method=method)[1]
    return {k: [float(v) for v in vals] for k, vals in out.items()}


def _sets_entry(diffs: list[float], level: float) -> dict[str, Any]:
    """The "sets" question: paired t over per-set differences (none below :data:`MIN_SETS` sets)."""
    from scipy import stats

    interval = set_mean_interval(diffs, level=level, bounds=(-1.0, 1.0))
    out: dict[str, Any] = {"question": "sets", "covers": QUESTIONS["sets"], "k": interval["k"],
                           "ci": list(interval["ci"]), "p_value": math.nan, "note": interval["note"]}
    vals = np.asarray([d for d in diffs if not math.isnan(d)])
    if not interval["note"] and vals.size >= 2 and vals.std(ddof=1) > 0:
        out["p_value"] = float(stats.ttest_1samp(vals, 0.0).pvalue)
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
        "p_holm", "p_bh", "test"}`` (fractions; ``nan`` where undefined, with a ``note`` where suppressed for size),
        plus ``mcnemar`` (see :func:`fakebench.analysis.paired.mcnemar_test`, also with ``p_holm``/``p_bh``). The
        mean has, per metric, the "images" answer (paired bootstrap over these sets: ``ci``, ``p_value``,
        ``question``, ``covers``) and ``sets`` (the "sets" answer: ``ci``, ``p_value``, ``k``, ``note``; see the
        module docstring), plus ``n_datasets``, ``questions`` and ``mcnemar`` over all images.

    Raises:
        RunMismatchError: different test sets, images (sha256 per test set) or labels; the message names both runs
            and lists a few differing images.
        DataError: a run folder or its files are missing or unreadable.
    """
    path_a, path_b = Path(run_a), Path(run_b)
    rec_a, pred_a = load_run(path_a)
    rec_b, pred_b = load_run(path_b)
    shown = display_labels([(rec_a.label, rec_a.user_label), (rec_b.label, rec_b.user_label)])
    rows_a = {r["dataset"]: r for r in rec_a.metrics["per_dataset"]}
    rows_b = {r["dataset"]: r for r in rec_b.metrics["per_dataset"]}
    if set(rows_a) != set(rows_b):
        raise RunMismatchError(
            f"Cannot compare run A ({path_a}) with run B ({path_b}): different test sets; only in A: "
            f"{sorted(set(rows_a) - set(rows_b))}, only in B: {sorted(set(rows_b) - set(rows_a))}.")
    for which, path, rec in (("A", path_a, rec_a), ("B", path_b, rec_b)):
        if rec.threshold is None:
            raise DataError(
                f"Cannot compare run {which} ({path}): its detector is score-only (results.json has no threshold), so "
                f"it has no real/fake decisions for accuracy or McNemar. Rerun it with --calibrate-on to fit one.")
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
        own = plan["own"]
        n_real, n_fake = int((pool_y == 0).sum()), int((pool_y == 1).sum())
        row: dict[str, Any] = {"dataset": name, "generator": row_a.get("generator", name),
                               "labels": row_a.get("labels", row_a.get("kind", "mixed")), "references": refs[name],
                               "n": int(own.size), "n_real": n_real, "n_fake": n_fake}
        # accuracy: McNemar's test (exact below 25 discordant images) and Newcombe's paired interval
        mc = mcnemar_test(y[own], dec_a[own], dec_b[own])
        row["acc"] = {"a": points[name]["acc"][0], "b": points[name]["acc"][1],
                      "diff": points[name]["acc"][0] - points[name]["acc"][1],
                      "ci": list(paired_accuracy_ci(y[own], dec_a[own], dec_b[own], level=level)),
                      "p_value": mc["p_value"], "test": f"McNemar ({mc['method']})"}
        # AP: paired bootstrap, nothing below the minimum size (the bootstrap misdescribes the sampling there)
        note = too_few(n_real, n_fake)
        if note or not informative(pool_y):
            row["ap"] = _entry(*points[name]["ap"], None, level, test="paired bootstrap")
            row["ap"].update(ci=[math.nan, math.nan], p_value=math.nan, note=note)
        else:
            pool = plan["pool"]
            jk = _jackknife_se(pool_y, pa[pool], pb[pool], plan["ra"], plan["rb"], 0.5, "ap")
            row["ap"] = _entry(*points[name]["ap"], r["ap"], level, test="paired bootstrap",
                               n_min=min(n_real, n_fake), jackknife_se=jk)
        if n_real >= 2 and n_fake >= 2:
            dl = delong_test(pool_y, plan["ra"], plan["rb"], level=level)
            row["auc"] = {"a": dl["auc_a"], "b": dl["auc_b"], "diff": dl["diff"], "ci": list(dl["ci"]),
                          "p_value": dl["p_value"], "test": "DeLong", "se": dl["se"], "z": dl["z"]}
            if dl["note"]:
                row["auc"]["note"] = dl["note"]
        else:
            row["auc"] = {"a": math.nan, "b": math.nan, "diff": math.nan, "ci": [math.nan, math.nan],
                          "p_value": math.nan, "test": "DeLong"}
        row["mcnemar"] = mc
        for k in keys:
            stacked[k].append(r[k] if not math.isnan(row[k]["diff"]) else np.full(r[k].shape, np.nan))
        out_rows.append(row)

    for test in _TESTS:  # Holm and BH across the sets, per test
        adjusted = adjust_p_values([row[test]["p_value"] for row in out_rows])
        for row, holm, bh in zip(out_rows, adjusted["holm"], adjusted["bh"]):
            row[test]["p_holm"], row[test]["p_bh"] = holm, bh

    mean: dict[str, Any] = {"n_datasets": len(out_rows), "questions": dict(QUESTIONS)}
    for k in keys:
        a_vals = [row[k]["a"] for row in out_rows if not math.isnan(row[k]["diff"])]
        b_vals = [row[k]["b"] for row in out_rows if not math.isnan(row[k]["diff"])]
        if not a_vals:
            mean[k] = _entry(math.nan, math.nan, np.full(n_boot, np.nan), level, test="paired bootstrap")
        else:
            with warnings.catch_warnings():  # an all-nan column (undefined in every set) gives nan, as intended
                warnings.simplefilter("ignore", RuntimeWarning)
                mean_reps = np.nanmean(np.vstack(stacked[k]), axis=0)
            mean[k] = _entry(float(np.mean(a_vals)), float(np.mean(b_vals)), mean_reps, level,
                             test="paired bootstrap")
        mean[k].update(question="images", covers=QUESTIONS["images"])
        mean[k]["sets"] = _sets_entry([row[k]["diff"] for row in out_rows], level)
    mean["mcnemar"] = mcnemar_test(y, dec_a, dec_b)
    return {"schema": COMPARE_SCHEMA,
            "run_a": {"label": shown[0], "name": rec_a.label, "path": str(path_a)},
            "run_b": {"label": shown[1], "name": rec_b.label, "path": str(path_b)},
            "n_boot": int(n_boot), "seed": int(seed), "level": float(level), "thresholds": [thr_a, thr_b],
            "per_dataset": out_rows, "mean": mean}


def _p(value: Any) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3g}"


def _pp(entry: dict[str, Any]) -> str:
    """``+2.31 [+0.50, +4.10]`` in percentage points (``n/a`` parts where undefined)."""
    d = entry["diff"]
    if math.isnan(d):
        return "n/a"
    lo, hi = entry.get("ci", [math.nan, math.nan])
    ci = "[n/a]" if math.isnan(lo) else f"[{100 * lo:+.2f}, {100 * hi:+.2f}]"
    return f"{100 * d:+.2f} {ci}"


def comparison_table(result: dict[str, Any]) -> pd.DataFrame:
    """Long table of a :func:`compare_runs` result: one row per (test set or mean, test).

    Columns: ``dataset`` (a test set, ``mean (images)`` or ``mean (sets)``), ``test`` (``acc``, ``ap``, ``auc``,
    ``mcnemar``), ``method`` (the test used), ``n``, ``a``, ``b``, ``diff``, ``ci_lo``, ``ci_hi`` (fractions; the
    difference A - B and its CI), ``p_value`` (raw, two-sided), ``p_holm``, ``p_bh`` (adjusted across the test sets,
    per test; ``nan`` on the mean rows), ``note`` (why something is n/a; on mean rows, what the interval covers).
    ``nan`` where undefined. For the report's headline: ``comparison_table(compare_runs(a, b))``.
    """
    rows = []
    for row in result["per_dataset"]:
        for test in _TESTS:
            e = row[test]
            if test == "mcnemar":
                rows.append({"dataset": row["dataset"], "test": test, "method": f"McNemar ({e['method']})",
                             "n": row["n"], "a": math.nan, "b": math.nan,
                             "diff": (e["a_only"] - e["b_only"]) / row["n"] if row["n"] else math.nan,
                             "ci_lo": math.nan, "ci_hi": math.nan, "p_value": e["p_value"],
                             "p_holm": e.get("p_holm", math.nan), "p_bh": e.get("p_bh", math.nan),
                             "note": f"A-only right {e['a_only']}, B-only right {e['b_only']}"})
                continue
            rows.append({"dataset": row["dataset"], "test": test, "method": e.get("test", ""), "n": row["n"],
                         "a": e["a"], "b": e["b"], "diff": e["diff"], "ci_lo": e["ci"][0], "ci_hi": e["ci"][1],
                         "p_value": e["p_value"], "p_holm": e.get("p_holm", math.nan),
                         "p_bh": e.get("p_bh", math.nan), "note": e.get("note", "")})
    mean = result["mean"]
    for test in ("acc", "ap", "auc"):
        e = mean[test]
        base = {"test": test, "n": mean["n_datasets"], "a": e["a"], "b": e["b"], "diff": e["diff"],
                "p_holm": math.nan, "p_bh": math.nan}
        rows.append({**base, "dataset": "mean (images)", "method": e.get("test", ""), "ci_lo": e["ci"][0],
                     "ci_hi": e["ci"][1], "p_value": e["p_value"], "note": QUESTIONS["images"]})
        sets = e["sets"]
        rows.append({**base, "dataset": "mean (sets)", "method": "paired t over sets", "ci_lo": sets["ci"][0],
                     "ci_hi": sets["ci"][1], "p_value": sets["p_value"],
                     "note": sets["note"] or QUESTIONS["sets"]})
    return pd.DataFrame(rows)


def format_comparison(result: dict[str, Any]) -> str:
    """A plain-text table of :func:`compare_runs` output (differences A - B in percentage points), with Holm and
    Benjamini-Hochberg adjusted p-values across the test sets and both answers for the mean."""
    a, b = result["run_a"], result["run_b"]
    level = int(round(100 * result["level"]))
    lines = [f"A = {a['label']} ({a['path']})", f"B = {b['label']} ({b['path']})",
             f"Differences A - B in percentage points with [{level}% CI]; p = raw two-sided p-value, Holm = Holm "
             f"(family-wise) and BH = Benjamini-Hochberg (false discovery rate) adjusted across the "
             f"{len(result['per_dataset'])} test sets, per test. acc: McNemar's test (exact below 25 discordant "
             f"images) with Newcombe's paired CI; AP: paired bootstrap ({result['n_boot']} resamples, seed "
             f"{result['seed']}); AUC: DeLong. No p-value for AP/AUC below 10 images of a class (the tests are not "
             f"valid that small) or for a zero-variance DeLong difference.", ""]
    header = ("test set", "n", "d acc", "p", "Holm", "BH", "d AP", "p", "Holm", "BH", "d AUC", "p", "Holm", "BH",
              "McNemar A/B-only")
    table = []
    for row in result["per_dataset"]:
        cells = [str(row["dataset"]), str(row["n"])]
        for k in ("acc", "ap", "auc"):
            e = row[k]
            cells += [_pp(e), _p(e["p_value"]), _p(e.get("p_holm")), _p(e.get("p_bh"))]
        mc = row["mcnemar"]
        cells.append(f"{mc['a_only']}/{mc['b_only']}")
        table.append(tuple(cells))
    mean = result["mean"]
    for question, label in (("images", "mean (images)"), ("sets", "mean (sets)")):
        cells = [label, str(mean["n_datasets"])]
        for k in ("acc", "ap", "auc"):
            e = mean[k] if question == "images" else {**mean[k]["sets"], "diff": mean[k]["diff"]}
            cells += [_pp(e), _p(e["p_value"]), "", ""]
        cells.append(f"{mean['mcnemar']['a_only']}/{mean['mcnemar']['b_only']}" if question == "images" else "")
        table.append(tuple(cells))
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines.append(fmt.format(*header))
    lines.append(fmt.format(*("-" * w for w in widths)))
    lines += [fmt.format(*t) for t in table]
    lines += ["", f"mean (images): {QUESTIONS['images']}.", f"mean (sets): {QUESTIONS['sets']}; "
              f"{TOO_FEW_SETS} below {MIN_SETS} sets."]
    notes = sorted({f"{row['dataset']}: {row[k]['note']}" for row in result["per_dataset"] for k in ("ap", "auc")
                    if row[k].get("note")})
    if notes:
        lines += ["Not tested:"] + [f"  {n}" for n in notes]
    return "\n".join(lines)
