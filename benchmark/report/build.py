"""``write_report``: one self-contained ``report.html`` (plus every figure as PNG and SVG) from run folders.

Sections (their HTML ids): ``headline`` (which detector is ahead on mean accuracy, by how much, with the paired CI
and Holm-adjusted per-set p-values of ``fakebench compare``; what is not significant), ``summary``, ``leaderboard`` (means and per-set tables with n, and confidence intervals
when ``results.json`` has them), ``heatmaps`` (accuracy and AP, test set x detector), ``curves`` (ROC, precision-recall
and DET, pooled and per set, with the 0.5-threshold, EER and calibrated operating points), ``histograms`` (fake
probability of real vs fake images per set), ``calibration`` (reliability diagrams, ECE), ``robustness`` (metric vs
severity from ``robustness.json``), ``bias-audit`` (from ``bias_audit.json``), ``gallery`` (most confident errors
with thumbnails and, with ``gradcam=True``, Grad-CAM overlays beside them; see :mod:`fakebench.report.gradcam`) and
``provenance`` (versions, commit, weights sha256, preset, manifest digests, date).
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from fakebench import __version__
from fakebench.core.files import atomic_write_text
from fakebench.core.provenance import now_iso
from fakebench.eval.scoring import METRIC_KEYS
from fakebench.report.curves import confident_errors, curve_data, finite, reliability_data
from fakebench.report.data import ReportInputs, RunData, calibrated_threshold, collect_inputs, run_label
from fakebench.report.html import esc, figure, page, pct, pct_ci, table

__all__ = ["write_report", "build_report", "thumbnail"]

#: Fewest real and fake images (each) a test set needs for its own small-multiple panel (curves, histograms).
MIN_PANEL_PER_CLASS = 5

#: Accuracy cell of a score-only detector (see ``Detector.natural_threshold``).
_NO_THRESHOLD = "n/a: no threshold"


def _score_only(results: dict[str, Any]) -> bool:
    """Whether a results.json comes from a score-only detector (``"threshold": null``)."""
    return "threshold" in results and results["threshold"] is None


def _cell(results: dict[str, Any], row: dict[str, Any], key: str) -> str:
    """``pct_ci`` of a metric, or :data:`_NO_THRESHOLD` for an accuracy of a score-only run."""
    if key in ("acc", "real_acc", "fake_acc") and _score_only(results):
        return _NO_THRESHOLD
    return pct_ci(row, key)


_NAMES = {"acc": "accuracy", "real_acc": "real acc", "fake_acc": "fake acc", "ap": "AP", "auc": "ROC-AUC"}
_SECTIONS = (("headline", "Who is ahead"), ("summary", "Summary"), ("leaderboard", "Leaderboard"), ("heatmaps", "Heatmaps"),
             ("curves", "ROC, precision-recall and DET curves"), ("histograms", "Score histograms"),
             ("calibration", "Calibration"), ("robustness", "Robustness"), ("bias-audit", "Bias audit"),
             ("gallery", "Most confident errors"), ("provenance", "Provenance"))


def _clean(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None, numpy scalars -> Python, private ``_`` keys dropped."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _slug(text: str) -> str:
    out = "".join(c if c.isalnum() else "-" for c in text.lower())
    return "-".join(p for p in out.split("-") if p)[:60] or "x"


def thumbnail(path: str | os.PathLike, *, crop_box: Sequence[int] | None = None, max_side: int = 128,
              quality: int = 80) -> tuple[bytes, tuple[int, int]] | None:
    """A JPEG thumbnail of an image as the detector saw it (after the manifest crop, if any).

    Args:
        path: image file, or a parquet member id (:mod:`fakebench.data.items`).
        crop_box: ``(left, top, right, bottom)`` applied first, as the data loader does.
        max_side: longest side in pixels (aspect ratio kept; never upscaled).
        quality: JPEG quality (1-95).

    Returns:
        ``(jpeg bytes, (width, height))``, or ``None`` when the file cannot be read.
    """
    from PIL import Image, UnidentifiedImageError

    from fakebench.data.items import open_binary

    try:
        with open_binary(str(path)) as handle, Image.open(handle) as img:  # a file or a parquet row
            img = img.convert("RGB")
            if crop_box:
                img = img.crop(tuple(crop_box))
            img.thumbnail((max_side, max_side))
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=quality, optimize=True)
            return buf.getvalue(), img.size
    except (OSError, UnidentifiedImageError, ValueError):
        return None


class _Report:
    def __init__(self, inputs: ReportInputs, output: Path, *, title: str | None, max_gallery: int, max_sets: int,
                 thumb_px: int, dpi: int, gradcam: bool = False, n_boot: int = 1000) -> None:
        from fakebench.report.figures import FigureWriter

        self.inputs = inputs
        self.runs = inputs.runs
        self.output = output
        self.title = title or ("fakebench report: " + ", ".join(r.label for r in self.runs))
        self.max_gallery = max_gallery
        self.max_sets = max_sets
        self.thumb_px = thumb_px
        self.writer = FigureWriter(output / "figures", dpi=dpi)
        self.labels = [r.label for r in self.runs]
        self.set_names = list(dict.fromkeys(s.name for r in self.runs for s in r.sets))
        self.data: dict[str, Any] = {"schema": "fakebench.report/1", "fakebench": __version__, "runs": []}
        self.thumb_cache: dict[tuple[str, Any], Any] = {}
        self.gradcam = gradcam
        self.n_boot = n_boot
        self.cam_detectors: dict[str, tuple[Any, str]] = {}  # run label -> (detector or None, note)
        self.cam_cache: dict[tuple[str, str, Any], tuple[Any, str]] = {}

    # ------------------------------------------------------------------ helpers
    def _figure(self, fig: Any, name: str, *, caption: str, alt: str) -> str:
        png = self.writer.save(fig, name)
        return figure(png, fig_id=f"fig-{name}", caption=caption, alt=alt,
                      files=f"figures/{name}.png, figures/{name}.svg")

    def _set(self, run: RunData, name: str):
        return next((s for s in run.sets if s.name == name), None)

    # ------------------------------------------------------------------ numbers
    def compute(self) -> None:
        self.curves: dict[str, dict[str, dict[str, Any]]] = {}
        self.pooled: dict[str, dict[str, Any]] = {}
        self.reliab: dict[str, dict[str, Any]] = {}
        self.galleries: dict[str, dict[str, Any]] = {}
        for run in self.runs:
            cal = calibrated_threshold(run.results)
            score_only = "threshold" in run.results and run.results["threshold"] is None
            threshold = cal if score_only else float(run.results.get("threshold", 0.5) or 0.5)
            entry: dict[str, Any] = {"label": run.label, "source": str(run.results_path),
                                     "threshold": None if score_only else threshold, "calibrated_threshold": cal,
                                     "score_only": score_only, "sets": {}}
            continuous = bool((run.results.get("detector") or {}).get("continuous_scores", True))
            entry["continuous_scores"] = continuous
            for s in run.sets:
                item: dict[str, Any] = {"generator": s.generator, "kind": s.kind, "n": len(s.own),
                                        "reported": {k: s.row.get(k) for k in METRIC_KEYS}}
                if s.two_classes and continuous:
                    data = curve_data(s.y, s.prob, s.score, score_is_logit=s.score_is_logit, calibrated=cal,
                                      natural_threshold=not score_only)
                    self.curves.setdefault(s.name, {})[run.label] = data
                    item["curves"] = {k: data[k] for k in ("auc", "score", "roc", "pr", "points", "operating",
                                                           "n_real", "n_fake")}
                # a score-only run has errors only at a calibrated threshold
                gallery = (confident_errors(s.own, n=self.max_gallery, threshold=threshold) if threshold is not None
                           else {"real": [], "fake": []})
                self.galleries.setdefault(s.name, {})[run.label] = gallery
                item["gallery"] = gallery
                entry["sets"][s.name] = item
            pred = run.predictions
            y = pred["label"].to_numpy(np.int64)
            prob = pred["prob"].to_numpy(np.float64)
            logit = pred["logit"].to_numpy(np.float64) if "logit" in pred else None
            use_logit = logit is not None and not np.isnan(logit).any()
            if continuous and y.size and 0 < y.sum() < y.size:
                self.pooled[run.label] = curve_data(y, prob, logit if use_logit else prob, score_is_logit=use_logit,
                                                    calibrated=cal, natural_threshold=not score_only)
                entry["pooled"] = {k: self.pooled[run.label][k] for k in ("auc", "roc", "pr", "points", "operating")}
            if y.size and not score_only:  # a score is no probability: no reliability diagram
                self.reliab[run.label] = reliability_data(y, prob)
                entry["reliability"] = self.reliab[run.label]
            self.data["runs"].append(entry)
        self.data["robustness"] = [{"source": d["_path"], "detector": d.get("detector"), "rows": d.get("rows", [])}
                                   for d in self.inputs.robustness]
        self.data["bias_audit"] = [{"source": d["_path"], "sets": d.get("sets", [])} for d in self.inputs.bias_audits]

    # ------------------------------------------------------------------ sections
    def summary(self) -> str:
        parts = [f"<p>{len(self.runs)} run(s), {len(self.set_names)} test set(s). Percent throughout; accuracy is "
                 f"at fake probability &gt; the run's threshold (0.5 unless stated). Means are unweighted over test "
                 f"sets. n = images scored.</p>"]
        for run in self.runs:
            data = run.results.get("data") or {}
            notes = []
            if data.get("limit_per_label"):
                notes.append(f"smoke run: at most {data['limit_per_label']} images per label per test set, not a "
                             f"benchmark result")
            if "threshold" in run.results and run.results["threshold"] is None:
                cal = calibrated_threshold(run.results)
                notes.append("score-only detector (no natural threshold): accuracies are n/a: no threshold; AP, AUC "
                             "and EER come from its score" + (f"; calibrated threshold {cal:.4g} (score units) in "
                                                              f"results.json 'calibration'" if cal is not None else
                                                              "; fit a threshold with --calibrate-on for accuracies"))
            notes += [str(w) for w in run.results.get("warnings") or []]
            if run.results.get("unreadable"):
                notes.append(f"{len(run.results['unreadable'])} unreadable image(s) left out")
            if notes:
                items = "".join(f"<li>{esc(n)}</li>" for n in notes)
                parts.append(f'<p class="warn">{esc(run.label)}:</p><ul>{items}</ul>')
        return "".join(parts)

    def headline(self) -> str:
        """Which detector is ahead on mean accuracy, by how much, with the paired CI and p-values of ``compare``
        (per-set p-values adjusted across sets), over how many sets and images; and what is not significant."""
        ranked = sorted((r for r in self.runs if not _score_only(r.results)), key=lambda r: -_mean_acc(r))
        if not ranked:
            return ('<div class="headline"><p class="lead">No run has real/fake decisions (score-only detectors '
                    'without a calibrated threshold): no accuracy to rank by; see the AP and AUC columns.</p></div>')
        board = "; ".join(f"{i}. {esc(r.label)} {pct(_mean_acc(r))}" for i, r in enumerate(ranked, 1))
        if len(ranked) < 2:
            r = ranked[0]
            n = sum(len(s.own) for s in r.sets)
            return (f'<div class="headline"><p class="lead">One run: {esc(r.label)}, mean accuracy '
                    f'{pct(_mean_acc(r))}% over {len(r.sets)} test set(s), {n} images.</p><p class="note">Add a '
                    f'second run on the same test sets to see which detector is ahead.</p></div>')
        lead, second = ranked[0], ranked[1]
        from fakebench.analysis.compare import compare_runs
        from fakebench.core.errors import DataError

        try:
            result = compare_runs(lead.run_dir, second.run_dir, n_boot=self.n_boot, seed=0)
        except DataError as exc:
            return (f'<div class="headline"><p class="lead">{esc(lead.label)} has the highest mean accuracy '
                    f'({pct(_mean_acc(lead))}%), ahead of {esc(second.label)} ({pct(_mean_acc(second))}%).</p>'
                    f'<p class="warn">No paired comparison: {esc(str(exc).splitlines()[0])}</p>'
                    f'<p class="note">Ranking by mean accuracy (percent): {board}.</p></div>')
        self.data["headline"] = _clean(result)
        return _headline_html(result, lead.label, second.label, board)

    def leaderboard(self) -> str:
        rows = []
        for run in self.runs:
            m = run.results["metrics"]
            n = sum(int(r.get("n") or 0) for r in m["per_dataset"])
            n_real = sum(int(r.get("n_real") or 0) for r in m["per_dataset"])
            mean = m.get("mean") or {}
            split = [pct_ci(m.get(key) or {}, "acc") + f" ({(m.get(key) or {}).get('n_datasets', 0)} sets)"
                     for key in ("held_in_mean", "held_out_mean")]
            if _score_only(run.results):
                split = [_NO_THRESHOLD] * 2
            rows.append([run.label, mean.get("n_datasets", len(m["per_dataset"])), f"{n} ({n_real} / {n - n_real})",
                         *(_cell(run.results, mean, k) for k in METRIC_KEYS), *split])
        out = [table(["detector", "sets", "n images (real / fake)", *(f"mean {_NAMES[k]}" for k in METRIC_KEYS),
                      "held-in mean acc", "held-out mean acc"], rows,
                     caption="Means over test sets (percent; [lo, hi] = 95% confidence interval where results.json "
                             "has one: it covers the mean over a population of test sets like these, Student t over "
                             "sets, and is not given below 5 sets: too few sets for an interval)", cls="leaderboard")]
        for run in self.runs:
            body = []
            for r in run.results["metrics"]["per_dataset"]:
                data = self.curves.get(r["dataset"], {}).get(run.label)
                eer = pct(data["operating"]["eer"]) if data else "n/a"
                eer_ci = (r.get("operating_ci") or {}).get("eer")  # percentile bootstrap, results.json
                if eer != "n/a" and isinstance(eer_ci, list) and len(eer_ci) == 2 and all(finite(v) for v in eer_ci):
                    eer += f" [{pct(eer_ci[0])}, {pct(eer_ci[1])}]"
                paper = (r.get("published") or {}).get("acc")
                body.append([r["dataset"], r.get("generator", ""), "yes" if r.get("held_in") else "no",
                             f"{r.get('n', '')} ({r.get('n_real', '')} / {r.get('n_fake', '')})",
                             *(_cell(run.results, r, k) for k in METRIC_KEYS), eer,
                             f"{paper:.2f}" if finite(paper) else ""])
            tab = table(["test set", "generator", "held-in", "n (real / fake)", *(_NAMES[k] for k in METRIC_KEYS),
                         "EER", "paper acc"], body,
                        caption=f"{run.label}: per test set ({len(body)} sets; percent; [lo, hi] = 95% confidence "
                                f"interval for new images from the same sources)", numeric_from=3,
                        cls="per-set")
            is_open = "open" if len(self.runs) * len(body) <= 30 else ""
            out.append(f"<details {is_open}><summary>{esc(run.label)}: per test set "
                       f"</summary>{tab}</details>")
        return "".join(out)

    def heatmaps(self) -> str:
        from fakebench.report.figures import heatmap

        out = []
        counts = np.zeros((len(self.set_names), len(self.runs)), dtype=np.int64)
        for j, run in enumerate(self.runs):
            for i, set_name in enumerate(self.set_names):
                s = self._set(run, set_name)
                counts[i, j] = len(s.own) if s is not None else 0
        for key, name in (("acc", "Accuracy"), ("ap", "AP")):
            values = np.full((len(self.set_names), len(self.runs)), np.nan)
            for j, run in enumerate(self.runs):
                for i, set_name in enumerate(self.set_names):
                    s = self._set(run, set_name)
                    if s is not None and finite(s.row.get(key)):
                        values[i, j] = 100 * s.row[key]
            fig = heatmap(values, self.set_names, self.labels, metric=name, counts=counts)
            out.append(f"<h3>{esc(name)} per test set and detector</h3>")
            out.append(self._figure(
                fig, f"heatmap-{key}",
                caption=f"{name} (%) of each detector (column, named above and below the grid) on each test set "
                        f"(row), as reported in results.json, with the number of images scored (n) in each cell; "
                        f"darker = lower. Grey 'n/a' cells: the detector was not run on that set or the metric is "
                        f"undefined (e.g. AP on a single-label set).",
                alt=f"Heatmap of {name.lower()} per test set and detector"))
        return "".join(out)

    def _drawable(self, names: Sequence[str]) -> tuple[list[str], list[str]]:
        """Split test sets into those with enough images for a small-multiple panel and those without.

        A panel needs at least :data:`MIN_PANEL_PER_CLASS` real and as many fake images (pooled with the set's real
        reference, as its AP/AUC are); with fewer, its curve is a couple of steps and its histogram a couple of bars.
        """
        keep, few = [], []
        for name in names:
            data = list(self.curves.get(name, {}).values())
            n_real = max((int(d.get("n_real") or 0) for d in data), default=0)
            n_fake = max((int(d.get("n_fake") or 0) for d in data), default=0)
            (keep if min(n_real, n_fake) >= MIN_PANEL_PER_CLASS else few).append(name)
        return keep, few

    @staticmethod
    def _too_few(few: Sequence[str], what: str) -> str:
        if not few:
            return ""
        return (f'<p class="too-few">Not drawn ({what}): {len(few)} test set(s) with fewer than '
                f'{MIN_PANEL_PER_CLASS} real or {MIN_PANEL_PER_CLASS} fake images, too few images for a panel: '
                f'{esc(", ".join(few))}. Their numbers are in the tables.</p>')

    def curves_section(self) -> str:
        from fakebench.report.figures import curves_grid, pooled_curves

        out = []
        points = "filled circle = decision at fake probability 0.5, X = equal error rate (EER)"
        if any(r["calibrated_threshold"] is not None for r in self.data["runs"]):
            points += ", square = calibrated threshold from results.json"
        if self.pooled:
            out.append("<h3>All test sets pooled</h3>")
            out.append(self._figure(
                pooled_curves(self.pooled), "curves-pooled",
                caption=f"ROC, precision-recall and DET curves of each detector over all its scored images pooled "
                        f"across test sets (fake = positive class). Markers: {points}. DET axes are on a probit "
                        f"scale.", alt="Pooled ROC, precision-recall and DET curves per detector"))
        hard = [r["label"] for r in self.data["runs"] if not r["continuous_scores"]]
        if hard:
            out.append(f'<p class="note">No curves for {esc(", ".join(hard))}: its scores are hard real/fake '
                       f'decisions, so a curve would be a single operating point (AP and AUC are n/a too).</p>')
        sets = [n for n in self.set_names if n in self.curves]
        if not sets:
            return "".join(out) + "<p class=\"note\">No test set has both real and fake images: no curves.</p>"
        sets, few = self._drawable(sets)
        out.append(self._too_few(few, "per-set curves"))
        if not sets:
            return "".join(out)
        shown = sets[: self.max_sets]
        more = f" Only the first {len(shown)} of {len(sets)} sets are drawn." if len(sets) > len(shown) else ""
        for kind, name in (("roc", "ROC"), ("pr", "Precision-recall"), ("det", "DET")):
            out.append(f"<h3>{name} curves per test set</h3>")
            out.append(self._figure(
                curves_grid(kind, shown, self.curves, self.labels), f"curves-{kind}-per-set",
                caption=f"{name} curves per test set (one panel per set, one line per detector; fake = positive "
                        f"class; curves of single-label fake sets pool their reference real images, as AP and "
                        f"AUC do). Markers: {points}.{more}",
                alt=f"{name} curves, one panel per test set"))
        return "".join(out)

    def histograms(self) -> str:
        from fakebench.report.figures import histograms

        out = []
        for run in self.runs:
            if _score_only(run.results):
                out.append(f'<p class="note">No histogram for {esc(run.label)}: its output is a score, not a fake '
                           f'probability on [0, 1] (score-only detector); see its ROC curves.</p>')
                continue
            scored = [s for s in run.sets if len(s.own)]
            enough = [s for s in scored
                      if min(int((s.own["label"] == 0).sum()), int((s.own["label"] == 1).sum())) >= MIN_PANEL_PER_CLASS
                      or (s.kind != "mixed" and len(s.own) >= MIN_PANEL_PER_CLASS)]
            few = [s.name for s in scored if s not in enough]
            sets = enough[: self.max_sets]
            out.append(f"<h3>{esc(run.label)}</h3>")
            out.append(self._too_few(few, "histograms"))
            if not sets:
                continue
            own = {s.name: (s.own["label"].to_numpy(np.int64), s.own["prob"].to_numpy(np.float64)) for s in sets}
            more = (f" Only the first {len(sets)} of {len(enough)} sets are drawn."
                    if len(enough) > len(sets) else "")
            out.append(self._figure(
                histograms([s.name for s in sets], own), f"histograms-{_slug(run.label)}",
                caption=f"{run.label}: histograms of the fake probability of the real (blue, filled) and "
                        f"fake (orange, dashed outline) images of each test set, 20 bins on [0, 1]; the black "
                        f"dashed line is the decision threshold 0.5. Well separated humps = a good detector.{more}",
                alt=f"Score histograms of real and fake images per test set for {run.label}"))
        return "".join(out)

    def calibration(self) -> str:
        from fakebench.report.figures import reliability

        if not self.reliab:
            return '<p class="note">No scored images.</p>'
        rows = [[label, pct(d["ece"]), pct(d.get("ece_if_calibrated")), sum(b["count"] for b in d["bins"])]
                for label, d in self.reliab.items()]
        return self._figure(
            reliability(self.reliab), "reliability",
            caption="Reliability diagrams: images of all test sets pooled, 15 equal-width bins of fake probability; "
                    "each point is a bin's mean fake probability (x) against the fraction of fake images in it (y). "
                    "Points on the dotted diagonal = calibrated probabilities; ECE = expected calibration error "
                    "(count-weighted mean |y - x|). Calibration also depends on the real/fake mix of the sets.",
            alt="Reliability diagram per detector") + table(
            ["detector", "ECE (%)", "ECE if calibrated (%)", "n images"], rows,
            caption="Expected calibration error (15 bins, pooled); beside it the ECE a perfectly calibrated detector "
                    "would show with the same probabilities at this n (binning noise): only an ECE above it is "
                    "evidence of miscalibration")

    def robustness(self) -> str:
        from fakebench.report.figures import robustness

        if not self.inputs.robustness:
            return ('<p class="note">No robustness.json was given or found in or beside the run folders, so there '
                    'are no metric vs severity curves.</p>')
        out = []
        for i, doc in enumerate(self.inputs.robustness):
            det = doc.get("detector") or {}
            preset = det.get("preset")
            preset = preset.get("name") if isinstance(preset, dict) else preset
            who = (det.get("label") or run_label({"detector": {**det, "preset": {"name": preset}}}) if det.get("name")
                   else f"robustness run {i + 1}")
            if not doc.get("rows"):
                out.append(f'<p class="note">{esc(doc["_path"])} has no rows.</p>')
                continue
            out.append(self._figure(
                robustness(doc), f"robustness-{i + 1}",
                caption=f"{who}: accuracy and ROC-AUC (%) against perturbation severity (x axis in the "
                        f"perturbation's own units), one thin line per test set, the unweighted mean over sets in "
                        f"bold and, when the sweep has one, the unperturbed mean as a dotted line (from "
                        f"{doc['_path']}). Perturbations: {', '.join(map(str, doc.get('perturbations', [])))}.",
                alt=f"Robustness curves for {who}"))
            areas = doc.get("area") or []
            if areas:
                out.append(table(["perturbation", "test set", "metric", "area"],
                                 [[a.get("perturbation"), a.get("dataset"), a.get("metric"), f"{a.get('area'):.4f}"
                                   if finite(a.get("area")) else "n/a"] for a in areas],
                                 caption=f"{who}: area under the metric-severity curve (from robustness.json)",
                                 numeric_from=3))
        return "".join(out)

    def bias(self) -> str:
        from fakebench.report.figures import bias_audit

        if not self.inputs.bias_audits:
            return '<p class="note">No bias_audit.json was given or found beside the runs.</p>'
        out = []
        for i, doc in enumerate(self.inputs.bias_audits):
            sets = [s for s in doc.get("sets", []) if isinstance(s, dict)]
            if not sets:
                continue
            flagged = [s.get("dataset") for s in sets if s.get("flagged")]
            out.append(self._figure(
                bias_audit(sets), f"bias-audit-{i + 1}",
                caption="Shortcut ROC-AUC of a classifier that sees only file-level features (format, size, "
                        "compression), not image content, with its confidence interval; 0.5 (dashed) = the features "
                        "do not tell real from fake. Hatched orange bars are flagged sets, where a detector can score "
                        "well by reading the file format instead of the image.",
                alt="Bar chart of shortcut ROC-AUC per test set"))
            def auc_ci(auc: Any, ci: Any) -> str:
                text = f"{auc:.3f}" if finite(auc) else "n/a"
                if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(finite(c) for c in ci):
                    text += f" [{ci[0]:.3f}, {ci[1]:.3f}]"
                return text

            rows = []
            for s in sets:
                fmts = s.get("formats") or {}
                fmt_text = "; ".join(f"{k}: " + ", ".join(f"{f} {n}" for f, n in (v or {}).items())
                                     for k, v in fmts.items())
                flag = "FLAGGED" if s.get("flagged") else "ok"
                if s.get("flagged_container"):
                    flag += " (container too)"
                rows.append([s.get("dataset"), s.get("n_real"), s.get("n_fake"),
                             auc_ci(s.get("shortcut_auc"), s.get("shortcut_auc_ci")),
                             auc_ci(s.get("shortcut_auc_container"), s.get("shortcut_auc_container_ci")), flag,
                             "; ".join(map(str, s.get("top_features", []))), fmt_text, s.get("reason") or ""])
            out.append(table(["test set", "n real", "n fake", "shortcut AUC [CI]", "container-only AUC [CI]", "flag",
                              "top features", "formats", "note"], rows,
                             caption=f"Bias audit ({doc['_path']}); flagged: {', '.join(map(str, flagged)) or 'none'}",
                             numeric_from=1, cls="bias"))
            if doc.get("rule"):
                out.append(f'<p class="note">Rule: {esc(doc["rule"])}. {esc(doc.get("model", ""))}</p>')
        return "".join(out) or '<p class="note">The bias audit lists no test set.</p>'

    def _thumb(self, image: str, crop: Any) -> str:
        key = (image, tuple(crop) if crop else None)
        if key not in self.thumb_cache:
            self.thumb_cache[key] = thumbnail(image, crop_box=crop, max_side=self.thumb_px)
        got = self.thumb_cache[key]
        if got is None:
            return '<span class="note">(image not readable here)</span>'
        data, (w, h) = got
        return (f'<img src="data:image/jpeg;base64,{base64.b64encode(data).decode("ascii")}" width="{w}" '
                f'height="{h}" loading="lazy" alt="{esc(Path(image).name)}">')

    def _cam_detector(self, run: RunData) -> tuple[Any, str]:
        if run.label not in self.cam_detectors:
            from fakebench.report.gradcam import reload_detector

            self.cam_detectors[run.label] = reload_detector(run.results)
        return self.cam_detectors[run.label]

    def _cam(self, run: RunData, image: str, crop: Any) -> str:
        """The Grad-CAM overlay ``<img>`` of one gallery image ('' when the run has no Grad-CAM)."""
        from fakebench.report.gradcam import overlay_thumbnail

        detector, _ = self._cam_detector(run)
        if detector is None:
            return ""
        key = (run.label, image, tuple(crop) if crop else None)
        if key not in self.cam_cache:
            self.cam_cache[key] = overlay_thumbnail(detector, image, crop_box=crop, max_side=self.thumb_px)
        got, why = self.cam_cache[key]
        if got is None:
            return f'<span class="note">(no Grad-CAM: {esc(why)})</span>'
        data, (w, h) = got
        return (f'<img src="data:image/jpeg;base64,{base64.b64encode(data).decode("ascii")}" class="gradcam" '
                f'width="{w}" height="{h}" loading="lazy" alt="Grad-CAM of the fake logit on {esc(Path(image).name)}">')

    def _gradcam_notes(self) -> str:
        shown, missing = [], []
        for run in self.runs:
            detector, note = self._cam_detector(run)
            if detector is not None:
                shown.append(run.label)
            else:
                missing.append(f"<li>{esc(run.label)}: no Grad-CAM, plain thumbnails only: {esc(note)}.</li>")
            entry = next(e for e in self.data["runs"] if e["label"] == run.label)
            entry["gradcam"] = {"shown": detector is not None, "note": note}
        out = ""
        if shown:
            out += (f'<p class="note">Right of each thumbnail of {esc(", ".join(shown))}: Grad-CAM (Selvaraju et al., '
                    f'ICCV 2017) of the fake logit, blended over the image as the detector saw it (after the preset\'s '
                    f'resize/crop; dashed frame); red = regions that raised the fake logit most, blue = none. The '
                    f'detector was reloaded from the weights recorded in results.json (same sha256).</p>')
        if missing:
            out += f'<ul class="note">{"".join(missing)}</ul>'
        return out

    def gallery(self) -> str:
        out = [f'<p class="note">One gallery, most confident errors first: per test set and detector, up to '
               f'{self.max_gallery} real images called fake with the highest fake probability (blue frame) and up to '
               f'{self.max_gallery} fake images called real with the lowest (orange frame), ranked by logit when '
               f'available; then all of them sorted by how far their score is from the threshold. Thumbnails at '
               f'most {self.thumb_px} px, after the manifest crop. Filter by test set, detector or class below.</p>']
        if self.gradcam:
            out.append(self._gradcam_notes())
        items = []
        for name in self.set_names:
            per_run = self.galleries.get(name, {})
            for run in self.runs:
                if run.label not in per_run:
                    continue
                s = self._set(run, name)
                threshold = float(run.results.get("threshold", 0.5) or 0.5)
                for cls in ("real", "fake"):
                    for it in per_run[run.label][cls]:
                        items.append((_error_margin(it, threshold), len(items), name, run, s, cls, it))
        if not items:
            return "".join(out) + '<p class="note">No errors to show.</p>'
        items.sort(key=lambda t: (-t[0], t[1]))

        def options(values: Sequence[str]) -> str:
            return "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in values)

        out.append(
            '<form class="filter" id="gallery-filter" aria-label="Filter the gallery" onsubmit="return false">'
            f'<label>Test set <select data-key="set"><option value="">all ({len(self.set_names)})</option>'
            f'{options(self.set_names)}</select></label>'
            f'<label>Detector <select data-key="run"><option value="">all ({len(self.runs)})</option>'
            f'{options(self.labels)}</select></label>'
            '<label>Class <select data-key="class"><option value="">both</option>'
            '<option value="real">real called fake</option><option value="fake">fake called real</option>'
            '</select></label><output id="gallery-count"></output></form>')
        figs = []
        for _, _, name, run, s, cls, it in items:
            crop = s.crop_box if s else None
            cam = self._cam(run, it["image"], crop) if self.gradcam else ""
            what = "real called fake" if cls == "real" else "fake called real"
            figs.append(
                f'<li><figure class="thumb {cls}{" with-cam" if cam else ""}" data-set="{esc(name)}" '
                f'data-run="{esc(run.label)}" data-class="{cls}" data-image="{esc(it["image"])}" '
                f'data-prob="{it["prob"]:.6g}">{self._thumb(it["image"], crop)}{cam}'
                f'<figcaption>{esc(Path(it["image"]).name)}<br>{what}, fake prob {it["prob"]:.4f}<br>'
                f'{esc(name)} / {esc(run.label)}</figcaption></figure></li>')
        out.append(f'<ul class="gallery" id="gallery-all" aria-label="Most confident errors">{"".join(figs)}</ul>')
        out.append(_GALLERY_FILTER_JS)
        return "".join(out)

    def provenance(self) -> str:
        out = []
        for run in self.runs:
            r = run.results
            env = r.get("environment") or {}
            det = r.get("detector") or {}
            w = det.get("weights") or {}
            data = r.get("data") or {}
            man = data.get("manifest") or {}
            pkgs = ", ".join(f"{k} {v}" for k, v in (env.get("packages") or {}).items() if v)
            rows = [["results file", str(run.results_path)], ["date", r.get("date")],
                    ["fakebench version", env.get("fakebench")], ["git commit", r.get("git_commit") or "unknown"],
                    ["python / platform", f"{env.get('python')} / {env.get('platform')}"], ["packages", pkgs],
                    ["detector", f"{det.get('name')}: {det.get('title', '')}"], ["paper", det.get("paper")],
                    ["code", det.get("repo")], ["weights", f"{w.get('tag')} {w.get('path') or ''}"],
                    ["weights sha256", w.get("sha256") or "none"],
                    ["preset", json.dumps(det.get("preset"), sort_keys=True)],
                    ["fingerprint", det.get("fingerprint")], ["data", data.get("label")],
                    ["data root", data.get("data_root")],
                    ["manifest sha256", "; ".join(f"{p}: {d}" for p, d in (man.get("sha256") or {}).items())
                     or "none"],
                    ["limit per label", data.get("limit_per_label") or "none"],
                    ["decision threshold", r.get("threshold")],
                    ["run", json.dumps(r.get("run"), sort_keys=True)]]
            out.append(table(["field", "value"], rows, caption=f"Provenance of {run.label}", numeric_from=99,
                             cls="provenance"))
        import matplotlib

        out.append(f'<p class="note">Report written by fakebench {esc(__version__)} (matplotlib '
                   f'{esc(matplotlib.__version__)}) on {esc(now_iso())}.</p>')
        return "".join(out)

    # ------------------------------------------------------------------ page
    def render(self) -> str:
        self.compute()
        bodies = {"headline": self.headline, "summary": self.summary, "leaderboard": self.leaderboard, "heatmaps": self.heatmaps,
                  "curves": self.curves_section, "histograms": self.histograms, "calibration": self.calibration,
                  "robustness": self.robustness, "bias-audit": self.bias, "gallery": self.gallery,
                  "provenance": self.provenance}
        body = "".join(f'<section id="{sid}" aria-labelledby="{sid}-h"><h2 id="{sid}-h">{esc(title)}</h2>'
                       f"{bodies[sid]()}</section>" for sid, title in _SECTIONS)
        subtitle = (f"fakebench {__version__}; {len(self.runs)} run(s): {', '.join(self.labels)}; "
                    f"written {now_iso()}")
        return page(title=self.title, subtitle=subtitle, nav=_SECTIONS, body=body, data=_clean(self.data))


def _mean_acc(run: RunData) -> float:
    """The run's unweighted mean accuracy over test sets (fraction; -1 when undefined, so it sorts last)."""
    value = ((run.results.get("metrics") or {}).get("mean") or {}).get("acc")
    return float(value) if finite(value) else -1.0


def _headline_html(result: dict[str, Any], lead: str, second: str, board: str) -> str:
    """The headline box from :func:`fakebench.analysis.compare.compare_runs` output (A = the leader): the mean
    accuracy difference with both of compare's intervals (new images on these sets; other sets like these) and the
    per-set differences with their Holm-adjusted p-values."""
    mean = result["mean"]["acc"]
    rows = result["per_dataset"]
    n_images = sum(int(r["n"]) for r in rows)
    level = int(round(100 * result["level"]))
    alpha = 1 - result["level"]

    def ci_text(ci: Any) -> str:
        lo, hi = (list(ci or []) + [math.nan, math.nan])[:2]
        return f"[{100 * lo:+.2f}, {100 * hi:+.2f}]" if finite(lo) and finite(hi) else "n/a"

    def p_text(p: Any) -> str:
        return f"p = {p:.3g}" if finite(p) else "no p-value"

    lo, hi = (list(mean.get("ci") or []) + [math.nan, math.nan])[:2]
    significant = finite(lo) and finite(hi) and (lo > 0 or hi < 0)
    sets = mean.get("sets") or {}
    sets_ci = list(sets.get("ci") or []) + [math.nan]
    sets_text = (f"{level}% CI {ci_text(sets.get('ci'))}, {p_text(sets.get('p_value'))}" if finite(sets_ci[0])
                 else (sets.get("note") or "no interval"))
    verdict = ("The lead is statistically significant for new images on these sets." if significant else
               f"The lead is not significant: the {level}% interval for new images on these sets includes 0.")
    tested = [r for r in rows if finite((r.get("acc") or {}).get("p_holm"))]
    sig = [r["dataset"] for r in tested if r["acc"]["p_holm"] <= alpha]
    not_sig = [r["dataset"] for r in tested if r["acc"]["p_holm"] > alpha]
    untested = [r["dataset"] for r in rows if r not in tested]
    method = mean.get("test", "paired bootstrap")
    parts = [f'<div class="headline"><p class="lead">{esc(lead)} is ahead of {esc(second)} by '
             f'{100 * mean["diff"]:+.2f} points of mean accuracy over {len(rows)} test set(s) and {n_images} '
             f'images.</p><p>For new images on these sets ({esc(method)}): {level}% CI {ci_text(mean.get("ci"))}, '
             f'{p_text(mean.get("p_value"))}. For other test sets like these (paired t over sets): '
             f'{esc(sets_text)}. {verdict}</p>',
             f"<p>Per test set (p-values Holm-adjusted across the {len(tested)} set(s) that have one): significant "
             f"on {len(sig)} of {len(tested)}" + (f" ({esc(', '.join(sig))})" if sig else "")
             + ("; not significant on " + esc(", ".join(not_sig[:12])) + (", ..." if len(not_sig) > 12 else "")
                if not_sig else "") + ".</p>"]
    if untested:
        parts.append(f'<p class="note">No p-value (too few images) on {len(untested)} set(s): '
                     f'{esc(", ".join(untested[:12]))}{", ..." if len(untested) > 12 else ""}.</p>')
    parts.append(f'<p class="note">Ranking by mean accuracy (percent): {board}. From <code>fakebench compare</code>, '
                 f'whose table has every set, AP, AUC and Benjamini-Hochberg columns too.</p></div>')
    return "".join(parts)


def _error_margin(item: dict[str, Any], threshold: float) -> float:
    """How confidently wrong a gallery item is: ``|logit - logit(threshold)|`` when it has a logit, else
    ``|prob - threshold|`` (on a comparable scale after the logit transform)."""
    logit = item.get("logit")
    if isinstance(logit, (int, float)) and math.isfinite(logit) and 0 < threshold < 1:
        return abs(float(logit) - math.log(threshold / (1 - threshold)))
    prob = min(max(float(item["prob"]), 1e-12), 1 - 1e-12)
    t = min(max(threshold, 1e-12), 1 - 1e-12)
    return abs(math.log(prob / (1 - prob)) - math.log(t / (1 - t)))


_GALLERY_FILTER_JS = """<script>(function(){
  var form=document.getElementById('gallery-filter');if(!form){return;}
  var items=document.querySelectorAll('#gallery-all > li'),out=document.getElementById('gallery-count');
  function apply(){
    var want={};form.querySelectorAll('select').forEach(function(s){want[s.dataset.key]=s.value;});
    var shown=0;items.forEach(function(li){var f=li.firstElementChild,ok=true;
      for(var k in want){if(want[k]&&f.getAttribute('data-'+k)!==want[k]){ok=false;}}
      li.hidden=!ok;if(ok){shown++;}});
    out.textContent=shown+' of '+items.length+' shown';}
  form.addEventListener('change',apply);apply();
})();</script>"""


def build_report(runs: Iterable[str | os.PathLike], output: str | os.PathLike, *, title: str | None = None,
                 max_gallery: int = 3, max_sets: int = 60, bias_audits: Iterable[str | os.PathLike] = (),
                 thumb_px: int = 128, dpi: int = 90, gradcam: bool = False,
                 n_boot: int = 1000, echo: Callable[[str], None] | None = None) -> tuple[Path, list[Path]]:
    """Like :func:`write_report`, also returning every figure file written; ``echo`` (e.g. ``click.echo``) gets one
    line per run the report takes (its label, results file, test sets and images; ``--limit`` runs marked), so a
    glob or a folder never silently takes runs the user did not mean."""
    if max_gallery < 0 or max_sets < 1 or thumb_px < 16:
        raise ValueError(f"Expected max_gallery >= 0, max_sets >= 1 and thumb_px >= 16, got {max_gallery}, "
                         f"{max_sets}, {thumb_px}.")
    output = Path(output)
    inputs = collect_inputs(runs, bias_audits=bias_audits)
    if echo is not None:
        echo(f"report: {len(inputs.runs)} run(s)")
        for run in inputs.runs:
            data = run.results.get("data") or {}
            limit = data.get("limit_per_label")
            echo(f"  {run.label}: {run.results_path} ({len(run.sets)} test sets, {len(run.predictions)} images"
                 + (f", --limit {limit} per label" if limit else "") + ")")
    report = _Report(inputs, output, title=title, max_gallery=max_gallery, max_sets=max_sets, thumb_px=thumb_px,
                     dpi=dpi, gradcam=gradcam, n_boot=n_boot)
    text = report.render()
    written = set(report.writer.written)
    for stale in (output / "figures").glob("*"):
        if stale.suffix in (".png", ".svg") and stale not in written:
            stale.unlink()
    path = atomic_write_text(output / "report.html", text)
    return path, list(report.writer.written)


def write_report(runs: Iterable[str | os.PathLike], output: str | os.PathLike, *, title: str | None = None,
                 max_gallery: int = 3, max_sets: int = 60, bias_audits: Iterable[str | os.PathLike] = (),
                 thumb_px: int = 128, dpi: int = 90, gradcam: bool = False, n_boot: int = 1000) -> Path:
    """Write ``<output>/report.html`` (one self-contained file) and ``<output>/figures/*.png|svg``.

    Args:
        runs: run folders, ``results.json`` files or folders holding them (searched recursively); ``robustness.json``
            and ``bias_audit.json`` files or folders; see :func:`fakebench.report.data.collect_inputs`.
        output: the report folder (created).
        title: page title (default: the run labels).
        max_gallery: most confident errors shown per test set, detector and class.
        max_sets: at most this many test sets per small-multiples figure (keeps the file small for big suites).
        bias_audits: extra ``bias_audit.json`` files.
        thumb_px: longest side of gallery thumbnails (JPEG quality 80).
        dpi: PNG resolution of the figures.
        gradcam: show a Grad-CAM overlay of the fake logit beside each gallery thumbnail, for runs of NPR, CNNSpot
            and UnivFD whose weights can be reloaded from what ``results.json`` records (same sha256); other runs get
            a note in the page and plain thumbnails (see :mod:`fakebench.report.gradcam`). Runs each detector on the
            CPU once per gallery image; needs torch and the ``grad-cam`` package (``explain`` extra).
        n_boot: paired bootstrap resamples of the headline's comparison of the two leading runs
            (:func:`fakebench.analysis.compare.compare_runs`).

    Returns:
        The path of ``report.html``.

    Raises:
        DataError: no run found, a file is malformed, or a run's predictions and results do not match.
        ValueError: bad limits.
    """
    return build_report(runs, output, title=title, max_gallery=max_gallery, max_sets=max_sets,
                        bias_audits=bias_audits, thumb_px=thumb_px, dpi=dpi, gradcam=gradcam, n_boot=n_boot)[0]
