"""The command line: ``picsync run | check | status | retry | add``.

Commands talk to a running daemon only through the ledger file (no RPC), so they work whether
or not the daemon runs. Heavy imports happen inside the commands to keep ``--help`` fast.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from picsync import __version__
from picsync.errors import EX_CONFIG, ConfigError, LockedError

if TYPE_CHECKING:
    from picsync.config import Config
    from picsync.ledger import Ledger

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


def _fail(message: str, code: int) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


def _load(config_path: Path) -> Config:
    from picsync.config import load_config

    try:
        return load_config(config_path)
    except ConfigError as exc:
        lines = "\n".join(f"  {p}" for p in exc.problems)
        _fail(f"picsync: configuration error in {config_path}:\n{lines}", EX_CONFIG)


@click.group()
@click.version_option(__version__, prog_name="picsync")
def main() -> None:
    """De-identify, encrypt and mirror clinical photos from watched folders."""


@main.command()
@CONFIG_OPTION
def check(config_path: Path) -> None:
    """Validate the configuration and print its routes (exit 78 on any error)."""
    from picsync.report import describe_routes

    config = _load(config_path)
    click.echo(f"configuration OK: {config.path}")
    for line in describe_routes(config):
        click.echo(f"  {line}")


@main.command()
@CONFIG_OPTION
def run(config_path: Path) -> None:
    """Run the daemon in the foreground until SIGTERM or Ctrl-C."""
    from picsync import daemon

    config = _load(config_path)
    try:
        code = daemon.run(config)
    except LockedError as exc:
        _fail(f"picsync: {exc}", 75)  # EX_TEMPFAIL: try again once the other one stopped
    sys.exit(code)


def _ledger_for(config: Config) -> Ledger:
    from picsync.ledger import Ledger
    from picsync.statedir import StateDir

    state = StateDir(config.settings.state_dir)
    if not state.ledger.exists():
        _fail(f"picsync: no ledger yet in {state.root} (has `picsync run` started once?)", 1)
    return Ledger(state.ledger)


@main.command()
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--paths", is_flag=True, help="Show real paths of files in flight (local only).")
def status(config_path: Path, as_json: bool, paths: bool) -> None:
    """Queue counts, the oldest waiting item, recent errors."""
    from picsync import report

    config = _load(config_path)
    ledger = _ledger_for(config)
    snapshot = report.snapshot(ledger, time.time())
    if as_json:
        click.echo(json.dumps(snapshot.as_json(), indent=2, sort_keys=True))
    else:
        report.print_status(snapshot)
    if paths:
        report.print_paths(ledger, config)


@main.command()
@CONFIG_OPTION
def retry(config_path: Path) -> None:
    """Give dead deliveries a fresh set of attempts."""
    config = _load(config_path)
    ledger = _ledger_for(config)
    revived = ledger.revive_dead(time.time())
    click.echo(f"{revived} dead deliveries queued again")


@main.command()
@CONFIG_OPTION
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
def add(config_path: Path, paths: tuple[Path, ...]) -> None:
    """Queue existing files (or every file under folders) that lie inside a source folder."""
    from picsync.backfill import backfill

    config = _load(config_path)
    ledger = _ledger_for(config)
    result = backfill(config, ledger, paths)
    click.echo(
        f"added {result.added}, already known {result.known}, "
        f"outside every source folder {result.outside}, incomplete {result.incomplete}"
    )
    if result.outside or result.incomplete:
        sys.exit(1)
