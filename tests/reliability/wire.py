"""Reading an emulator's request log: totals, retries, Retry-After honoured, an outage's load.

A write request is known by what it writes (its *target*): a remote path for an upload or a
commit, a session and offset for an appended chunk, a session and byte range for a Box part.
A request whose target was already sent before is a *retry*. A response carrying Retry-After
is *honoured* when the next request for the same target arrived at least that many seconds
after the response left (request-log times are the system-wide monotonic clock).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.emulators.request_log import RequestRecord


def _lower(value: Any) -> str:
    return str(value or "").lower()


def targets(record: RequestRecord) -> list[str]:
    """What a write request writes; [] for reads, folders, tokens and account calls."""
    route = record.route
    arg: dict[str, Any] = record.arg if isinstance(record.arg, dict) else {}
    if route == "files/upload":
        return [f"path:{_lower(arg.get('path'))}"]
    if route in ("files/upload_session/finish_batch_v2", "files/upload_session/finish_batch"):
        return [f"path:{_lower(e.get('commit', {}).get('path'))}" for e in arg.get("entries", [])]
    if route == "files/upload_session/finish":
        return [f"path:{_lower(arg.get('commit', {}).get('path'))}"]
    if route == "files/upload_session/append_v2":
        cursor = arg.get("cursor", {})
        return [f"append:{cursor.get('session_id')}:{cursor.get('offset')}"]
    if route == "files/upload_session/start":
        return [f"start:{hashlib.sha256(record.body).hexdigest()}"]
    if route in ("files.upload", "files.preflight"):
        parent = arg.get("parent") if isinstance(arg.get("parent"), dict) else {}
        return [f"{route}:{parent.get('id')}/{arg.get('name')}"]
    if route == "sessions.create":
        return [f"session:{arg.get('folder_id')}/{arg.get('file_name')}"]
    if route == "sessions.part":
        return [f"part:{record.path}:{record.headers.get('content-range')}"]
    if route == "sessions.commit":
        return [f"commit:{record.path}"]
    return []


def retry_after_of(record: RequestRecord) -> float | None:
    for name, value in record.response_headers.items():
        if name.lower() == "retry-after":
            try:
                return float(value)
            except ValueError:
                return None
    return None


@dataclass
class WireFigures:
    """The request-count figures of one emulator."""

    total: int = 0
    writes: int = 0
    retries: int = 0
    faults: int = 0  # requests a scripted fault answered or cut
    by_status: Counter[int] = field(default_factory=Counter)
    retry_after_given: int = 0
    retry_after_honoured: int = 0
    retry_after_unfollowed: int = 0  # no later request for the same target (work moved on)
    shortest_wait_ratio: float | None = None  # min(observed wait / Retry-After)

    @property
    def status_429(self) -> int:
        return self.by_status.get(429, 0)


def analyse(records: Sequence[RequestRecord]) -> WireFigures:
    ordered = sorted(records, key=lambda r: r.seq)
    figures = WireFigures(total=len(ordered))
    seen: Counter[str] = Counter()
    later: dict[str, list[RequestRecord]] = {}
    for record in ordered:
        if record.status is not None:
            figures.by_status[record.status] += 1
        if record.fault is not None:
            figures.faults += 1
        keys = targets(record)
        if keys:
            figures.writes += 1
            if any(seen[k] for k in keys):
                figures.retries += 1
            for key in keys:
                seen[key] += 1
                later.setdefault(key, []).append(record)
    ratios = []
    for record in ordered:
        wait_asked = retry_after_of(record)
        if wait_asked is None or record.responded_at is None:
            continue
        figures.retry_after_given += 1
        follow = _next_for(record, later) if targets(record) else _next_same_route(record, ordered)
        if follow is None:
            figures.retry_after_unfollowed += 1
            continue
        waited = follow.received_at - record.responded_at
        if waited >= wait_asked:
            figures.retry_after_honoured += 1
        if wait_asked > 0:
            ratios.append(waited / wait_asked)
    figures.shortest_wait_ratio = min(ratios) if ratios else None
    return figures


def _next_for(record: RequestRecord, later: dict[str, list[RequestRecord]]) -> RequestRecord | None:
    candidates = [
        other for key in targets(record) for other in later.get(key, []) if other.seq > record.seq
    ]
    return min(candidates, key=lambda r: r.seq) if candidates else None


def _next_same_route(
    record: RequestRecord, ordered: Sequence[RequestRecord]
) -> RequestRecord | None:
    return next((r for r in ordered if r.seq > record.seq and r.route == record.route), None)


def during(records: Sequence[RequestRecord], start: float, end: float) -> list[RequestRecord]:
    """Requests that arrived between two monotonic times (e.g. while the emulator was offline)."""
    return [r for r in records if start <= r.received_at <= end]
