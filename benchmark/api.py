"""The Python entry points: load a detector, evaluate it on test sets, list what is registered.

These are what ``import fakebench`` exposes (lazily) and what the ``fakebench`` command line calls: a notebook user
needs nothing from :mod:`fakebench.cli`. One place validates an evaluation request (:class:`EvalRequest`), as
lm-evaluation-harness' ``simple_evaluate`` layer does for its CLI.

Example (an untrained toy model: real use passes a registered name and its weights)::

    >>> import fakebench
    >>> "npr" in fakebench.list_detectors()
    True
    >>> "gangen-began" in fakebench.list_datasets()
    True
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from fakebench.core.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from fakebench.detectors.base import Detector
    from fakebench.eval.results import Results

__all__ = ["load_detector", "check_options", "list_detectors", "list_datasets", "EvalRequest", "EvalPlan", "evaluate",
           "evaluate_all"]


def load_detector(name: str, weights: str | os.PathLike | None = None, *, preset: str | None = None,
                  device: str = "cpu", cache_dir: str | os.PathLike | None = None, **options: Any) -> "Detector":
    """A registered detector with its weights loaded.

    Args:
        name: registry name (``npr``, ``cnnspot``, ``univfd``, ``antifakeprompt``, ``instructblip``, a plugin's).
        weights: a weights tag of the detector's card (``None``: the card's default) or a checkpoint file in the
            official format.
        preset: preprocessing preset (``None``: the one the weights' published numbers used).
        device: torch device, e.g. ``"cpu"``, ``"cuda:0"``.
        cache_dir: download cache root (default ``FAKEBENCH_CACHE`` or ``~/.cache/fakebench``).
        **options: detector-specific options of its ``load()`` (e.g. UnivFD ``backbone=PATH``, AntifakePrompt
            ``dtype="bf16"``).

    Returns:
        The detector; ``detector.predict_images([...])`` gives (N,) float32 fake probabilities and logits.

    Raises:
        UnknownNameError: unknown detector, weights tag or preset (with suggestions).
        WeightsNotFoundError: the weights are neither cached nor downloadable (the message says where to put them).
        CheckpointError: the file is unreadable, would execute code, or its tensors do not match the model.
        UnknownOptionError (a :class:`TypeError`): an option the detector's ``load()`` does not take (the message
            lists the ones it does).
    """
    from fakebench.detectors import get_detector_class

    check_options(name, options)
    cls = get_detector_class(name)
    return cls.load(weights, preset=preset, device=device, cache_dir=cache_dir, **options)


def check_options(name: str, options: dict[str, Any]) -> None:
    """Refuse detector options (``-O KEY=VALUE``) that detector ``name``'s ``load()`` does not take, before any
    work starts (a ``load()`` with ``**kwargs`` takes anything).

    Raises:
        UnknownNameError: unknown detector.
        UnknownOptionError (a :class:`TypeError`): an option it does not take; the message lists those it takes.
    """
    import inspect

    from fakebench.core.errors import UnknownOptionError
    from fakebench.detectors import get_detector_class

    if not options:
        return
    params = inspect.signature(get_detector_class(name).load).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(options) - set(params))
    if unknown:
        accepted = sorted(k for k in params if k not in ("cls", "weights", "preset", "device", "cache_dir"))
        raise UnknownOptionError(f"Detector {name!r} does not take the option(s) {', '.join(unknown)}; it takes: "
                                 f"{', '.join(accepted) or 'none'}.")


def list_detectors() -> list[str]:
    """Sorted names of every registered detector (built-ins, plugins, entry points). Imports no torch."""
    from fakebench.detectors import list_detectors as _names

    return _names()


def list_datasets(manifest: str | os.PathLike | Sequence[str | os.PathLike] | None = None) -> list[str]:
    """Names of the test sets of a manifest, in manifest order.

    Args:
        manifest: a YAML file, a bundled manifest name (``default``, ``shared-samples``), or a list of them
            (default: the bundled ``default`` manifest: 23 AntifakePrompt sets and the classic suites).

    Raises:
        ManifestError: unreadable or invalid manifest.
    """
    from fakebench.data.manifest import load_manifests

    paths = [manifest] if isinstance(manifest, (str, os.PathLike)) else list(manifest or ["default"])
    return list(load_manifests(paths).datasets)


@dataclass
class EvalRequest:
    """What to evaluate, validated in one place before any model is loaded.

    Exactly one data selection: ``datasets``/``suites`` (manifest names), ``data_dir`` (a ``0_real``/``1_fake``
    test root, one folder per generator), or ``real_dir``/``fake_dir`` (any trees of real and fake images).

    Raises (from :meth:`validate`):
        DataError: no or several data selections, or a folder that does not exist.
    """

    datasets: Sequence[str] = ()
    suites: Sequence[str] = ()
    data_dir: str | os.PathLike | None = None
    real_dir: str | os.PathLike | None = None
    fake_dir: str | os.PathLike | None = None
    manifests: Sequence[str | os.PathLike] = ()
    data_root: str | os.PathLike | None = None
    crop_box: tuple[int, int, int, int] | None = None
    limit: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    align_format: str | None = None

    def validate(self) -> "EvalRequest":
        """Check the selection; return ``self``."""
        chosen = [bool(self.datasets or self.suites), self.data_dir is not None,
                  self.real_dir is not None or self.fake_dir is not None]
        if sum(chosen) != 1:
            raise DataError("Give exactly one data selection: dataset/suite names, a data_dir (0_real/1_fake), or "
                            "real_dir/fake_dir.")
        for what, folder in (("data_dir", self.data_dir), ("real_dir", self.real_dir), ("fake_dir", self.fake_dir)):
            if folder is not None and not Path(folder).is_dir():
                raise DataError(f"{folder} does not exist. Check the --{what.replace('_', '-')} path.")
        if self.limit is not None and self.limit < 1:
            raise DataError(f"limit must be a positive number of images per label, not {self.limit}.")
        from fakebench.data.formats import check_align_format

        try:
            check_align_format(self.align_format)
        except ValueError as exc:
            raise DataError(str(exc)) from None
        return self

    def plan(self) -> "EvalPlan":
        """Resolve the selection against the data, checking every folder before any model is loaded.

        Raises:
            DataError: missing dataset folders (all listed, with their download commands), empty or overlapping
                real/fake folders.
            UnknownNameError: unknown dataset or suite names.
        """
        from fakebench.core.env import data_root as default_data_root
        from fakebench.eval import harness

        if self.datasets or self.suites:
            from fakebench.data.manifest import load_manifests

            manifest = load_manifests(self.manifests or ["default"])
            entries = manifest.select(self.datasets, self.suites)
            root = Path(self.data_root).resolve() if self.data_root else default_data_root()
            harness.check_data_folders(manifest, entries, root)
            names = list(self.suites) + list(self.datasets)
            label = "+".join(names) if len(names) <= 3 else f"{len(entries)}-datasets"
            return EvalPlan(self, label, manifest=manifest, entries=list(entries), root=root)
        if self.data_dir is not None:
            sets = harness.sets_from_data_dir(self.data_dir, crop_box=self.crop_box, limit=self.limit)
            return EvalPlan(self, Path(self.data_dir).resolve().name, folder_sets=sets)
        sets = harness.sets_from_real_fake_dirs(self.real_dir, self.fake_dir, crop_box=self.crop_box,
                                                limit=self.limit)
        return EvalPlan(self, "real-fake-dirs", folder_sets=sets)

    @classmethod
    def from_data(cls, data: Any, **kwargs: Any) -> "EvalRequest":
        """Interpret :func:`evaluate`'s ``data`` argument: an existing folder is a ``data_dir``; a string or list of
        strings are manifest dataset or suite names (suites win where a name is both)."""
        if data is None:
            return cls(**kwargs)
        if isinstance(data, (str, os.PathLike)) and Path(data).is_dir():
            return cls(data_dir=data, **kwargs)
        names = [data] if isinstance(data, str) else [str(d) for d in data]
        from fakebench.data.manifest import load_manifests

        manifest = load_manifests(kwargs.get("manifests") or ["default"])
        suites = [n for n in names if n in manifest.suites]
        datasets = [n for n in names if n not in manifest.suites]
        return cls(datasets=datasets, suites=suites, **kwargs)


def evaluate(detector: "str | Detector", data: Any = None, **kwargs: Any) -> "Results":
    """Evaluate one detector on test sets: per-image predictions, per-set metrics and means, with provenance.

    Args:
        detector: a loaded detector, or a registered name (then loaded with ``weights``, ``preset``, ``device`` and
            ``options``, see :func:`load_detector`).
        data: a ``0_real``/``1_fake`` folder (one sub-folder per generator), or manifest dataset/suite name(s).
            Alternatively pass ``real_dir`` and/or ``fake_dir``.
        **kwargs: see :func:`evaluate_all` (``weights``, ``preset``, ``device``, ``options``, ``real_dir``,
            ``fake_dir``, ``manifest``, ``data_root``, ``crop_box``, ``limit``, ``output``, ``name``,
            ``batch_size``, ``num_workers``, ``use_cache``, ``progress``, ``calibrate_on``, ``n_boot``, ...).

    Returns:
        :class:`~fakebench.eval.results.Results`: ``.metrics``, ``.table()`` (percent), ``.predictions``
        (a DataFrame, ``prob`` = fake probability in [0, 1]), ``.record`` (typed results) and ``.run_dir``.

    Raises:
        DataError: bad data selection, missing folders, no readable image; or manifest sets whose official
            protocols use different presets (pass ``preset=`` or use :func:`evaluate_all`).
        UnknownNameError, WeightsNotFoundError, CheckpointError: see :func:`load_detector`.
    """
    results = evaluate_all(detector, data, **kwargs)
    if len(results) != 1:
        presets = ", ".join(r.record.detector.preset.get("name", "?") for r in results)
        raise DataError(f"The selected test sets follow different official protocols (presets {presets}); "
                        f"pass preset=... to use one, or call fakebench.api.evaluate_all for one result each.")
    return results[0]


def evaluate_all(detector: "str | Detector", data: Any = None, *, weights: str | os.PathLike | None = None,
                 preset: str | None = None, device: str = "cpu", options: dict[str, Any] | None = None,
                 real_dir: str | os.PathLike | None = None, fake_dir: str | os.PathLike | None = None,
                 manifest: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
                 data_root: str | os.PathLike | None = None, crop_box: tuple[int, int, int, int] | None = None,
                 limit: int | None = None, align_format: str | None = None, request: EvalRequest | None = None,
                 plan: "EvalPlan | None" = None,
                 output: str | os.PathLike | None = None, name: str | None = None, batch_size: int = 32,
                 num_workers: int | None = 0, use_cache: bool = True, progress: bool = False,
                 **run_options: Any) -> "list[Results]":
    """:func:`evaluate`, one result per preprocessing protocol.

    Manifest test sets carry their official protocol (e.g. NPR scores GANGen-Detection at native size and ForenSynths
    resized to 256, with the same checkpoint); unless ``preset`` is given, each group of sets runs with its own preset,
    one run folder each. Folder selections run with the detector's preset.

    Args:
        align_format: ``jpeg96`` or ``png``: re-encode every image (real and fake alike) in that format before
            scoring, to take the container out (GenImage's real JPEG vs fake PNG; :mod:`fakebench.data.formats`);
            recorded in the results as ``data.align_format``.
        request: an :class:`EvalRequest` (instead of ``data``/``real_dir``/``fake_dir``/``manifest``/...).
        plan: an already resolved :meth:`EvalRequest.plan` (instead of all of these), so evaluating several
            detectors walks the data folders once.
        output: a folder to write the runs into (``predictions.csv``, ``results.json``, ``metrics.csv``/``.md``);
            ``None`` keeps nothing on disk (a notebook call).
        name: run folder name (default: the data label plus a hash of detector and data).
        **run_options: further keyword arguments of :func:`fakebench.eval.harness.run_evaluation`
            (``max_pixels_per_batch``, ``calibrate_on``, ``calibration_target``, ``n_boot``, ``seed``).

    Returns:
        One :class:`~fakebench.eval.results.Results` per protocol group, in manifest order (under torchrun, on
        rank 0 only; the other ranks get ``[]``).
    """
    from fakebench.eval.distributed import evaluate_distributed, rank_device
    from fakebench.eval.results import Results, ResultsRecord
    from fakebench.eval.predictions import read_predictions

    if plan is None:
        if request is None:
            manifests = [manifest] if isinstance(manifest, (str, os.PathLike)) else list(manifest or [])
            request = EvalRequest.from_data(data, real_dir=real_dir, fake_dir=fake_dir, manifests=manifests,
                                            data_root=data_root, crop_box=crop_box, limit=limit,
                                            align_format=align_format)
        plan = request.validate().plan()  # every data folder checked before any model is loaded
    request = plan.request
    if isinstance(detector, str):  # loaded only if an image needs the model (see fakebench.eval.deferred)
        from fakebench.eval.deferred import load_deferred

        det = load_deferred(detector, weights, preset=preset, device=rank_device(device), options=options,
                            load=load_detector)
    else:
        det = detector
    out: list[Results] = []
    groups = plan.groups(det, preset_given=preset is not None or not isinstance(detector, str))
    for preset_name, sets, label in groups:
        if preset_name != det.preset.name:
            det.preset = det.card.get_preset(preset_name)
        run_name = f"{name}-{preset_name}" if name and len(groups) > 1 else name

        def run(folder: Path) -> tuple[Path, dict[str, Any] | None]:
            # under torchrun each rank scores its shard and rank 0 merges; one process: run_evaluation itself
            return evaluate_distributed(det, sets, output=folder, data_label=label, manifest=plan.manifest,
                                        data_root=plan.root, batch_size=batch_size, num_workers=num_workers,
                                        use_cache=use_cache, progress=progress, limit=request.limit, name=run_name,
                                        **run_options)

        if output is not None:
            run_dir, results = run(Path(output))
            if results is None:  # a non-zero rank of a distributed run: rank 0 holds the results
                continue
            predictions = read_predictions(run_dir / "predictions.csv")
            out.append(Results(ResultsRecord.from_dict(results, str(run_dir / "results.json")), predictions,
                               run_dir))
        else:
            with tempfile.TemporaryDirectory(prefix="fakebench-") as tmp:
                run_dir, results = run(Path(tmp))
                predictions = read_predictions(run_dir / "predictions.csv")
            out.append(Results(ResultsRecord.from_dict(results, "results"), predictions, None))
    return out


@dataclass
class EvalPlan:
    """A validated request resolved against the data: the manifest entries (or folder sets), data root and label."""

    request: EvalRequest
    label: str
    manifest: Any = None
    entries: list[Any] = field(default_factory=list)
    root: Path | None = None
    folder_sets: list[Any] | None = None

    def groups(self, detector: Any, *, preset_given: bool) -> list[tuple[str, list[Any], str]]:
        """``[(preset name, test sets, data label)]`` for a loaded detector: manifest sets grouped by the preset of
        their official protocol (:meth:`DatasetEntry.preset_for`), unless a preset was given explicitly."""
        from fakebench.eval import harness

        align = self.request.align_format
        if self.folder_sets is not None:
            return [(detector.preset.name, harness.align_sets(self.folder_sets, align), self.label)]
        by_preset: dict[str, list[Any]] = {}
        for entry in self.entries:
            chosen = detector.preset.name if preset_given else (
                entry.preset_for(detector.name, detector.weights.tag) or detector.preset.name)
            by_preset.setdefault(chosen, []).append(entry)
        groups = []
        for preset_name, entries in by_preset.items():
            sets = harness.sets_from_manifest(self.manifest, entries, detector=detector.name,
                                              weights_tag=detector.weights.tag, preset=preset_name,
                                              data_root=self.root, limit=self.request.limit, card=detector.card)
            label = self.label if len(by_preset) == 1 else f"{self.label}@{preset_name}"
            groups.append((preset_name, harness.align_sets(sets, align), label))
        return groups
