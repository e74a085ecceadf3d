"""``edgeslim-cli``: the command line over EdgeSlim's core (console entry point ``core.cli:main``).

The package only parses arguments, builds requests for the core services and
prints their events and results: ``main`` (parser, exit codes), ``common``
(argument groups, sources, progress), one module per command group
(``basic``, ``run``, ``sweep``, ``runs``, ``sensitivity``, ``export``).
"""

from core.cli.main import EXIT_INTERNAL, EXIT_USAGE, build_parser, main

__all__ = ["EXIT_INTERNAL", "EXIT_USAGE", "build_parser", "main"]
