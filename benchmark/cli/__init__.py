"""The ``fakebench`` command line: a thin click group over the library (:mod:`fakebench.api`).

One module per subcommand; each parses options and calls one library function, importing heavy modules inside the
command body, so ``fakebench --help`` and ``fakebench list`` start fast and never import torch or transformers.
"""

from __future__ import annotations

import logging

import click

from fakebench import __version__
from fakebench.cli.audit import audit
from fakebench.cli.compare import compare
from fakebench.cli.download import download
from fakebench.cli.evaluate import evaluate
from fakebench.cli.explain import explain
from fakebench.cli.leaderboard import leaderboard
from fakebench.cli.listing import list_cmd
from fakebench.cli.predict import predict
from fakebench.cli.report import report
from fakebench.cli.robustness import robustness
from fakebench.cli.run import run
from fakebench.cli.train import train


class _Main(click.Group):
    """The ``fakebench`` group; ``fakebench train probe ...`` goes to the probe trainer, whose options (backbone
    architecture, active learning) differ from the recipe and prompt trainers' (see ``fakebench train probe -h``)."""

    def resolve_command(self, ctx: click.Context, args: list[str]):  # type: ignore[override]
        if args[:2] == ["train", "probe"]:
            from fakebench.cli.probe import probe_train

            return "train probe", probe_train, args[2:]
        return super().resolve_command(ctx, args)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="fakebench")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(verbose: int) -> None:
    """fakebench: evaluate AI-generated image detectors across generators, the same way for all."""
    logging.basicConfig(level={0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG),
                        format="%(levelname)s %(name)s: %(message)s")


main.add_command(list_cmd)
main.add_command(evaluate)
main.add_command(predict)
main.add_command(leaderboard)
main.add_command(download)
main.add_command(train)
main.add_command(robustness)
main.add_command(audit)
main.add_command(explain)
main.add_command(report)
main.add_command(compare)
main.add_command(run)

