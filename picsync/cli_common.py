"""What every picsync command shares: the -c option and the way it fails."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

CONFIG_OPTION = click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="PICSYNC_CONFIG",
    default=Path("/etc/picsync/config.yaml"),
    show_default=True,
    help="YAML configuration file.",
)


def fail(message: str, code: int) -> NoReturn:
    """Print ``message`` to stderr and exit with ``code``."""
    click.echo(message, err=True)
    sys.exit(code)
