"""The dataset manifest: declarative records of every benchmark test set, validated on load.

A manifest is a YAML file (bundled: ``fakebench/data/manifests/manifest.yaml``; field reference in ``datasets/README.md``) with
``schema_version: 1``, a ``suites`` mapping and a ``datasets`` list. Each dataset record holds everything about one
test set: label, generator, family, folder layout, expected image counts, held-in status per checkpoint, published
numbers, download sources. Loading checks every field and raises :class:`~fakebench.core.errors.ManifestError` naming the
file, the entry and the field.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from fakebench.core.env import BUNDLED_MANIFESTS, bundled_manifest, default_manifest_path
from fakebench.core.errors import ManifestError, UnknownNameError
from fakebench.core.files import sha256_file
from fakebench.hub.sources import Source

__all__ = ["FAMILIES", "METRICS", "SuiteEntry", "ParquetSpec", "DatasetEntry", "Manifest", "load_manifest", "load_manifests",
           "resolve_manifest_path"]

FAMILIES = ("real", "gan", "diffusion", "autoregressive", "inpainting", "super-resolution", "style-transfer",
            "face-swap", "face-manipulation", "low-level-vision", "adversarial", "backdoor", "data-poisoning", "mixed",
            "unknown")
#: Metrics a ``published`` record may give, in percent.
METRICS = ("acc", "ap", "real_acc", "fake_acc", "auc")
_LABELS = ("real", "fake", "mixed")
_LAYOUTS = ("folder", "real_fake", "parquet")
#: Keys of a dataset's ``parquet`` mapping (``layout: parquet``); see :class:`ParquetSpec`.
_PARQUET_KEYS = ("files", "image", "label", "generator", "where", "real_values", "fake_values")


@dataclass(frozen=True)
class SuiteEntry:
    """A benchmark suite (a group of test sets from one paper/release).

    ``protocol`` maps ``detector`` or ``detector.tag`` to the name of the preset the official test script uses on this
    suite (NPR ``test.py``: GANGen-Detection at native size, ForenSynths/DiffusionForensics/UniversalFakeDetect resized
    to 256x256); every dataset of the suite inherits it unless it gives its own.
    """

    name: str
    title: str = ""
    paper: str = ""
    url: str = ""
    path: str = ""
    licence: str = ""
    sources: tuple[Source, ...] = ()
    notes: str = ""
    protocol: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sources"] = [s.to_dict() for s in self.sources]
        data["protocol"] = dict(self.protocol)
        return data


@dataclass(frozen=True)
class ParquetSpec:
    """Where the images of a ``layout: parquet`` dataset are inside its parquet shards (the hub's layout, e.g.
    ``data/test-00000-of-00042.parquet``, one row per image).

    Attributes:
        files: glob of the shards relative to the dataset folder (``**/*.parquet`` by default); matched shards are
            read in sorted order.
        image: column holding the encoded image: ``binary`` bytes, or the hub ``Image`` feature (a struct with a
            ``bytes`` field).
        label: column holding the label; ``""`` for single-label sets (``labels: real|fake``).
        generator: column naming the generator of each row (``""`` when none); recorded, and usable in ``where``.
        where: ``{column: value or [values]}``: only rows whose columns equal (one of) the values belong to this
            set, e.g. one subset of a shared shard collection.
        real_values / fake_values: label column values meaning real / fake (default ``[0, "real"]`` /
            ``[1, "fake"]``; strings compare case-insensitively). A row with any other label is an error row.
    """

    files: str = "**/*.parquet"
    image: str = "image"
    label: str = ""
    generator: str = ""
    where: Mapping[str, Any] = field(default_factory=dict)
    real_values: tuple[Any, ...] = (0, "real")
    fake_values: tuple[Any, ...] = (1, "fake")

    def to_dict(self) -> dict[str, Any]:
        return {"files": self.files, "image": self.image, "label": self.label, "generator": self.generator,
                "where": dict(self.where), "real_values": list(self.real_values),
                "fake_values": list(self.fake_values)}


@dataclass(frozen=True)
class DatasetEntry:
    """One test set.

    Attributes:
        name: unique name (``afp-sd2``, ``forensynths-progan``).
        suite: the suite it belongs to.
        generator: display name of the generator (for real-only sets, the real source).
        family: one of :data:`FAMILIES`.
        labels: ``real`` or ``fake`` (every image has that label) or ``mixed`` (``0_real``/``1_fake`` folders).
        layout: ``folder`` (single-label folder, searched recursively) or ``real_fake`` (the ``0_real``/``1_fake``
            convention, with optional class subfolders each holding both).
        path: folder relative to the data root.
        real_reference: for single-label fake sets, the real sets whose images are paired with it for AP/AUC.
        expected_count: ``{'real': int|None, 'fake': int|None}`` images expected on disk.
        held_in: weights ids (``detector.tag``) whose training distribution includes this set.
        held_out_in_table: weights ids, each also in ``held_in``, for which the paper's table nevertheless counts this
            set as held-out (AntifakePrompt v3: the README lists LaMa in the '+LaMa' training data, but the table's
            held-out mean of 94.90 includes LaMa). :meth:`table_held_in` gives the table's view.
        protocol: ``{"detector[.tag]": preset name}``, the official test protocol for this set (the suite's
            ``protocol`` merged with the dataset's own, which wins); see :meth:`preset_for`.
        published: ``{"detector[.tag][@preset]": {metric: percent, ..., "source": str}}``.
        sources: per-dataset download sources (empty: the suite's sources provide it).
        crop_box: optional ``(left, top, right, bottom)`` crop applied to every image before any detector
            preprocessing (e.g. to remove a baked-in frame).
        licence: licence of the images.
        notes: caveats.
        real_source: where the real images come from (``ImageNet val``, ``RAISE-1k``), for single-label fake
            sets and mixed sets alike (``""`` when the manifest does not say).
        retrained: numbers the paper reports for detectors it **retrained** itself (same shape as ``published``):
            shown for context, never compared with runs of the hosted checkpoints.
        parquet: for ``layout: parquet``, where the images, labels and generators are (:class:`ParquetSpec`).
        label_dirs: for ``layout: real_fake``, other names of the label folders, ``{"real": "nature", "fake": "ai"}``
            (GenImage); empty = ``0_real``/``1_fake``.
    """

    name: str
    suite: str
    generator: str
    family: str
    labels: str
    layout: str
    path: str
    real_reference: tuple[str, ...] = ()
    expected_count: Mapping[str, int | None] = field(default_factory=lambda: {"real": None, "fake": None})
    held_in: tuple[str, ...] = ()
    held_out_in_table: tuple[str, ...] = ()
    published: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    sources: tuple[Source, ...] = ()
    crop_box: tuple[int, int, int, int] | None = None
    licence: str = ""
    notes: str = ""
    protocol: Mapping[str, str] = field(default_factory=dict)
    real_source: str = ""
    retrained: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    parquet: ParquetSpec | None = None
    label_dirs: Mapping[str, str] = field(default_factory=dict)

    def is_held_in(self, detector: str, tag: str | None = None) -> bool:
        """True when the set is in the training distribution of ``detector`` (``.tag`` if given)."""
        keys = {detector, f"{detector}.{tag}"} if tag else {detector}
        return any(h in keys for h in self.held_in)

    def table_held_in(self, detector: str, tag: str | None = None) -> bool:
        """Held-in status as the paper's table counts it for its held-out mean: :meth:`is_held_in`, except for the
        weights listed in ``held_out_in_table`` (then ``False``)."""
        keys = {detector, f"{detector}.{tag}"} if tag else {detector}
        return self.is_held_in(detector, tag) and not any(h in keys for h in self.held_out_in_table)

    def preset_for(self, detector: str, tag: str | None = None) -> str | None:
        """The preset the official test protocol uses for ``detector`` (``detector.tag`` first) on this set, or
        ``None`` when the manifest names none (then the weights' own preset applies).

        >>> DatasetEntry("x", "s", "g", "gan", "mixed", "real_fake", "x", protocol={"npr": "native"}).preset_for("npr")
        'native'
        """
        if tag and f"{detector}.{tag}" in self.protocol:
            return self.protocol[f"{detector}.{tag}"]
        return self.protocol.get(detector)

    def published_for(self, detector: str, tag: str | None = None, preset: str | None = None) -> dict[str, Any]:
        """The most specific published record for ``detector[.tag][@preset]`` (empty dict when none)."""
        candidates = []
        if tag and preset:
            candidates.append(f"{detector}.{tag}@{preset}")
        if tag:
            candidates.append(f"{detector}.{tag}")
        if preset:
            candidates.append(f"{detector}@{preset}")
        candidates.append(detector)
        for key in candidates:
            if key in self.published:
                return dict(self.published[key])
        return {}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sources"] = [s.to_dict() for s in self.sources]
        data["real_reference"] = list(self.real_reference)
        data["held_in"] = list(self.held_in)
        data["held_out_in_table"] = list(self.held_out_in_table)
        data["protocol"] = dict(self.protocol)
        data["crop_box"] = list(self.crop_box) if self.crop_box else None
        data["expected_count"] = dict(self.expected_count)
        data["published"] = {k: dict(v) for k, v in self.published.items()}
        data["retrained"] = {k: dict(v) for k, v in self.retrained.items()}
        data["parquet"] = self.parquet.to_dict() if self.parquet else None
        data["label_dirs"] = dict(self.label_dirs)
        return data


@dataclass
class Manifest:
    """A loaded manifest (or several merged).

    Attributes:
        paths: the files it was read from.
        digests: ``{path: sha256}`` of those files, recorded in every result.
        suites: suite name -> :class:`SuiteEntry`.
        datasets: dataset name -> :class:`DatasetEntry`, in file order.
    """

    paths: list[Path]
    digests: dict[str, str]
    suites: dict[str, SuiteEntry]
    datasets: dict[str, DatasetEntry]

    @property
    def path(self) -> Path:
        """The first file the manifest was read from."""
        return self.paths[0]

    def get(self, name: str) -> DatasetEntry:
        """The dataset called ``name``.

        Raises:
            UnknownNameError: no such dataset (with suggestions).
        """
        from fakebench.core.names import suggest

        try:
            return self.datasets[name]
        except KeyError:
            raise UnknownNameError(suggest(name, self.datasets, "dataset")) from None

    def select(self, names: Iterable[str] = (), suites: Iterable[str] = ()) -> list[DatasetEntry]:
        """Datasets by name and/or by suite, in manifest order, each once.

        Raises:
            UnknownNameError: an unknown dataset or suite name (with suggestions).
        """
        from fakebench.core.names import suggest

        chosen = [self.get(n).name for n in names]
        for suite in suites:
            if suite not in self.suites:
                raise UnknownNameError(suggest(suite, self.suites, "suite"))
            chosen += [d.name for d in self.datasets.values() if d.suite == suite]
        wanted = set(chosen)
        return [d for d in self.datasets.values() if d.name in wanted]

    def with_references(self, entries: list[DatasetEntry]) -> list[DatasetEntry]:
        """``entries`` plus the real sets they name in ``real_reference`` (so fake-only sets can get AP/AUC)."""
        names = {e.name for e in entries}
        extra = [self.get(r) for e in entries for r in e.real_reference if r not in names]
        seen: set[str] = set()
        out = []
        for entry in entries + extra:
            if entry.name not in seen:
                seen.add(entry.name)
                out.append(entry)
        return out


class _Checker:
    """Field validation with messages that name the file, the entry and the field."""

    def __init__(self, path: Path, where: str) -> None:
        self.path, self.where = path, where

    def fail(self, field_name: str, message: str) -> ManifestError:
        return ManifestError(f"{self.path}: {self.where}: field {field_name!r}: {message}")

    def string(self, data: Mapping, key: str, *, required: bool = False, choices: tuple[str, ...] = ()) -> str:
        value = data.get(key)
        if value is None:
            if required:
                raise self.fail(key, "is required.")
            return ""
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {type(value).__name__} {value!r}.")
        if choices and value not in choices:
            raise self.fail(key, f"expected one of {', '.join(choices)}; got {value!r}.")
        return value

    def strings(self, data: Mapping, key: str) -> tuple[str, ...]:
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, f"expected a list of strings, got {value!r}.")
        return tuple(value)

    def protocol(self, data: Mapping, key: str = "protocol") -> dict[str, str]:
        """``{detector[.tag]: preset}``; a built-in detector's preset must be one of its card's presets."""
        value = data.get(key) or {}
        if not isinstance(value, Mapping):
            raise self.fail(key, f"expected a mapping of detector[.tag] -> preset name, got {value!r}.")
        out = {}
        for det_key, preset in value.items():
            if not isinstance(det_key, str) or not det_key or not isinstance(preset, str) or not preset:
                raise self.fail(f"{key}.{det_key}", f"expected a preset name (string), got {preset!r}.")
            card = _card(det_key.split(".", 1)[0])
            if card is not None:
                names = [p.name for p in card.presets]
                if preset not in names:
                    raise self.fail(f"{key}.{det_key}", f"{preset!r} is not a preset of {card.name}; expected one of "
                                                         f"{', '.join(names)}.")
                if "." in det_key and not card.has_weights(det_key):
                    raise self.fail(f"{key}.{det_key}", f"{card.name} has no weights tag "
                                                         f"{det_key.split('.', 1)[1]!r}; expected one of "
                                                         f"{', '.join(w.tag for w in card.weights)}.")
            out[det_key] = preset
        return out

    def sources(self, data: Mapping, key: str = "sources") -> tuple[Source, ...]:
        value = data.get(key) or []
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list of sources, got {type(value).__name__}.")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, Mapping):
                raise self.fail(f"{key}[{i}]", f"expected a mapping with kind/ref, got {item!r}.")
            try:
                out.append(Source.from_dict(item))
            except (TypeError, ValueError) as exc:
                raise self.fail(f"{key}[{i}]", str(exc)) from None
        return tuple(out)


def _card(detector: str) -> Any:
    """The registered card of ``detector`` (``None`` when the name is not registered, e.g. a plug-in not imported)."""
    from fakebench.detectors import REGISTRY

    return REGISTRY.card(detector) if detector in REGISTRY else None


def _count_ok(value: Any) -> bool:
    """An image count: ``None`` or a non-negative ``int`` (``bool`` is an ``int`` subclass, and is refused)."""
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)


def _parse_suite(name: str, data: Any, path: Path) -> SuiteEntry:
    check = _Checker(path, f"suites.{name}")
    if not isinstance(data, Mapping):
        raise ManifestError(f"{path}: suites.{name}: expected a mapping, got {type(data).__name__}.")
    known = {"title", "paper", "url", "path", "licence", "sources", "notes", "protocol"}
    if set(data) - known:
        raise check.fail(sorted(set(data) - known)[0], f"unknown field; expected some of {sorted(known)}.")
    return SuiteEntry(name=name, title=check.string(data, "title"), paper=check.string(data, "paper"),
                      url=check.string(data, "url"), path=check.string(data, "path"),
                      licence=check.string(data, "licence"), sources=check.sources(data),
                      notes=check.string(data, "notes"), protocol=check.protocol(data))


def _parse_dataset(index: int, data: Any, path: Path) -> DatasetEntry:
    if not isinstance(data, Mapping):
        raise ManifestError(f"{path}: datasets[{index}]: expected a mapping, got {type(data).__name__}.")
    check = _Checker(path, f"datasets[{index}] ({data.get('name', '?')})")
    known = {f for f in DatasetEntry.__dataclass_fields__}
    if set(data) - known:
        raise check.fail(sorted(set(data) - known)[0], f"unknown field; expected some of {sorted(known)}.")
    counts = data.get("expected_count") or {}
    if not isinstance(counts, Mapping) or set(counts) - {"real", "fake"}:
        raise check.fail("expected_count", f"expected {{real: int|null, fake: int|null}}, got {counts!r}.")
    for label, value in counts.items():
        if not _count_ok(value):
            kind = "a boolean" if isinstance(value, bool) else type(value).__name__
            raise check.fail("expected_count", f"key {label!r}: expected a non-negative integer image count or null, "
                                               f"got {kind} {value!r}; write the number of images.")
    published = _numbers(check, data, "published")
    retrained = _numbers(check, data, "retrained")
    crop = data.get("crop_box")
    if crop is not None and (not isinstance(crop, list) or len(crop) != 4 or not all(isinstance(v, int) for v in crop)
                             or crop[0] >= crop[2] or crop[1] >= crop[3]):
        raise check.fail("crop_box", f"expected [left, top, right, bottom] integers with left<right, top<bottom; "
                                     f"got {crop!r}.")
    held_in = check.strings(data, "held_in")
    table_out = check.strings(data, "held_out_in_table")
    if set(table_out) - set(held_in):
        raise check.fail("held_out_in_table", f"{sorted(set(table_out) - set(held_in))} are not in held_in; the "
                                              f"field only marks held-in weights that the paper's table counts as "
                                              f"held-out.")
    labels = check.string(data, "labels", required=True, choices=_LABELS)
    layout = check.string(data, "layout", required=True, choices=_LAYOUTS)
    if layout != "parquet" and (labels == "mixed") != (layout == "real_fake"):
        raise check.fail("layout", f"labels {labels!r} needs layout {'real_fake' if labels == 'mixed' else 'folder'}"
                                   f"{' (or parquet)' if labels == 'mixed' else ''}.")
    parquet = _parquet(check, data, layout, labels)
    label_dirs = data.get("label_dirs") or {}
    if label_dirs and (layout != "real_fake" or not isinstance(label_dirs, Mapping) or set(label_dirs) != {"real", "fake"}
                       or not all(isinstance(v, str) and v and "/" not in v for v in label_dirs.values())
                       or label_dirs["real"] == label_dirs["fake"]):
        raise check.fail("label_dirs", f"expected {{real: <folder name>, fake: <folder name>}} (two different names) "
                                       f"with layout: real_fake; got {label_dirs!r}.")
    return DatasetEntry(
        name=check.string(data, "name", required=True), suite=check.string(data, "suite", required=True),
        generator=check.string(data, "generator", required=True),
        family=check.string(data, "family", required=True, choices=FAMILIES), labels=labels, layout=layout,
        path=check.string(data, "path", required=True), real_reference=check.strings(data, "real_reference"),
        expected_count={"real": counts.get("real"), "fake": counts.get("fake")},
        held_in=held_in, held_out_in_table=table_out, published={k: dict(v) for k, v in published.items()},
        sources=check.sources(data), crop_box=tuple(crop) if crop else None,
        licence=check.string(data, "licence"), notes=check.string(data, "notes"), protocol=check.protocol(data),
        real_source=check.string(data, "real_source"), retrained={k: dict(v) for k, v in retrained.items()},
        parquet=parquet, label_dirs=dict(label_dirs))


def _numbers(check: _Checker, data: Mapping, key: str) -> Mapping[str, Mapping[str, Any]]:
    """A ``published``/``retrained`` mapping: ``{detector[.tag][@preset]: {metric: percent, source, notes}}``."""
    numbers = data.get(key) or {}
    if not isinstance(numbers, Mapping):
        raise check.fail(key, f"expected a mapping of detector -> metrics, got {numbers!r}.")
    for name, record in numbers.items():
        if not isinstance(record, Mapping):
            raise check.fail(f"{key}.{name}", f"expected a mapping of metric -> percent, got {record!r}.")
        for metric, value in record.items():
            if metric in ("source", "notes"):
                continue
            if metric not in METRICS:
                raise check.fail(f"{key}.{name}.{metric}", f"unknown metric; expected one of {', '.join(METRICS)}.")
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 100:
                raise check.fail(f"{key}.{name}.{metric}", f"expected a percentage in [0, 100], got {value!r}.")
    return numbers


def _parquet(check: _Checker, data: Mapping, layout: str, labels: str) -> ParquetSpec | None:
    """The ``parquet`` mapping of a dataset: required with ``layout: parquet``, refused otherwise."""
    spec = data.get("parquet")
    if layout != "parquet":
        if spec is not None:
            raise check.fail("parquet", f"only allowed with layout: parquet (layout is {layout!r}).")
        return None
    if not isinstance(spec, Mapping) or not spec.get("image"):
        raise check.fail("parquet", "layout: parquet needs a mapping with at least 'image' (the image-bytes column) "
                                    "and, for labels: mixed, 'label'.")
    unknown = set(spec) - set(_PARQUET_KEYS)
    if unknown:
        raise check.fail(f"parquet.{sorted(unknown)[0]}", f"unknown key; expected some of {', '.join(_PARQUET_KEYS)}.")
    for key in ("files", "image", "label", "generator"):
        if key in spec and not isinstance(spec[key], str):
            raise check.fail(f"parquet.{key}", f"expected a string, got {spec[key]!r}.")
    if labels == "mixed" and not spec.get("label"):
        raise check.fail("parquet.label", "labels: mixed needs the name of the label column.")
    where = spec.get("where") or {}
    if not isinstance(where, Mapping) or not all(isinstance(k, str) for k in where):
        raise check.fail("parquet.where", f"expected a mapping of column -> value(s), got {where!r}.")
    values = {}
    for key in ("real_values", "fake_values"):
        raw = spec.get(key)
        if raw is not None and (not isinstance(raw, list) or not raw):
            raise check.fail(f"parquet.{key}", f"expected a non-empty list of label values, got {raw!r}.")
        if raw is not None:
            values[key] = tuple(raw)
    return ParquetSpec(files=spec.get("files") or "**/*.parquet", image=spec["image"], label=spec.get("label") or "",
                       generator=spec.get("generator") or "", where=dict(where), **values)


def _read(path: Path) -> tuple[dict[str, SuiteEntry], list[DatasetEntry]]:
    if not path.is_file():
        raise ManifestError(f"Manifest {path} does not exist; pass an existing YAML file with --manifest.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: not valid YAML ({exc}).") from exc
    if not isinstance(raw, Mapping):
        raise ManifestError(f"{path}: expected a mapping with schema_version, suites and datasets at the top level.")
    if raw.get("schema_version") != 1:
        raise ManifestError(f"{path}: field 'schema_version': expected 1, got {raw.get('schema_version')!r}.")
    suites_raw = raw.get("suites") or {}
    datasets_raw = raw.get("datasets") or []
    if not isinstance(suites_raw, Mapping):
        raise ManifestError(f"{path}: field 'suites': expected a mapping of suite name -> suite.")
    if not isinstance(datasets_raw, list):
        raise ManifestError(f"{path}: field 'datasets': expected a list of dataset records.")
    suites = {name: _parse_suite(name, data, path) for name, data in suites_raw.items()}
    return suites, [_parse_dataset(i, d, path) for i, d in enumerate(datasets_raw)]


def resolve_manifest_path(path: str | os.PathLike) -> Path:
    """A manifest argument as a file path: an existing file, or the name of a bundled manifest.

    Args:
        path: a YAML file, or ``default`` / ``shared-samples`` (:data:`~fakebench.core.env.BUNDLED_MANIFESTS`).

    >>> resolve_manifest_path("shared-samples").name
    'shared_samples.yaml'
    """
    text = os.fspath(path)
    if text in BUNDLED_MANIFESTS and not Path(text).exists():
        return bundled_manifest(text)
    return Path(text).expanduser().resolve()


def load_manifests(paths: Iterable[str | os.PathLike]) -> Manifest:
    """Load and merge several manifest files, then validate cross-references.

    Each path is a YAML file or the name of a bundled manifest (``default``, ``shared-samples``).

    Raises:
        ManifestError: unreadable file, malformed field, duplicate dataset/suite name, a dataset whose suite is not
            defined, or a ``real_reference`` that is not a real set.
    """
    paths = [resolve_manifest_path(p) for p in paths]
    suites: dict[str, SuiteEntry] = {}
    datasets: dict[str, DatasetEntry] = {}
    origin: dict[str, Path] = {}
    for path in paths:
        file_suites, file_datasets = _read(path)
        for name, suite in file_suites.items():
            if name in suites:
                raise ManifestError(f"{path}: suites.{name}: duplicate suite name (also in {origin['suite:' + name]}).")
            suites[name], origin["suite:" + name] = suite, path
        for entry in file_datasets:
            if entry.name in datasets:
                raise ManifestError(f"{path}: dataset {entry.name!r}: duplicate name (also in {origin[entry.name]}).")
            datasets[entry.name], origin[entry.name] = entry, path
    for entry in datasets.values():
        where = f"{origin[entry.name]}: dataset {entry.name!r}"
        if entry.suite not in suites:
            raise ManifestError(f"{where}: field 'suite': {entry.suite!r} is not defined under suites.")
        if suites[entry.suite].protocol:
            datasets[entry.name] = entry = replace(entry, protocol={**suites[entry.suite].protocol, **entry.protocol})
        for ref in entry.real_reference:
            if ref not in datasets or datasets[ref].labels != "real":
                raise ManifestError(f"{where}: field 'real_reference': {ref!r} is not a real-only dataset.")
    return Manifest(paths=paths, digests={str(p): sha256_file(p) for p in paths}, suites=suites, datasets=datasets)


def load_manifest(path: str | os.PathLike | None = None) -> Manifest:
    """Load one manifest (default: the bundled ``manifest.yaml``); see :func:`load_manifests`."""
    return load_manifests([path or default_manifest_path()])
