"""``fakebench list detectors|datasets`` -- reads cards and manifests only (no torch, no transformers)."""

from __future__ import annotations

import click

from fakebench.cli.common import import_plugins, user_errors


@click.group("list")
def list_cmd() -> None:
    """List registered detectors or manifest datasets."""


@list_cmd.command("detectors")
@click.option("--plugin", "plugins", multiple=True, help="Import a module that registers more detectors.")
@click.option("-v", "--verbose", is_flag=True, help="Show weights, presets and licences.")
@user_errors
def list_detectors_cmd(plugins: tuple[str, ...], verbose: bool) -> None:
    """Registered detectors with their default weights and presets."""
    from fakebench import detectors

    import_plugins(plugins)
    for name in detectors.list_detectors():
        card = detectors.REGISTRY.card(name)
        if card is None:
            click.echo(f"{name:16s} (card loads with the detector)")
            continue
        weights = ", ".join(w.tag for w in card.weights) or "-"
        click.echo(f"{name:16s} {card.title}")
        click.echo(f"{'':16s} weights: {weights}; presets: {', '.join(p.name for p in card.presets)} "
                   f"(default {card.default_preset}); continuous scores: {'yes' if card.continuous_scores else 'no'}"
                   + ("; score only (no natural threshold: accuracy needs --calibrate-on)"
                      if card.natural_threshold is None else ""))
        if verbose:
            click.echo(f"{'':16s} paper: {card.paper}\n{'':16s} repo: {card.repo}\n{'':16s} licence: {card.licence}")
            for w in card.weights:
                click.echo(f"{'':16s} - {w.tag}: {w.filename} sha256={w.sha256 or 'unknown'} ({w.trained_on})")


@list_cmd.command("datasets")
@click.option("--manifest", "manifests", multiple=True, type=click.Path(dir_okay=False),
              help="Manifest YAML, or a bundled one by name: default, shared-samples (repeatable; default: default).")
@click.option("--suite", "suites", multiple=True, help="Only these suites.")
@user_errors
def list_datasets_cmd(manifests: tuple[str, ...], suites: tuple[str, ...]) -> None:
    """Test sets in the manifest: suite, generator, family, labels, expected counts, held-in weights."""
    from fakebench.core.env import default_manifest_path
    from fakebench.data.manifest import load_manifests

    manifest = load_manifests(manifests or [default_manifest_path()])
    entries = manifest.select(suites=suites) if suites else list(manifest.datasets.values())
    click.echo(f"{'name':28s} {'suite':20s} {'generator':24s} {'family':18s} {'labels':6s} {'real':>6s} {'fake':>6s}"
               f"  held-in for")
    for e in entries:
        counts = [str(e.expected_count.get(k)) if e.expected_count.get(k) is not None else "?" for k in ("real", "fake")]
        click.echo(f"{e.name:28s} {e.suite:20s} {e.generator:24s} {e.family:18s} {e.labels:6s} {counts[0]:>6s} "
                   f"{counts[1]:>6s}  {', '.join(e.held_in) or '-'}")
    click.echo(f"{len(entries)} datasets in {len({e.suite for e in entries})} suites ({', '.join(map(str, manifest.paths))})")
