"""Dropbox commits, one at a time per destination and batched: no 429s from our own writes.

Dropbox takes a lock on the namespace for every commit; concurrent commits from several workers
fail with ``too_many_write_operations`` (a 429, or a 409 per batch entry) (cloud-apis.md §3.1,
rclone ``backend/dropbox/batcher.go``). So every commit of one destination goes through its
``CommitBatcher``: uploads send their bytes in parallel into closed upload sessions, then hand the
commit over and block for their own entry's outcome. Large sessions commit here too (as rclone
does): one path for every commit keeps our own writes from ever contending with each other.

The batcher has no thread of its own. The first waiting caller leads: it lingers until every
upload in flight that will commit soon has joined (so one worker alone commits at once), or
``linger`` passed, or ``max_entries`` wait; then it sends the batch under the commit lock and
hands each entry its outcome. While a batch is in flight the next one gathers. A lone small
upload may commit directly (``files_upload``) under the same lock (``direct``).
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from dropbox import files
from dropbox.exceptions import ApiError, RateLimitError

from picsync.destinations.dropbox_errors import CONTENTION_WAIT_S, error_tags, is_contention
from picsync.errors import DestinationError, TransientError

__all__ = ["WRITE", "Commit", "CommitBatcher", "commit_info", "finish_batch"]

MAX_ENTRIES = 1000  # Dropbox's limit per finish_batch call
LINGER_S = 0.25
CONTENTION_ATTEMPTS = 5
MAX_CONTENTION_WAIT_S = 30.0  # a longer Retry-After goes back to the caller's retry levels


@dataclass(frozen=True, slots=True)
class Commit:
    """Commit the closed session ``session_id`` of ``offset`` bytes to ``path``."""

    session_id: str
    offset: int
    path: str


# How every commit writes: never overwrite, never rename; identical bytes again return the
# stored file (strict_conflict off); no client_modified or any other time (deid.md rule 9);
# mute, so the records office's desktop clients do not announce every file.
WRITE: dict[str, Any] = {
    "mode": files.WriteMode.add,
    "autorename": False,
    "mute": True,
    "strict_conflict": False,
}


def commit_info(path: str) -> Any:
    return files.CommitInfo(path=path, **WRITE)


class _Ticket:
    """One upload in flight; ``expected`` while its commit should arrive within moments."""

    __slots__ = ("expected",)

    def __init__(self, expected: bool) -> None:
        self.expected = expected


_WAITING = object()


class _Job:
    __slots__ = ("commit", "outcome")

    def __init__(self, commit: Commit) -> None:
        self.commit = commit
        self.outcome: Any = _WAITING


Sender = Callable[[Sequence[Commit]], list[Any]]


class CommitBatcher:
    """Gathers commits from concurrent uploads and sends them one batch at a time."""

    def __init__(
        self,
        send: Sender,
        *,
        linger: float = LINGER_S,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self._linger = linger
        self._max = max_entries
        self._clock = clock
        self._cond = threading.Condition()
        self._commit_lock = threading.Lock()
        self._pending: list[_Job] = []
        self._leading = False
        self._in_flight = 0
        self._expected = 0

    @contextmanager
    def uploading(self, *, expected: bool) -> Iterator[_Ticket]:
        """Count an upload in flight; ``expected``: it will commit soon (a small file)."""
        ticket = _Ticket(expected)
        with self._cond:
            self._in_flight += 1
            self._expected += expected
        try:
            yield ticket
        finally:
            with self._cond:
                self._in_flight -= 1
                self._settle(ticket)

    def alone(self) -> bool:
        """No other upload to this destination is in flight."""
        with self._cond:
            return self._in_flight <= 1

    def direct(self, ticket: _Ticket) -> AbstractContextManager[Any]:
        """The commit lock, for a commit made outside a batch; the ticket joins no batch."""
        with self._cond:
            self._settle(ticket)
        return self._commit_lock

    def commit(self, ticket: _Ticket, commit: Commit) -> Any:
        """Block until ``commit`` was sent; its FileMetadata, or an exception to raise."""
        job = _Job(commit)
        with self._cond:
            self._settle(ticket)
            self._pending.append(job)
            self._cond.notify_all()
            while True:
                if job.outcome is not _WAITING:
                    return job.outcome  # a leader sent it
                if not self._leading and self._pending and self._pending[0] is job:
                    break  # lead the next batch
                self._cond.wait()
            self._leading = True
            batch = self._gather()
        outcomes: list[Any] | None = None
        try:
            with self._commit_lock:
                outcomes = self._send([j.commit for j in batch])
        finally:
            with self._cond:
                for index, waiting in enumerate(batch):
                    waiting.outcome = (
                        outcomes[index]
                        if outcomes is not None
                        else TransientError("committing a batch failed unexpectedly")
                    )
                self._leading = False
                self._cond.notify_all()
        return job.outcome

    def _gather(self) -> list[_Job]:
        """As leader (holding the condition): linger, then take up to max_entries jobs."""
        deadline = self._clock() + self._linger
        while len(self._pending) < self._max and self._expected > 0:
            left = deadline - self._clock()
            if left <= 0:
                break
            self._cond.wait(left)
        batch = self._pending[: self._max]
        del self._pending[: self._max]
        return batch

    def _settle(self, ticket: _Ticket) -> None:
        if ticket.expected:
            ticket.expected = False
            self._expected -= 1
            self._cond.notify_all()


def finish_batch(
    client: Any,
    commits: Sequence[Commit],
    guard: Callable[[], AbstractContextManager[None]],
    sleep: Callable[[float], None] = time.sleep,
) -> list[Any]:
    """``finish_batch_v2`` for ``commits``; per entry its FileMetadata or an exception.

    Contention (a 429 for the whole batch, or too_many_write_operations for some entries)
    means nothing of those entries was written: wait as asked and send them again. Any other
    failure is handed to every entry; a per-entry route error becomes an ``ApiError`` so that
    callers judge it exactly as if their own finish had failed.
    """
    outcomes: list[Any] = [None] * len(commits)
    todo = list(range(len(commits)))
    wait = CONTENTION_WAIT_S
    for _ in range(CONTENTION_ATTEMPTS):
        try:
            with guard():
                result = _send_or_wait(client, [commits[i] for i in todo])
        except DestinationError as exc:
            for index in todo:
                outcomes[index] = copy.copy(exc)  # one exception object per raising thread
            return outcomes
        if isinstance(result, float):
            wait = result
        else:
            again = []
            for index, entry in zip(todo, result.entries, strict=True):
                if entry.is_success():
                    outcomes[index] = entry.get_success()
                elif is_contention(error_tags(entry.get_failure())):
                    again.append(index)
                else:
                    outcomes[index] = ApiError(None, entry.get_failure(), None, None)
            todo, wait = again, CONTENTION_WAIT_S
            if not todo:
                return outcomes
        if wait > MAX_CONTENTION_WAIT_S:
            break
        sleep(wait)
    for index in todo:
        outcomes[index] = TransientError(
            "Dropbox stayed busy with other writes to this account (too_many_write_operations)",
            retry_after=wait,
        )
    return outcomes


def _send_or_wait(client: Any, commits: Sequence[Commit]) -> Any:
    """The batch result, or the seconds to wait when Dropbox answered 429 (nothing written)."""
    entries = [
        files.UploadSessionFinishArg(
            cursor=files.UploadSessionCursor(session_id=c.session_id, offset=c.offset),
            commit=commit_info(c.path),
        )
        for c in commits
    ]
    try:
        return client.files_upload_session_finish_batch_v2(entries)
    except RateLimitError as exc:
        return float(exc.backoff) if exc.backoff is not None else CONTENTION_WAIT_S
