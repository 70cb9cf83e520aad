"""``fakebench leaderboard`` -- CSV and Markdown comparison tables from result files."""

from __future__ import annotations

import click

from fakebench.cli.common import user_errors


@click.command("leaderboard")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--output", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Folder for leaderboard.csv, leaderboard_<metric>.csv and leaderboard.md.")
@click.option("--title", default="fakebench leaderboard", show_default=True)
@click.option("--note", default="", help="A paragraph printed under the title (e.g. how the weights were trained).")
@user_errors
def leaderboard(paths: tuple[str, ...], output: str, title: str, note: str) -> None:
    """Build leaderboards from results.json files or folders holding them (default: results/runs)."""
    from fakebench.eval.leaderboard import load_results, write_leaderboard

    results = load_results(paths or ("results/runs",))
    for path in write_leaderboard(results, output, title=title, note=note):
        click.echo(f"wrote {path}")
