"""What ``picsync status`` shows: queue counts, the oldest waiting item, errors, pauses."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from picsync.config import Config, FolderDestinationSettings, station_zone
from picsync.ledger import Ledger
from picsync.schedule import parse_window

IN_FLIGHT = ("new", "preparing", "spooled", "quarantined")


@dataclass(frozen=True, slots=True)
class Snapshot:
    files: dict[str, int]
    deliveries: dict[str, dict[str, int]]
    oldest_pending_s: float | None
    last_errors: list[tuple[str, str, int, str]]
    paused: dict[str, tuple[float, str]]
    now: float

    def as_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "deliveries": self.deliveries,
            "oldest_pending_s": self.oldest_pending_s,
            "last_errors": [
                {"kind": kind, "where": where, "id": ident, "error": error}
                for kind, where, ident, error in self.last_errors
            ],
            "paused": {
                dest: {"until": until, "reason": reason}
                for dest, (until, reason) in self.paused.items()
            },
        }


def snapshot(ledger: Ledger, now: float) -> Snapshot:
    oldest = ledger.oldest_pending()
    return Snapshot(
        files=ledger.file_counts(),
        deliveries=ledger.delivery_counts(),
        oldest_pending_s=None if oldest is None else round(max(0.0, now - oldest), 3),
        last_errors=ledger.last_errors(),
        paused=ledger.pauses(now),
        now=now,
    )


def print_status(snap: Snapshot, console: Console | None = None) -> None:
    out = console or Console()
    files = Table(title="files", show_edge=False)
    files.add_column("state")
    files.add_column("count", justify="right")
    for state, count in sorted(snap.files.items()):
        files.add_row(state, str(count))
    out.print(files)
    deliveries = Table(title="deliveries", show_edge=False)
    deliveries.add_column("destination")
    for state in ("pending", "running", "done", "dead"):
        deliveries.add_column(state, justify="right")
    deliveries.add_column("paused")
    for dest, counts in sorted(snap.deliveries.items()):
        pause = snap.paused.get(dest)
        deliveries.add_row(
            dest,
            *(str(counts.get(s, 0)) for s in ("pending", "running", "done", "dead")),
            f"{pause[1]} (for {pause[0] - snap.now:.0f} s)" if pause else "",
        )
    out.print(deliveries)
    if snap.oldest_pending_s is None:
        out.print("nothing waiting")
    else:
        out.print(f"oldest waiting item: {snap.oldest_pending_s:.0f} s")
    if snap.last_errors:
        out.print("recent errors:")
        for kind, where, ident, error in snap.last_errors:
            out.print(f"  {kind} {ident} ({where}): {error}", markup=False)


def print_paths(ledger: Ledger, config: Config, console: Console | None = None) -> None:
    """Real paths of files still in flight or quarantined; for an operator on this machine."""
    out = console or Console()
    rows = ledger.files_in_states(IN_FLIGHT)
    if not rows:
        out.print("no files in flight or in quarantine")
        return
    # One plain line per file: paths are long and must never be cut short.
    out.print("files in flight or quarantined (id, state, source, path, reason):")
    for row in rows:
        source = config.settings.sources.get(row.source)
        path = (
            str(source.path / row.rel_path)
            if source is not None and row.rel_path is not None
            else "?"
        )
        reason = f"  ({row.last_error})" if row.last_error else ""
        out.print(
            f"  {row.id}\t{row.state}\t{row.source}\t{path}{reason}", markup=False, soft_wrap=True
        )


def describe_routes(config: Config) -> list[str]:
    """One line per route, for ``picsync check``."""
    lines = []
    for name, src in config.settings.sources.items():
        targets = []
        for dest_name in src.destinations:
            dest = config.settings.destinations[dest_name]
            kind = dest.type
            where = f" {dest.path}" if isinstance(dest, FolderDestinationSettings) else ""
            targets.append(f"{dest_name} ({kind}{where}, region {dest.region})")
        lines.append(f"{name} ({src.path}, {src.mode}) -> " + ", ".join(targets))
    return lines


def watch_status(ledger: Ledger, config: Config, interval: float = 2.0) -> None:
    """``picsync status --watch``: a live view until Ctrl-C."""
    with Live(_live_view(ledger, config), refresh_per_second=4, screen=False) as live:
        try:
            while True:
                time.sleep(interval)
                live.update(_live_view(ledger, config))
        except KeyboardInterrupt:
            return


def _live_view(ledger: Ledger, config: Config) -> Group:
    now = time.time()
    snap = snapshot(ledger, now)
    recent = ledger.delivered_since(now - 300)
    zone = station_zone(config.settings)
    at = datetime.fromtimestamp(now, tz=zone)
    table = Table(title=f"picsync {config.settings.station}  {at:%Y-%m-%d %H:%M:%S %Z}")
    for column in ("destination", "waiting", "dead", "done", "last 5 min", "window", "state"):
        table.add_column(column)
    for name, dest in config.settings.destinations.items():
        counts = snap.deliveries.get(name, {})
        done_recent, bytes_recent = recent.get(name, (0, 0))
        window = "always"
        if dest.window:
            parsed = parse_window(dest.window, zone)
            if parsed.is_open(at):
                closes = parsed.next_close(at)
                window = f"open until {closes.astimezone(zone):%a %H:%M}" if closes else "open"
            else:
                window = f"closed until {parsed.next_open(at).astimezone(zone):%a %H:%M}"
        pause = snap.paused.get(name)
        table.add_row(
            name,
            str(counts.get("pending", 0) + counts.get("running", 0)),
            str(counts.get("dead", 0)),
            str(counts.get("done", 0)),
            f"{done_recent} files, {bytes_recent / 1048576:.1f} MiB",
            window,
            f"paused: {pause[1]}" if pause else "ok",
        )
    files = ", ".join(f"{state} {count}" for state, count in sorted(snap.files.items()))
    oldest = (
        "nothing waiting"
        if snap.oldest_pending_s is None
        else (f"oldest waiting {snap.oldest_pending_s:.0f} s")
    )
    errors = [
        f"{kind} {ident} ({where}): {error}" for kind, where, ident, error in snap.last_errors[:5]
    ]
    return Group(table, f"files: {files or 'none'}; {oldest}", *errors)
