"""Pure: which alert notices to send now. Incidents, reminders and the hourly cap; no I/O, no clock.

An incident is one (kind, subject) condition from the moment a caller reports it until the caller
reports it cleared. It is announced once (FIRING), then stays quiet while it lasts, except for a
REMINDER each `reminder_after` seconds if that is set. Clearing it sends one RESOLVED notice
(if `send_resolved`, and only if the incident had been announced: nobody needs to hear that
something they were never told about is over). The same condition after a clear is a new incident.

Callers report a condition on every health check while it holds (`raise_` is idempotent) and clear
it on every check while it does not (`clear` of a closed incident does nothing). That repetition is
what drives reminders and what lets a notice held back by the cap go out later.

The hourly cap bounds every notice together, so a storm cannot flood a mailbox. A notice that
finds no room is not lost: a FIRING or REMINDER waits in its open incident and goes out at the
first report after room frees up (if the incident still holds); a RESOLVED waits in a short queue
and goes out at the first call with room. An incident that reopens while its RESOLVED notice
still waits simply continues, so the recipient never hears of a flap the cap hid.

Flapping (a condition that clears and returns every few checks) is a new incident each time; the
cap bounds it, and callers should clear with hysteresis (e.g. free space back above the limit
plus a margin) where a value hovers around a threshold.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from picsync.alert_model import Alert, AlertKind, AlertState, Facts, make_alert

HOUR_S = 3600.0

IncidentKey = tuple[AlertKind, str]


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """How often a person hears about things."""

    reminder_after: float | None = 24 * HOUR_S  # None: announce once, never remind
    max_per_hour: int = 20  # every notice counts: firing, reminder, resolved
    send_resolved: bool = True

    def __post_init__(self) -> None:
        if self.max_per_hour < 1:
            raise ValueError("max_per_hour must be at least 1")
        if self.reminder_after is not None and self.reminder_after <= 0:
            raise ValueError("reminder_after must be positive, or None for no reminders")


@dataclass(slots=True)
class _Incident:
    since: float
    facts: Facts
    last_sent: float | None = None  # None: not announced yet


class IncidentBook:
    """The open incidents and the recent notices. Not thread-safe: the Alerter serialises calls."""

    def __init__(self, policy: AlertPolicy, station: str) -> None:
        self.policy = policy
        self.station = station
        self._open: dict[IncidentKey, _Incident] = {}
        self._resolved_waiting: dict[IncidentKey, _Incident] = {}
        self._sent: deque[float] = deque()  # times of the notices sent in the last hour

    def raise_(self, kind: AlertKind, subject: str, facts: Facts, now: float) -> list[Alert]:
        """The condition holds now. Returns the notices to send (usually none)."""
        key = (kind, subject)
        out = self._release_resolved(now)
        incident = self._open.get(key)
        if incident is None:
            # Reopened before its RESOLVED went out: the same incident as far as anyone knows.
            incident = self._resolved_waiting.pop(key, None) or _Incident(since=now, facts=facts)
            self._open[key] = incident
        incident.facts = facts
        if incident.last_sent is None:
            state = AlertState.FIRING
        elif self._reminder_due(incident, now):
            state = AlertState.REMINDER
        else:
            return out
        if not self._room(now):
            return out  # held back: the next report tries again
        self._spend(now)
        incident.last_sent = now
        out.append(self._alert(key, state, incident, now))
        return out

    def clear(self, kind: AlertKind, subject: str, now: float) -> list[Alert]:
        """The condition no longer holds. Returns the notices to send (a RESOLVED, or none)."""
        key = (kind, subject)
        incident = self._open.pop(key, None)
        if incident is not None and incident.last_sent is not None and self.policy.send_resolved:
            self._resolved_waiting[key] = incident
        return self._release_resolved(now)

    def open_incidents(self) -> list[IncidentKey]:
        """The conditions reported and not cleared, announced or not."""
        return list(self._open)

    def _release_resolved(self, now: float) -> list[Alert]:
        out: list[Alert] = []
        while self._resolved_waiting and self._room(now):
            key = next(iter(self._resolved_waiting))
            incident = self._resolved_waiting.pop(key)
            self._spend(now)
            out.append(self._alert(key, AlertState.RESOLVED, incident, now))
        return out

    def _reminder_due(self, incident: _Incident, now: float) -> bool:
        every = self.policy.reminder_after
        return (
            every is not None
            and incident.last_sent is not None
            and (now - incident.last_sent >= every)
        )

    def _room(self, now: float) -> bool:
        while self._sent and now - self._sent[0] >= HOUR_S:
            self._sent.popleft()
        return len(self._sent) < self.policy.max_per_hour

    def _spend(self, now: float) -> None:
        self._sent.append(now)

    def _alert(self, key: IncidentKey, state: AlertState, incident: _Incident, now: float) -> Alert:
        kind, subject = key
        waiting = sum(1 for k, i in self._open.items() if i.last_sent is None and k != key)
        return make_alert(
            kind,
            state,
            subject,
            self.station,
            time=now,
            since=incident.since,
            facts=incident.facts,
            held_back=waiting + len(self._resolved_waiting),
        )
