"""``fakebench leaderboard`` -- CSV and Markdown comparison tables (optionally an HTML report) from result files."""

from __future__ import annotations

from pathlib import Path

import click

from fakebench.cli.common import require_extra, user_errors


@click.command("leaderboard")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--output", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Folder for leaderboard.csv, leaderboard_<metric>.csv, leaderboard_cost.csv and leaderboard.md.")
@click.option("--title", default="fakebench leaderboard", show_default=True)
@click.option("--note", default="", help="A paragraph printed under the title (e.g. how the weights were trained).")
@click.option("--html", "html", is_flag=True,
              help="Also write the self-contained HTML report of the same result files to OUTPUT/report/report.html "
                   "(needs each run's predictions.csv beside its results.json).")
@click.option("--gradcam", is_flag=True,
              help="With --html: Grad-CAM overlays beside the error gallery thumbnails (NPR, CNNSpot, UnivFD; reloads "
                   "each detector's weights, on the CPU).")
@user_errors
def leaderboard(paths: tuple[str, ...], output: str, title: str, note: str, html: bool, gradcam: bool) -> None:
    """Build leaderboards from results.json files or folders holding them (default: results/runs)."""
    from fakebench.eval.leaderboard import load_results, write_leaderboard

    if gradcam and not html:
        raise click.UsageError("--gradcam adds Grad-CAM overlays to the HTML report: pass --html too.")
    if html:
        require_extra("report", ("matplotlib",), "leaderboard --html")
    if gradcam:
        require_extra("explain", ("pytorch_grad_cam",), "--gradcam")
    results = load_results(paths or ("results/runs",))
    for path in write_leaderboard(results, output, title=title, note=note):
        click.echo(f"wrote {path}")
    if html:
        from fakebench.eval.leaderboard import leaderboard_frame
        from fakebench.report import write_report

        # the report shows the result files the tables use: a file whose every cell a later file replaced is left out
        used = set(leaderboard_frame(results)["source"])
        runs = [Path(r["_path"]) for r in results if r["_path"] in used]
        if len(runs) < len(results):
            click.echo(f"report: {len(results) - len(runs)} result file(s) fully superseded by later ones left out")
        path = write_report(runs, Path(output) / "report", title=title, gradcam=gradcam)
        click.echo(f"wrote {path}")
