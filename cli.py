"""Run the ``fakebench`` command line from a checkout: ``python cli.py evaluate ...``.

The command itself lives in :mod:`fakebench.cli` (installed as the ``fakebench`` console script); this file is only a
convenience for a source checkout and is not installed.
"""

from fakebench.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
