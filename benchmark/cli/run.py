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
  fakebench run matrix.yaml --launcher submitit --partition gpu --gpus-per-job 1 --timeout-min 240
                                                                      (one Slurm array job per pair)
"""


@click.command("run", epilog=_EXAMPLES)
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Validate the config and print the plan; load no model.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.option("--launcher", type=click.Choice(["local", "submitit"]), default="local", show_default=True,
              help="local: this process (or torchrun's ranks); submitit: one job per pair as a Slurm job array "
                   "(submitit's local processes where Slurm is absent), then the leaderboard.")
@click.option("--cluster", type=click.Choice(["auto", "slurm", "local", "debug"]), default="auto", show_default=True,
              help="submitit executor (with --launcher submitit).")
@click.option("--partition", help="Slurm partition (with --launcher submitit).")
@click.option("--timeout-min", type=click.IntRange(1), default=240, show_default=True,
              help="Time limit of each job in minutes; a job that reaches it is requeued and resumes.")
@click.option("--gpus-per-job", type=click.IntRange(0), default=0, show_default=True)
@click.option("--cpus-per-job", type=click.IntRange(1), default=8, show_default=True)
@click.option("--max-parallel", type=click.IntRange(1), help="At most this many jobs of the array at once.")
@user_errors
def run(config: str, dry_run: bool, quiet: bool, launcher: str, cluster: str, partition: str | None,
        timeout_min: int, gpus_per_job: int, cpus_per_job: int, max_parallel: int | None) -> None:
    """Run every (detector, data selection) pair of CONFIG, skipping pairs with matching results, and build the
    leaderboard. The whole config is validated before any model is loaded; a failing pair does not stop the others
    (the exit status is 1 when one failed)."""
    from fakebench.eval.distributed import rank
    from fakebench.eval.matrix import load_config, run_matrix

    if launcher == "submitit":
        from fakebench.eval.launch import run_matrix_submitit

        params: dict = {"timeout_min": timeout_min, "cpus_per_task": cpus_per_job}
        if gpus_per_job:
            params["gpus_per_node"] = gpus_per_job
        if partition:
            params["slurm_partition"] = partition
        if max_parallel:
            params["slurm_array_parallelism"] = max_parallel
        report = run_matrix_submitit(config, cluster=None if cluster == "auto" else cluster, parameters=params,
                                     dry_run=dry_run)
    else:
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
