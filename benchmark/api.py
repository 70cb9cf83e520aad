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

__all__ = ["load_detector", "list_detectors", "list_datasets", "EvalRequest", "evaluate"]


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
        TypeError: an option the detector's ``load()`` does not take (the message lists the ones it does).
    """
    import inspect

    from fakebench.detectors import get_detector_class

    cls = get_detector_class(name)
    if options:
        params = inspect.signature(cls.load).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            unknown = sorted(set(options) - set(params))
            if unknown:
                accepted = sorted(k for k in params if k not in ("cls", "weights", "preset", "device", "cache_dir"))
                raise TypeError(f"Detector {name!r} does not take the option(s) {', '.join(unknown)}; it takes: "
                                f"{', '.join(accepted) or 'none'}.")
    return cls.load(weights, preset=preset, device=device, cache_dir=cache_dir, **options)


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

    def validate(self) -> "EvalRequest":
        """Check the selection; return ``self``."""
        chosen = [bool(self.datasets or self.suites), self.data_dir is not None,
                  self.real_dir is not None or self.fake_dir is not None]
        if sum(chosen) != 1:
            raise DataError("Give exactly one data selection: dataset/suite names, a data_dir (0_real/1_fake), or "
                            "real_dir/fake_dir.")
        for what, folder in (("data_dir", self.data_dir), ("real_dir", self.real_dir), ("fake_dir", self.fake_dir)):
            if folder is not None and not Path(folder).is_dir():
                raise DataError(f"{what} {folder} is not a folder; pass an existing folder of images.")
        if self.limit is not None and self.limit < 1:
            raise DataError(f"limit must be a positive number of images per label, not {self.limit}.")
        return self

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


def evaluate(detector: "str | Detector", data: Any = None, *, weights: str | os.PathLike | None = None,
             preset: str | None = None, device: str = "cpu", options: dict[str, Any] | None = None,
             real_dir: str | os.PathLike | None = None, fake_dir: str | os.PathLike | None = None,
             manifest: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
             data_root: str | os.PathLike | None = None, crop_box: tuple[int, int, int, int] | None = None,
             limit: int | None = None, output: str | os.PathLike | None = None, batch_size: int = 32,
             num_workers: int | None = 0, use_cache: bool = True, progress: bool = False,
             **run_options: Any) -> "Results":
    """Evaluate one detector on test sets: per-image predictions, per-set metrics and means, with provenance.

    Args:
        detector: a loaded detector, or a registered name (then loaded with ``weights``, ``preset``, ``device`` and
            ``options``, see :func:`load_detector`).
        data: a ``0_real``/``1_fake`` folder (one sub-folder per generator), or manifest dataset/suite name(s).
            Alternatively pass ``real_dir`` and/or ``fake_dir``.
        manifest: manifest file(s) or bundled name(s) for ``data`` names (default: the bundled ``default``).
        data_root: root the manifest paths are relative to (default ``FAKEBENCH_DATA`` or ``datasets/``).
        crop_box: ``(left, top, right, bottom)`` crop before preprocessing (folder selections only).
        limit: at most this many images per label per test set (a smoke run; flagged in the results).
        output: a folder to write the run into (``predictions.csv``, ``results.json``, ``metrics.csv``/``.md``);
            ``None`` keeps nothing on disk (a notebook call).
        batch_size, num_workers, use_cache, progress: runner settings (``num_workers=0`` decodes in this process).
        **run_options: further keyword arguments of :func:`fakebench.eval.harness.run_evaluation`.

    Returns:
        :class:`~fakebench.eval.results.Results`: ``.metrics``, ``.table()`` (percent), ``.predictions``
        (a DataFrame, ``prob`` = fake probability in [0, 1]), ``.record`` (typed results) and ``.run_dir``.

    Raises:
        DataError: bad data selection, missing folders, no readable image.
        UnknownNameError, WeightsNotFoundError, CheckpointError: see :func:`load_detector`.
    """
    from fakebench.eval.results import Results, ResultsRecord

    manifests = [manifest] if isinstance(manifest, (str, os.PathLike)) else list(manifest or [])
    request = EvalRequest.from_data(data, real_dir=real_dir, fake_dir=fake_dir, manifests=manifests,
                                    data_root=data_root, crop_box=crop_box, limit=limit).validate()
    sets, label, loaded_manifest, root = _resolve_sets(request, detector if not isinstance(detector, str) else None,
                                                       detector_name=detector if isinstance(detector, str) else None,
                                                       weights=weights, preset=preset)
    det = detector if not isinstance(detector, str) else load_detector(detector, weights, preset=preset,
                                                                        device=device, **(options or {}))
    if isinstance(detector, str) and (request.datasets or request.suites):
        sets, label, loaded_manifest, root = _resolve_sets(request, det)
    from fakebench.eval.harness import run_evaluation
    from fakebench.eval.runner import read_predictions

    def run(folder: Path) -> tuple[Path, dict[str, Any]]:
        return run_evaluation(det, sets, output=folder, data_label=label, manifest=loaded_manifest,
                              data_root=root, batch_size=batch_size, num_workers=num_workers, use_cache=use_cache,
                              progress=progress, limit=limit, **run_options)

    if output is not None:
        run_dir, results = run(Path(output))
        predictions = read_predictions(run_dir / "predictions.csv")
        return Results(ResultsRecord.from_dict(results, str(run_dir / "results.json")), predictions, run_dir)
    with tempfile.TemporaryDirectory(prefix="fakebench-") as tmp:
        run_dir, results = run(Path(tmp))
        predictions = read_predictions(run_dir / "predictions.csv")
    return Results(ResultsRecord.from_dict(results, "results"), predictions, None)


def _resolve_sets(request: EvalRequest, detector: Any = None, *, detector_name: str | None = None,
                  weights: Any = None, preset: str | None = None) -> tuple[list[Any], str, Any, Any]:
    """Test sets, a data label, the manifest (or ``None``) and the data root for a validated request."""
    from fakebench.core.env import data_root as default_data_root
    from fakebench.eval import harness

    if request.datasets or request.suites:
        from fakebench.data.manifest import load_manifests

        manifest = load_manifests(request.manifests or ["default"])
        entries = manifest.select(request.datasets, request.suites)
        root = Path(request.data_root).resolve() if request.data_root else default_data_root()
        if detector is not None:
            name, tag, pre = detector.name, detector.weights.tag, detector.preset.name
        else:  # before loading: held-in status/published numbers are filled in again once the detector is known
            name, tag, pre = detector_name or "", str(weights) if weights else None, preset
        sets = harness.sets_from_manifest(manifest, entries, detector=name, weights_tag=tag, preset=pre,
                                          data_root=root, limit=request.limit)
        names = list(request.suites) + list(request.datasets)
        label = "+".join(names) if len(names) <= 3 else f"{len(entries)}-datasets"
        return sets, label, manifest, root
    if request.data_dir is not None:
        sets = harness.sets_from_data_dir(request.data_dir, crop_box=request.crop_box, limit=request.limit)
        return sets, Path(request.data_dir).resolve().name, None, None
    sets = harness.sets_from_real_fake_dirs(request.real_dir, request.fake_dir, crop_box=request.crop_box,
                                            limit=request.limit)
    return sets, "real-fake-dirs", None, None
