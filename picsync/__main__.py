"""Entry point for ``python -m picsync``."""

from picsync.cli import main

main()
