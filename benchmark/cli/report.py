"""``fakebench report`` -- one self-contained HTML report (plus PNG/SVG figures) from run folders."""

from __future__ import annotations

import click

from fakebench.cli.common import require_extra, user_errors


@click.command("report")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--output", required=True, type=click.Path(file_okay=False),
              help="Folder for report.html and figures/ (created).")
@click.option("--title", default=None, help="Page title (default: the run labels).")
@click.option("--max-gallery", default=3, show_default=True, type=click.IntRange(min=0),
              help="Most confident errors shown per test set, detector and class (real called fake, fake called "
                   "real).")
@click.option("--max-sets", default=60, show_default=True, type=click.IntRange(min=1),
              help="At most this many test sets per small-multiples figure.")
@click.option("--bias-audit", "bias_audits", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A bias_audit.json to show (repeatable; one in a run folder or beside it is found anyway).")
@click.option("--gradcam", is_flag=True,
              help="Grad-CAM overlays of the fake logit beside the gallery thumbnails (NPR, CNNSpot, UnivFD; reloads "
                   "each run's weights from results.json, on the CPU; others get a note).")
@user_errors
def report(paths: tuple[str, ...], output: str, title: str | None, max_gallery: int, max_sets: int,
           bias_audits: tuple[str, ...], gradcam: bool) -> None:
    """Write OUTPUT/report.html from run folders or results.json files (RUN_OR_RESULTS...).

    \b
    Examples:
      fakebench report results/runs/npr.progan_4class@native/forensynths --output report/
      fakebench report results/runs --output report/ --title "NPR vs CNNSpot" --max-gallery 5
      fakebench report results/runs --output report/ --gradcam
    """
    require_extra("report", ("matplotlib",), "fakebench report")
    from fakebench.report import build_report

    path, figures = build_report(paths, output, title=title, max_gallery=max_gallery, max_sets=max_sets,
                                 bias_audits=bias_audits, gradcam=gradcam, echo=click.echo)
    size = path.stat().st_size
    click.echo(f"wrote {path} ({size / 1e6:.2f} MB) and {len(figures)} figure files in {path.parent / 'figures'}")
