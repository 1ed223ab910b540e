"""Pure apart from the CSPRNG: the streaming age v1 encryptor (header, then STREAM payload).

Bytes go in through ``write()`` in pieces of any size; ciphertext goes out to a destination
stream in 64 KiB chunks. Memory stays bounded: one plaintext chunk is held back (the one-chunk
look-ahead: a full chunk cannot be sealed until we know whether more data follows, because the
last chunk carries the "last" flag) plus one sealed chunk being written.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from types import TracebackType
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from picsync.crypto.header import Stanza, encode_header
from picsync.crypto.payload import (
    CHUNK_SIZE,
    PAYLOAD_NONCE_SIZE,
    SEALED_CHUNK_SIZE,
    TAG_SIZE,
    chunk_nonce,
    payload_key,
)
from picsync.crypto.primitives import FILE_KEY_SIZE
from picsync.crypto.scrypt import STANZA_TAG as SCRYPT_TAG
from picsync.crypto.streams import ByteSink, ByteSource, flush_sink, read_some, write_all

_COPY_SIZE = 16 * CHUNK_SIZE  # encrypt_stream reads 1 MiB: 15 of 16 chunks sealed without a copy


class FileKeyWrapper(Protocol):
    """A recipient: wraps a file key into a header stanza (X25519 or scrypt)."""

    def wrap(self, file_key: bytes, /) -> Stanza: ...


class AgeEncryptor:
    """A write-only binary stream that age-encrypts into ``destination``.

    The header is written at construction. ``close()`` seals the final chunk and flushes, but
    does NOT close ``destination``: the caller fsyncs and renames it. Used as a context manager,
    an exception inside the block aborts instead of closing, so a failed producer never leaves a
    well-formed file of partial plaintext (the output then fails to decrypt as truncated).

    After any error the encryptor refuses further use: the output is incomplete and must be
    discarded. As with io.RawIOBase, ``destination.write`` must consume or copy its argument
    before returning (every file object does); the buffer is reused for the next chunk.

    Not an io.IOBase subclass on purpose: IOBase closes, which here means finishes, a stream
    when it is garbage-collected, which would turn an abandoned stream into a valid one.
    """

    def __init__(self, destination: ByteSink, recipients: Sequence[FileKeyWrapper]) -> None:
        if not recipients:
            raise ValueError("age encryption needs at least one recipient")
        file_key = os.urandom(FILE_KEY_SIZE)
        stanzas = [recipient.wrap(file_key) for recipient in recipients]
        if len(stanzas) > 1 and any(stanza.tag == SCRYPT_TAG for stanza in stanzas):
            raise ValueError("a passphrase recipient must be the only recipient")
        header = encode_header(stanzas, file_key)
        payload_nonce = os.urandom(PAYLOAD_NONCE_SIZE)
        self._aead = ChaCha20Poly1305(payload_key(file_key, payload_nonce))
        self._destination = destination
        self._pending = memoryview(bytearray(CHUNK_SIZE))  # plaintext held back (look-ahead)
        self._pending_size = 0
        self._sealed = memoryview(bytearray(SEALED_CHUNK_SIZE))
        self._counter = 0
        self._closed = False
        self._failed = False
        self.header_size = len(header)
        self.plaintext_size = 0
        write_all(destination, header + payload_nonce)

    @property
    def closed(self) -> bool:
        return self._closed

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Encrypt all of ``data``; returns its length in bytes. Raises on any write error."""
        self._check_usable()
        view = memoryview(data)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        size = len(view)
        if size == 0:
            return 0
        try:
            self._absorb(view, size)
        except BaseException:
            self._failed = True
            raise
        self.plaintext_size += size
        return size

    def _absorb(self, view: memoryview, size: int) -> None:
        position = 0
        if self._pending_size == CHUNK_SIZE:
            # More data has arrived, so the held-back full chunk was not the last one.
            self._seal(self._pending, last=False)
            self._pending_size = 0
        if self._pending_size:
            position = min(CHUNK_SIZE - self._pending_size, size)
            self._pending[self._pending_size : self._pending_size + position] = view[:position]
            self._pending_size += position
            if self._pending_size < CHUNK_SIZE or position == size:
                return
            self._seal(self._pending, last=False)
            self._pending_size = 0
        # Nothing is held back now: seal straight from the caller's buffer while more than a
        # chunk remains, and hold back the rest, which may turn out to be the last chunk.
        while size - position > CHUNK_SIZE:
            self._seal(view[position : position + CHUNK_SIZE], last=False)
            position += CHUNK_SIZE
        remaining = size - position
        self._pending[:remaining] = view[position:]
        self._pending_size = remaining

    def _seal(self, chunk: memoryview, *, last: bool) -> None:
        sealed = self._sealed[: len(chunk) + TAG_SIZE]
        self._aead.encrypt_into(chunk_nonce(self._counter, last=last), chunk, None, sealed)
        write_all(self._destination, sealed)
        self._counter += 1

    def flush(self) -> None:
        """Flush what has been sealed so far; the held-back chunk stays until close()."""
        self._check_usable()
        flush_sink(self._destination)

    def close(self) -> None:
        """Seal the last chunk and flush the destination (which stays open). Idempotent."""
        if self._closed:
            return
        self._check_usable()
        try:
            self._seal(self._pending[: self._pending_size], last=True)
            flush_sink(self._destination)
        except BaseException:
            self._failed = True
            raise
        self._closed = True
        self._pending_size = 0

    def abort(self) -> None:
        """Stop without sealing the last chunk; what was written will not decrypt."""
        self._closed = True
        self._pending[:] = bytes(CHUNK_SIZE)  # do not keep plaintext around longer than needed
        self._pending_size = 0

    def _check_usable(self) -> None:
        if self._closed:
            raise ValueError("write to a closed age encryptor")
        if self._failed:
            raise ValueError("age encryptor failed earlier; its output is incomplete")

    def __enter__(self) -> AgeEncryptor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def encrypt_stream(
    source: ByteSource, destination: ByteSink, recipients: Sequence[FileKeyWrapper]
) -> int:
    """Age-encrypt everything ``source`` yields until EOF; returns the plaintext size.

    Short reads (pipes, sockets) are fine: only a read of zero bytes ends the stream.
    ``destination`` is flushed, not closed.
    """
    buffer = memoryview(bytearray(_COPY_SIZE))
    with AgeEncryptor(destination, recipients) as encryptor:
        while count := read_some(source, buffer):
            encryptor.write(buffer[:count])
    return encryptor.plaintext_size
