"""Matplotlib figures of the report, drawn on bare :class:`~matplotlib.figure.Figure` objects (Agg canvas; pyplot
and the global backend are never touched, so importing this module changes nothing for the caller).

Colours are the Okabe-Ito palette (Okabe & Ito, "Color Universal Design", 2008), safe for the common forms of colour
blindness; lines also differ by style and markers, so no figure relies on colour alone. Every function returns a
:class:`matplotlib.figure.Figure`; :class:`FigureWriter` saves it as PNG and SVG and gives the PNG bytes for inlining.
"""

from __future__ import annotations

import functools
import io
import math
import textwrap
from pathlib import Path
from typing import Any, Sequence

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy.stats import norm

from fakebench.core.files import atomic_write_bytes

__all__ = ["OKABE_ITO", "STYLE", "new_figure", "FigureWriter", "heatmap", "curves_grid", "pooled_curves", "histograms", "reliability",
           "robustness", "bias_audit"]

#: Okabe-Ito colours (black last), in the order lines get them.
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
REAL_COLOUR, FAKE_COLOUR = "#0072B2", "#D55E00"
_STYLES = ("-", "--", "-.", ":")
_POINT_MARKERS = {"threshold 0.5": "o", "EER": "X", "calibrated": "s"}
_DET_TICKS = np.array([0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99])

#: Matplotlib settings the report draws with (applied with ``matplotlib.rc_context``, never globally).
STYLE = {"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8, "svg.fonttype": "none",
       "figure.dpi": 100, "text.parse_math": False}  # set names may hold '$' or '_': never TeX


def _styled(func):
    """Run a figure function inside ``matplotlib.rc_context(STYLE)`` (text picks its sizes when created)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with matplotlib.rc_context(STYLE):
            return func(*args, **kwargs)

    return wrapper


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float]) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure and its ``(nrows, ncols)`` array of axes, drawn in :data:`STYLE`."""
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=figsize, layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _style(i: int) -> dict[str, Any]:
    return {"color": OKABE_ITO[i % len(OKABE_ITO)], "linestyle": _STYLES[(i // len(OKABE_ITO) + i) % len(_STYLES)]}


class FigureWriter:
    """Saves figures as ``<folder>/<name>.png`` and ``.svg`` (atomically) and returns the PNG bytes.

    Args:
        folder: the ``figures/`` folder.
        dpi: PNG resolution.
    """

    def __init__(self, folder: Path, *, dpi: int = 100) -> None:
        self.folder = Path(folder)
        self.dpi = dpi
        self.written: list[Path] = []

    def save(self, fig: Figure, name: str) -> bytes:
        """Write ``fig`` as PNG and SVG, close it, and return the PNG bytes."""
        from PIL import Image

        out = {}
        with matplotlib.rc_context(STYLE):
            for fmt in ("png", "svg"):
                buf = io.BytesIO()
                fig.savefig(buf, format=fmt, dpi=self.dpi, metadata={"Date": None} if fmt == "svg" else None)
                out[fmt] = buf.getvalue()
        # 256-colour palette PNG: line art loses nothing visible and the file shrinks about 3x
        with Image.open(io.BytesIO(out["png"])) as img:
            small = io.BytesIO()
            img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                        dither=Image.Dither.NONE).save(small, format="PNG", optimize=True)
        out["png"] = small.getvalue()
        for fmt in ("png", "svg"):
            self.written.append(atomic_write_bytes(self.folder / f"{name}.{fmt}", out[fmt]))
        return out["png"]


def _short(name: str, width: int = 34) -> str:
    """A panel title: the set name wrapped on two lines, shortened with an ellipsis beyond that."""
    lines = textwrap.wrap(name, width, break_on_hyphens=True) or [name]
    return "\n".join(lines[:2]) + ("..." if len(lines) > 2 else "")


def _grid(n: int, *, ncols: int = 5, size: float = 2.3) -> tuple[Figure, np.ndarray]:
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = new_figure(nrows, ncols, figsize=(size * ncols + 0.6, size * nrows + 0.6))
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


@_styled
def heatmap(values: np.ndarray, rows: Sequence[str], cols: Sequence[str], *, metric: str,
            counts: np.ndarray | None = None) -> Figure:
    """Test set (rows) x detector (columns) heatmap of a metric in percent; missing values are grey, labelled n/a.

    Detector names label the columns above and below the grid (so a tall grid keeps them near the data); with
    ``counts``, each cell also shows its number of images.

    Args:
        values: ``(len(rows), len(cols))`` float, percent in [0, 100], ``nan`` where undefined.
        counts: optional ``(len(rows), len(cols))`` int, images scored per cell (0 = not run).
    """
    n_rows, n_cols = values.shape
    longest = max((len(r) for r in rows), default=10)
    per_row = 0.34 if counts is not None else 0.26
    fig, axes = new_figure(figsize=(max(6.0, 1.5 + 0.065 * longest + 1.4 * n_cols),
                                    max(3.2, 2.4 + per_row * n_rows)))
    ax = axes[0, 0]
    masked = np.ma.masked_invalid(values)
    cmap = matplotlib.colormaps["cividis"].with_extremes(bad="#d9d9d9")
    im = ax.imshow(masked, cmap=cmap, vmin=0, vmax=100, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(n_cols), labels=list(cols), rotation=30, ha="right")
    ax.tick_params(axis="x", top=True, labeltop=n_rows > 6)
    ax.set_yticks(range(n_rows), labels=list(rows))
    ax.set_xlabel("Detector")
    ax.set_ylabel("Test set")
    for i in range(n_rows):
        for j in range(n_cols):
            v = values[i, j]
            text = "n/a" if math.isnan(v) else f"{v:.1f}"
            if counts is not None:
                text += f"\nn={int(counts[i, j])}"
            ax.text(j, i, text, ha="center", va="center", fontsize=6.5 if counts is not None else 7,
                    linespacing=0.95, color="black" if math.isnan(v) or v > 45 else "white")
    fig.colorbar(im, ax=ax, label=f"{metric} (%)", shrink=min(1.0, 8 / max(n_rows, 1)) if n_rows > 8 else 1.0)
    return fig


def _probit_axes(ax: Axes) -> None:
    ticks = norm.ppf(_DET_TICKS)
    labels = [f"{100 * t:g}" for t in _DET_TICKS]
    ax.set_xticks(ticks, labels=labels, fontsize=6)
    ax.set_yticks(ticks, labels=labels, fontsize=6)
    lim = norm.ppf([0.0005, 0.9995])
    ax.set_xlim(*lim)
    ax.set_ylim(*lim)


def _probit(values: Sequence[float]) -> np.ndarray:
    return norm.ppf(np.clip(np.asarray(values, dtype=float), 0.0005, 0.9995))


def _draw(ax: Axes, kind: str, data: dict[str, Any], style: dict[str, Any], label: str | None) -> None:
    """One detector's curve of ``kind`` (roc, pr, det) with its operating points."""
    if kind == "roc":
        ax.plot(data["roc"]["fpr"], data["roc"]["tpr"], label=label, lw=1.4, **style)
        for name, p in data["points"].items():
            ax.plot(p["fpr"], p["tpr"], marker=_POINT_MARKERS[name], color=style["color"], ms=6, mec="black",
                    mew=0.6, linestyle="none")
    elif kind == "pr":
        ax.plot(data["pr"]["recall"], data["pr"]["precision"], label=label, lw=1.4, drawstyle="steps-post", **style)
        for name, p in data["points"].items():
            n_fake, n_real = data["n_fake"], data["n_real"]
            tp, fp = p["tpr"] * n_fake, p["fpr"] * n_real
            if tp + fp > 0:
                ax.plot(p["tpr"], tp / (tp + fp), marker=_POINT_MARKERS[name], color=style["color"], ms=6,
                        mec="black", mew=0.6, linestyle="none")
    else:
        ax.plot(_probit(data["det"]["fpr"]), _probit(data["det"]["fnr"]), label=label, lw=1.4, **style)
        for name, p in data["points"].items():
            ax.plot(_probit([p["fpr"]]), _probit([1 - p["tpr"]]), marker=_POINT_MARKERS[name], color=style["color"],
                    ms=6, mec="black", mew=0.6, linestyle="none")


_AXES = {"roc": ("False positive rate (fraction of real images called fake)", "True positive rate (fraction of fakes "
                 "caught)"),
         "pr": ("Recall (fraction of fakes caught)", "Precision (fraction of fake calls that are fake)"),
         "det": ("False positive rate (%, probit scale)", "False negative rate (%, probit scale)")}
_SHORT_AXES = {"roc": ("FPR (fraction)", "TPR (fraction)"), "pr": ("Recall (fraction)", "Precision (fraction)"),
               "det": ("FPR (%, probit)", "FNR (%, probit)")}


def _frame(ax: Axes, kind: str, short: bool) -> None:
    xl, yl = (_SHORT_AXES if short else _AXES)[kind]
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    if kind == "det":
        _probit_axes(ax)
    else:
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_aspect("equal")
    if kind == "roc":
        ax.plot([0, 1], [0, 1], color="#999999", lw=0.8, linestyle=":")
    ax.grid(True, lw=0.3, alpha=0.5)


def _legend_handles(labels: Sequence[str], points: Sequence[str]) -> list[Any]:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], label=lab, lw=1.4, **_style(i)) for i, lab in enumerate(labels)]
    handles += [Line2D([], [], marker=_POINT_MARKERS[p], color="#666666", mec="black", linestyle="none",
                       label={"threshold 0.5": "decision at prob 0.5", "EER": "equal error rate",
                              "calibrated": "calibrated threshold"}[p]) for p in points]
    return handles


@_styled
def pooled_curves(per_run: dict[str, dict[str, Any]]) -> Figure:
    """ROC, precision-recall and DET curves of every detector over all its images pooled (one panel each)."""
    fig, axes = new_figure(1, 3, figsize=(12, 4.3))
    axes = axes[0]
    points: dict[str, None] = {}
    for i, (label, data) in enumerate(per_run.items()):
        points.update(dict.fromkeys(data["points"]))
        for ax, kind in zip(axes, ("roc", "pr", "det")):
            _draw(ax, kind, data, _style(i), label)
    for ax, kind, title in zip(axes, ("roc", "pr", "det"), ("ROC", "Precision-recall", "DET")):
        _frame(ax, kind, short=False)
        ax.set_title(f"{title}, all test sets pooled")
    fig.legend(handles=_legend_handles(list(per_run), list(points)), loc="outside lower center",
               ncol=min(4, len(per_run) + len(points)))
    return fig


@_styled
def curves_grid(kind: str, sets: Sequence[str], per_set: dict[str, dict[str, dict[str, Any]]],
                labels: Sequence[str]) -> Figure:
    """Small multiples: one panel per test set, one curve of ``kind`` (``roc``, ``pr`` or ``det``) per detector.

    Args:
        per_set: ``{set: {detector label: curve_data}}``; detectors missing for a set are skipped.
    """
    fig, axes = _grid(len(sets))
    points: dict[str, None] = {}
    for ax, name in zip(axes.flat, sets):
        for i, label in enumerate(labels):
            data = per_set.get(name, {}).get(label)
            if data is not None:
                points.update(dict.fromkeys(data["points"]))
                _draw(ax, kind, data, _style(i), label)
        _frame(ax, kind, short=True)
        ax.set_title(_short(name), fontsize=7)
    handles = _legend_handles(list(labels), list(points))
    fig.legend(handles=handles, loc="outside lower center", ncol=max(1, min(len(handles), axes.shape[1])))
    return fig


@_styled
def histograms(sets: Sequence[str], own: dict[str, tuple[np.ndarray, np.ndarray]], *, bins: int = 20) -> Figure:
    """Small multiples: per test set, histograms of the fake probability of real and of fake images.

    Args:
        own: ``{set: (labels (N,) int, prob (N,) float)}``.
    """
    fig, axes = _grid(len(sets))
    edges = np.linspace(0, 1, bins + 1)
    for ax, name in zip(axes.flat, sets):
        y, prob = own[name]
        for cls, colour, filled, text in ((0, REAL_COLOUR, True, "real"), (1, FAKE_COLOUR, False, "fake")):
            values = prob[y == cls]
            if values.size:
                ax.hist(values, bins=edges, color=colour, alpha=0.5 if filled else 1.0,
                        histtype="stepfilled" if filled else "step", lw=1.6, linestyle="-" if filled else "--",
                        label=f"{text} (n={values.size})")
        ax.axvline(0.5, color="black", lw=0.8, linestyle="--")
        ax.set_xlim(0, 1)
        ax.set_xlabel("Fake probability (0-1)")
        ax.set_ylabel("Images (count)")
        ax.set_title(_short(name), fontsize=7)
        ax.legend(fontsize=6, loc="upper center")
    return fig


@_styled
def reliability(per_run: dict[str, dict[str, Any]]) -> Figure:
    """Reliability diagrams, one panel per detector: fraction of fakes vs mean fake probability per bin."""
    fig, axes = _grid(len(per_run), ncols=4, size=3.0)
    for i, (ax, (label, data)) in enumerate(zip(axes.flat, per_run.items())):
        bins = data["bins"]
        ax.plot([0, 1], [0, 1], color="#999999", lw=0.8, linestyle=":", label="perfect calibration")
        ax.plot([b["mean_prob"] for b in bins], [b["frac_fake"] for b in bins], marker="o", label="observed",
                **_style(i))
        for b in bins:
            ax.bar((b["bin_lo"] + b["bin_hi"]) / 2, b["frac_fake"], width=b["bin_hi"] - b["bin_lo"], alpha=0.15,
                   color=_style(i)["color"], edgecolor="none")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_xlabel("Mean fake probability in bin (0-1)")
        ax.set_ylabel("Fraction of fake images (0-1)")
        ax.set_title(f"{label}\nECE = {100 * data['ece']:.1f}%", fontsize=8)
        ax.legend(fontsize=6, loc="upper left")
    return fig


_SEVERITY_UNITS = {"jpeg": "JPEG quality (1-100)", "webp": "WebP quality (1-100)",
                   "blur": "Gaussian blur sigma (px)", "downscale": "downscale factor (0-1, size restored)",
                   "resize": "resize factor (x)", "crop": "centre crop, kept fraction of each side (0-1)",
                   "noise": "Gaussian noise sigma (8-bit levels)", "social": "longest side after upload resize (px)",
                   "reencode": "re-encode size (px)"}


def severity_label(perturbation: str) -> str:
    """Axis label with units for a perturbation kind's severity (see :mod:`fakebench.analysis.perturb`)."""
    return _SEVERITY_UNITS.get(perturbation.split(":")[0], f"{perturbation} severity")


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


@_styled
def robustness(doc: dict[str, Any], *, metrics: Sequence[str] = ("acc", "auc")) -> Figure:
    """Metric vs severity, one panel per (perturbation kind, metric): one thin line per test set and the mean over
    sets in bold (the file's ``dataset = "mean"`` rows when present, else computed here, unweighted). Rows of the
    ``none`` kind (the clean baseline) are drawn as a dotted horizontal line of their mean."""
    rows = [r for r in doc["rows"] if _num(r.get("severity")) is not None or r.get("perturbation") == "none"]
    perts = [p for p in dict.fromkeys(r["perturbation"] for r in rows) if p != "none"]
    sets = [s for s in dict.fromkeys(r["dataset"] for r in rows) if s != "mean"]
    has_mean = any(r["dataset"] == "mean" for r in rows)
    fig, axes = new_figure(max(1, len(perts)), len(metrics), figsize=(4.4 * len(metrics), 3.3 * max(1, len(perts))))
    for pi, pert in enumerate(perts):
        for mi, metric in enumerate(metrics):
            ax = axes[pi, mi]
            per_sev: dict[float, list[float]] = {}
            for si, name in enumerate(sets):
                pts = sorted((_num(r["severity"]), _num(r.get(metric))) for r in rows
                             if r["perturbation"] == pert and r["dataset"] == name)
                pts = [(s, v) for s, v in pts if v is not None]
                for s, v in pts:
                    per_sev.setdefault(s, []).append(v)
                if pts:
                    ax.plot([s for s, _ in pts], [100 * v for _, v in pts], lw=0.9, marker=".", alpha=0.7,
                            label=name if len(sets) <= 8 else None, **_style(si))
            if has_mean:
                mean = sorted((_num(r["severity"]), _num(r.get(metric))) for r in rows
                              if r["perturbation"] == pert and r["dataset"] == "mean")
                mean = [(s, v) for s, v in mean if v is not None]
            else:
                mean = [(s, float(np.mean(v))) for s, v in sorted(per_sev.items())]
            if mean:
                ax.plot([s for s, _ in mean], [100 * v for _, v in mean], color="black", lw=2.2, marker="o",
                        label="mean over sets")
            base = [_num(r.get(metric)) for r in rows if r["perturbation"] == "none"
                    and r["dataset"] == ("mean" if has_mean else r["dataset"])]
            base = [b for b in base if b is not None]
            if base:
                ax.axhline(100 * float(np.mean(base)), color="#666666", lw=1, linestyle=":", label="unperturbed")
            ax.set_xlabel(severity_label(pert))
            ax.set_ylabel({"acc": "Accuracy (%)", "auc": "ROC-AUC (%)", "ap": "AP (%)"}.get(metric, f"{metric} (%)"))
            ax.set_ylim(0, 102)
            ax.set_title(f"{pert}: {metric}")
            ax.grid(True, lw=0.3, alpha=0.5)
            ax.legend(fontsize=6)
    if not perts:
        axes[0, 0].text(0.5, 0.5, "only the unperturbed baseline", ha="center", va="center")
    return fig


@_styled
def bias_audit(sets: Sequence[dict[str, Any]]) -> Figure:
    """Shortcut ROC-AUC per test set with its confidence interval; flagged sets are hatched. 0.5 = no shortcut."""
    n = len(sets)
    fig, axes = new_figure(figsize=(7.5, max(2.2, 1.0 + 0.3 * n)))
    ax = axes[0, 0]
    ys = np.arange(n)
    for i, s in enumerate(sets):
        auc = s.get("shortcut_auc")
        if not isinstance(auc, (int, float)):
            continue
        flagged = bool(s.get("flagged"))
        ax.barh(i, auc, color=FAKE_COLOUR if flagged else REAL_COLOUR, hatch="xx" if flagged else None,
                alpha=0.8, edgecolor="black", lw=0.5)
        ci = s.get("shortcut_auc_ci")
        if ci and len(ci) == 2 and all(isinstance(c, (int, float)) for c in ci):
            ax.errorbar(auc, i, xerr=[[auc - ci[0]], [ci[1] - auc]], color="black", capsize=3, lw=1)
    ax.axvline(0.5, color="black", linestyle="--", lw=0.8)
    ax.set_yticks(ys, labels=[s.get("dataset", "?") for s in sets])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("Shortcut ROC-AUC of file-level features (fraction; 0.5 = no shortcut)")
    ax.set_ylabel("Test set")
    return fig
