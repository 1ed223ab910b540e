"""Box backend: payload streams the SDK can rewind, and the SHA-1 digests Box speaks.

The SDK rewinds a request's stream (``seek`` to where it started) before it resends after a
401, and refuses to resend a stream that is not seekable. Payload streams may be one-way
(a decrypting reader), so ``ReopeningStream`` makes "seek back" mean "open the payload again
and skip forward": every attempt reads the same bytes from a fresh stream. It also reports
its length, so the SDK sends a Content-Length instead of a chunked body.
"""

from __future__ import annotations

import base64
import hashlib
import io
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from picsync.destinations import PayloadSource

CHUNK = 1 << 20


def new_sha1() -> hashlib._Hash:
    # Box's content hash; not used for security here (the age envelope is the protection).
    return hashlib.sha1(usedforsecurity=False)


def sha1_of(payload: PayloadSource) -> str:
    digest = new_sha1()
    with payload.open() as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def digest_header(sha1_hex: str) -> str:
    """RFC 3230 `digest: sha=<base64 SHA-1>`, as upload parts and commits carry it."""
    return "sha=" + base64.b64encode(bytes.fromhex(sha1_hex)).decode("ascii")


def read_exact(stream: BinaryIO, size: int) -> bytes:
    """Exactly `size` bytes (streams may return short reads); fewer only at the end."""
    pieces: list[bytes] = []
    remaining = size
    while remaining > 0:
        piece = stream.read(remaining)
        if not piece:
            break
        pieces.append(piece)
        remaining -= len(piece)
    return b"".join(pieces)


class ReopeningStream(io.BufferedIOBase):
    """A readable, "seekable" view of a PayloadSource that reopens it to go backwards."""

    def __init__(self, payload: PayloadSource) -> None:
        super().__init__()
        self._payload = payload
        self._stream: BinaryIO | None = None
        self._position = 0

    def __len__(self) -> int:
        return self._payload.size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        if self._stream is None:
            self._stream = self._payload.open()
        if size is None or size < 0:
            size = max(0, self._payload.size - self._position)
        if size == 0:
            return b""
        data = self._stream.read(size)
        self._position += len(data)
        return data

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._payload.size}
        target = base[whence] + offset
        if target < 0:
            raise ValueError("negative seek position")
        if target < self._position:
            self._reopen()
        while self._position < target:
            if not self.read(min(CHUNK, target - self._position)):
                break
        return self._position

    def _reopen(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._stream, self._position = None, 0

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        super().close()
