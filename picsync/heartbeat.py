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
from typing import BinaryIO

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


def touch() -> None:
    """Progress on the current thread (a no-op on threads without a beat)."""
    beat: Beat | None = getattr(_local, "beat", None)
    if beat is not None:
        beat.touch()


class TouchingReader:
    """A stream whose every read counts as progress: slow but moving uploads stay alive."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        touch()
        return self._stream.read(size)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        touch()
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return bool(getattr(self._stream, "seekable", lambda: False)())

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> TouchingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
