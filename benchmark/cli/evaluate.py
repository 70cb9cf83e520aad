"""``fakebench evaluate`` -- one detector across test sets, with per-set tables and result files."""

from __future__ import annotations

from pathlib import Path

import click

from fakebench.cli.common import import_plugins, parse_crop_box, parse_key_values, user_errors

_EXAMPLES = """
\b
Examples:
  fakebench evaluate --detector npr --dataset gangen-began
  fakebench evaluate --detector cnnspot --weights blur_jpg_prob0.1 --suite forensynths
  fakebench evaluate --detector npr --weights ckpt.pth --data-dir ../shared/data/forensynths_samples \\
      --crop-box 50,50,306,306
  fakebench evaluate --detector univfd --real-dir photos/ --fake-dir renders/
"""


@click.command("evaluate", epilog=_EXAMPLES)
@click.option("--detector", required=True, help="Registered detector name (see `fakebench list detectors`).")
@click.option("--weights", help="Weights tag of the detector's card, or a checkpoint path (default: the card's first).")
@click.option("--preset", help="Preprocessing preset (default: the one the weights' published numbers used).")
@click.option("--dataset", "datasets", multiple=True, help="Manifest dataset name (repeatable).")
@click.option("--suite", "suites", multiple=True, help="Manifest suite name (repeatable).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="A 0_real/1_fake test root (one folder per generator).")
@click.option("--real-dir", type=click.Path(file_okay=False), help="Folder of real images (any tree).")
@click.option("--fake-dir", type=click.Path(file_okay=False), help="Folder of fake images (any tree).")
@click.option("--manifest", "manifests", multiple=True, type=click.Path(dir_okay=False),
              help="Manifest YAML, or a bundled one by name: default, shared-samples (repeatable; default: default).")
@click.option("--data-root", type=click.Path(file_okay=False), help="Root that manifest paths are relative to.")
@click.option("--crop-box", help="LEFT,TOP,RIGHT,BOTTOM crop applied before preprocessing (--data-dir/--real-dir).")
@click.option("--output", default="results/runs", show_default=True, type=click.Path(file_okay=False),
              help="Where run folders go.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1))
@click.option("--workers", type=click.IntRange(0), help="DataLoader worker processes (default: cores - 1).")
@click.option("--device", default="cpu", show_default=True, help="torch device, e.g. cuda or cuda:1.")
@click.option("--limit", type=click.IntRange(1), help="At most N images per label per test set (smoke runs).")
@click.option("--no-cache", is_flag=True, help="Do not read or fill the prediction cache.")
@click.option("--plugin", "plugins", multiple=True, help="Import a module that registers a detector.")
@click.option("--detector-option", "-O", "options", multiple=True,
              help="KEY=VALUE passed to the detector's load(), e.g. -O backbone=clip.pt.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@user_errors
def evaluate(detector: str, weights: str | None, preset: str | None, datasets: tuple[str, ...],
             suites: tuple[str, ...], data_dir: str | None, real_dir: str | None, fake_dir: str | None,
             manifests: tuple[str, ...], data_root: str | None, crop_box: str | None, output: str, batch_size: int,
             workers: int | None, device: str, limit: int | None, no_cache: bool, plugins: tuple[str, ...],
             options: tuple[str, ...], quiet: bool) -> None:
    """Evaluate one detector across test sets and write predictions, metrics and results.json."""
    chosen = [bool(datasets or suites), bool(data_dir), bool(real_dir or fake_dir)]
    if sum(chosen) != 1:
        raise click.UsageError("Give exactly one of --dataset/--suite, --data-dir, or --real-dir/--fake-dir.")
    box = parse_crop_box(crop_box)
    kwargs = parse_key_values(options)
    import_plugins(plugins)

    from fakebench import detectors
    from fakebench.core.env import data_root as default_data_root, default_manifest_path
    from fakebench.eval.harness import (metrics_table, run_evaluation, sets_from_data_dir, sets_from_manifest,
                                    sets_from_real_fake_dirs)
    from fakebench.data.manifest import load_manifests

    det = detectors.get_detector_class(detector).load(weights, preset=preset, device=device, **kwargs)
    manifest = None
    root = Path(data_root).resolve() if data_root else default_data_root()
    if datasets or suites:
        manifest = load_manifests(manifests or [default_manifest_path()])
        entries = manifest.select(datasets, suites)
        sets = sets_from_manifest(manifest, entries, detector=det.name, weights_tag=det.weights.tag,
                                  preset=det.preset.name, data_root=root, limit=limit)
        label = "+".join(suites + datasets) if len(suites + datasets) <= 3 else f"{len(entries)}-datasets"
    elif data_dir:
        sets = sets_from_data_dir(data_dir, crop_box=box, limit=limit)
        label = Path(data_dir).resolve().name
    else:
        sets = sets_from_real_fake_dirs(real_dir, fake_dir, crop_box=box, limit=limit)
        label = "real-fake-dirs"
    run_dir, results = run_evaluation(det, sets, output=output, data_label=label, manifest=manifest,
                                      data_root=root if manifest else None, batch_size=batch_size,
                                      num_workers=workers, use_cache=not no_cache, progress=not quiet, limit=limit)
    table = metrics_table(results["metrics"])
    click.echo(table.to_string(index=False, na_rep=""))
    run = results["run"]
    click.echo(f"\n{run['total']} images: {run['computed']} scored, {run['cached']} from cache, {run['resumed']} resumed, "
               f"{run['unreadable']} unreadable, {run['seconds']:.1f}s")
    for warning in results["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    for item in results["unreadable"][:10]:
        click.echo(f"skipped: {item['error']}", err=True)
    click.echo(f"results: {run_dir / 'results.json'}")
