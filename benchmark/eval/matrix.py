"""Matrix runs: every detector of a config on every data selection, from one YAML file (``fakebench run``).

A config file::

    output: results/runs            # run folders (relative paths are relative to this file's folder)
    leaderboard: results/matrix     # default: <output>/leaderboard
    batch_size: 32
    max_pixels_per_batch: null      # pixel budget of one forward pass (default: the runner's, per device)
    workers: null                   # DataLoader workers (default: cores - 1)
    cache: true                     # read and fill the prediction cache
    limit: null                     # at most N images per label per test set (smoke runs)
    plugins: [my_pkg.my_detector]   # modules that register detectors
    manifest: [default]             # default manifest(s) of the data selections below
    data_root: null                 # default data root of the manifests (FAKEBENCH_DATA, else <checkout>/datasets)
    detectors:
      - {name: npr, weights: progan_4class, preset: native}
      - {name: cnnspot, weights: blur_jpg_prob0.1, preset: crop224, device: cuda}
      - {name: univfd, options: {backbone: clip.pt}, label: UnivFD (my CLIP copy)}
    data:
      - {suites: [forensynths]}
      - {datasets: [gangen-began], manifest: shared-samples, data_root: ../shared/data}
      - {data_dir: ../shared/data/forensynths_samples, crop_box: [50, 50, 306, 306]}
      - {real_dir: photos/, fake_dir: renders/, label: my-renders}

:func:`run_matrix` validates the whole file before any model is loaded (every problem at once, each named
``<file>: <key path>``), skips pairs whose results already exist and match, loads each detector once for all its data
selections, continues past a failing pair and reports it, then writes a leaderboard over the pairs' results.
Under ``torchrun`` each pair is scored by all ranks (:mod:`fakebench.eval.distributed`).
"""

from __future__ import annotations

import gc
import importlib
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from fakebench.core.errors import FakebenchError
from fakebench.core.files import atomic_write_json, sha256_file
from fakebench.eval.results import check_run_label, parse_schema

__all__ = [
    "DataSpec",
    "DetectorSpec",
    "MatrixConfig",
    "MatrixConfigError",
    "MatrixReport",
    "PairOutcome",
    "load_config",
    "parse_config",
    "plan_matrix",
    "run_matrix",
]

log = logging.getLogger(__name__)

_TOP_KEYS = {"output", "leaderboard", "batch_size", "max_pixels_per_batch", "workers", "cache", "limit", "plugins",
             "manifest", "data_root", "detectors", "data"}
_DET_KEYS = {"name", "weights", "preset", "options", "device", "label"}
_DATA_KEYS = {"datasets", "suites", "data_dir", "real_dir", "fake_dir", "crop_box", "manifest", "data_root", "label"}
#: Sidecar written next to results.json by a matrix run: the config entries the run came from.
SIDECAR = "matrix.json"


class MatrixConfigError(FakebenchError):
    """A matrix config has problems; the message lists every one as ``<file>: <key path>: <problem>``."""


@dataclass
class DetectorSpec:
    """One detector of the config (``detectors[index]``); ``weights_path`` is set when ``weights`` is a file."""

    index: int
    name: str
    weights: str | None = None
    preset: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    weights_path: Path | None = None
    preset_info: dict[str, Any] | None = None  # the card's preset (to_dict), when the card is known
    label: str | None = None  # readable run name (results.json run.label), see fakebench.eval.results.check_run_label

    @property
    def key(self) -> str:
        """``detectors[i]`` plus a readable name, for messages."""
        extra = "".join(f" {k}={v}" for k, v in (("weights", self.weights), ("preset", self.preset)) if v)
        return f"detectors[{self.index}] ({self.name}{extra})"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "weights": self.weights, "preset": self.preset, "options": self.options,
                "device": self.device, "label": self.label}


@dataclass
class DataSpec:
    """One data selection of the config (``data[index]``): manifest datasets/suites, a test root, or real/fake
    folders. ``records`` holds its images once validated (sorted path order, per-label limit applied)."""

    index: int
    kind: str  # "manifest" | "data_dir" | "real_fake"
    label: str
    datasets: tuple[str, ...] = ()
    suites: tuple[str, ...] = ()
    data_dir: Path | None = None
    real_dir: Path | None = None
    fake_dir: Path | None = None
    crop_box: tuple[int, int, int, int] | None = None
    manifest_paths: tuple[str, ...] = ()
    data_root: Path | None = None
    manifest: Any = None
    entries: list[Any] = field(default_factory=list)
    records: list[Any] = field(default_factory=list)
    #: For a folder selection, its test sets, discovered once here and scored as they are (no second walk).
    folder_sets: list[Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "label": self.label}
        if self.kind == "manifest":
            out.update(datasets=list(self.datasets), suites=list(self.suites), manifest=list(self.manifest_paths),
                       data_root=str(self.data_root))
        else:
            out.update({k: str(v) for k, v in (("data_dir", self.data_dir), ("real_dir", self.real_dir),
                                                ("fake_dir", self.fake_dir)) if v is not None})
            out["crop_box"] = list(self.crop_box) if self.crop_box else None
        return out


@dataclass
class MatrixConfig:
    """A validated config (see the module docstring for the file format)."""

    source: str
    base: Path
    output: Path
    leaderboard: Path
    batch_size: int
    workers: int | None
    cache: bool
    limit: int | None
    detectors: list[DetectorSpec]
    data: list[DataSpec]
    max_pixels_per_batch: int | None = None


@dataclass
class PairOutcome:
    """What happened to one (detector, data selection) pair: ``status`` is ``ran``, ``skipped`` (matching results
    already existed), ``failed`` (``error`` says why) or ``planned`` (dry run)."""

    detector: DetectorSpec
    data: DataSpec
    status: str = "planned"
    run_dir: Path | None = None
    error: str = ""
    seconds: float = 0.0
    computed: int | None = None


@dataclass
class MatrixReport:
    """The outcome of :func:`run_matrix`: one :class:`PairOutcome` per pair (config order: detector-major) and the
    leaderboard files written."""

    config: MatrixConfig
    pairs: list[PairOutcome]
    leaderboard: list[Path] = field(default_factory=list)
    leaderboard_error: str = ""

    @property
    def failed(self) -> list[PairOutcome]:
        return [p for p in self.pairs if p.status == "failed"]

    @property
    def ok(self) -> bool:
        """True when no pair failed and the leaderboard was written."""
        return not self.failed and not self.leaderboard_error

    def summary(self) -> str:
        """A plain-text table: one line per pair with its status, run folder or error."""
        lines = []
        for p in self.pairs:
            what = p.error if p.status == "failed" else (str(p.run_dir) if p.run_dir else "")
            extra = f" ({p.computed} scored, {p.seconds:.1f}s)" if p.status == "ran" and p.computed is not None else ""
            lines.append(f"{p.status:8s} {p.detector.key} x data[{p.data.index}] ({p.data.label}){extra}  {what}")
        counts = {s: sum(p.status == s for p in self.pairs) for s in ("ran", "skipped", "failed", "planned")}
        lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n) + f" of {len(self.pairs)} pairs")
        return "\n".join(lines)


# -- parsing and validation --------------------------------------------------------------------------------------------
class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, key: str, message: str) -> None:
        self.items.append(f"{self.source}: {key}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            head = f"{len(self.items)} problem{'s' if len(self.items) > 1 else ''} in {self.source}:"
            raise MatrixConfigError("\n".join([head] + [f"  {item}" for item in self.items]))


def _strings(value: Any, key: str, problems: _Problems) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    problems.add(key, f"expected a name or a list of names, got {value!r}")
    return ()


def _path(base: Path, value: Any) -> Path:
    path = Path(os.path.expandvars(str(value))).expanduser()
    return (path if path.is_absolute() else base / path).resolve()


def _manifest_arg(base: Path, value: str) -> str:
    from fakebench.core.env import BUNDLED_MANIFESTS

    return value if value in BUNDLED_MANIFESTS and not (base / value).exists() else str(_path(base, value))


def _int(raw: Mapping, key: str, problems: _Problems, *, minimum: int, default: int | None) -> int | None:
    value = raw.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        problems.add(key, f"expected an integer >= {minimum}{' or null' if default is None else ''}, got {value!r}")
        return default
    return value


def load_config(path: str | os.PathLike) -> MatrixConfig:
    """Read and validate a matrix config YAML file (see :func:`parse_config`).

    Raises:
        MatrixConfigError: the file is missing, is not YAML, or has problems (all listed).
    """
    path = Path(path)
    if not path.is_file():
        raise MatrixConfigError(f"{path}: config file not found; pass a YAML file (see `fakebench run --help`).")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise MatrixConfigError(f"{path}: not valid YAML ({exc}).") from exc
    return parse_config(raw, source=str(path), base=path.resolve().parent)


def parse_config(raw: Any, *, source: str = "<config>", base: str | os.PathLike | None = None) -> MatrixConfig:
    """Validate a config mapping without loading any model or importing torch for the built-in detectors.

    Checks: unknown keys; detector names (the registry, after importing ``plugins``); weights tags (the card) and
    checkpoint files; presets (the card); ``options`` a mapping; manifest files, dataset and suite names; every data
    folder (all missing ones are listed, each with its ``fakebench download --dataset NAME`` command); test roots and
    real/fake folders and their images; conflicting keys (two kinds of data in one selection, ``manifest``/
    ``data_root`` on a folder, ``crop_box`` on manifest data, the same detector twice, two selections with one
    label); ``batch_size``/``workers``/``limit``/``cache`` types.

    Args:
        raw: the parsed YAML (a mapping).
        source: the file name used in messages.
        base: folder that relative paths are relative to (default: the current folder).

    Returns:
        The :class:`MatrixConfig`, with each data selection's images discovered.

    Raises:
        MatrixConfigError: one message listing every problem as ``<source>: <key path>: <problem>``.
    """
    from fakebench import detectors as det_pkg
    from fakebench.core.env import data_root as default_data_root
    from fakebench.core.env import default_manifest_path

    base = Path(base).resolve() if base is not None else Path.cwd()
    problems = _Problems(source)
    if not isinstance(raw, Mapping):
        problems.add("(top level)", f"expected a mapping with 'detectors' and 'data', got {type(raw).__name__}")
        problems.raise_if_any()
    for key in sorted(set(raw) - _TOP_KEYS):
        problems.add(str(key), f"unknown key; expected one of {', '.join(sorted(_TOP_KEYS))}")
    output = _path(base, raw.get("output") or "results/runs")
    leaderboard = _path(base, raw["leaderboard"]) if raw.get("leaderboard") else output / "leaderboard"
    batch_size = _int(raw, "batch_size", problems, minimum=1, default=32) or 32
    workers = _int(raw, "workers", problems, minimum=0, default=None)
    max_pixels = _int(raw, "max_pixels_per_batch", problems, minimum=1, default=None)
    limit = _int(raw, "limit", problems, minimum=1, default=None)
    cache = raw.get("cache", True)
    if not isinstance(cache, bool):
        problems.add("cache", f"expected true or false, got {cache!r}")
        cache = True
    for i, module in enumerate(_strings(raw.get("plugins"), "plugins", problems)):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            problems.add(f"plugins[{i}]", f"cannot import {module!r} ({exc}); is it on PYTHONPATH?")

    # detectors
    det_specs: list[DetectorSpec] = []
    raw_dets = raw.get("detectors")
    if not isinstance(raw_dets, list) or not raw_dets:
        problems.add("detectors", "expected a non-empty list of detectors ({name: ..., weights: ..., preset: ...})")
        raw_dets = []
    seen_dets: dict[str, int] = {}
    for i, item in enumerate(raw_dets):
        key = f"detectors[{i}]"
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, Mapping):
            problems.add(key, f"expected a mapping such as {{name: npr, preset: native}}, got {item!r}")
            continue
        for extra in sorted(set(item) - _DET_KEYS):
            problems.add(f"{key}.{extra}", f"unknown key; expected one of {', '.join(sorted(_DET_KEYS))}")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            problems.add(f"{key}.name", "missing detector name (see `fakebench list detectors`)")
            continue
        spec = DetectorSpec(i, name, device=str(item.get("device") or "cpu"))
        for opt in ("weights", "preset"):
            value = item.get(opt)
            if value is not None and not isinstance(value, (str, int, float)):
                problems.add(f"{key}.{opt}", f"expected a string, got {value!r}")
            elif value is not None:
                setattr(spec, opt, str(value))
        options = item.get("options") or {}
        if not isinstance(options, Mapping):
            problems.add(f"{key}.options", f"expected a mapping of load() keyword arguments, got {options!r}")
            options = {}
        spec.options = {str(k).replace("-", "_"): v for k, v in options.items()}
        if item.get("label") is not None:
            try:
                spec.label = check_run_label(str(item["label"]))
            except FakebenchError as exc:
                problems.add(f"{key}.label", str(exc))
        if name not in det_pkg.REGISTRY:
            try:
                det_pkg.REGISTRY.card(name)
            except FakebenchError as exc:
                problems.add(f"{key}.name", str(exc))
            continue
        card = det_pkg.REGISTRY.card(name)
        if spec.weights is not None:
            candidate = _path(base, spec.weights)
            if card is not None and card.has_weights(spec.weights):
                pass
            elif candidate.is_file():
                spec.weights_path = candidate
            elif os.sep in spec.weights or spec.weights.endswith((".pth", ".pt", ".bin", ".safetensors", ".xz")):
                problems.add(f"{key}.weights", f"checkpoint file {candidate} does not exist")
            elif card is not None:
                try:
                    card.get_weights(spec.weights)
                except FakebenchError as exc:
                    problems.add(f"{key}.weights", f"{exc} (or give an existing checkpoint file)")
        if card is not None:
            preset = spec.preset
            if preset is None and spec.weights and card.has_weights(spec.weights):
                preset = card.get_weights(spec.weights).preset
            elif preset is None and spec.weights is None and card.default_weights is not None:
                preset = card.default_weights.preset
            try:
                spec.preset_info = card.get_preset(preset).to_dict()
            except FakebenchError as exc:
                problems.add(f"{key}.preset", str(exc))
        ident = json.dumps([name, str(spec.weights_path or spec.weights), spec.preset, spec.options, spec.device],
                           sort_keys=True, default=str)
        if ident in seen_dets:
            problems.add(key, f"the same detector as detectors[{seen_dets[ident]}]; remove one")
        seen_dets.setdefault(ident, i)
        det_specs.append(spec)

    # data
    default_manifests = tuple(_manifest_arg(base, m) for m in _strings(raw.get("manifest"), "manifest", problems)) \
        or (str(default_manifest_path()),)
    default_root = _path(base, raw["data_root"]) if raw.get("data_root") else default_data_root()
    data_specs: list[DataSpec] = []
    raw_data = raw.get("data")
    if not isinstance(raw_data, list) or not raw_data:
        problems.add("data", "expected a non-empty list of data selections ({suites: [...]}, {data_dir: ...}, ...)")
        raw_data = []
    labels: dict[str, int] = {}
    manifests: dict[tuple[str, ...], Any] = {}
    for i, item in enumerate(raw_data):
        spec = _parse_data(i, item, base, problems, default_manifests, default_root, manifests, limit)
        if spec is None:
            continue
        if spec.label in labels:
            problems.add(f"data[{i}].label", f"label {spec.label!r} is also the label of data[{labels[spec.label]}] "
                                             f"(both would write the same run folders); set a distinct 'label'")
        labels.setdefault(spec.label, i)
        data_specs.append(spec)
    problems.raise_if_any()
    return MatrixConfig(source, base, output, leaderboard, batch_size, workers, cache, limit, det_specs, data_specs,
                        max_pixels)


def _parse_data(i: int, item: Any, base: Path, problems: _Problems, default_manifests: tuple[str, ...],
                default_root: Path, manifests: dict[tuple[str, ...], Any], limit: int | None) -> DataSpec | None:
    from fakebench.data.images import records_for_entry
    from fakebench.data.manifest import load_manifests
    from fakebench.eval.harness import sets_from_data_dir, sets_from_real_fake_dirs

    key = f"data[{i}]"
    if not isinstance(item, Mapping):
        problems.add(key, f"expected a mapping such as {{suites: [forensynths]}}, got {item!r}")
        return None
    for extra in sorted(set(item) - _DATA_KEYS):
        problems.add(f"{key}.{extra}", f"unknown key; expected one of {', '.join(sorted(_DATA_KEYS))}")
    kinds = [k for k, present in (("datasets/suites", item.get("datasets") or item.get("suites")),
                                  ("data_dir", item.get("data_dir")),
                                  ("real_dir/fake_dir", item.get("real_dir") or item.get("fake_dir"))) if present]
    if len(kinds) != 1:
        problems.add(key, "give exactly one of datasets/suites, data_dir, or real_dir/fake_dir"
                          + (f" (got {' and '.join(kinds)})" if kinds else ""))
        return None
    label = item.get("label")
    if label is not None and (not isinstance(label, str) or not label):
        problems.add(f"{key}.label", f"expected a non-empty string, got {label!r}")
        label = None
    if kinds[0] == "datasets/suites":
        for bad in ("crop_box",):
            if item.get(bad) is not None:
                problems.add(f"{key}.{bad}", "conflicts with datasets/suites (the manifest gives each dataset's crop "
                                             "box); use data_dir or real_dir/fake_dir for a custom crop")
        names = _strings(item.get("datasets"), f"{key}.datasets", problems)
        suites = _strings(item.get("suites"), f"{key}.suites", problems)
        paths = tuple(_manifest_arg(base, m) for m in _strings(item.get("manifest"), f"{key}.manifest", problems)) \
            or default_manifests
        root = _path(base, item["data_root"]) if item.get("data_root") else default_root
        if paths not in manifests:
            try:
                manifests[paths] = load_manifests(paths)
            except FakebenchError as exc:
                manifests[paths] = None
                problems.add(f"{key}.manifest", str(exc))
        manifest = manifests[paths]
        spec = DataSpec(i, "manifest", label or ("+".join(suites + names) if len(suites + names) <= 3
                                                 else f"{len(suites + names)}-selections"),
                        datasets=names, suites=suites, manifest_paths=paths, data_root=root, manifest=manifest)
        if manifest is None:
            return spec
        chosen = []
        for field_name, values in (("datasets", names), ("suites", suites)):
            for j, value in enumerate(values):
                try:
                    chosen += manifest.select(**({"names": [value]} if field_name == "datasets" else
                                                 {"suites": [value]}))
                except FakebenchError as exc:
                    problems.add(f"{key}.{field_name}[{j}]", str(exc))
        seen = set()
        spec.entries = [e for e in manifest.datasets.values() if e.name in {c.name for c in chosen}
                        and not (e.name in seen or seen.add(e.name))]
        if not spec.entries:
            if chosen or not (names or suites):
                problems.add(key, "selects no dataset")
            return spec
        if label is None and len(suites + names) > 3:
            spec.label = f"{len(spec.entries)}-datasets"
        for entry in manifest.with_references(spec.entries):
            folder = root / entry.path
            if not folder.is_dir():
                problems.add(f"{key}", f"dataset {entry.name!r}: folder {folder} does not exist; download it with "
                                       f"`fakebench download --dataset {entry.name}` or set data_root")
                continue
            try:
                records = records_for_entry(entry, root)
            except FakebenchError as exc:
                problems.add(key, f"dataset {entry.name!r}: {exc}")
                continue
            spec.records += _limit(records, limit)
        return spec
    for bad in ("manifest", "data_root"):
        if item.get(bad) is not None:
            problems.add(f"{key}.{bad}", f"conflicts with {kinds[0]} ({bad} only applies to datasets/suites)")
    box = item.get("crop_box")
    crop = None
    if box is not None:
        parts = box.split(",") if isinstance(box, str) else box
        try:
            crop = tuple(int(v) for v in parts)
        except (TypeError, ValueError):
            crop = ()
        if len(crop) != 4 or crop[0] >= crop[2] or crop[1] >= crop[3]:
            problems.add(f"{key}.crop_box", f"expected [left, top, right, bottom] with left < right and top < bottom, "
                                            f"got {box!r}")
            crop = None
    if kinds[0] == "data_dir":
        folder = _path(base, item["data_dir"])
        spec = DataSpec(i, "data_dir", label or folder.name, data_dir=folder, crop_box=crop)
        if not folder.is_dir():
            problems.add(f"{key}.data_dir", f"folder {folder} does not exist")
            return spec
        try:
            spec.folder_sets = sets_from_data_dir(folder, crop_box=crop, limit=limit)
            spec.records = [r for s in spec.folder_sets for r in s.records]
        except FakebenchError as exc:
            problems.add(f"{key}.data_dir", str(exc))
        return spec
    real = _path(base, item["real_dir"]) if item.get("real_dir") else None
    fake = _path(base, item["fake_dir"]) if item.get("fake_dir") else None
    spec = DataSpec(i, "real_fake", label or "real-fake-dirs", real_dir=real, fake_dir=fake, crop_box=crop)
    missing = False
    for field_name, folder in (("real_dir", real), ("fake_dir", fake)):
        if folder is not None and not folder.is_dir():
            problems.add(f"{key}.{field_name}", f"folder {folder} does not exist")
            missing = True
    if not missing:
        try:
            spec.folder_sets = sets_from_real_fake_dirs(real, fake, name=spec.label, crop_box=crop, limit=limit)
            spec.records = [r for s in spec.folder_sets for r in s.records]
        except FakebenchError as exc:
            problems.add(key, str(exc))
    return spec


def _limit(records: list[Any], limit: int | None) -> list[Any]:
    """First ``limit`` images per label (the harness's rule, :func:`fakebench.eval.harness.limit_records`)."""
    from fakebench.eval.harness import limit_records

    return limit_records(records, limit)


# -- planning (skip check) ---------------------------------------------------------------------------------------------
def _weights_match(spec: DetectorSpec, weights: Mapping[str, Any], card: Any, sha_cache: dict[Path, str]) -> bool:
    if spec.weights_path is not None:
        if spec.weights_path not in sha_cache:
            sha_cache[spec.weights_path] = sha256_file(spec.weights_path)
        return weights.get("sha256") == sha_cache[spec.weights_path]
    tag = spec.weights
    if tag is None:
        if card is None or card.default_weights is None:
            return True  # the detector has no weights choice
        tag = card.default_weights.tag
    if card is not None and card.has_weights(tag):
        wanted = card.get_weights(tag)
        if wanted.sha256 and weights.get("sha256") and weights["sha256"] != wanted.sha256:
            return False
        return weights.get("tag") == wanted.tag
    return weights.get("tag") == tag


def _existing(config: MatrixConfig, det: DetectorSpec, data: DataSpec, sha_cache: dict[Path, str]
              ) -> Path | None:
    """The run folder of an earlier run of this pair whose results match, or ``None``.

    A match needs, in ``results.json``: the detector name, the card's preset (all fields), the weights (file sha256,
    or the tag), the data label, the per-label limit, the manifest files' sha256 and the dataset names (manifest
    selections), and the data selection hash (:func:`fakebench.eval.harness.selection_hash`: every image path,
    label, test set and crop box; for older results without it, exactly this selection's images in
    ``predictions.csv``); and in the matrix sidecar (when the detector has ``options``): the same options.
    """
    from fakebench import detectors as det_pkg
    from fakebench.eval.distributed import _read_rows

    if not config.output.is_dir():
        return None
    card = det_pkg.REGISTRY.card(det.name)
    wanted_images = {r.path for r in data.records}
    for path in sorted(config.output.glob("*/*/results.json")):
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
            parse_schema(results.get("schema"), str(path))  # another major version: not reused
            d, info = results["detector"], results["data"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError, FakebenchError):
            continue
        if d.get("name") != det.name or info.get("label") != data.label:
            continue
        if det.label and (results.get("run") or {}).get("label") != det.label:
            continue  # re-run (served from the prediction cache) so the results carry the new label
        if info.get("limit_per_label") != config.limit:
            continue
        if det.preset_info is not None and d.get("preset") != det.preset_info:
            continue
        if det.preset_info is None and det.preset is not None and (d.get("preset") or {}).get("name") != det.preset:
            continue
        if not _weights_match(det, d.get("weights") or {}, card, sha_cache):
            continue
        if data.kind == "manifest":
            manifest_info = info.get("manifest") or {}
            if sorted((manifest_info.get("sha256") or {}).values()) != sorted(data.manifest.digests.values()):
                continue
            names = [e.name for e in data.manifest.with_references(data.entries)]
            if sorted(x.get("name") for x in info.get("datasets") or []) != sorted(names):
                continue
        sidecar = path.with_name(SIDECAR)
        recorded = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}
        if det.options and (recorded.get("detector") or {}).get("options") != det.options:
            continue
        if info.get("selection_sha256"):  # images, labels, test sets and crop boxes, as the harness keys runs
            from fakebench.eval.harness import selection_hash

            if info["selection_sha256"] != selection_hash(data.records):
                continue
        else:
            _, rows = _read_rows(path.with_name("predictions.csv"))
            if set(rows) != wanted_images:
                continue
        return path.parent
    return None


def plan_matrix(config: MatrixConfig) -> list[PairOutcome]:
    """Every (detector, data) pair in config order, ``skipped`` where matching results exist, else ``planned``.
    Loads no model."""
    sha_cache: dict[Path, str] = {}
    pairs = []
    for det in config.detectors:
        for data in config.data:
            found = _existing(config, det, data, sha_cache)
            pairs.append(PairOutcome(det, data, "skipped" if found else "planned", run_dir=found))
    return pairs


# -- running -----------------------------------------------------------------------------------------------------------
def _sets_for(data: DataSpec, detector: Any, limit: int | None) -> list[Any]:
    """The test sets of a data selection: a folder selection's, found at validation; a manifest selection's, built
    for this detector (held-in status and published numbers depend on it)."""
    from fakebench.eval.harness import sets_from_manifest

    if data.kind != "manifest":
        return data.folder_sets
    return sets_from_manifest(data.manifest, data.entries, detector=detector.name, weights_tag=detector.weights.tag,
                              preset=detector.preset.name, data_root=data.data_root, limit=limit, card=detector.card)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}" if not isinstance(exc, FakebenchError) else \
        " ".join(text)


def run_matrix(config: MatrixConfig | str | os.PathLike | Mapping[str, Any], *, dry_run: bool = False,
               progress: bool = True, only: set[tuple[int, int]] | None = None,
               leaderboard: bool = True) -> MatrixReport:
    """Run every (detector, data selection) pair of ``config`` and build the leaderboard.

    Each detector is loaded once (only when one of its pairs needs running) and reused for all its data selections;
    each pair goes through :func:`fakebench.eval.harness.run_evaluation` (under torchrun,
    :func:`fakebench.eval.distributed.evaluate_distributed`) into ``<output>/<detector>.<weights>@<preset>/<label>/``
    plus a ``matrix.json`` sidecar (the config entries). A pair whose results already exist and match is skipped
    (see :func:`plan_matrix`); a pair that raises is recorded as failed and the others go on. The leaderboard
    (:func:`fakebench.eval.leaderboard.write_leaderboard`) covers every ran or skipped pair.

    Args:
        config: a :class:`MatrixConfig`, a YAML path, or a config mapping (relative paths against the current folder).
        dry_run: validate and plan only (no model is loaded, nothing is written).
        progress: progress bars.
        only: run only these ``(detector index, data index)`` pairs (the others stay ``planned`` or ``skipped``);
            a launcher's job runs one pair this way (:mod:`fakebench.eval.launch`).
        leaderboard: write the leaderboard (a launcher writes it once, after every job).

    Returns:
        A :class:`MatrixReport`; ``report.ok`` is False when a pair failed.

    Raises:
        MatrixConfigError: the config is invalid (nothing was run).
    """
    from fakebench.eval import distributed

    if not isinstance(config, MatrixConfig):
        config = parse_config(config) if isinstance(config, Mapping) else load_config(config)
    pairs = plan_matrix(config)
    report = MatrixReport(config, pairs)
    if dry_run:
        return report
    distributed.init()
    distributed.barrier()  # every rank planned before any rank writes results
    main_rank = distributed.rank() == 0
    for det in config.detectors:
        todo = [p for p in pairs if p.detector is det and p.status == "planned"
                and (only is None or (det.index, p.data.index) in only)]
        if not todo:
            continue
        detector, error = None, None
        try:
            from fakebench.eval.deferred import load_deferred

            weights = str(det.weights_path) if det.weights_path is not None else det.weights
            # the model is loaded only if a pair has an image that is neither resumed nor cached
            detector = load_deferred(det.name, weights, preset=det.preset,
                                     device=distributed.rank_device(det.device), options=det.options)
        except Exception as exc:
            log.debug("loading %s failed", det.key, exc_info=True)
            error = f"cannot load {det.name}: {_describe(exc)}"
        if not distributed.all_ok(error is None):
            for pair in todo:
                pair.status, pair.error = "failed", error or "another rank could not load the detector"
            continue
        for pair in todo:
            start = time.perf_counter()
            try:
                sets = _sets_for(pair.data, detector, config.limit)
                on_manifest = pair.data.kind == "manifest"
                kwargs: dict[str, Any] = {
                    "output": config.output, "data_label": pair.data.label,
                    "manifest": pair.data.manifest if on_manifest else None,
                    "data_root": pair.data.data_root if on_manifest else None, "batch_size": config.batch_size,
                    "num_workers": config.workers, "use_cache": config.cache, "progress": progress and main_rank,
                    "limit": config.limit, "label": det.label}
                if config.max_pixels_per_batch:
                    kwargs["max_pixels_per_batch"] = config.max_pixels_per_batch
                if distributed.is_distributed():
                    run_dir, results = distributed.evaluate_distributed(detector, sets, **kwargs)
                else:
                    from fakebench.eval.harness import run_evaluation

                    run_dir, results = run_evaluation(detector, sets, **kwargs)
                if main_rank:
                    atomic_write_json(Path(run_dir) / SIDECAR, {
                        "schema": "fakebench.matrix-pair/1", "config": config.source,
                        "detector": det.to_dict(), "data": pair.data.to_dict()})
                pair.status, pair.run_dir = "ran", Path(run_dir)
                pair.computed = (results or {}).get("run", {}).get("computed")
            except Exception as exc:  # noqa: BLE001 -- one failing pair must not stop the others
                pair.status, pair.error = "failed", _describe(exc)
                log.warning("%s x data[%d] (%s) failed: %s", det.key, pair.data.index, pair.data.label, pair.error)
                log.debug("%s x data[%d] traceback", det.key, pair.data.index, exc_info=True)
            pair.seconds = time.perf_counter() - start
        del detector
        gc.collect()
        _free_cuda(det.device)
    if main_rank and leaderboard:
        _write_leaderboard(report)
    return report


def _free_cuda(device: str) -> None:
    import sys

    torch = sys.modules.get("torch")
    if device.startswith("cuda") and torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _write_leaderboard(report: MatrixReport) -> None:
    """The leaderboard (:func:`fakebench.eval.leaderboard.write_leaderboard`) over every ran or skipped pair."""
    from fakebench.eval.leaderboard import load_results, write_leaderboard

    done = [p.run_dir / "results.json" for p in report.pairs if p.status in ("ran", "skipped") and p.run_dir]
    if not done:
        return
    config = report.config
    try:
        report.leaderboard = write_leaderboard(
            load_results(done), config.leaderboard, title=f"fakebench matrix: {Path(config.source).name}",
            note=f"{len(config.detectors)} detectors x {len(config.data)} data selections from `{config.source}`.")
    except Exception as exc:
        log.warning("leaderboard failed", exc_info=True)
        report.leaderboard_error = _describe(exc)
