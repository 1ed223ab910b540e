"""Calling for help: the Alerter the daemon reports conditions to, and its config-shaped builder.

The daemon's health loop calls, on every check and for every condition it watches,
``alerter.raise_(kind, subject, ...facts)`` while the condition holds and
``alerter.clear(kind, subject)`` while it does not. The Alerter turns that stream into notices
(`alert_policy`: one per incident, reminders, the hourly cap, resolved notices), logs each one and
hands it to the senders' background threads (`alert_dispatch`), so neither call ever blocks on the
network or raises a delivery failure. Subjects are configured names (a destination, a source,
"spool"); reasons are short PHI-free texts (use `errors.describe_os_error`, an HTTP status, "quota
full"), scrubbed again on the way in. Without senders the Alerter still logs every notice.

Example::

    alerter.raise_(AlertKind.DESTINATION_BLOCKED, "box-main", reason="token revoked")
    alerter.raise_(AlertKind.BACKLOG_OLD, "box-main", count=42, age_s=9000, threshold_s=7200)
    alerter.raise_(AlertKind.SPOOL_LOW_SPACE, "spool", free_bytes=free, min_free_bytes=limit)
    alerter.clear(AlertKind.WATCHER_POLLING, "scanner")
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from picsync.alert_dispatch import RetryPlan, SenderThread
from picsync.alert_model import Alert, AlertKind, AlertState, Facts
from picsync.alert_policy import AlertPolicy, IncidentBook, IncidentKey
from picsync.alert_senders import EmailSender, Sender, WebhookSender, tls_context

__all__ = [
    "Alert",
    "AlertKind",
    "AlertPolicy",
    "AlertState",
    "Alerter",
    "EmailSettings",
    "EmailSettingsLike",
    "RetryPlan",
    "build_alerter",
]

log = structlog.get_logger("picsync.alerts")


class Alerter:
    """Thread-safe front of the incident book and the senders. Never raises a send failure."""

    def __init__(
        self,
        station: str,
        policy: AlertPolicy | None = None,
        senders: Sequence[Sender] = (),
        *,
        clock: Callable[[], float] = time.time,
        retry: RetryPlan | None = None,
        queue_size: int = 32,
    ) -> None:
        self._book = IncidentBook(policy or AlertPolicy(), station)
        self._clock = clock
        self._lock = threading.Lock()
        plan = retry or RetryPlan()
        self._threads = [SenderThread(s, plan, queue_size) for s in senders]

    def raise_(
        self,
        kind: AlertKind,
        subject: str = "",
        *,
        count: int | None = None,
        age_s: float | None = None,
        threshold_s: float | None = None,
        free_bytes: int | None = None,
        min_free_bytes: int | None = None,
        reason: str = "",
    ) -> None:
        """Report that the condition holds now; announces it the first time (see module doc)."""
        facts = Facts(
            count=count,
            age_s=age_s,
            threshold_s=threshold_s,
            free_bytes=free_bytes,
            min_free_bytes=min_free_bytes,
            reason=reason,
        )
        with self._lock:
            alerts = self._book.raise_(kind, subject, facts, self._clock())
        self._emit(alerts)

    def clear(self, kind: AlertKind, subject: str = "") -> None:
        """Report that the condition no longer holds (cheap and silent if it was not open)."""
        with self._lock:
            alerts = self._book.clear(kind, subject, self._clock())
        self._emit(alerts)

    def open_incidents(self) -> list[IncidentKey]:
        with self._lock:
            return self._book.open_incidents()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every notice so far was sent or given up (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        return all(t.flush(max(0.0, deadline - time.monotonic())) for t in self._threads)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the senders, giving queued notices one last attempt within `timeout` s."""
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.close(max(0.0, deadline - time.monotonic()))

    def _emit(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            level = log.info if alert.state is AlertState.RESOLVED else log.warning
            level(
                "alert",
                kind=alert.kind.value,
                state=alert.state.value,
                subject=alert.subject,
                summary=alert.summary,
                held_back=alert.held_back,
            )
            for t in self._threads:
                t.submit(alert)


class EmailSettingsLike(Protocol):
    """What `build_alerter` reads from the e-mail part of the configuration."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def from_addr(self) -> str: ...
    @property
    def to_addrs(self) -> Sequence[str]: ...
    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...  # resolved by the caller from its secret store
    @property
    def starttls(self) -> bool: ...
    @property
    def timeout(self) -> float: ...
    @property
    def ca_file(self) -> str | None: ...  # a private CA bundle; None: the system's


@dataclass(frozen=True, slots=True)
class EmailSettings:
    """A ready-made EmailSettingsLike."""

    host: str
    from_addr: str
    to_addrs: Sequence[str]
    port: int = 587
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    timeout: float = 10.0
    ca_file: str | None = None

    def __repr__(self) -> str:  # the password must not end up in a log or a traceback
        return f"EmailSettings(host={self.host!r}, port={self.port}, to={list(self.to_addrs)!r})"


def build_alerter(
    webhook_url: str | None,
    email: EmailSettingsLike | None,
    station: str,
    reminder_after: float,
    max_per_hour: int,
    *,
    send_resolved: bool = True,
    webhook_timeout: float = 10.0,
    webhook_ca_file: str | None = None,
    clock: Callable[[], float] = time.time,
    retry: RetryPlan | None = None,
) -> Alerter:
    """The Alerter for a configuration. `reminder_after` <= 0 means never remind.

    Raises ConfigError for a plain-http webhook off loopback, credentials without STARTTLS or an
    e-mail without recipients; the caller adds the YAML key to the message.
    """
    senders: list[Sender] = []
    if webhook_url:
        senders.append(
            WebhookSender(
                webhook_url, timeout=webhook_timeout, ssl_context=tls_context(webhook_ca_file)
            )
        )
    if email is not None:
        senders.append(
            EmailSender(
                email.host,
                email.port,
                from_addr=email.from_addr,
                to_addrs=list(email.to_addrs),
                username=email.username,
                password=email.password,
                starttls=email.starttls,
                timeout=email.timeout,
                ssl_context=tls_context(email.ca_file),
            )
        )
    policy = AlertPolicy(
        reminder_after=reminder_after if reminder_after > 0 else None,
        max_per_hour=max_per_hour,
        send_resolved=send_resolved,
    )
    return Alerter(station, policy, senders, clock=clock, retry=retry)
