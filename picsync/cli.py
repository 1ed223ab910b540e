"""The command line: ``picsync run | check | status | retry | add``.

Commands talk to a running daemon only through the ledger file (no RPC), so they work whether
or not the daemon runs. Heavy imports happen inside the commands to keep ``--help`` fast.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from picsync import __version__
from picsync.cli_auth import auth
from picsync.cli_common import CONFIG_OPTION, fail
from picsync.errors import EX_CONFIG, ConfigError, LockedError

if TYPE_CHECKING:
    from picsync.audit import AuditLog
    from picsync.config import Config
    from picsync.ledger import Ledger


def _fail(message: str, code: int) -> NoReturn:
    fail(message, code)


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
@click.option(
    "--online", is_flag=True, help="Also prove auth and write access at every destination."
)
def check(config_path: Path, online: bool) -> None:
    """Validate the configuration and print its routes (exit 78 on any error).

    With --online, each destination is contacted; exit 69 if any of them fails.
    """
    from picsync.report import describe_routes

    config = _load(config_path)
    for warning in config.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"configuration OK: {config.path}")
    for line in describe_routes(config):
        click.echo(f"  {line}")
    if online:
        from picsync.probe import probe_destinations

        failures = 0
        for name, ok, line in probe_destinations(config):
            click.echo(f"  {name}: {'OK' if ok else 'FAILED'}: {line}", err=not ok)
            failures += not ok
        if failures:
            sys.exit(69)  # EX_UNAVAILABLE


@main.command()
@CONFIG_OPTION
def run(config_path: Path) -> None:
    """Run the daemon in the foreground until SIGTERM or Ctrl-C."""
    from picsync import daemon

    signals = daemon.Signals().install()
    config = _load(config_path)
    try:
        code = daemon.run(config, signals)
    except LockedError as exc:
        _fail(f"picsync: {exc}", 75)  # EX_TEMPFAIL: try again once the other one stopped
    except ConfigError as exc:
        _fail(f"picsync: {exc}", EX_CONFIG)
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
@click.option("--watch", is_flag=True, help="A live view of queues, rates and windows.")
def status(config_path: Path, as_json: bool, paths: bool, watch: bool) -> None:
    """Queue counts, the oldest waiting item, recent errors."""
    from picsync import report

    config = _load(config_path)
    ledger = _ledger_for(config)
    if watch:
        report.watch_status(ledger, config)
        return
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


@main.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Where to write the new identity (refuses to overwrite).",
)
@click.option("--passphrase", is_flag=True, help="Protect the identity with a passphrase.")
def keygen(output: Path, passphrase: bool) -> None:
    """Make an age identity for the records office; print its public recipient.

    Run it at the records office, not on a station: the station only gets the printed
    recipient (age1...). Keep the identity safe and backed up: without it, nothing decrypts.
    """
    from picsync.crypto import encrypt_with_passphrase, generate_identity, identity_file_text

    identity = generate_identity()
    data = identity_file_text(identity).encode()
    if passphrase:
        secret = click.prompt(
            "passphrase for the new identity", hide_input=True, confirmation_prompt=True, err=True
        )
        if len(secret) < 12:
            _fail("picsync: choose a passphrase of at least 12 characters", 1)
        data = encrypt_with_passphrase(data, secret)
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _fail(f"picsync: {output} exists already; not overwriting an identity", 1)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    click.echo(identity.recipient.to_string())
    click.echo(
        f"wrote {'passphrase-protected ' if passphrase else ''}identity {output} (mode 0600); "
        "put the recipient printed above in the stations' keys.recipients",
        err=True,
    )


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option(
    "-i",
    "--identity",
    "identity_files",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="age identity file (plain or passphrase-protected); repeat for older keys.",
)
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True)
def decrypt(inputs: tuple[Path, ...], identity_files: tuple[Path, ...], out: Path) -> None:
    """Decrypt uploaded files and restore their original names and folders."""
    from rich.progress import Progress

    from picsync.crypto import DecryptError, KeyFormatError, load_identity_file
    from picsync.restore import restore, sealed_files

    identities = []
    for path in identity_files:

        def ask(shown: Path = path) -> str:
            answer: str = click.prompt(f"passphrase for {shown}", hide_input=True, err=True)
            return answer

        try:
            identities += load_identity_file(path.read_bytes(), ask)
        except (KeyFormatError, DecryptError) as exc:
            _fail(f"picsync: {path}: {exc}", 1)
    total = len(sealed_files(inputs))
    with Progress(transient=True, disable=total < 2) as progress:
        task = progress.add_task("decrypting", total=total)
        result = restore(inputs, identities, out, lambda: progress.advance(task))
    for path in result.restored:
        click.echo(f"restored {path}")
    for path, reason in result.failed:
        click.echo(f"FAILED {path}: {reason}", err=True)
    click.echo(f"{len(result.restored)} restored, {len(result.failed)} failed", err=True)
    if result.failed:
        sys.exit(1)


@main.group()
def quarantine() -> None:
    """Files picsync refused: see why, and release them once fixed."""


@quarantine.command("list")
@CONFIG_OPTION
def quarantine_list(config_path: Path) -> None:
    """Quarantined files with their real paths and reasons (for a local operator)."""
    config = _load(config_path)
    ledger = _ledger_for(config)
    rows = ledger.files_in_states(["quarantined"])
    if not rows:
        click.echo("quarantine is empty")
        return
    for row in rows:
        source = config.settings.sources.get(row.source)
        path = source.path / row.rel_path if source and row.rel_path else "(path not kept)"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(row.discovered_at))
        click.echo(f"{row.id}\t{when}\t{row.source}\t{path}\n\t{row.last_error}")


@quarantine.command("release")
@CONFIG_OPTION
@click.argument("file_ids", nargs=-1, type=int)
@click.option("--all", "release_all", is_flag=True, help="Release every quarantined file.")
def quarantine_release(config_path: Path, file_ids: tuple[int, ...], release_all: bool) -> None:
    """Send quarantined files (by id from `quarantine list`) through the pipeline again."""
    if not file_ids and not release_all:
        _fail("picsync: name the file ids to release, or --all", 2)
    config = _load(config_path)
    ledger = _ledger_for(config)
    released = ledger.release_quarantined(None if release_all else list(file_ids), time.time())
    missing = sorted(set(file_ids) - set(released))
    click.echo(f"{len(released)} released")
    if missing:
        _fail(f"picsync: not in quarantine: {', '.join(map(str, missing))}", 1)


@main.command("scrub")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True)
def scrub_command(inputs: tuple[Path, ...], out: Path) -> None:
    """Write de-identified plaintext copies, a manifest.json and a report.json, so a privacy
    officer can inspect exactly what would leave the station."""
    from rich.progress import Progress

    from picsync.inspect import scrub_copies

    with Progress(transient=True) as progress:
        task = progress.add_task("scrubbing", total=None)
        result = scrub_copies(
            inputs, out, lambda total: progress.update(task, total=total, advance=1)
        )
    click.echo(f"{result.cleaned} cleaned, {result.refused} refused; see {out / 'report.json'}")


@main.group()
def audit() -> None:
    """The chain-of-custody log: check it, show a file's custody, re-check the destinations."""


def _audit_log(config: Config) -> AuditLog:
    from picsync.audit import AuditLog

    root = config.settings.state_dir
    if not (root / "audit.jsonl").exists():
        _fail(f"picsync: no audit log yet in {root}", 1)
    return AuditLog(root)


@audit.command("verify")
@CONFIG_OPTION
def audit_verify(config_path: Path) -> None:
    """Check the whole hash chain; report the first broken record."""
    log = _audit_log(_load(config_path))
    problem = log.verify()
    if problem is None:
        count = sum(1 for _ in log.records())
        click.echo(f"audit log intact: {count} records, every one linked to the one before")
        return
    where = f"record {problem.line}" if problem.line else "head"
    _fail(f"picsync: audit log broken at {where}: {problem.reason}", 1)


@audit.command("show")
@CONFIG_OPTION
@click.argument("ident")
def audit_show(config_path: Path, ident: str) -> None:
    """Every record about one file (its ledger id, or the random id in its remote name)."""
    records = _audit_log(_load(config_path)).custody(ident)
    if not records:
        _fail(f"picsync: no audit records for {ident}", 1)
    for record in records:
        click.echo(json.dumps(record, sort_keys=True))


@audit.command("verify-remote")
@CONFIG_OPTION
@click.option("--sample", type=int, default=None, help="Check this many random objects.")
def audit_verify_remote(config_path: Path, sample: int | None) -> None:
    """Re-read remote metadata; report objects whose fingerprint no longer matches the log."""
    from picsync.remote_check import check_remote

    config = _load(config_path)
    log = _audit_log(config)
    counts: dict[str, int] = {}
    for finding in check_remote(config, log, sample):
        key = finding.verdict.split(":")[0]
        counts[key] = counts.get(key, 0) + 1
        if finding.verdict != "ok":
            item = finding.item
            click.echo(f"{finding.verdict.upper()}\t{item.destination}\t{item.path}", err=True)
    summary = ", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items()))
    click.echo(summary or "nothing uploaded yet")
    if set(counts) - {"ok"}:
        sys.exit(1)


main.add_command(audit_verify_remote, name="verify-remote")
main.add_command(auth)
