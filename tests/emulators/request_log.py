"""Thread-safe log of every request a loopback server saw, for assertions in tests.

Times are `time.monotonic()` (system-wide on Linux, so comparable with a subprocess's clock):
`received_at` is when the request head was parsed, `responded_at` just before the first
response byte was written. "The client waited at least Retry-After" is
`later.received_at - earlier.responded_at >= retry_after`.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal[
    "responded",  # a full response was sent
    "truncated",  # a response was started and cut short (fault)
    "dropped_mid_body",  # connection shut while the request body was arriving (fault)
    "dropped_after_commit",  # request applied, connection shut before any response (fault)
    "stalled",  # no response until the client gave up (fault)
    "offline",  # the plan's offline switch reset the connection
    "error",  # the emulator raised; see LoopbackServer.errors
]


@dataclass(slots=True)
class RequestRecord:
    """One request and what became of it."""

    seq: int
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    body_complete: bool
    received_at: float
    wall_time: float
    extra: dict[str, Any] = field(default_factory=dict)
    fault: str | None = None
    outcome: Outcome = "responded"
    status: int | None = None
    responded_at: float | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""

    @property
    def body_length(self) -> int:
        return len(self.body)

    @property
    def route(self) -> str:
        """The emulator's name for the endpoint (e.g. "files/upload"), else the URL path."""
        return str(self.extra.get("route", self.path))

    @property
    def arg(self) -> Any:
        """The decoded API argument, when the emulator recorded one."""
        return self.extra.get("arg")

    def to_json(self, *, with_bodies: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "seq": self.seq,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body_length": self.body_length,
            "body_complete": self.body_complete,
            "received_at": self.received_at,
            "wall_time": self.wall_time,
            "route": self.route,
            "arg": self.arg,
            "fault": self.fault,
            "outcome": self.outcome,
            "status": self.status,
            "responded_at": self.responded_at,
            "response_headers": self.response_headers,
        }
        if with_bodies:
            data["body_b64"] = base64.b64encode(self.body).decode("ascii")
            data["response_body_b64"] = base64.b64encode(self.response_body).decode("ascii")
        return data


class RequestLog:
    """Append-only, thread-safe list of RequestRecord with simple filters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._next_seq = 0

    def next_seq(self) -> int:
        with self._lock:
            self._next_seq += 1
            return self._next_seq

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def records(
        self,
        *,
        route: str | None = None,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
    ) -> list[RequestRecord]:
        """Records in arrival order; `path` is a regex searched in the URL path."""
        with self._lock:
            selected = sorted(self._records, key=lambda r: r.seq)
        if route is not None:
            selected = [r for r in selected if r.route == route]
        if method is not None:
            selected = [r for r in selected if r.method == method.upper()]
        if path is not None:
            pattern = re.compile(path)
            selected = [r for r in selected if pattern.search(r.path)]
        if status is not None:
            selected = [r for r in selected if r.status == status]
        return selected

    def containing(self, needle: bytes) -> list[RequestRecord]:
        """Records whose request body, headers or query contain `needle` (privacy checks)."""
        hits = []
        for record in self.records():
            # The decoded arg matters: Dropbox-API-Arg escapes non-ASCII as \\uXXXX on the wire.
            decoded_arg = json.dumps(record.arg, ensure_ascii=False, default=str)
            head = repr((record.path, record.query, record.headers, decoded_arg))
            head_bytes = head.encode("utf-8", "replace")
            if needle in record.body or needle in head_bytes:
                hits.append(record)
        return hits
