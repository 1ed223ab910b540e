"""Pure: the minimal binary stream interfaces the age layer reads from and writes to.

Loops over short reads and short writes live here, once: a pipe or socket may return fewer
bytes than asked for, and a raw file may accept fewer bytes than given. Treating either as the
end would silently cut a file.
"""

from __future__ import annotations

import errno
from typing import Protocol


class ByteSource(Protocol):
    """Anything with ``read(n)``: files, pipes, BytesIO, sockets' makefile(). ``readinto`` is
    used instead when the object has it, to avoid a copy per read."""

    def read(self, size: int = -1, /) -> bytes | None: ...


class ByteSink(Protocol):
    """Anything with ``write(b)``; a short write count is honoured by writing the rest."""

    def write(self, data: memoryview, /) -> int | None: ...


def write_all(sink: ByteSink, data: bytes | bytearray | memoryview) -> None:
    """Write every byte of ``data`` or raise; never return after a partial write."""
    view = memoryview(data)
    while view:
        written = sink.write(view)
        if written is None:
            # A non-blocking destination that is not ready: we cannot wait for it here.
            raise BlockingIOError(errno.EAGAIN, "destination would block")
        if written <= 0:
            raise OSError(errno.EIO, "destination accepted no bytes")
        view = view[written:]


def read_some(source: ByteSource, buffer: memoryview) -> int:
    """Read at least one byte into ``buffer`` (fewer than it holds is fine); 0 means the end."""
    readinto = getattr(source, "readinto", None)
    if readinto is not None:
        count: int | None = readinto(buffer)
    else:
        piece = source.read(len(buffer))
        count = None if piece is None else len(piece)
        if piece:
            buffer[: len(piece)] = piece
    if count is None:
        # A non-blocking source with nothing to read yet; only zero bytes may mean the end.
        raise BlockingIOError(errno.EAGAIN, "source has no data yet (non-blocking)")
    return count


def fill_from(source: ByteSource, buffer: memoryview) -> int:
    """Fill ``buffer`` from ``source``, looping over short reads; fewer bytes only at the end."""
    filled = 0
    while filled < len(buffer):
        count = read_some(source, buffer[filled:])
        if count == 0:
            break
        filled += count
    return filled


def flush_sink(sink: ByteSink) -> None:
    """Flush ``sink`` if it buffers, so that a late error (a full disk) surfaces now."""
    flush = getattr(sink, "flush", None)
    if flush is not None:
        flush()


class PrefixedSource:
    """``source`` with ``prefix`` (bytes already read from it) put back in front."""

    def __init__(self, prefix: bytes, source: ByteSource) -> None:
        self._prefix = memoryview(prefix)
        self._source = source

    def read(self, size: int = -1, /) -> bytes | None:
        if self._prefix:
            if size < 0:
                size = len(self._prefix)
            piece = bytes(self._prefix[:size])
            self._prefix = self._prefix[len(piece) :]
            return piece
        return self._source.read(size)

    def readinto(self, buffer: memoryview, /) -> int | None:
        if self._prefix:
            count = min(len(buffer), len(self._prefix))
            buffer[:count] = self._prefix[:count]
            self._prefix = self._prefix[count:]
            return count
        return read_some(self._source, buffer)
