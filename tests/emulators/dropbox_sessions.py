"""Dropbox emulator upload sessions: sequential and concurrent, with Dropbox's offset rules.

Sequential: every append/finish must carry `cursor.offset == bytes received so far`, else
`incorrect_offset` with `correct_offset`; after `close=True` appends fail with `closed`.
Concurrent: appends at 4 MiB-aligned offsets, each a multiple of 4 MiB except the closing one;
finish needs a closed session without gaps and carries no data.

Assumptions (not verifiable offline): a finish is atomic (a commit that fails leaves the
session as it was, so the same finish can be retried); a finished session is gone
(`not_found`), so a finish retried after an ambiguous drop fails and the client must look the
file up instead.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .dropbox_wire import BLOCK_SIZE, JsonObject

MAX_SESSION_BYTES = 2**41 - 2**22
SESSION_LIFETIME = 7 * 24 * 3600.0


class SessionFailed(Exception):
    """`error` is the union value to report; `lookup` says it belongs under `lookup_failed`."""

    def __init__(self, error: JsonObject, *, lookup: bool = True) -> None:
        super().__init__(error)
        self.error = error
        self.lookup = lookup


def _tag(tag: str) -> JsonObject:
    return {".tag": tag}


@dataclass(slots=True)
class UploadSession:
    id: str
    concurrent: bool
    created_at: float
    closed: bool = False
    data: bytearray = field(default_factory=bytearray)  # sequential sessions
    ranges: dict[int, bytes] = field(default_factory=dict)  # concurrent: offset -> bytes

    def received(self) -> int:
        if not self.concurrent:
            return len(self.data)
        return sum(len(chunk) for chunk in self.ranges.values())

    def assembled(self) -> bytes:
        """The whole file; raises if a concurrent session has a gap."""
        if not self.concurrent:
            return bytes(self.data)
        out = bytearray()
        for offset in sorted(self.ranges):
            if offset != len(out):
                raise SessionFailed(_tag("concurrent_session_missing_data"), lookup=False)
            out += self.ranges[offset]
        return bytes(out)


class SessionStore:
    """Thread-safe registry of open upload sessions."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, UploadSession] = {}
        self._clock = clock
        self.max_session_bytes = MAX_SESSION_BYTES
        self.lifetime = SESSION_LIFETIME

    def start(self, data: bytes, *, close: bool, concurrent: bool) -> str:
        if concurrent and data:
            raise SessionFailed(_tag("concurrent_session_data_not_allowed"), lookup=False)
        if concurrent and close:
            raise SessionFailed(_tag("concurrent_session_close_not_allowed"), lookup=False)
        if len(data) > self.max_session_bytes:
            raise SessionFailed(_tag("too_large"))
        session = UploadSession(
            id="AAAAA" + secrets.token_urlsafe(24),
            concurrent=concurrent,
            created_at=self._clock(),
            closed=close,
            data=bytearray(data),
        )
        with self._lock:
            self._sessions[session.id] = session
        return session.id

    def start_closed(self, data: bytes) -> str:
        """A closed session holding `data`: what a failed /upload hands back for a retry."""
        return self.start(data, close=True, concurrent=False)

    def append(self, session_id: str, offset: int, data: bytes, *, close: bool) -> None:
        with self._lock:
            session = self._get(session_id)
            if session.closed:
                raise SessionFailed(_tag("closed"))
            if session.concurrent:
                self._check_concurrent_range(session, offset, data, close)
                session.ranges[offset] = bytes(data)
            else:
                if offset != len(session.data):
                    raise SessionFailed(self._incorrect_offset(session))
                if len(session.data) + len(data) > self.max_session_bytes:
                    raise SessionFailed(_tag("too_large"))
                session.data += data
            session.closed = close

    def _check_concurrent_range(
        self, session: UploadSession, offset: int, data: bytes, close: bool
    ) -> None:
        if offset % BLOCK_SIZE:
            raise SessionFailed(_tag("concurrent_session_invalid_offset"))
        if not close and len(data) % BLOCK_SIZE:
            raise SessionFailed(_tag("concurrent_session_invalid_data_size"))
        if offset in session.ranges:
            raise SessionFailed(_tag("concurrent_session_invalid_offset"))
        if offset + len(data) > self.max_session_bytes:
            raise SessionFailed(_tag("too_large"))

    def payload_for_finish(
        self, session_id: str, offset: int, data: bytes, *, require_closed: bool = False
    ) -> bytes:
        """Check a finish and return the file it would commit; the session is not changed."""
        with self._lock:
            session = self._get(session_id)
            if session.concurrent:
                if data:
                    raise SessionFailed(_tag("concurrent_session_data_not_allowed"), lookup=False)
                if not session.closed:
                    raise SessionFailed(_tag("concurrent_session_not_closed"), lookup=False)
                payload = session.assembled()
                if offset != len(payload):
                    raise SessionFailed(self._incorrect_offset(session))
                return payload
            if data and session.closed:
                raise SessionFailed(_tag("closed"))
            if offset != len(session.data):
                raise SessionFailed(self._incorrect_offset(session))
            if require_closed and not session.closed:
                raise SessionFailed(_tag("not_closed"))
            if len(session.data) + len(data) > self.max_session_bytes:
                raise SessionFailed(_tag("too_large"))
            return bytes(session.data) + data

    def discard(self, session_id: str) -> None:
        """A committed session is gone."""
        with self._lock:
            self._sessions.pop(session_id, None)

    def expire_all(self) -> None:
        with self._lock:
            self._sessions.clear()

    def open_count(self) -> int:
        with self._lock:
            return len(self._sessions)

    def _get(self, session_id: str) -> UploadSession:
        session = self._sessions.get(session_id)
        if session is None or self._clock() - session.created_at > self.lifetime:
            raise SessionFailed(_tag("not_found"))
        return session

    @staticmethod
    def _incorrect_offset(session: UploadSession) -> JsonObject:
        return {".tag": "incorrect_offset", "correct_offset": session.received()}
