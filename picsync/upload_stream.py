"""The stream an upload reads: paced by the destination's bandwidth limit, stopped at a chunk
boundary when its upload window closes, and counted as the worker's progress."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import BinaryIO, cast

from picsync.destinations import PayloadSource
from picsync.errors import WindowClosedError
from picsync.heartbeat import touch
from picsync.schedule import Window
from picsync.throttle import RateLimiter


class UploadStream:
    """Read-only; closing it closes the spool file underneath."""

    def __init__(
        self,
        stream: BinaryIO,
        window: Window | None,
        limiter: RateLimiter | None,
        clock: Callable[[], float],
    ) -> None:
        self._stream = stream
        self._window = window
        self._limiter = limiter
        self._clock = clock

    def _before_read(self, size: int) -> None:
        touch()
        if self._window is not None:
            now = self._clock()
            at = datetime.fromtimestamp(now, tz=UTC)
            if not self._window.is_open(at):
                # Raised between reads, that is at a chunk boundary: whatever the backend saved
                # as resumable progress stays valid for the next window.
                raise WindowClosedError(self._window.next_open(at).timestamp())
        if self._limiter is not None and size > 0:
            self._limiter.acquire(size)

    def read(self, size: int = -1) -> bytes:
        self._before_read(size if size and size > 0 else 1 << 20)
        return self._stream.read(size)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        self._before_read(len(buffer))
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

    @property
    def closed(self) -> bool:
        return bool(getattr(self._stream, "closed", False))

    def __enter__(self) -> UploadStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class UploadSource:
    """A payload as an upload sees it (the fingerprint is computed from the plain payload)."""

    def __init__(
        self,
        inner: PayloadSource,
        window: Window | None,
        limiter: RateLimiter | None,
        clock: Callable[[], float],
    ) -> None:
        self._inner = inner
        self._window = window
        self._limiter = limiter
        self._clock = clock

    @property
    def size(self) -> int:
        return self._inner.size

    def open(self) -> BinaryIO:
        stream = UploadStream(self._inner.open(), self._window, self._limiter, self._clock)
        return cast(BinaryIO, stream)
