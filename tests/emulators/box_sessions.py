"""Box emulator chunked upload sessions: create, parts, list, commit (202 first), abort.

Rules from developer.box.com (uploads/chunked): only for files of at least 20,000,000 bytes;
the server picks `part_size`; every part is exactly `part_size` bytes except the last; its
range starts at a multiple of the part size; `digest: sha=<base64 SHA-1>` must match the part;
parts are immutable (a second upload of a range answers `range_overlaps_existing_part`). The
commit lists every part (`part_id`, `offset`, `size`, `sha1`) and carries the whole file's
digest; it may answer 202 + Retry-After while "the parts are not ready", a configurable number
of times per session. A committed or aborted session is gone (404).

Status codes and error codes below that the Box docs do not spell out are best guesses, marked
"unverified": too small a file, a bad part digest (412), a misaligned range (416), a commit
whose parts or digest do not match (400).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .box_wire import BoxFailure, JsonObject, box_time, sha1_hex

MIN_FILE_SIZE = 20_000_000
DEFAULT_PART_SIZE = 8 * 1024 * 1024
SESSION_LIFETIME = 7 * 24 * 3600.0
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


@dataclass(slots=True)
class Part:
    part_id: str
    offset: int
    size: int
    sha1: str
    data: bytes

    def view(self) -> JsonObject:
        return {
            "part_id": self.part_id,
            "offset": self.offset,
            "size": self.size,
            "sha1": self.sha1,
        }


@dataclass(slots=True)
class UploadSession:
    id: str
    folder_id: str
    file_name: str
    file_size: int
    part_size: int
    created_at: float
    accepted_before_commit: int  # 202 answers left before the commit goes through
    parts: dict[int, Part] = field(default_factory=dict)  # offset -> part

    @property
    def total_parts(self) -> int:
        return max(1, -(-self.file_size // self.part_size))


class SessionStore:
    """Thread-safe registry of open upload sessions."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, UploadSession] = {}
        self._clock = clock
        self.part_size = DEFAULT_PART_SIZE
        self.commit_accepted_times = 0  # how often a commit answers 202 before it applies
        self.commit_retry_after = 1
        self.min_file_size = MIN_FILE_SIZE

    def create(self, folder_id: str, file_name: str, file_size: int) -> UploadSession:
        if file_size < self.min_file_size:
            # unverified code; message as Box forums quote it
            raise BoxFailure(
                400,
                "file_size_too_small",
                f"File size {file_size} less than minimum allowed for this API: "
                f"{self.min_file_size}",
            )
        session = UploadSession(
            id=secrets.token_hex(16).upper(),
            folder_id=folder_id,
            file_name=file_name,
            file_size=file_size,
            part_size=self.part_size,
            created_at=self._clock(),
            accepted_before_commit=self.commit_accepted_times,
        )
        with self._lock:
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str) -> UploadSession:
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise BoxFailure(404, "not_found", "Upload session not found")
        if self._clock() - session.created_at > SESSION_LIFETIME:
            raise BoxFailure(410, "session_expired", "The upload session has expired")
        return session

    def view(self, session: UploadSession, upload_url: str) -> JsonObject:
        base = f"{upload_url}/2.0/files/upload_sessions/{session.id}"
        return {
            "id": session.id,
            "type": "upload_session",
            "session_expires_at": box_time(session.created_at + SESSION_LIFETIME),
            "part_size": session.part_size,
            "total_parts": session.total_parts,
            "num_parts_processed": len(session.parts),
            "session_endpoints": {
                "upload_part": base,
                "commit": f"{base}/commit",
                "abort": base,
                "list_parts": f"{base}/parts",
                "status": base,
                "log_event": f"{base}/log",
            },
        }

    def upload_part(
        self, session_id: str, content_range: str | None, digest: str | None, data: bytes
    ) -> Part:
        session = self.get(session_id)
        match = _RANGE.match((content_range or "").strip())
        if match is None:
            raise BoxFailure(400, "bad_request", "Missing or malformed content-range header")
        start, end, total = (int(g) for g in match.groups())
        last = session.file_size - 1
        aligned = start % session.part_size == 0 and end >= start
        full = end - start + 1 == session.part_size or (
            end == last and end - start < session.part_size
        )
        if total != session.file_size or not aligned or not full or end > last:
            raise BoxFailure(
                416, "requested_range_not_satisfiable", "Invalid content range"
            )  # unverified
        if len(data) != end - start + 1:
            raise BoxFailure(400, "bad_request", "Body length does not match content-range")
        if digest is None:
            raise BoxFailure(400, "bad_request", "Missing digest header")
        sha1 = sha1_hex(data)
        if digest != sha1:
            raise BoxFailure(
                412, "precondition_failed", "The digest does not match the part"
            )  # unverified
        with self._lock:
            if start in session.parts:
                raise BoxFailure(
                    409,
                    "range_overlaps_existing_part",
                    "Part range overlaps with an existing part",
                )
            part = Part(secrets.token_hex(4).upper(), start, len(data), sha1, bytes(data))
            session.parts[start] = part
            return part

    def list_parts(self, session_id: str, offset: int, limit: int) -> JsonObject:
        session = self.get(session_id)
        with self._lock:
            parts = [session.parts[o] for o in sorted(session.parts)]
        page = parts[offset : offset + limit]
        return {
            "total_count": len(parts),
            "entries": [p.view() for p in page],
            "limit": limit,
            "offset": offset,
            "order": [{"by": "offset", "direction": "ASC"}],
        }

    def assemble(self, session_id: str, listed: Any, digest: str | None) -> bytes | None:
        """The file a commit creates; None means "not ready yet" (answer 202)."""
        session = self.get(session_id)
        with self._lock:
            parts = [session.parts[o] for o in sorted(session.parts)]
            if not isinstance(listed, list) or [_part_key(p) for p in listed] != [
                (p.part_id, p.offset, p.size) for p in parts
            ]:
                raise BoxFailure(
                    400, "parts_mismatch", "The parts do not match the session"
                )  # unverified
            if any(
                isinstance(given, dict) and given.get("sha1") not in (None, part.sha1)
                for given, part in zip(listed, parts, strict=True)
            ):
                raise BoxFailure(400, "parts_mismatch", "A part's sha1 does not match")
            data = b"".join(p.data for p in parts)
            if len(data) != session.file_size:
                raise BoxFailure(400, "parts_mismatch", "The parts do not cover the file")
            if digest is None or digest != sha1_hex(data):
                raise BoxFailure(
                    400, "bad_digest", "The specified digest did not match what we received"
                )
            if session.accepted_before_commit > 0:
                session.accepted_before_commit -= 1
                return None
            return data

    def discard(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def expire_all(self) -> None:
        with self._lock:
            for session in self._sessions.values():
                session.created_at -= SESSION_LIFETIME + 1

    def open_count(self) -> int:
        with self._lock:
            return len(self._sessions)


def _part_key(part: Any) -> tuple[Any, ...]:
    if not isinstance(part, dict):
        return (None,)
    return (part.get("part_id"), part.get("offset"), part.get("size"))
