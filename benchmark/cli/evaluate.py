"""``fakebench evaluate`` -- detectors across test sets, with per-set tables and result files."""

from __future__ import annotations

from pathlib import Path

import click

from fakebench.cli.common import (import_plugins, label_option, n_boot_option, parse_crop_box, parse_key_values,
                                  require_detector_extras, require_extra, resolve_device, user_errors, DEVICE_HELP)

_EXAMPLES = """
\b
Examples:
  fakebench evaluate --detector npr --dataset gangen-began
  fakebench evaluate --detector npr --detector cnnspot --suite forensynths
  fakebench evaluate --detector cnnspot --weights blur_jpg_prob0.1 --suite forensynths
  fakebench evaluate --detector npr --weights ckpt.pth --data-dir ../shared/data/forensynths_samples \\
      --crop-box 50,50,306,306
  fakebench evaluate --detector univfd --real-dir photos/ --fake-dir renders/ --name my-photos
"""

#: How many unreadable files the console lists before "and N more".
_SHOWN = 10


@click.command("evaluate", epilog=_EXAMPLES)
@click.option("--detector", "detector_names", required=True, multiple=True,
              help="Registered detector name (see `fakebench list detectors`); repeatable: each is evaluated in turn, "
                   "one run folder each.")
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
@click.option("--name", help="Name of the run folder (default: the data label plus a hash of detector and data). A "
                             "folder of that name holding another run is refused.")
@label_option
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1))
@click.option("--max-pixels-per-batch", type=click.IntRange(1),
              help="Pixel budget of one forward pass (sum of H*W), bounding memory with native-size presets "
                   "(default: 2**17 = 131,072 on the CPU, 48,000,000 on a GPU; capped at what the device has free).")
@click.option("--workers", type=click.IntRange(0),
              help="Decoding workers: threads (DataLoader processes for a detector with its own transform; "
                   "default: cores - 1).")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--limit", type=click.IntRange(1), help="At most N images per label per test set (smoke runs).")
@click.option("--align-format", type=click.Choice(["jpeg96", "png"]),
              help="Re-encode every image, real and fake alike, as JPEG q96 (4:2:0) or PNG before scoring, so the "
                   "container cannot decide (GenImage: real JPEG vs fake PNG); recorded in the results.")
@click.option("--no-cache", is_flag=True, help="Do not read or fill the prediction cache.")
@click.option("--plugin", "plugins", multiple=True, help="Import a module that registers a detector.")
@click.option("--detector-option", "-O", "options", multiple=True,
              help="KEY=VALUE passed to the detector's load(), e.g. -O backbone=clip.pt.")
@click.option("--calibrate-on", "calibrate_on", multiple=True,
              help="Test set(s) of this run forming a calibration split: a threshold is fitted on them and every other "
                   "set is also scored at it (repeatable).")
@click.option("--calibration-target", default="eer", show_default=True,
              help="What the calibrated threshold achieves on the split: eer, balanced_acc or fpr:X (e.g. fpr:0.05).")
@n_boot_option("the 95% confidence intervals", allow_off=True)
@click.option("--report", "report", is_flag=True, help="Also write the HTML report of each run (<run>/report/).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@user_errors
def evaluate(detector_names: tuple[str, ...], weights: str | None, preset: str | None, datasets: tuple[str, ...],
             suites: tuple[str, ...], data_dir: str | None, real_dir: str | None, fake_dir: str | None,
             manifests: tuple[str, ...], data_root: str | None, crop_box: str | None, output: str, name: str | None,
             label: str | None, batch_size: int, max_pixels_per_batch: int | None, workers: int | None, device: str, limit: int | None,
             align_format: str | None, no_cache: bool, plugins: tuple[str, ...], options: tuple[str, ...], calibrate_on: tuple[str, ...],
             calibration_target: str, n_boot: int, report: bool, quiet: bool) -> None:
    """Evaluate detectors across test sets and write predictions, metrics and results.json (one run folder each).

    Every data folder is checked before any model is loaded. With several --detector, a detector that fails is
    reported at the end and does not stop the others; the exit code is 1 when any failed.
    """
    chosen = [bool(datasets or suites), bool(data_dir), bool(real_dir or fake_dir)]
    if sum(chosen) != 1:
        raise click.UsageError("Give exactly one of --dataset/--suite, --data-dir, or --real-dir/--fake-dir.")
    names = list(dict.fromkeys(detector_names))
    if len(names) > 1 and (weights or preset or options):
        raise click.UsageError("--weights, --preset and -O apply to one detector; with several --detector, run the "
                               "ones that need them separately.")
    box = parse_crop_box(crop_box)
    kwargs = parse_key_values(options)
    import_plugins(plugins)
    if report:  # checked now, not after the whole evaluation ran
        require_extra("report", ("matplotlib",), "evaluate --report")
    require_detector_extras(names)
    device = resolve_device(device)

    from fakebench import detectors
    from fakebench.api import EvalRequest, check_options, evaluate_all
    from fakebench.core.errors import FakebenchError

    # Fail fast: names and paths first, then the data (all missing folders listed), before any model is loaded.
    for cls_name in names:
        card = detectors.REGISTRY.card(cls_name)  # unknown names fail here; the class (torch) is not imported
        check_options(cls_name, kwargs)
        if weights and not Path(weights).expanduser().exists() and not (card is not None and card.has_weights(weights)):
            # raises the "does not exist" / "did you mean" error without downloading
            detectors.get_detector_class(cls_name).resolve_weights(weights)
    request = EvalRequest(datasets=datasets, suites=suites, data_dir=data_dir, real_dir=real_dir, fake_dir=fake_dir,
                          manifests=manifests, data_root=data_root, crop_box=box, limit=limit,
                          align_format=align_format).validate()
    plan = request.plan()  # every data folder checked (and walked, once) now, before any model is loaded

    failed: list[tuple[str, str]] = []
    for det_name in names:
        try:
            for results in evaluate_all(det_name, plan=plan, weights=weights, preset=preset, device=device,
                                        options=kwargs, output=output, name=name, batch_size=batch_size,
                                        num_workers=workers, use_cache=not no_cache, progress=not quiet,
                                        max_pixels_per_batch=max_pixels_per_batch, calibrate_on=calibrate_on,
                                        calibration_target=calibration_target, n_boot=n_boot, label=label):
                _print_run(results)
                if report:
                    from fakebench.report import write_report

                    click.echo(f"report: {write_report([results.run_dir], results.run_dir / 'report')}")
        except FakebenchError as exc:
            if len(names) == 1:
                raise
            failed.append((det_name, str(exc)))
            click.echo(f"error: {det_name}: {exc}", err=True)
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(names)} detectors failed: "
                                   + "; ".join(f"{n} ({msg})" for n, msg in failed))


def _print_run(res) -> None:
    """Print one run's table, counts, warnings and skipped files."""
    from fakebench.eval.harness import metrics_table
    from fakebench.eval.results import RANDOM_BACKBONE
    from fakebench.eval.tables import console_table

    results, run_dir = res.record, res.run_dir
    table = metrics_table(results.metrics)
    for i, row in enumerate(results.metrics["per_dataset"]):  # a fake-only set's real acc is its reference's
        if row.get("labels", row.get("kind")) == "fake" and "real_acc" in table:
            table.loc[i, "real_acc"] = None
    if results.threshold is None:  # score-only detector
        for key in ("acc", "real_acc", "fake_acc"):
            if key in table:
                table[key] = "n/a"
    click.echo(console_table(table))
    if results.label.endswith(RANDOM_BACKBONE):
        click.echo(f"note: {results.label}: the backbone is RANDOMLY INITIALISED (not pretrained features).")
    run = results.run
    click.echo(f"\n{run['total']} images: {run['computed']} scored, {run['cached']} from cache, "
               f"{run['resumed']} resumed, {run['unreadable']} unreadable, {run['seconds']:.1f}s")
    calibration = results.extra.get("calibration")
    if results.threshold is None:
        click.echo("accuracy: n/a: no threshold (score-only detector; its scores give AP/AUC; fit a threshold with "
                   "--calibrate-on SET)" + (": see the calibrated line below" if calibration else ""))
    if calibration:
        mean = calibration["mean"]
        click.echo(f"calibrated threshold {calibration['threshold']:.4g} ({calibration['target']} on "
                   f"{', '.join(calibration['split'])}): mean acc {100 * mean['acc']:.2f}, real acc "
                   f"{100 * mean['real_acc']:.2f}, fake acc {100 * mean['fake_acc']:.2f} over "
                   f"{mean['n_datasets']} other sets")
    for warning in results.warnings:
        click.echo(f"warning: {warning}", err=True)
    for item in results.unreadable[:_SHOWN]:
        click.echo(f"skipped: {item['error']}", err=True)
    if len(results.unreadable) > _SHOWN:
        click.echo(f"skipped: ... and {len(results.unreadable) - _SHOWN} more (see {run_dir / 'results.json'})",
                   err=True)
    if results.user_label:
        click.echo(f"run: {results.user_label} ({results.label})")
    click.echo(f"results: {run_dir / 'results.json'}")
