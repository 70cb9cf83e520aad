"""``fakebench list detectors|datasets`` -- reads cards and manifests only (no torch, no transformers)."""

from __future__ import annotations

from typing import Any

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
        click.echo(f"{'':16s} licence: {short_licence(card.licence)}")
        if verbose:
            click.echo(f"{'':16s} paper: {card.paper}\n{'':16s} repo: {card.repo}\n{'':16s} licence: {card.licence}")
            for w in card.weights:
                click.echo(f"{'':16s} - {w.tag}: {w.filename} sha256={w.sha256 or 'unknown'} ({w.trained_on})")


def short_licence(text: str, width: int = 160) -> str:
    """A card's licence on one line, cut at a word boundary after at most ``width`` characters (the full text is in
    ``list detectors -v``)."""
    text = " ".join((text or "unknown").split())
    if len(text) <= width:
        return text
    return text[: width - 3].rsplit(" ", 1)[0].rstrip(",;:") + "..."


@list_cmd.command("datasets")
@click.option("--manifest", "manifests", multiple=True, type=click.Path(dir_okay=False),
              help="Manifest YAML, or a bundled one by name: default, shared-samples (repeatable; default: default).")
@click.option("--suite", "suites", multiple=True, help="Only these suites.")
@click.option("--data-root", type=click.Path(file_okay=False),
              help="Root the manifest paths are relative to, for the on-disk column (default FAKEBENCH_DATA).")
@click.option("--no-disk", is_flag=True, help="Do not look at the data root (no on-disk column).")
@user_errors
def list_datasets_cmd(manifests: tuple[str, ...], suites: tuple[str, ...], data_root: str | None,
                      no_disk: bool) -> None:
    """Test sets in the manifest: suite, generator, family, labels, expected counts, what is on disk, licence and
    held-in weights.

    The on-disk column: ``present`` (images found, matching the expected counts where the manifest pins them),
    ``partial`` (fewer or other counts than expected, or one label of a mixed set missing), ``missing`` (no folder or no
    image); with the counts found as ``real+fake``.
    """
    from pathlib import Path

    from fakebench.core.env import data_root as default_data_root, default_manifest_path
    from fakebench.data.manifest import load_manifests

    manifest = load_manifests(manifests or [default_manifest_path()])
    entries = manifest.select(suites=suites) if suites else list(manifest.datasets.values())
    root = Path(data_root).expanduser().resolve() if data_root else default_data_root()
    header = ["name", "suite", "generator", "family", "labels", "real", "fake"] + ([] if no_disk else ["on disk"]) + \
        ["licence", "held-in for"]
    rows = []
    for e in entries:
        counts = [str(e.expected_count.get(k)) if e.expected_count.get(k) is not None else "?" for k in ("real", "fake")]
        disk = [] if no_disk else [disk_status(e, root)]
        rows.append([e.name, e.suite, e.generator, e.family, e.labels, *counts, *disk, e.licence or "-",
                     ", ".join(e.held_in) or "-"])
    click.echo(format_table(header, rows, right=("real", "fake"), clip={"generator": 34, "licence": 40}))
    where = "" if no_disk else f"; data root {root}"
    click.echo(f"{len(entries)} datasets in {len({e.suite for e in entries})} suites "
               f"({', '.join(map(str, manifest.paths))}{where})")


def disk_status(entry: Any, root: Any) -> str:
    """``present 2000+2000`` / ``partial 12+0 of 2000+2000`` / ``missing`` for a dataset under ``root``."""
    from fakebench.data.download import count_images

    folder = root / entry.path
    if not folder.is_dir():
        return "missing"
    try:
        found = count_images(folder, entry)
    except Exception as exc:  # noqa: BLE001 - an unreadable shard or folder is shown, never a crash of the listing
        return f"unreadable ({type(exc).__name__})"
    if not any(found.values()):
        return "missing"
    have = f"{found['real']}+{found['fake']}"
    expected = entry.expected_count or {}
    wrong = [k for k in ("real", "fake") if expected.get(k) is not None and found[k] != expected[k]]
    lacking = entry.labels == "mixed" and not all(found.values())
    if wrong or lacking:
        want = "+".join(str(expected.get(k)) if expected.get(k) is not None else "?" for k in ("real", "fake"))
        return f"partial {have} of {want}"
    return f"present {have}"


def format_table(header: list[str], rows: list[list[str]], *, right: tuple[str, ...] = (),
                 clip: dict[str, int] | None = None) -> str:
    """Rows as text columns aligned to the widest cell (``right``: right-aligned columns; ``clip``: columns cut to a
    width with an ellipsis), separated by two spaces; the last column is never padded.

    >>> print(format_table(["a", "bb"], [["xyz", "1"]]))
    a    bb
    xyz  1
    """
    clip = clip or {}

    def cut(name: str, cell: str) -> str:
        width = clip.get(name)
        return cell if width is None or len(cell) <= width else cell[:width - 1] + "\u2026"

    cells = [[cut(h, str(c)) for h, c in zip(header, row)] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if h in right else v.ljust(w) for h, v, w in zip(header, values, widths)]
        parts[-1] = values[-1]
        return "  ".join(parts).rstrip()

    return "\n".join([line(header)] + [line(r) for r in cells])
