"""``fakebench download`` -- fetch benchmark data and detector weights into the data root and the cache."""

from __future__ import annotations

import click

from fakebench.cli.common import user_errors


@click.command("download")
@click.option("--dataset", "datasets", multiple=True, metavar="NAME", help="A manifest dataset (repeatable).")
@click.option("--suite", "suites", multiple=True, metavar="NAME", help="Every dataset of a suite (repeatable).")
@click.option("--all", "everything", is_flag=True, help="Every manifest dataset that has a public source.")
@click.option("--weights", "weights", multiple=True, metavar="DETECTOR[.TAG]",
              help="Weights of a detector (default tag), one tag, or 'all' (repeatable).")
@click.option("--hub-repo", "hub_repos", multiple=True, metavar="REPO_ID",
              help="A Hugging Face model repo into <cache>/huggingface, e.g. a detector's base model (repeatable).")
@click.option("--data-root", type=click.Path(file_okay=False), help="Root that manifest paths are relative to.")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Cache root (default FAKEBENCH_CACHE).")
@click.option("--manifest", "manifests", multiple=True, type=click.Path(dir_okay=False),
              help="Manifest YAML, or a bundled one by name: default, shared-samples (repeatable; default: default).")
@click.option("--keep-archives/--delete-archives", default=True, show_default=True,
              help="Keep downloaded archives in the cache after extraction.")
@click.option("--retries", type=click.IntRange(0, 20), default=4, show_default=True,
              help="Retries after a transient network error (exponential backoff).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@user_errors
def download(datasets: tuple[str, ...], suites: tuple[str, ...], everything: bool, weights: tuple[str, ...],
             hub_repos: tuple[str, ...], data_root: str | None, cache_dir: str | None, manifests: tuple[str, ...],
             keep_archives: bool, retries: int, quiet: bool) -> None:
    """Download datasets (verified, extracted safely, counts checked) and detector weights (sha256-checked).

    \b
    Examples:
      fakebench download --dataset forensynths-progan
      fakebench download --suite universalfakedetect --data-root /data/fakebench
      fakebench download --all
      fakebench download --weights npr --weights univfd.progan
      fakebench download --weights antifakeprompt --hub-repo Salesforce/instructblip-vicuna-7b \\
                         --hub-repo lmsys/vicuna-7b-v1.3
      FAKEBENCH_OFFLINE=1 fakebench download --weights npr   # says where to put the file by hand
    """
    from fakebench.hub.fetch import FetchOptions, fetch_hub_snapshot

    if not (datasets or suites or everything or weights or hub_repos):
        raise click.UsageError("Nothing to download: pass --dataset NAME, --suite NAME, --all, --weights DETECTOR "
                               "or --hub-repo REPO_ID.")
    options = FetchOptions(retries=retries, progress=not quiet)
    for path in _download_weights(weights, cache_dir, options):
        click.echo(f"weights: {path}")
    for repo in hub_repos:
        click.echo(f"hub: {fetch_hub_snapshot(repo, what=f'--hub-repo {repo}', cache_dir=cache_dir)}")
    if datasets or suites or everything:
        _download_data(datasets, suites, everything, data_root, cache_dir, manifests, options, keep_archives)


def _download_weights(names: tuple[str, ...], cache_dir: str | None, options):
    """Fetch each named weights entry; yields the cached file paths."""
    from fakebench.hub.weights import fetch_weights

    for card, spec in _weights_specs(names):
        yield fetch_weights(card, spec, cache_dir=cache_dir, options=options)


def _weights_specs(names: tuple[str, ...]):
    """``npr`` (default weights), ``cnnspot.blur_jpg_prob0.1`` (one tag) or ``all`` -> ``(card, spec)`` pairs."""
    from fakebench import detectors
    from fakebench.core.errors import UnknownNameError, WeightsNotFoundError

    for name in names:
        if name == "all":
            cards = [detectors.REGISTRY.card(n) for n in detectors.list_detectors()]
            yield from ((card, spec) for card in cards if card is not None for spec in card.weights)
            continue
        detector, _, tag = name.partition(".")
        card = detectors.REGISTRY.card(detector)
        if card is None:
            raise UnknownNameError(f"Detector {detector!r} has no card that lists its weights.")
        spec = card.get_weights(tag) if tag else card.default_weights
        if spec is None:
            raise WeightsNotFoundError(f"Detector {detector!r} lists no weights files to download.")
        yield card, spec


def _download_data(datasets, suites, everything, data_root, cache_dir, manifests, options, keep_archives) -> None:
    from fakebench.data.download import download_datasets
    from fakebench.core.env import default_manifest_path
    from fakebench.data.manifest import load_manifests

    manifest = load_manifests(manifests or [default_manifest_path()])
    report = download_datasets(manifest, names=datasets, suites=suites, everything=everything,
                               skip_manual=everything or bool(suites), data_root=data_root, cache_dir=cache_dir,
                               options=options, keep_archives=keep_archives)
    for path in report.installed:
        click.echo(f"data: {path}")
    _echo_manual(report.manual)
    report.check()


def _echo_manual(items) -> None:
    """Datasets skipped because they need a manual download, grouped by where to get them."""
    by_where: dict[str, list] = {}
    for item in items:
        by_where.setdefault(item.where, []).append(item)
    for where, group in by_where.items():
        click.echo(f"manual download needed for {len(group)} dataset(s), from {where}; put the images in:", err=True)
        for item in group:
            click.echo(f"  {item.name}: {item.target}", err=True)
    if items:
        click.echo("Then run the same command again to verify them.", err=True)
