"""``fakebench robustness`` -- one detector under a sweep of image perturbations (JPEG, WebP, blur, resize, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from fakebench.cli.common import (DEVICE_HELP, import_plugins, label_option, parse_crop_box, parse_key_values, resolve_device,
                                  user_errors)

__all__ = ["robustness", "sets_from_options"]

_EXAMPLES = """
\b
Examples:
  fakebench robustness --detector npr --dataset gangen-began --perturbation jpeg:100,90,75,50,30 \\
      --perturbation resize:1,0.75,0.5 --output runs/robust
  fakebench robustness --detector cnnspot --data-dir testset/ --perturbation blur:0.5,1,2 --limit 50
  fakebench robustness --detector npr --weights ckpt.pth --manifest shared-samples --suite shared-samples \\
      --data-root ../shared/data --perturbation reencode:jpeg90,256 --output runs/debiased

\b
Perturbations (KIND:V1,V2,..., mildest first; see fakebench.analysis.perturb):
  jpeg:Q  webp:Q  blur:SIGMA  downscale:F (restored)  resize:F (not restored)  crop:F  noise:SIGMA
  social:MAXSIDE  reencode:CODEC,SIZE  none
"""


def sets_from_options(*, datasets: tuple[str, ...], suites: tuple[str, ...], manifests: tuple[str, ...],
                      data_root: str | None, data_dir: str | None, real_dir: str | None, fake_dir: str | None,
                      crop_box: str | None, limit: int | None, detector: str = "", weights_tag: str | None = None,
                      preset: str | None = None) -> tuple[list[Any], str, Any, Path | None]:
    """The test sets chosen by the shared data options, built as ``fakebench evaluate`` builds them.

    Returns:
        ``(sets, data_label, manifest or None, data root or None)``.

    Raises:
        click.UsageError: not exactly one of --dataset/--suite, --data-dir, --real-dir/--fake-dir.
        DataError, UnknownNameError: missing folders, unknown names.
    """
    chosen = [bool(datasets or suites), bool(data_dir), bool(real_dir or fake_dir)]
    if sum(chosen) != 1:
        raise click.UsageError("Give exactly one of --dataset/--suite, --data-dir, or --real-dir/--fake-dir.")
    box = parse_crop_box(crop_box)

    from fakebench.core.env import data_root as default_data_root
    from fakebench.core.env import default_manifest_path
    from fakebench.data.manifest import load_manifests
    from fakebench.eval.harness import (
        sets_from_data_dir,
        sets_from_manifest,
        sets_from_real_fake_dirs,
    )

    if datasets or suites:
        manifest = load_manifests(manifests or [default_manifest_path()])
        root = Path(data_root).resolve() if data_root else default_data_root()
        entries = manifest.select(datasets, suites)
        sets = sets_from_manifest(manifest, entries, detector=detector, weights_tag=weights_tag, preset=preset,
                                  data_root=root, limit=limit)
        label = "+".join(suites + datasets) if len(suites + datasets) <= 3 else f"{len(entries)}-datasets"
        return sets, label, manifest, root
    if data_dir:
        return sets_from_data_dir(data_dir, crop_box=box, limit=limit), Path(data_dir).resolve().name, None, None
    return sets_from_real_fake_dirs(real_dir, fake_dir, crop_box=box, limit=limit), "real-fake-dirs", None, None


def data_options(func: Any) -> Any:
    """The test-set options shared with ``fakebench evaluate`` (same names and meaning)."""
    options = [
        click.option("--dataset", "datasets", multiple=True, help="Manifest dataset name (repeatable)."),
        click.option("--suite", "suites", multiple=True, help="Manifest suite name (repeatable)."),
        click.option("--data-dir", type=click.Path(file_okay=False),
                     help="A 0_real/1_fake test root (one folder per generator)."),
        click.option("--real-dir", type=click.Path(file_okay=False), help="Folder of real images (any tree)."),
        click.option("--fake-dir", type=click.Path(file_okay=False), help="Folder of fake images (any tree)."),
        click.option("--manifest", "manifests", multiple=True, type=click.Path(dir_okay=False),
                     help="Manifest YAML, or a bundled one by name: default, shared-samples (repeatable)."),
        click.option("--data-root", type=click.Path(file_okay=False), help="Root that manifest paths are relative to."),
        click.option("--crop-box", help="LEFT,TOP,RIGHT,BOTTOM crop applied after decoding (--data-dir/--real-dir)."),
        click.option("--limit", type=click.IntRange(1), help="At most N images per label per test set (smoke runs)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command("robustness", epilog=_EXAMPLES)
@click.option("--detector", required=True, help="Registered detector name (see `fakebench list detectors`).")
@click.option("--weights", help="Weights tag of the detector's card, or a checkpoint path (default: the card's first).")
@click.option("--preset", help="Preprocessing preset (default: the one the weights' published numbers used).")
@data_options
@click.option("--perturbation", "perturbations", multiple=True, required=True,
              help="KIND:V1,V2,... e.g. jpeg:100,90,75 (repeatable, each kind once).")
@click.option("--output", default="results/robustness", show_default=True, type=click.Path(file_okay=False),
              help="Folder for robustness.json/.csv/.md; per-severity run folders go under OUTPUT/runs.")
@label_option
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1))
@click.option("--workers", type=click.IntRange(0),
              help="Decoding workers: threads (DataLoader processes for a detector with its own transform; "
                   "default: cores - 1).")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--no-cache", is_flag=True, help="Do not read or fill the prediction cache.")
@click.option("--plugin", "plugins", multiple=True, help="Import a module that registers a detector.")
@click.option("--detector-option", "-O", "options", multiple=True,
              help="KEY=VALUE passed to the detector's load(), e.g. -O backbone=clip.pt.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@user_errors
def robustness(detector: str, weights: str | None, preset: str | None, datasets: tuple[str, ...],
               suites: tuple[str, ...], data_dir: str | None, real_dir: str | None, fake_dir: str | None,
               manifests: tuple[str, ...], data_root: str | None, crop_box: str | None, limit: int | None,
               perturbations: tuple[str, ...], output: str, label: str | None, batch_size: int, workers: int | None, device: str,
               no_cache: bool, plugins: tuple[str, ...], options: tuple[str, ...], quiet: bool) -> None:
    """Score one detector under perturbation sweeps; write robustness.json/.csv/.md and one run folder per severity."""
    from fakebench.analysis.perturb import parse_perturbation

    for spec in perturbations:  # fail on a typo before loading a model
        parse_perturbation(spec)
    kwargs = parse_key_values(options)
    import_plugins(plugins)

    from fakebench.analysis.robustness import robustness_markdown, run_robustness

    from fakebench.api import load_detector
    det = load_detector(detector, weights, preset=preset, device=resolve_device(device), **kwargs)
    sets, label, manifest, root = sets_from_options(
        datasets=datasets, suites=suites, manifests=manifests, data_root=data_root, data_dir=data_dir,
        real_dir=real_dir, fake_dir=fake_dir, crop_box=crop_box, limit=limit, detector=det.name,
        weights_tag=det.weights.tag, preset=det.preset.name)
    path, summary = run_robustness(det, sets, list(perturbations), output=output, data_label=label,
                                   manifest=manifest, data_root=root, batch_size=batch_size, num_workers=workers,
                                   use_cache=not no_cache, progress=not quiet, limit=limit, label=label)
    click.echo(robustness_markdown(summary))
    computed = sum(r["computed"] for r in summary["runs"])
    cached = sum(r["cached"] + r["resumed"] for r in summary["runs"])
    click.echo(f"{len(summary['runs'])} severities: {computed} images scored, {cached} from cache or resumed")
    click.echo(f"summary: {path}")
