"""One module per ``fakebench`` subcommand; ``cli.py`` assembles them into the click group.

Each module defines one click command that only parses options and calls one library function, importing heavy
modules inside the command body so ``fakebench --help`` and ``fakebench list`` stay fast.
"""
