"""Large Dropbox uploads: an upload session fed chunk by chunk, resumable across restarts.

The payload streams in ``chunk_size`` pieces (the SDK takes bytes only, so one chunk at a time is
in memory). After every chunk the session id and the offset Dropbox holds are saved in the
delivery's ResumeState, so a later attempt (after an error, a crash or a restart) reads past the
stored offset and continues there: bytes Dropbox already holds are not sent again. The prefix is
read, not seeked: payload streams need not be seekable, and one pass over every byte gives the
content hash that the committed file must have.

Dropbox's answers steer it: ``incorrect_offset`` with a ``correct_offset`` inside the chunk just
sent means (some of) that chunk landed although its answer was lost, so it continues from there.
A session that is gone (``not_found``: expired after 7 days, or already finished) or out of step
is replaced by a new one from the first byte. The last chunk closes the session; the commit goes
through the destination's batcher (``commit``), which adopts the stored file when a finish
landed but its answer was lost. The crash point ``dropbox.appended`` follows every saved offset.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

import structlog
from dropbox import files
from dropbox.content_hash import DropboxContentHasher
from dropbox.exceptions import ApiError

from picsync.crashpoints import crashpoint
from picsync.destinations.dropbox_errors import error_tags
from picsync.errors import PermanentError, TransientError

if TYPE_CHECKING:
    from picsync.destinations import PayloadSource, ResumeState

__all__ = ["HashingReader", "SessionGoneError", "upload_chunked"]

log = structlog.get_logger("picsync.dropbox")

_STATE_VERSION = 1
_SKIP_PIECE = 4 * 1024 * 1024

# (session_id, size, our content hash) → FileMetadata; raises SessionGoneError if nothing landed.
Committer = Callable[[str, int, str], Any]


class SessionGoneError(Exception):
    """The upload session cannot be continued; a new one must start from the first byte."""


class HashingReader:
    """Exact reads from a payload stream, hashing every byte with Dropbox's content hash."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._hasher = DropboxContentHasher()

    def read(self, size: int) -> bytes:
        pieces = []
        need = size
        while need > 0:
            piece = self._stream.read(need)
            if not piece:
                raise PermanentError("the spool file is shorter than recorded for it")
            pieces.append(piece)
            need -= len(piece)
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self._hasher.update(data)
        return data

    def skip(self, size: int) -> None:
        while size > 0:
            size -= len(self.read(min(size, _SKIP_PIECE)))

    def finish(self) -> str:
        """The content hash of everything read; the stream must be at its end."""
        if self._stream.read(1):
            raise PermanentError("the spool file is longer than recorded for it")
        return str(self._hasher.hexdigest())


@dataclass(frozen=True, slots=True)
class Progress:
    session_id: str
    offset: int  # bytes the session holds
    closed: bool


class _Slot:
    """The ResumeState, or memory when the caller keeps none; JSON with a version and size."""

    def __init__(self, resume: ResumeState | None, size: int) -> None:
        self._resume = resume
        self._size = size
        self._memory: str | None = None

    def load(self) -> Progress | None:
        raw = self._resume.load() if self._resume is not None else self._memory
        if not raw:
            return None
        try:
            data = json.loads(raw)
            progress = Progress(str(data["session_id"]), int(data["offset"]), bool(data["closed"]))
            fits = data["v"] == _STATE_VERSION and data["size"] == self._size
        except (ValueError, KeyError, TypeError):
            return None
        if not fits or not 0 < progress.offset <= self._size:
            return None
        if progress.closed != (progress.offset == self._size):
            return None
        return progress

    def save(self, progress: Progress) -> None:
        state = json.dumps(
            {
                "v": _STATE_VERSION,
                "size": self._size,
                "session_id": progress.session_id,
                "offset": progress.offset,
                "closed": progress.closed,
            }
        )
        if self._resume is not None:
            self._resume.save(state)
        else:
            self._memory = state
        crashpoint("dropbox.appended")

    def clear(self) -> None:
        if self._resume is not None:
            self._resume.clear()
        self._memory = None


def upload_chunked(
    client: Any,
    guard: Callable[[], AbstractContextManager[None]],
    path: str,
    payload: PayloadSource,
    resume: ResumeState | None,
    chunk_size: int,
    commit: Committer,
) -> tuple[Any, str]:
    """Upload ``payload`` to ``path`` through a session; (FileMetadata, our content hash)."""
    slot = _Slot(resume, payload.size)
    for _ in range(2):
        try:
            return _send(client, guard, path, payload, slot, chunk_size, commit)
        except SessionGoneError:
            log.warning("dropbox upload session lost; starting a new one", size=payload.size)
            slot.clear()  # start again from the first byte, in a new session
    raise TransientError("Dropbox lost the upload session twice in a row; trying again later")


def _send(
    client: Any,
    guard: Callable[[], AbstractContextManager[None]],
    path: str,
    payload: PayloadSource,
    slot: _Slot,
    chunk_size: int,
    commit: Committer,
) -> tuple[Any, str]:
    size = payload.size
    progress = slot.load()
    with payload.open() as stream:
        reader = HashingReader(stream)
        with guard():
            if progress is None:
                first = reader.read(min(chunk_size, size))
                closed = len(first) == size
                started = client.files_upload_session_start(first, close=closed)
                progress = Progress(started.session_id, len(first), closed)
                slot.save(progress)
            else:
                log.info("dropbox upload resumed", offset=progress.offset, size=size)
                reader.skip(progress.offset)
            while progress.offset < size:
                chunk = reader.read(min(chunk_size, size - progress.offset))
                progress = _append(client, progress, chunk, size)
                slot.save(progress)
        ours = reader.finish()
    return commit(progress.session_id, size, ours), ours


def _append(client: Any, progress: Progress, chunk: bytes, size: int) -> Progress:
    """Append ``chunk`` at ``progress.offset`` (closing the session with the last one)."""
    offset, session = progress.offset, progress.session_id
    end = offset + len(chunk)
    last = end == size
    cursor = files.UploadSessionCursor(session_id=session, offset=offset)
    try:
        client.files_upload_session_append_v2(chunk, cursor, close=last)
    except ApiError as exc:
        tags = error_tags(exc.error)
        if "incorrect_offset" in tags:
            correct = int(exc.error.get_incorrect_offset().correct_offset)
            if correct == end:
                return Progress(session, end, last)  # it landed; its answer was lost
            if offset < correct < end:
                # Part of the chunk landed: send the rest only.
                tail = files.UploadSessionCursor(session_id=session, offset=correct)
                client.files_upload_session_append_v2(chunk[correct - offset :], tail, close=last)
                return Progress(session, end, last)
            raise SessionGoneError from exc  # behind us, or ahead of what we ever sent
        if "not_found" in tags:
            raise SessionGoneError from exc
        if "closed" in tags and last:
            return Progress(session, end, True)  # our closing append landed; the commit checks
        if "closed" in tags:
            raise SessionGoneError from exc
        raise
    return Progress(session, end, last)
