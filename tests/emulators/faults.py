"""Fault scripts for loopback servers: what to do to the next matching request(s).

A `Fault` matches on (method, path regex) and is consumed in the order faults were added:
the first unexhausted matching fault wins and loses one of its `times`. What it does:

- `status` (+ `headers`, `body`, `content_type`): answer this instead of the emulator. The
  request is NOT applied unless `commit=True` ("stored the file, then answered 500").
- `delay_before_response`: sleep, then answer normally (or with `status`).
- `drop_after_request_bytes=N`: read N body bytes, then shut the socket (RST by default): the
  client sees a connection error and nothing is applied.
- `drop_after_commit`: apply the request, then shut the socket without answering: the
  ambiguous-success case.
- `stall`: never answer (until the client gives up or `stall_seconds` pass): with a short client
  timeout this is a read timeout. Not applied unless `commit=True`.
- `truncate_response=N`: apply, then send the full headers but only N body bytes and close.
- `trickle_bytes_per_second`: send the response body slowly.

Global switches on the plan: `offline` (reset every request except control routes, as a dead
network would; logged with outcome "offline") and `latency` (added before every response).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .messages import JSON, TEXT, Response

FaultBody = bytes | str | Mapping[str, Any] | list[Any] | None


@dataclass(slots=True)
class Fault:
    """One scripted misbehaviour; see the module docstring for each knob."""

    path: str = ".*"
    method: str = "*"
    times: int | None = 1  # None: until removed
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: FaultBody = None
    content_type: str | None = None
    commit: bool = False
    delay_before_response: float = 0.0
    drop_after_request_bytes: int | None = None
    drop_after_commit: bool = False
    stall: bool = False
    stall_seconds: float = 60.0
    truncate_response: int | None = None
    trickle_bytes_per_second: float | None = None
    reset: bool = True  # drops send RST (SO_LINGER 0) rather than FIN
    label: str = ""

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        re.compile(self.path)  # fail at scripting time, not in the server thread
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 or None")

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method.upper()):
            return False
        return re.search(self.path, path) is not None

    @property
    def applies_request(self) -> bool:
        """Whether the emulator should process (and so apply) the request."""
        if self.commit or self.drop_after_commit:
            return True
        if self.drop_after_request_bytes is not None:
            return False
        return self.status is None and not self.stall

    def canned_response(self) -> Response | None:
        if self.status is None:
            return None
        body, content_type = _encode_body(self.body)
        return Response(self.status, body, self.content_type or content_type, dict(self.headers))

    def describe(self) -> str:
        if self.label:
            return self.label
        knobs = [f"{self.method} {self.path}"]
        for name in (
            "status",
            "delay_before_response",
            "drop_after_request_bytes",
            "drop_after_commit",
            "stall",
            "truncate_response",
            "trickle_bytes_per_second",
            "commit",
        ):
            value = getattr(self, name)
            if value not in (None, False, 0.0):
                knobs.append(f"{name}={value}")
        return " ".join(knobs)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["headers"] = dict(self.headers)
        if isinstance(self.body, bytes):
            data["body"] = self.body.decode("latin-1")
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        """Build from a JSON object whose keys are this class's field names."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        return cls(**dict(data))


def _encode_body(body: FaultBody) -> tuple[bytes, str | None]:
    if body is None:
        return b"", None
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, str):
        return body.encode("utf-8"), TEXT
    return json.dumps(body).encode("utf-8"), JSON


@dataclass(slots=True)
class _Scheduled:
    fault: Fault
    remaining: int | None


class FaultPlan:
    """Ordered, thread-safe fault scripts plus global switches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scheduled: list[_Scheduled] = []
        self.offline = False
        self.latency = 0.0

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._scheduled.append(_Scheduled(fault, fault.times))
        return fault

    def clear(self) -> None:
        with self._lock:
            self._scheduled.clear()

    def pending(self) -> list[tuple[Fault, int | None]]:
        """Faults not yet used up, with their remaining count (None = unlimited)."""
        with self._lock:
            return [(s.fault, s.remaining) for s in self._scheduled]

    def take(self, method: str, path: str) -> Fault | None:
        """Consume one use of the first matching fault, if any."""
        with self._lock:
            for scheduled in self._scheduled:
                if not scheduled.fault.matches(method, path):
                    continue
                if scheduled.remaining is not None:
                    scheduled.remaining -= 1
                    if scheduled.remaining == 0:
                        self._scheduled.remove(scheduled)
                return scheduled.fault
        return None
