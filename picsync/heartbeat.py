"""Liveness of the threads that do the work, for the systemd watchdog.

A worker registers a ``Beat`` for its thread; anything it does on that thread (reading a
source, handing a chunk to an upload) calls ``touch()``. The daemon pings the watchdog only
while every beat is fresh, so an upload hung on a dead connection gets the service restarted
instead of silently stopping all deliveries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

_local = threading.local()


class Beat:
    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._clock = clock
        self.last = clock()

    def touch(self) -> None:
        self.last = self._clock()

    def age(self) -> float:
        return self._clock() - self.last


def register(beat: Beat) -> None:
    """Make ``touch()`` on this thread refresh ``beat``."""
    _local.beat = beat


def current() -> Beat | None:
    """The beat registered on this thread, to lend to a helper thread doing its work."""
    beat: Beat | None = getattr(_local, "beat", None)
    return beat


def touch() -> None:
    """Progress on the current thread (a no-op on threads without a beat)."""
    beat = current()
    if beat is not None:
        beat.touch()
