"""``fakebench run`` -- every detector of a YAML config on every data selection, then a leaderboard."""

from __future__ import annotations

import click
from fakebench.cli.common import user_errors

_EXAMPLES = """
\b
Example config (relative paths are relative to the config file):
  output: results/runs
  batch_size: 32
  detectors:
    - {name: npr, weights: progan_4class, preset: native}
    - {name: cnnspot, weights: blur_jpg_prob0.1, preset: crop224}
  data:
    - {suites: [forensynths]}
    - {datasets: [shared-gangen-began], manifest: shared-samples, data_root: ../shared/data}
    - {real_dir: photos/, fake_dir: renders/, label: my-renders}

\b
Examples:
  fakebench run matrix.yaml --dry-run
  fakebench run matrix.yaml
  torchrun --nproc_per_node 4 --no-python fakebench run matrix.yaml   (each rank scores a shard)
"""


@click.command("run", epilog=_EXAMPLES)
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Validate the config and print the plan; load no model.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@user_errors
def run(config: str, dry_run: bool, quiet: bool) -> None:
    """Run every (detector, data selection) pair of CONFIG, skipping pairs with matching results, and build the
    leaderboard. The whole config is validated before any model is loaded; a failing pair does not stop the others
    (the exit status is 1 when one failed)."""
    from fakebench.eval.distributed import rank
    from fakebench.eval.matrix import load_config, run_matrix

    cfg = load_config(config)
    report = run_matrix(cfg, dry_run=dry_run, progress=not quiet)
    if rank() != 0:
        return
    click.echo(report.summary())
    if report.leaderboard:
        click.echo(f"leaderboard: {report.leaderboard[-1]}")
    if report.leaderboard_error:
        click.echo(f"leaderboard failed: {report.leaderboard_error}", err=True)
    if not report.ok:
        failed = report.failed
        lines = [f"{p.detector.key} x data[{p.data.index}] ({p.data.label}): {p.error}" for p in failed]
        raise click.ClickException(f"{len(failed)} of {len(report.pairs)} pairs failed:\n  " + "\n  ".join(lines)
                                   if failed else "the leaderboard could not be written")
