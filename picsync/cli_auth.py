"""``picsync auth dropbox``: authorize picsync at the records office's cloud account.

The command reads only its destination's entry of the configuration (the token file it is about
to write does not exist yet, so the full check would refuse), runs the no-redirect OAuth flow
with PKCE, and writes the refresh token to the destination's ``refresh_token_file``: mode 0600
from the first byte, fsynced, then renamed over the old token, so a crash leaves the old token or
the new one, never half a file. ``cli.py`` registers the group: ``main.add_command(auth)``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from picsync.cli_common import CONFIG_OPTION, fail
from picsync.errors import EX_CONFIG, ConfigError

if TYPE_CHECKING:
    from picsync.config import DropboxDestinationSettings

__all__ = ["auth", "write_secret_file"]


def _fail(message: str, code: int) -> NoReturn:
    fail(f"picsync: {message}", code)


@click.group()
def auth() -> None:
    """Authorize picsync at a cloud account (writes the token file the configuration names)."""


@auth.command("dropbox")
@CONFIG_OPTION
@click.option("--destination", "-d", required=True, help="Name of the Dropbox destination.")
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the token here instead of refresh_token_file (e.g. the file that systemd's "
    "LoadCredential= reads when refresh_token_file uses $CREDENTIALS_DIRECTORY).",
)
@click.pass_context
def dropbox_command(
    ctx: click.Context, config_path: Path, destination: str, output: Path | None
) -> None:
    """Link a Dropbox account and save its refresh token (no app secret needed: PKCE).

    Open the printed address signed in as the account that should receive the uploads, click
    Allow, and paste the code Dropbox shows. Restart picsync afterwards.
    """
    from picsync.destinations.dropbox_oauth import (
        AuthorizationError,
        AuthSeams,
        authorize,
        describe_account,
    )
    from picsync.errors import DestinationError

    settings = _dropbox_settings(config_path, destination)
    target = output or _token_file(settings, destination)
    seams = ctx.find_object(AuthSeams) or AuthSeams()

    def ask(url: str) -> str:
        click.echo(
            "1. Open this address in a browser, signed in as the Dropbox account that should "
            "receive the uploads:"
        )
        click.echo(f"   {url}")
        answer: str = click.prompt("2. Click Allow, then paste the code Dropbox shows")
        return answer

    try:
        refresh_token = authorize(settings.app_key, ask, seams)
    except AuthorizationError as exc:
        _fail(str(exc), 1)
    try:
        write_secret_file(target, refresh_token)
    except OSError as exc:
        _fail(f"could not write {target}: {exc.strerror or type(exc).__name__}", 1)
    click.echo(f"saved the refresh token of destination {destination!r} to {target} (mode 0600)")
    try:
        account = describe_account(seams.new_client(settings.app_key, refresh_token), destination)
    except DestinationError as exc:
        click.echo(f"warning: could not look the account up with the new token: {exc}", err=True)
    else:
        click.echo(f"it belongs to the Dropbox account {account}")
    click.echo("restart picsync (e.g. systemctl restart picsync) so that it uses the new token")


def _dropbox_settings(config_path: Path, name: str) -> DropboxDestinationSettings:
    """The one destination entry, validated; relative ``*_file`` paths as load_config has them."""
    from pydantic import ValidationError

    from picsync.config import DropboxDestinationSettings
    from picsync.config.yamlmap import load_positioned

    try:
        text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        _fail(f"{config_path}: no such configuration file", EX_CONFIG)
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"{config_path}: cannot read the configuration ({type(exc).__name__})", EX_CONFIG)
    try:
        data = load_positioned(text, str(config_path)).data
    except ConfigError as exc:
        _fail(str(exc), EX_CONFIG)
    destinations = data.get("destinations") if isinstance(data, dict) else None
    entry = destinations.get(name) if isinstance(destinations, dict) else None
    if not isinstance(entry, dict):
        known = ", ".join(sorted(destinations)) if isinstance(destinations, dict) else "none"
        _fail(f"{config_path}: no destination named {name!r} (defined: {known})", EX_CONFIG)
    if entry.get("type") != "dropbox":
        _fail(f"{config_path}: destinations.{name} is not a Dropbox destination", EX_CONFIG)
    try:
        return DropboxDestinationSettings(**_absolute_files(entry, config_path.resolve().parent))
    except ValidationError as exc:
        problems = "; ".join(
            f"destinations.{name}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
        )
        _fail(f"{config_path}: {problems}", EX_CONFIG)


def _absolute_files(entry: dict[str, Any], base: Path) -> dict[str, Any]:
    def fix(key: str, value: Any) -> Any:
        if key.endswith("_file") and isinstance(value, str) and value and "$" not in value:
            return str(base / Path(value).expanduser())
        return value

    return {key: fix(key, value) for key, value in entry.items()}


def _token_file(settings: DropboxDestinationSettings, name: str) -> Path:
    path = settings.refresh_token_file
    if path is None:
        _fail(
            f"destinations.{name} has no refresh_token_file, so the token would have nowhere "
            "to go: add e.g. `refresh_token_file: /etc/picsync/dropbox.token` to it (or give "
            "--output FILE and point the setting at that file), then run this again",
            EX_CONFIG,
        )
    if "$" in str(path):
        _fail(
            f"destinations.{name}.refresh_token_file is {path}, which is filled in at run time "
            "(systemd credentials): give --output with the file that LoadCredential= reads",
            EX_CONFIG,
        )
    return path


def write_secret_file(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: mode 0600 from creation, fsynced, renamed into place.

    A replaced file keeps its owner (when run as root), so the daemon's user can still read it.
    """
    folder = path.parent
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if os.geteuid() == 0 and path.exists():
            old = path.stat()
            os.chown(temp, old.st_uid, old.st_gid)
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder_fd)
    finally:
        os.close(folder_fd)
