"""Plain HTTP request and response values passed between the loopback server and an emulator."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Request:
    """One received HTTP request, body already de-chunked.

    `headers` has lower-case names; repeated headers are joined with ", ".
    `complete` is False when a fault cut the body short.
    """

    method: str
    target: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    received_at: float
    complete: bool = True

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass(frozen=True, slots=True)
class Response:
    """What an emulator answers; the server always adds Content-Length."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
        # The Dropbox SDK asserts Content-Type == "application/json" exactly (no charset).
        body = json.dumps(payload).encode("utf-8")
        return cls(status, body, JSON, dict(headers or {}))

    @classmethod
    def text(cls, status: int, text: str, headers: Mapping[str, str] | None = None) -> Response:
        return cls(status, text.encode("utf-8"), TEXT, dict(headers or {}))

    def with_headers(self, extra: Mapping[str, str]) -> Response:
        merged = {**self.headers, **extra}
        return Response(self.status, self.body, self.content_type, merged)
