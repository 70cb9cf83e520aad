"""The ``fakebench`` command line: a thin click group over the library.

Subcommands live in :mod:`benchmark.commands` (one module each) and import their heavy dependencies inside the
command body, so ``fakebench --help`` and ``fakebench list`` start fast and never import transformers.
"""

from __future__ import annotations

import logging

import click

from benchmark import __version__
from benchmark.commands.download import download
from benchmark.commands.evaluate import evaluate
from benchmark.commands.leaderboard import leaderboard
from benchmark.commands.listing import list_cmd
from benchmark.commands.predict import predict
from benchmark.commands.train import train


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
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

if __name__ == "__main__":  # pragma: no cover
    main()
