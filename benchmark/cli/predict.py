"""``fakebench predict IMAGE...`` -- score single images, like the official demo/test scripts."""

from __future__ import annotations

import click

from fakebench.cli.common import (DEVICE_HELP, image_failure, import_plugins, parse_key_values,
                                  require_detector_extras, resolve_device, user_errors)


@click.command("predict")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--detector", required=True, help="Registered detector name.")
@click.option("--weights", help="Weights tag or checkpoint path.")
@click.option("--preset", help="Preprocessing preset.")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--plugin", "plugins", multiple=True, help="Import a module that registers a detector.")
@click.option("--detector-option", "-O", "options", multiple=True, help="KEY=VALUE passed to the detector's load().")
@user_errors
def predict(images: tuple[str, ...], detector: str, weights: str | None, preset: str | None, device: str,
            plugins: tuple[str, ...], options: tuple[str, ...]) -> None:
    """Print the fake probability, logit and decision of each IMAGE (one line each, tab-separated)."""
    kwargs = parse_key_values(options)
    import_plugins(plugins)
    require_detector_extras(detector)
    from fakebench.api import load_detector
    from fakebench.data.images import UnreadableImage, load_image

    det = load_detector(detector, weights, preset=preset, device=resolve_device(device), **kwargs)
    threshold = det.natural_threshold  # None: score-only detector, its column is a score and there is no decision
    click.echo("image\t" + ("fake_prob" if threshold is not None else "score") + "\tlogit\tdecision")
    failed = 0
    for path in images:
        try:
            img, _ = load_image(path)
        except UnreadableImage as exc:
            failed += 1
            click.echo(f"{path}\t\t\terror: {exc}")
            continue
        try:  # one image the detector fails on (too small, ...) costs only its own line, as in `evaluate`
            out = det.predict_images([img])
            if bool(det.non_finite(out)[0]):
                raise FloatingPointError(det.non_finite_message(out, 0))
        except Exception as exc:
            failed += 1
            click.echo(f"{path}\t\t\terror: {image_failure(path, det.name, exc)}")
            continue
        prob = out.prob.item()
        logit = "" if out.logit is None else f"{out.logit.item():.6f}"
        decision = ("n/a: no threshold" if threshold is None else "Fake" if prob > threshold else "Real")
        click.echo(f"{path}\t{prob:.6f}\t{logit}\t{decision}")
    if failed:
        raise click.ClickException(f"{failed} of {len(images)} images could not be read or scored (see above).")
