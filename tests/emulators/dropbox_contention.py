"""Dropbox emulator namespace write locks: more than N concurrent writes → contention error.

Dropbox serialises commits per namespace; when too many are in flight it answers
`too_many_write_operations`, either as 429 JSON + Retry-After (the SDK retries it) or as a 409
route error (it does not). Tests make contention deterministic with `hold()`: writes that got
a slot wait at the gate until `release()`, so a second writer reliably finds the slot taken.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Literal

ContentionForm = Literal["429", "409"]


class WriteLocks:
    """Counts writes in flight per namespace; refuses those beyond `limit`."""

    def __init__(self, stopping: threading.Event) -> None:
        self._changed = threading.Condition()
        self._in_flight: dict[str, int] = {}
        self._gate = threading.Event()
        self._gate.set()
        self._stopping = stopping
        self.limit: int | None = None
        self.form: ContentionForm = "429"
        self.retry_after = 1
        self.hold_seconds = 0.0
        self.rejections = 0

    def configure(
        self,
        limit: int | None,
        *,
        form: ContentionForm = "429",
        retry_after: int = 1,
        hold_seconds: float = 0.0,
    ) -> None:
        if form not in ("429", "409"):
            raise ValueError(f"form must be '429' or '409', not {form!r}")
        if limit is not None and limit < 1:
            raise ValueError("limit must be >= 1 or None")
        with self._changed:
            self.limit, self.form = limit, form
            self.retry_after, self.hold_seconds = retry_after, hold_seconds

    @contextmanager
    def writing(self, namespace_ids: Iterable[str]) -> Iterator[bool]:
        """Yield True while holding a write slot in every namespace, False on contention."""
        ids = sorted(set(namespace_ids))
        with self._changed:
            limit = self.limit
            if limit is not None and any(self._in_flight.get(i, 0) >= limit for i in ids):
                self.rejections += 1
                acquired = False
            else:
                for i in ids:
                    self._in_flight[i] = self._in_flight.get(i, 0) + 1
                acquired = True
                self._changed.notify_all()
        try:
            if acquired:
                self._pause()
            yield acquired
        finally:
            if acquired:
                with self._changed:
                    for i in ids:
                        self._in_flight[i] -= 1
                    self._changed.notify_all()

    def _pause(self) -> None:
        while not self._gate.wait(0.05):
            if self._stopping.is_set():
                return
        if self.hold_seconds:
            self._stopping.wait(self.hold_seconds)

    def hold(self) -> None:
        """Writes that get a slot wait (holding it) until `release()`."""
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def in_flight(self) -> int:
        with self._changed:
            return sum(self._in_flight.values())

    def wait_in_flight(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least `count` writes hold slots; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: sum(self._in_flight.values()) >= count, timeout)
