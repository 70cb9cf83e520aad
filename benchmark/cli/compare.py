"""``fakebench compare RUN_A RUN_B`` -- paired differences of two runs on the same images, with CIs and p-values."""

from __future__ import annotations

import click

from fakebench.cli.common import n_boot_option, user_errors

_EXAMPLES = """
\b
Examples:
  fakebench compare results/runs/npr.progan@native/forensynths results/runs/cnnspot.blur_jpg_prob0.1@native/forensynths
  fakebench compare RUN_A RUN_B --n-boot 2000 --seed 1 --json compare.json
"""


@click.command("compare", epilog=_EXAMPLES)
@click.argument("run_a", type=click.Path(exists=True, file_okay=False))
@click.argument("run_b", type=click.Path(exists=True, file_okay=False))
@n_boot_option("the paired tests of AP and of the mean over sets")
@click.option("--seed", default=0, show_default=True, type=int, help="Bootstrap seed.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False),
              help="Also write the comparison to this JSON file.")
@user_errors
def compare(run_a: str, run_b: str, n_boot: int, seed: int, json_out: str | None) -> None:
    """Compare two runs scored on the same images: A - B per test set and for the mean.

    RUN_A and RUN_B are run folders (predictions.csv + results.json). Images are matched by sha256 within each
    test set; the command refuses when the two runs did not score the same images. Accuracy differences get
    McNemar's test (exact below 25 discordant images) and Newcombe's paired 95% CI, AP differences a paired
    bootstrap, AUC differences DeLong's test; no AP/AUC p-value below 10 images of a class. Every per-set p-value
    column has Holm and Benjamini-Hochberg adjusted columns (across the test sets). The mean is given twice:
    "mean (images)" is about new images on these same sets, "mean (sets)" about other test sets like these
    (Student t over sets, none below 5 sets).
    """
    from fakebench.analysis.compare import compare_runs, format_comparison
    from fakebench.core.files import atomic_write_json

    result = compare_runs(run_a, run_b, n_boot=n_boot, seed=seed)
    click.echo(format_comparison(result))
    if json_out:
        atomic_write_json(json_out, result)
        click.echo(f"\nWrote {json_out}")
