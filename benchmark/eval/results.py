"""The ``results.json`` schema, declared once: typed records, a version, and the names every reader shares.

A run folder's ``results.json`` is written by :func:`fakebench.eval.harness.run_evaluation` and read back by the
leaderboard, the report and ``fakebench compare``. All of them go through :func:`read_results`, which refuses a file
whose schema major version it does not know (a newer fakebench wrote it) with a message saying so, instead of
guessing at renamed keys. The idea follows lm-evaluation-harness' ``result_schema.py``: one typed description of
the output, versioned.

Version history:

* ``fakebench.results/1`` -- the first release (0.1).
* ``fakebench.results/1.1`` -- adds optional per-set ``ci``/``operating``/``calibration`` dicts, a ``pooled`` mean,
  ``table_held_out_mean``, ``calibration`` (a fitted threshold), ``cost`` and ``run_key``; rows name their label
  layout ``labels`` (``mixed``/``real``/``fake``, the manifest's field), with the 1.0 name ``kind`` kept as an alias;
  every 1.0 file still reads as 1.1 (new keys are optional). Later optional keys, same version (issue #16): per row
  and mean ``ci_method``/``ci_covers`` (what each interval is about), mean ``ci_note`` (too few sets) and
  ``shared_reference``, ``operating_ci``, ``operating.optimistic``/``operating.notes``, ``calibration.ece_ci`` and
  ``calibration.ece_if_calibrated``; the mean's ``operating`` no longer holds the oracle keys.

Also defined here, once: :data:`DECISION_THRESHOLD` (fake iff fake probability > 0.5, strict, as the official test
scripts) and :func:`run_label` (``<detector>.<weights label>@<preset>``, the column/folder name of a run).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from fakebench.core.errors import DataError

__all__ = ["SCHEMA_NAME", "SCHEMA_VERSION", "RESULTS_SCHEMA", "DECISION_THRESHOLD", "METRIC_KEYS", "SchemaError",
           "parse_schema", "run_label", "check_run_label", "display_labels", "DetectorRecord", "DataRecord", "ResultsRecord", "Results", "read_results",
           "is_missing"]

SCHEMA_NAME = "fakebench.results"
#: ``(major, minor)`` of the schema this fakebench writes; readers accept any minor of the same major.
SCHEMA_VERSION = (1, 1)
#: The ``schema`` string written into ``results.json``.
RESULTS_SCHEMA = f"{SCHEMA_NAME}/{SCHEMA_VERSION[0]}.{SCHEMA_VERSION[1]}"
#: An image is called fake iff its fake probability is strictly greater than this (the official rule).
DECISION_THRESHOLD = 0.5
#: The per-set metrics, as fractions in [0, 1]: accuracy, real acc, fake acc, AP and ROC-AUC (fake = positive).
METRIC_KEYS = ("acc", "real_acc", "fake_acc", "ap", "auc")


class SchemaError(DataError):
    """A results file that is not a fakebench results file, or was written with an unknown schema version."""


def parse_schema(text: Any, where: str = "results.json") -> tuple[int, int]:
    """``"fakebench.results/1.1"`` -> ``(1, 1)`` (a bare major, ``/1``, is ``(1, 0)``).

    Raises:
        SchemaError: not a fakebench results schema string, or a major version this fakebench cannot read.

    >>> parse_schema("fakebench.results/1")
    (1, 0)
    >>> parse_schema("fakebench.results/1.1")
    (1, 1)
    """
    name, _, version = str(text).partition("/")
    if name != SCHEMA_NAME or not version:
        raise SchemaError(f"{where} is not a fakebench results file (its 'schema' is {text!r}, expected "
                          f"'{RESULTS_SCHEMA}'); re-run `fakebench evaluate` to write one.")
    try:
        parts = tuple(int(p) for p in version.split("."))
    except ValueError:
        raise SchemaError(f"{where}: malformed schema version {text!r}.") from None
    major, minor = parts[0], (parts[1] if len(parts) > 1 else 0)
    if major != SCHEMA_VERSION[0]:
        raise SchemaError(f"{where} was written with results schema {major}.{minor}, which this fakebench "
                          f"(schema {SCHEMA_VERSION[0]}.x) cannot read; upgrade fakebench or re-run the evaluation "
                          f"with this version.")
    return major, minor


def run_label(name: str, weights_label: str, preset: str) -> str:
    """The name of a run: ``<detector>.<weights label>@<preset>`` (a column of the leaderboard, a run folder).

    >>> run_label("npr", "progan_4class", "native")
    'npr.progan_4class@native'
    """
    return f"{name}.{weights_label}@{preset}"


#: Marker after the name of a run whose backbone was randomly initialised (see :attr:`DetectorRecord.label`).
RANDOM_BACKBONE = "[random-init backbone]"

#: Longest user label of a run (``--label``), in characters.
MAX_LABEL = 80


def check_run_label(label: str) -> str:
    """A user's run label (``--label``), stripped: a readable name shown in tables and reports in place of
    ``name.weights@preset`` (which stays in the provenance).

    Raises:
        DataError: empty, longer than :data:`MAX_LABEL` characters, or holding a line break or control character.
    """
    text = str(label).strip()
    if not text or len(text) > MAX_LABEL or any(not ch.isprintable() for ch in text):
        raise DataError(f"Run label {label!r}: give 1-{MAX_LABEL} printable characters on one line "
                        f"(e.g. --label 'NPR retrained on SDv1.4').")
    return text


def display_labels(pairs: "list[tuple[str, str | None]]") -> list[str]:
    """What tables and reports call each run: its user label, or its canonical ``name.weights@preset``.

    Args:
        pairs: ``(canonical label, user label or None)`` per run.

    Returns:
        One name per pair. A user label that names more than one canonical run (two detectors given the same
        ``--label``, or a label equal to another run's canonical name) becomes ``label (canonical)``, so different
        detectors never share a column; runs of the same canonical detector keep one name.
    """
    owners: dict[str, set[str]] = {}
    for canonical, user in pairs:
        owners.setdefault(user or canonical, set()).add(canonical)
    return [f"{user} ({canonical})" if user and len(owners[user]) > 1 else (user or canonical)
            for canonical, user in pairs]


def _weights_label(weights: Mapping[str, Any]) -> str:
    tag, sha = weights.get("tag", "?"), weights.get("sha256")
    return f"file-{sha[:8]}" if tag == "file" and sha else str(tag)


@dataclass(frozen=True)
class DetectorRecord:
    """The detector of a run, as recorded: registry name, weights (tag, path, sha256), preset and fingerprint."""

    name: str
    weights: dict[str, Any]
    preset: dict[str, Any]
    fingerprint: str | None = None
    title: str = ""
    paper: str = ""
    repo: str = ""
    identity: dict[str, Any] = field(default_factory=dict)
    continuous_scores: bool = True
    natural_threshold: float | None = 0.5

    @property
    def label(self) -> str:
        """:func:`run_label` of this detector (user checkpoints named by their sha256 prefix), followed by
        `` [random-init backbone]`` when its recorded backbone was randomly initialised (a probe trained on random
        features), so no table shows such a run as if it were on pretrained features."""
        base = run_label(self.name, _weights_label(self.weights), str(self.preset.get("name", "?")))
        backbone = (self.identity or {}).get("backbone") if isinstance(self.identity, Mapping) else None
        random_init = isinstance(backbone, Mapping) and backbone.get("init") == "random-init"
        return f"{base} {RANDOM_BACKBONE}" if random_init else base


@dataclass(frozen=True)
class DataRecord:
    """What was evaluated: a label, the data root, the manifest paths and digests, the entries and the limit."""

    label: str
    data_root: str | None = None
    manifest: dict[str, Any] | None = None
    datasets: list[dict[str, Any]] = field(default_factory=list)
    limit_per_label: int | None = None
    selection: str | None = None


@dataclass(frozen=True)
class ResultsRecord:
    """One ``results.json``, typed. Unknown extra keys of a newer minor version are kept in :attr:`extra`.

    Attributes:
        schema: ``(major, minor)``.
        detector, data: see :class:`DetectorRecord`, :class:`DataRecord`.
        metrics: ``{"per_dataset": [row, ...], "mean": {...}, "held_in_mean": {...}, "held_out_mean": {...}, ...}``
            with metric values as fractions in [0, 1] (``nan`` when undefined) and image counts ``n_real``/``n_fake``.
        threshold: the decision threshold the accuracies used; ``None`` for a score-only detector (no accuracy
            without a calibrated threshold, see ``extra["calibration"]``).
        path: the file it was read from (``None`` when built in memory).
    """

    schema: tuple[int, int]
    date: str
    detector: DetectorRecord
    data: DataRecord
    metrics: dict[str, Any]
    threshold: float | None = DECISION_THRESHOLD
    git_commit: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    unreadable: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    path: str | None = None

    @property
    def label(self) -> str:
        """The run's canonical name ``name.weights@preset`` (see :func:`run_label`): what identifies the detector."""
        return self.detector.label

    @property
    def user_label(self) -> str | None:
        """The label the user gave the run (``--label``; ``results["run"]["label"]``), or ``None``."""
        value = self.run.get("label") if isinstance(self.run, Mapping) else None
        return str(value) if value else None

    @property
    def display_label(self) -> str:
        """The name tables show: the user label when given, else :attr:`label`."""
        return self.user_label or self.label

    @property
    def limited(self) -> bool:
        """True for a smoke run with ``--limit`` (its numbers are not comparable with a full run)."""
        return bool(self.data.limit_per_label)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "results.json") -> "ResultsRecord":
        """Validate and type a parsed ``results.json``.

        Raises:
            SchemaError: unknown schema, or a required key missing/mistyped (the message names it).
        """
        if not isinstance(data, Mapping):
            raise SchemaError(f"{where} is not a JSON object.")
        schema = parse_schema(data.get("schema"), where)
        try:
            det, dat, metrics = data["detector"], data["data"], data["metrics"]
            detector = DetectorRecord(**{k: det[k] for k in DetectorRecord.__dataclass_fields__ if k in det})
            data_rec = DataRecord(**{k: dat[k] for k in DataRecord.__dataclass_fields__ if k in dat})
            if not isinstance(metrics.get("per_dataset"), list):
                raise KeyError("metrics.per_dataset")
        except (KeyError, TypeError, AttributeError) as exc:
            raise SchemaError(f"{where}: missing or malformed key {exc} for schema "
                              f"{schema[0]}.{schema[1]}; the file is damaged: re-run the evaluation.") from None
        known = set(cls.__dataclass_fields__) - {"extra", "path"}
        return cls(schema=schema, date=str(data.get("date", "")), detector=detector, data=data_rec, metrics=metrics,
                   threshold=_threshold(data), git_commit=data.get("git_commit"),
                   environment=dict(data.get("environment") or {}), run=dict(data.get("run") or {}),
                   warnings=list(data.get("warnings") or []), unreadable=list(data.get("unreadable") or []),
                   extra={k: v for k, v in data.items() if k not in known}, path=None)


def _threshold(data: Mapping[str, Any]) -> float | None:
    """The recorded decision threshold: ``None`` when the file says ``null`` (a score-only detector), 0.5 when the
    key is absent (files of before the score-only contract)."""
    value = data.get("threshold", DECISION_THRESHOLD)
    return None if value is None else float(value)


def read_results(path: str | os.PathLike) -> ResultsRecord:
    """Read and validate one ``results.json`` (or the one inside a run folder).

    Raises:
        SchemaError: not JSON, not a fakebench results file, an unknown major version, or a damaged file.

    Returns:
        The typed record, with :attr:`ResultsRecord.path` set.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchemaError(f"{path} does not exist; pass a run folder or its results.json.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SchemaError(f"{path} is not valid JSON ({exc}); delete it or re-run the evaluation.") from None
    record = ResultsRecord.from_dict(data, str(path))
    object.__setattr__(record, "path", str(path))
    return record


def is_missing(value: Any) -> bool:
    """True for ``None`` and NaN (an undefined metric)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


@dataclass
class Results:
    """What :func:`fakebench.evaluate` returns: the typed results, the per-image predictions and the run folder.

    Attributes:
        record: the results (metrics per test set and means, provenance), as in ``results.json``.
        predictions: one row per image (``image, sha256, dataset, generator, label, logit, prob, decision, error,
            note``); ``label`` 0 real / 1 fake, ``prob`` the fake probability in [0, 1].
        run_dir: the run folder that was written, or ``None`` when nothing was kept on disk.
    """

    record: ResultsRecord
    predictions: Any
    run_dir: Path | None = None

    @property
    def metrics(self) -> dict[str, Any]:
        """``record.metrics``: ``per_dataset`` rows and the means, fractions in [0, 1]."""
        return self.record.metrics

    def table(self) -> Any:
        """The per-test-set table in percent (a pandas DataFrame), as ``metrics.csv``."""
        from fakebench.eval.harness import metrics_table

        return metrics_table(self.record.metrics)

    def __repr__(self) -> str:
        mean = self.record.metrics.get("mean", {})
        acc = mean.get("acc")
        shown = "n/a" if is_missing(acc) else f"{100 * acc:.2f}"
        return (f"Results({self.record.label}, {len(self.record.metrics['per_dataset'])} test sets, "
                f"mean acc {shown}%, run_dir={str(self.run_dir) if self.run_dir else None!r})")
