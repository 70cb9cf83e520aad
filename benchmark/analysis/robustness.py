"""Robustness sweeps: score perturbed images through the ordinary runner, cache and result files.

:class:`PerturbedDetector` wraps a loaded detector. Its transform applies one :class:`~fakebench.analysis.perturb.
Perturbation` to the decoded RGB image and then the detector's own preprocessing; its preset name
(``native+jpeg:75``), :meth:`~PerturbedDetector.identity` and :meth:`~PerturbedDetector.fingerprint` include the
perturbation spec, so every severity has its own prediction-cache keys and run folder and a re-run does no model
work. :func:`run_robustness` runs :func:`fakebench.eval.harness.run_evaluation` once per severity and writes the
summary ``robustness.json`` (schema ``fakebench.robustness/1``), ``robustness.csv`` and ``robustness.md``.

**Area under the robustness curve.** For one perturbation kind, test set and metric, the severities are placed at
equally spaced x positions in the order the spec lists them (``x_i = i / (K - 1)``, so list them from mildest to
strongest) and the metric (a fraction in [0, 1]) is integrated with the trapezoid rule; the result lies in [0, 1] and
equals the metric itself when it does not change. With one severity the area is that severity's value. Any ``nan``
(e.g. AP of a hard-label detector) makes the area ``nan`` (``null`` in JSON).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from fakebench.analysis.perturb import Perturbation, PerturbationSpecError, parse_perturbation
from fakebench.core.files import atomic_write_json, atomic_write_text
from fakebench.detectors.base import Detector, DetectorOutput
from fakebench.eval.scoring import METRIC_KEYS

__all__ = ["ROBUSTNESS_SCHEMA", "PerturbedDetector", "PerturbedTransform", "robustness_area", "run_robustness"]

ROBUSTNESS_SCHEMA = "fakebench.robustness/1"


class PerturbedTransform:
    """``image -> inner(perturbation(image))``: the perturbation on the decoded RGB image, then the detector's own
    preprocessing. Picklable (DataLoader workers) when ``inner`` is."""

    def __init__(self, perturbation: Perturbation, inner: Callable[[Image.Image], torch.Tensor]) -> None:
        self.perturbation = perturbation
        self.inner = inner

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.inner(self.perturbation(image))


class PerturbedDetector(Detector):
    """A loaded detector whose inputs are perturbed first; everything else is delegated to it.

    Args:
        detector: the loaded detector (any :class:`~fakebench.detectors.base.Detector`).
        perturbation: one perturbation at one severity (from :func:`~fakebench.analysis.perturb.parse_perturbation`).

    The preset is the detector's preset renamed ``<preset>+<spec>`` (e.g. ``native+jpeg:75``); ``name``,
    ``card``, ``weights``, ``continuous_scores`` and ``predict`` are the detector's. :meth:`fingerprint` hashes the
    detector's own fingerprint with the perturbation's identity (spec, perturbation code version, Pillow version).
    """

    def __init__(self, detector: Detector, perturbation: Perturbation) -> None:
        preset = dataclasses.replace(
            detector.preset, name=f"{detector.preset.name}+{perturbation.spec}",
            description=f"{perturbation.spec} applied to the decoded image, then preset {detector.preset.name!r}")
        super().__init__(preset=preset, weights=detector.weights, device=detector.device)
        self.inner = detector
        self.perturbation = perturbation
        self.name = detector.name
        self.card = detector.card
        self.continuous_scores = detector.continuous_scores

    @classmethod
    def load(cls, *args: Any, **kwargs: Any) -> PerturbedDetector:
        raise TypeError("PerturbedDetector wraps a loaded detector: PerturbedDetector(detector, perturbation).")

    def transform(self) -> PerturbedTransform:
        """The perturbation, then the wrapped detector's transform."""
        return PerturbedTransform(self.perturbation, self.inner.transform())

    def predict(self, batch: torch.Tensor) -> DetectorOutput:
        """The wrapped detector's :meth:`~fakebench.detectors.base.Detector.predict`."""
        return self.inner.predict(batch)

    def identity(self) -> dict[str, Any]:
        """The wrapped detector's identity with the renamed preset and a ``perturbation`` entry."""
        ident = dict(self.inner.identity())
        ident["preset"] = self.preset.to_dict()
        ident["perturbation"] = self.perturbation.identity()
        return ident

    def fingerprint(self) -> str:
        """Hex sha256 of the wrapped detector's fingerprint and the perturbation identity."""
        payload = {"detector": self.inner.fingerprint(), "perturbation": self.perturbation.identity()}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def to(self, device: str | torch.device) -> PerturbedDetector:
        self.inner.to(device)
        self.device = self.inner.device
        return self

    def __getattr__(self, name: str) -> Any:  # anything else (model, processor, ...) comes from the wrapped detector
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)


def robustness_area(values: Sequence[float]) -> float:
    """Normalised area under a robustness curve (see the module docstring).

    Args:
        values: the metric (fractions in [0, 1]) at each severity, mildest first.

    Returns:
        The trapezoid area over ``x = linspace(0, 1, K)``, in [0, 1]; ``nan`` when any value is ``nan`` or ``None``.

    Raises:
        ValueError: ``values`` is empty.
    """
    if not len(values):
        raise ValueError("robustness_area needs at least one value.")
    arr = np.array([math.nan if v is None else v for v in values], dtype=float)
    if np.isnan(arr).any():
        return math.nan
    if len(arr) == 1:
        return float(arr[0])
    return float(np.trapezoid(arr, np.linspace(0.0, 1.0, len(arr))))


def _num(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _sweeps(perturbations: Sequence[str | Sequence[Perturbation]]) -> tuple[list[str], list[list[Perturbation]]]:
    specs, sweeps = [], []
    for item in perturbations:
        sweep = parse_perturbation(item) if isinstance(item, str) else list(item)
        specs.append(item if isinstance(item, str) else ",".join(p.spec for p in sweep))
        sweeps.append(sweep)
    for sweep in sweeps:
        seen = [p.spec for p in sweep]
        if len(set(seen)) != len(seen):
            raise PerturbationSpecError(f"Perturbation severities repeated in {','.join(seen)!r}; give each once.")
    kinds = [s[0].kind for s in sweeps]
    dupes = sorted({k for k in kinds if kinds.count(k) > 1})
    if dupes:
        raise PerturbationSpecError(f"Perturbation kind(s) {', '.join(dupes)} given more than once; give each kind "
                                    f"once with all its severities, e.g. jpeg:90,75,50.")
    return specs, sweeps


def run_robustness(detector: Detector, sets: Sequence[Any], perturbations: Sequence[str | Sequence[Perturbation]], *,
                   output: str | os.PathLike, data_label: str = "data", metrics: Sequence[str] = METRIC_KEYS,
                   label: str | None = None, **eval_kwargs: Any) -> tuple[Path, dict[str, Any]]:
    """Score ``sets`` under every perturbation severity and write the robustness summary.

    Args:
        detector: a loaded detector (unperturbed).
        sets: :class:`fakebench.eval.harness.TestSet` list (from ``sets_from_manifest``/``sets_from_data_dir``/...).
        perturbations: spec strings (``"jpeg:100,90,75"``, see :mod:`fakebench.analysis.perturb`) or lists of
            :class:`Perturbation`; each kind at most once. ``none`` scores the unwrapped detector (sharing its cache
            with ordinary ``evaluate`` runs).
        output: folder for ``robustness.json``/``.csv``/``.md``; the per-severity run folders go under
            ``<output>/runs/<detector>.<weights>@<preset>+<spec>/<data_label>/``.
        data_label: name of the data (run folder name).
        metrics: metric keys that get an area row.
        label: a readable name of the detector (``--label``): the summary's ``detector.label``, its title and the
            ``run.label`` of every severity's run.
        **eval_kwargs: passed to :func:`fakebench.eval.harness.run_evaluation` (``batch_size``, ``num_workers``,
            ``use_cache``, ``progress``, ``limit``, ``manifest``, ``data_root``).

    Returns:
        ``(path of robustness.json, summary dict)``. Rows hold fractions in [0, 1] (``None`` when undefined), one per
        (severity, test set) plus a ``dataset = "mean"`` row (unweighted mean over sets, as the run's mean row).

    Raises:
        PerturbationSpecError: a bad spec, or a kind given twice.
        DataError, ValueError: see :func:`fakebench.eval.harness.run_evaluation`.
    """
    from fakebench.eval.harness import run_evaluation

    specs, sweeps = _sweeps(perturbations)
    if label is not None:
        from fakebench.eval.results import check_run_label

        eval_kwargs["label"] = label = check_run_label(label)
    output = Path(output)
    rows: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    scored: list[tuple[Perturbation, Path, list[dict[str, Any]]]] = []
    for sweep in sweeps:
        for perturbation in sweep:
            wrapped = detector if perturbation.kind == "none" else PerturbedDetector(detector, perturbation)
            run_dir, results = run_evaluation(wrapped, sets, output=output / "runs", data_label=data_label,
                                              **eval_kwargs)
            runs.append({"spec": perturbation.spec, "run_dir": os.path.relpath(run_dir, output),
                         **{k: results["run"][k] for k in ("total", "computed", "cached", "resumed", "unreadable")}})
            base = {"perturbation": perturbation.kind, "severity": perturbation.severity, "spec": perturbation.spec}
            per_set = results["metrics"]["per_dataset"]
            block = []
            for row in per_set:
                block.append({**base, "dataset": row["dataset"], "n": int(row["n"]),
                              **{k: _num(row[k]) for k in METRIC_KEYS}, **_ci_columns(row)})
            mean = results["metrics"]["mean"]
            block.append({**base, "dataset": "mean", "n": int(sum(r["n"] for r in per_set)),
                          **{k: _num(mean[k]) for k in METRIC_KEYS}, **_ci_columns(mean)})
            rows += block
            scored.append((perturbation, run_dir, block))
    reference = _paired_against_clean(detector, sets, scored, output=output, data_label=data_label,
                                      eval_kwargs=eval_kwargs)
    frame = pd.DataFrame(rows)
    area = []
    for kind, sweep in zip((s[0].kind for s in sweeps), sweeps):
        order = [p.spec for p in sweep]
        sub = frame[frame["perturbation"] == kind]
        for dataset in dict.fromkeys(sub["dataset"]):
            by_spec = sub[sub["dataset"] == dataset].set_index("spec")
            for metric in metrics:
                values = [by_spec.at[s, metric] if s in by_spec.index else None for s in order]
                area.append({"perturbation": kind, "dataset": dataset, "metric": metric,
                             "area": _num(robustness_area(values))})
    summary = {
        "schema": ROBUSTNESS_SCHEMA,
        "detector": {"name": detector.name, "weights": detector.weights.to_dict(), "preset": detector.preset.name,
                     "fingerprint": detector.fingerprint(), **({"label": label} if label else {})},
        "data": {"label": data_label, "sets": [s.group.dataset for s in sets],
                 "limit_per_label": eval_kwargs.get("limit")},
        "perturbations": specs,
        "area_rule": "trapezoid over severity index order, x = linspace(0, 1, K), metric as a fraction; in [0, 1]",
        "rows": rows,
        "area": area,
        "runs": runs,
        "paired": {"reference": reference, "columns": _PAIRED_DOC},
    }
    path = atomic_write_json(output / "robustness.json", summary)
    atomic_write_text(output / "robustness.csv", frame.to_csv(index=False))
    atomic_write_text(output / "robustness.md", robustness_markdown(summary))
    return path, summary


_PAIRED_DOC = ("<metric>_ci_lo/_ci_hi: the 95% CI of each severity's metric as results.json records it (per set: "
               "Wilson / DeLong-logit + Newcombe / BCa over its images; mean: Student t over sets, none below 5). "
               "delta_<metric> = perturbed - clean on the same images (fractions), delta_<metric>_ci_lo/_hi its 95% "
               "CI, p_<metric> its two-sided p-value: McNemar (acc), paired bootstrap (AP), DeLong (AUC) per set; "
               "for the mean row the paired bootstrap over the fixed sets (fakebench.analysis.compare).")


def _ci_columns(entry: dict[str, Any]) -> dict[str, float | None]:
    """``<metric>_ci_lo`` / ``<metric>_ci_hi`` fractions from a results row's ``ci`` (``None`` where absent)."""
    ci = entry.get("ci") or {}
    out: dict[str, float | None] = {}
    for k in METRIC_KEYS:
        pair = ci.get(k) or [None, None]
        out[f"{k}_ci_lo"], out[f"{k}_ci_hi"] = _num(pair[0]), _num(pair[1])
    return out


def _paired_against_clean(detector: Detector, sets: Sequence[Any], scored: list, *, output: Path, data_label: str,
                          eval_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Add ``delta_<metric>``, its CI and ``p_<metric>`` (perturbed - clean, same images) to every perturbed row.

    The clean run is the sweep's ``none`` severity when given, else the unwrapped detector scored once more (served
    from the prediction cache when ``fakebench evaluate`` already ran it). Returns ``{"run_dir", "note"}``.
    """
    from fakebench.analysis.compare import compare_runs
    from fakebench.core.errors import DataError
    from fakebench.eval.harness import run_evaluation

    clean = next((run_dir for p, run_dir, _ in scored if p.kind == "none"), None)
    if clean is None:
        clean, _ = run_evaluation(detector, sets, output=output / "runs", data_label=data_label, **eval_kwargs)
    info = {"run_dir": os.path.relpath(clean, output), "note": ""}
    for perturbation, run_dir, block in scored:
        if perturbation.kind == "none":
            continue
        try:
            cmp = compare_runs(run_dir, clean, n_boot=200, seed=0)
        except DataError as exc:  # e.g. an image unreadable only under the perturbation: not the same images
            info["note"] += f"{perturbation.spec}: no paired test ({str(exc).splitlines()[0][:200]}). "
            continue
        by_set = {r["dataset"]: r for r in cmp["per_dataset"]}
        for row in block:
            entry = cmp["mean"] if row["dataset"] == "mean" else by_set.get(row["dataset"])
            if entry is None:
                continue
            for k in ("acc", "ap", "auc"):
                e = entry[k]
                lo, hi = (e.get("ci") or [None, None])[:2]
                row.update({f"delta_{k}": _num(e["diff"]), f"delta_{k}_ci_lo": _num(lo),
                            f"delta_{k}_ci_hi": _num(hi), f"p_{k}": _num(e.get("p_value"))})
    return info


def _pct(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def _cell(row: pd.Series, metric: str) -> str:
    """``85.0 [80.1, 89.2] (-3.1, p=0.012)`` (percent) from one robustness row; parts that are missing are left out."""
    text = _pct(row.get(metric))
    if not text:
        return ""
    lo, hi = _pct(row.get(f"{metric}_ci_lo")), _pct(row.get(f"{metric}_ci_hi"))
    if lo and hi:
        text += f" [{lo}, {hi}]"
    delta = row.get(f"delta_{metric}")
    if delta is not None and not (isinstance(delta, float) and math.isnan(delta)):
        p = row.get(f"p_{metric}")
        p_text = "n/a" if p is None or (isinstance(p, float) and math.isnan(p)) else f"{p:.3g}"
        text += f" ({100 * delta:+.1f}, p={p_text})"
    return text


def robustness_markdown(summary: dict[str, Any], metrics: Sequence[str] = ("acc", "auc")) -> str:
    """Markdown tables (percent): for each perturbation kind and metric, test set x severity plus the area."""
    det = summary["detector"]
    named = f"{det['label']}: " if det.get("label") else ""
    lines = [f"# Robustness of {named}{det['name']} ({det['weights'].get('tag')}, preset {det['preset']})", "",
             ("Percent. Columns: severities in the order given (mildest first); `area` = normalised area under the "
              "curve (trapezoid over severity index, x in [0, 1]). A cell is `value [95% CI]`, then "
              "`(change vs clean, p)` on the same images: McNemar (acc), DeLong (AUC), paired bootstrap (AP) per "
              "set, paired bootstrap over the fixed sets for the mean (no interval of a mean below 5 sets)."), ""]
    frame = pd.DataFrame(summary["rows"])
    area = pd.DataFrame(summary["area"])
    if summary["data"].get("limit_per_label"):
        lines += [f"Smoke run: at most {summary['data']['limit_per_label']} images per label per test set.", ""]
    for kind in dict.fromkeys(frame["perturbation"]):
        sub = frame[frame["perturbation"] == kind]
        specs = list(dict.fromkeys(sub["spec"]))
        for metric in metrics:
            lines += [f"## {kind}: {metric}", "", "| dataset | n | " + " | ".join(specs) + " | area |",
                      "|---|---:|" + "---:|" * (len(specs) + 1)]
            for dataset in dict.fromkeys(sub["dataset"]):
                cells = sub[sub["dataset"] == dataset].set_index("spec")
                value = area[(area["perturbation"] == kind) & (area["dataset"] == dataset)
                             & (area["metric"] == metric)]["area"]
                vals = [_cell(cells.loc[s], metric) if s in cells.index else "" for s in specs]
                lines.append(f"| {dataset} | {int(cells['n'].iloc[0])} | " + " | ".join(vals)
                             + f" | {_pct(value.iloc[0]) if len(value) else ''} |")
            lines.append("")
    return "\n".join(lines)
