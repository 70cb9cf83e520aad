"""``fakebench audit`` -- format/size bias audit of test sets from file metadata alone (no model)."""

from __future__ import annotations

import click

from fakebench.cli.common import n_boot_option, user_errors
from fakebench.cli.robustness import data_options, sets_from_options

__all__ = ["audit"]

_EXAMPLES = """
\b
Examples:
  fakebench audit --manifest shared-samples --suite shared-samples --data-root ../shared/data --output runs/audit
  fakebench audit --data-dir testset/ --output runs/audit
  fakebench audit --real-dir photos/ --fake-dir renders/
"""


@click.command("audit", epilog=_EXAMPLES)
@data_options
@click.option("--output", default="results/audit", show_default=True, type=click.Path(file_okay=False),
              help="Folder for bias_audit.json/.csv/.md.")
@n_boot_option("the AUC confidence interval")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the CV folds and the bootstrap.")
@click.option("--align-format", type=click.Choice(["jpeg96", "png"]),
              help="Audit the images as `fakebench evaluate --align-format` scores them: every image re-encoded in "
                   "this format first (shows which shortcuts the alignment removes).")
@user_errors
def audit(datasets: tuple[str, ...], suites: tuple[str, ...], data_dir: str | None, real_dir: str | None,
          fake_dir: str | None, manifests: tuple[str, ...], data_root: str | None, crop_box: str | None,
          limit: int | None, output: str, n_boot: int, seed: int, align_format: str | None) -> None:
    """Can real be told from fake by file metadata alone (format, JPEG quality, size, EXIF)? Fits a cross-validated
    metadata-only classifier per test set and flags sets where it succeeds; writes bias_audit.json/.csv/.md."""
    from fakebench.analysis.bias import audit_markdown, audit_sets, write_audit
    from fakebench.eval.harness import align_sets

    sets, _, _, _ = sets_from_options(datasets=datasets, suites=suites, manifests=manifests, data_root=data_root,
                                      data_dir=data_dir, real_dir=real_dir, fake_dir=fake_dir, crop_box=crop_box,
                                      limit=limit)
    result, _ = audit_sets(align_sets(sets, align_format), n_boot=n_boot, seed=seed)
    if align_format:
        result["align_format"] = align_format
    path = write_audit(result, output)
    click.echo(audit_markdown(result))
    click.echo(f"audit: {path}")
