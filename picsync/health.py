"""The daemon's periodic look at itself: which alert conditions hold right now.

Called from the main loop every few seconds with the ledger and the running generation; for
every condition it reports ``raise_`` while it holds and ``clear`` while it does not (the
Alerter turns that into one notice per incident). Everything passed on is PHI-free: destination
and source names, counts, ages, bytes and reasons that were made PHI-free where they arose.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from picsync.alerts import Alerter, AlertKind
from picsync.ledger import Ledger

WindowOpen = Callable[[str, float], bool]  # (destination, unix time) -> uploads allowed now


def check_conditions(
    alerter: Alerter,
    ledger: Ledger,
    now: float,
    destinations: Mapping[str, object],
    sources: Mapping[str, object],
    spool: Path,
    backlog_after: float,
    spool_min_free: int,
    polling_fallback: bool,
    window_open: WindowOpen = lambda destination, at: True,
) -> None:
    counts = ledger.delivery_counts()
    blocked = ledger.blocked()
    oldest = ledger.oldest_pending_by_destination()
    for name in destinations:
        dead = counts.get(name, {}).get("dead", 0)
        if dead:
            alerter.raise_(AlertKind.DELIVERY_DEAD, name, count=dead)
        else:
            alerter.clear(AlertKind.DELIVERY_DEAD, name)
        if name in blocked:
            alerter.raise_(AlertKind.DESTINATION_BLOCKED, name, reason=blocked[name])
        else:
            alerter.clear(AlertKind.DESTINATION_BLOCKED, name)
        since = oldest.get(name)
        waiting = counts.get(name, {}).get("pending", 0) + counts.get(name, {}).get("running", 0)
        if since is not None and now - since > backlog_after and window_open(name, now):
            alerter.raise_(
                AlertKind.BACKLOG_OLD,
                name,
                count=waiting,
                age_s=now - since,
                threshold_s=backlog_after,
            )
        else:
            alerter.clear(AlertKind.BACKLOG_OLD, name)
    try:
        free = shutil.disk_usage(spool).free
    except OSError:
        free = None
    if free is not None and free < spool_min_free:
        alerter.raise_(
            AlertKind.SPOOL_LOW_SPACE, "spool", free_bytes=free, min_free_bytes=spool_min_free
        )
    else:
        alerter.clear(AlertKind.SPOOL_LOW_SPACE, "spool")
    for name in sources:
        if polling_fallback:
            alerter.raise_(AlertKind.WATCHER_POLLING, name, reason="not enough inotify watches")
        else:
            alerter.clear(AlertKind.WATCHER_POLLING, name)
