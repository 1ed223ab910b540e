"""What every worker shares: the ledger, the spool, the routes, the destinations, the keys."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from picsync.audit import AuditLog
from picsync.crypto import Identity, Recipient
from picsync.destinations import Destination
from picsync.ledger import Ledger
from picsync.metrics import Metrics
from picsync.pipeline import Transform
from picsync.policy import RetryPolicy
from picsync.schedule import Window
from picsync.spool import Spool
from picsync.throttle import RateLimiter


@dataclass(frozen=True, slots=True)
class SourceRoute:
    root: Path
    destinations: tuple[str, ...]
    requeue_delay: float  # how long a file that changed while read waits before the next try
    identity_rule: re.Pattern[str] | None = None
    after_upload: str = "keep"  # keep | move | delete, once every delivery is verified
    archive_dir: Path | None = None
    retention_days: float = 0.0


class Doorbell:
    """Wakes idle workers when new work arrives (a condition variable with a counter)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._rings = 0

    def ring(self) -> None:
        with self._cond:
            self._rings += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        with self._cond:
            self._cond.wait_for(lambda: self._rings != seen, timeout)
            return self._rings

    @property
    def rings(self) -> int:
        return self._rings


@dataclass(frozen=True, slots=True)
class WorkerParts:
    """Everything a worker needs; built once by the daemon's composition root."""

    ledger: Ledger
    spool: Spool
    routes: Mapping[str, SourceRoute]
    destinations: Mapping[str, Destination]
    templates: Mapping[str, str]
    plaintext: Mapping[str, bool]  # destination → receives plaintext (encryption: none)
    station: str
    transform: Transform
    recipients: tuple[Recipient, ...]
    key_epoch: str
    station_keys: tuple[Recipient, ...]  # the station's spool key, for plaintext destinations
    station_identities: tuple[Identity, ...]
    pseudonym_key: bytes  # for {patient} in remote names
    retry: RetryPolicy
    doorbell: Doorbell
    audit: AuditLog
    metrics: Metrics | None = None
    windows: Mapping[str, Window] = field(default_factory=dict)  # absent: always open
    limiters: Mapping[str, RateLimiter] = field(default_factory=dict)  # absent: unlimited
    clock: Callable[[], float] = time.time

    @property
    def keep_sources(self) -> list[str]:
        """Sources whose originals stay where they are after delivery (``after_upload: keep``)."""
        return [name for name, route in self.routes.items() if route.after_upload == "keep"]

    def next_opening(self, now: float) -> float | None:
        """When the next closed upload window opens (unix time), or None if none is closed."""
        at = datetime.fromtimestamp(now, tz=UTC)
        openings = (window.next_open(at) for window in self.windows.values())
        return min((o.timestamp() for o in openings if o > at), default=None)

    def open_destinations(self, now: float) -> list[str]:
        """Destinations whose upload window is open at ``now`` (unix time)."""
        at = datetime.fromtimestamp(now, tz=UTC)
        return [
            name
            for name in self.destinations
            if name not in self.windows or self.windows[name].is_open(at)
        ]
