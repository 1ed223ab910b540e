"""Prometheus metrics: queue state read from the ledger at scrape time, and counters the
workers bump as uploads succeed or fail. Served on 127.0.0.1 by default.

Labels are destination names, states and error kinds only: never a path, a file name or a
patient identifier.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from picsync.ledger import Ledger

log = structlog.get_logger("picsync.metrics")


class _LedgerCollector(Collector):
    """Reads queue depth and age from the ledger each time Prometheus scrapes."""

    def __init__(self, ledger: Ledger, spool: Path, clock: Callable[[], float]) -> None:
        self._ledger = ledger
        self._spool = spool
        self._clock = clock

    def collect(self) -> Iterator[Any]:
        files = GaugeMetricFamily("picsync_files", "Source files by state", labels=["state"])
        for state, count in self._ledger.file_counts().items():
            files.add_metric([state], count)
        yield files
        deliveries = GaugeMetricFamily(
            "picsync_deliveries",
            "Deliveries by destination and state",
            labels=["destination", "state"],
        )
        for dest, counts in self._ledger.delivery_counts().items():
            for state, count in counts.items():
                deliveries.add_metric([dest, state], count)
        yield deliveries
        oldest = self._ledger.oldest_pending()
        age = 0.0 if oldest is None else max(0.0, self._clock() - oldest)
        yield GaugeMetricFamily(
            "picsync_oldest_pending_seconds", "Age of the oldest item not yet delivered", value=age
        )
        paused = GaugeMetricFamily(
            "picsync_destination_paused",
            "1 while a destination waits for a person",
            labels=["destination"],
        )
        for dest in self._ledger.pauses(self._clock()):
            paused.add_metric([dest], 1)
        yield paused
        try:
            free = float(shutil.disk_usage(self._spool).free)
        except OSError:
            free = float("nan")
        yield GaugeMetricFamily(
            "picsync_spool_free_bytes", "Free space on the spool's filesystem", value=free
        )


class Metrics:
    """The daemon's metrics; ``serve`` starts the HTTP endpoint."""

    def __init__(self, ledger: Ledger, spool: Path, clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_LedgerCollector(ledger, spool, clock))
        self.uploads = Counter(
            "picsync_uploads", "Verified deliveries", ["destination"], registry=self.registry
        )
        self.bytes = Counter(
            "picsync_upload_bytes",
            "Bytes of verified uploads",
            ["destination"],
            registry=self.registry,
        )
        self.retries = Counter(
            "picsync_retries",
            "Deliveries scheduled for another attempt",
            ["destination"],
            registry=self.registry,
        )
        self.failures = Counter(
            "picsync_failures",
            "Failed delivery attempts by kind",
            ["destination", "kind"],
            registry=self.registry,
        )
        self.last_success = Gauge(
            "picsync_last_success_timestamp_seconds",
            "When a delivery last succeeded",
            ["destination"],
            registry=self.registry,
        )
        self._server: Any = None

    def delivered(self, destination: str, size: int, now: float) -> None:
        self.uploads.labels(destination).inc()
        self.bytes.labels(destination).inc(size)
        self.last_success.labels(destination).set(now)

    def failed(self, destination: str, kind: str, retried: bool) -> None:
        self.failures.labels(destination, kind).inc()
        if retried:
            self.retries.labels(destination).inc()

    def serve(self, listen: str) -> int | None:
        """Start the endpoint on ``host:port``; returns the port, or None if it could not bind
        (metrics are not worth stopping the daemon for)."""
        host, _, port = listen.rpartition(":")
        try:
            server, _thread = start_http_server(
                int(port), addr=host or "127.0.0.1", registry=self.registry
            )
        except OSError as exc:
            log.error("cannot serve metrics", listen=listen, error=exc.strerror)
            return None
        self._server = server
        return int(server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
