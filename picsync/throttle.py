"""Impure only through the injected clock and sleep: a byte-rate limiter and a reader that obeys it.

One ``RateLimiter`` is shared by every upload to a destination, so its limit holds however many
uploads run at once. It is a token bucket holding at most a quarter second of traffic: after a
pause an upload may burst that much, never more, and over any stretch of time the bytes let
through stay within ``rate * (elapsed + BURST_SECONDS)``. The rate is asked for on every
decision, so a timetable step, including to or from unlimited (None), applies within MAX_NAP.
"""

from __future__ import annotations

import io
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

BURST_SECONDS = 0.25
# A waiting caller wakes at least this often to ask for the rate again, so a large request does
# not sleep through a change of rate (a night-time 'off' should speed up a running upload).
MAX_NAP = 0.25
# Float rounding can leave a sliver of a token missing after an exact sleep; waiting for it
# would spin (a fake clock may not even advance), so a shortfall this small counts as none.
_ROUNDING = 1e-9


class RateLimiter:
    """Lets bytes pass at ``rate()`` bytes/s on average (None = unlimited); thread-safe."""

    def __init__(
        self,
        rate: Callable[[], float | None],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._rate = rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = math.inf  # clamped to a full bucket on first use
        self._stamp = clock()

    def acquire(self, n: int) -> None:
        """Block until ``n`` more bytes may pass."""
        if n < 0:
            raise ValueError(f"cannot acquire a negative number of bytes: {n}")
        remaining = float(n)
        while remaining > 0:
            with self._lock:
                rate = self._refill()
                if rate is None:
                    return
                # Take at most a bucketful at a time: a request larger than the bucket could
                # never be met whole, and pieces let parallel uploads interleave fairly.
                piece = min(remaining, rate * BURST_SECONDS)
                shortfall = piece - self._tokens
                if shortfall <= piece * _ROUNDING:
                    self._tokens -= piece
                    remaining -= piece
                    continue
            # Sleep outside the lock so other uploads can take tokens that arrive meanwhile.
            self._sleep(min(shortfall / rate, MAX_NAP))

    def _refill(self) -> float | None:
        """Add the tokens earned since the last call, at the current rate; caller holds the lock."""
        rate = self._rate()
        now = self._clock()
        elapsed = max(0.0, now - self._stamp)  # a clock that steps back earns nothing
        self._stamp = now
        if rate is None:
            self._tokens = math.inf
            return None
        if not rate > 0:  # also refuses NaN
            raise ValueError(f"rate must be positive bytes/s or None, got {rate}")
        self._tokens = min(rate * BURST_SECONDS, self._tokens + elapsed * rate)
        return rate


class ThrottledReader(io.RawIOBase):
    """Reads ``stream`` through ``limiter``: each read returns, then waits for, its bytes.

    Closing the reader leaves ``stream`` open: whoever opened it closes it (and a reader that is
    garbage-collected, which closes it, must not pull a file from under an upload's retry).
    Seeking passes through so an HTTP client can size the body and rewind it for a retry.
    """

    def __init__(self, stream: BinaryIO, limiter: RateLimiter) -> None:
        super().__init__()
        self._stream = stream
        self._limiter = limiter

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1, /) -> bytes:
        self._check_open()
        if size is None or size < 0:
            return self.readall()  # in DEFAULT_BUFFER_SIZE reads, each throttled
        data = self._stream.read(size)
        self._limiter.acquire(len(data))
        return data

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        self._check_open()
        view = memoryview(buffer).cast("B")
        readinto = getattr(self._stream, "readinto", None)
        if readinto is not None:
            count = int(readinto(view) or 0)
        else:
            data = self._stream.read(len(view))
            count = len(data)
            view[:count] = data
        self._limiter.acquire(count)
        return count

    def seekable(self) -> bool:
        return self._stream.seekable()

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int:
        self._check_open()
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        self._check_open()
        return self._stream.tell()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed ThrottledReader")
