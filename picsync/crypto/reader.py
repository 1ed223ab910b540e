"""Pure: the streaming age v1 decryptor, for the records office's tools and for tests.

It follows every reading rule of age v1: a strict header, a verified header MAC, 32-byte
stanza bodies, an scrypt stanza only when alone (with a capped work factor), unknown stanzas
ignored (rage adds a random "grease" stanza), every chunk authenticated, the last-chunk flag
required at the true end, and nothing allowed after it.

Chunks are released as soon as they are authenticated, before the end of the file is checked,
so a damaged or truncated file leaves partial plaintext in ``destination``. The caller must
decrypt into a temporary file and rename it only when decryption returned normally.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from picsync.crypto.errors import DecryptError
from picsync.crypto.header import Header, Stanza, read_header
from picsync.crypto.payload import (
    CHUNK_SIZE,
    PAYLOAD_NONCE_SIZE,
    SEALED_CHUNK_SIZE,
    TAG_SIZE,
    chunk_nonce,
    payload_key,
)
from picsync.crypto.scrypt import STANZA_TAG as SCRYPT_TAG
from picsync.crypto.scrypt import ScryptIdentity
from picsync.crypto.streams import ByteSink, ByteSource, PrefixedSource, fill_from, write_all


class WrongKeyError(DecryptError):
    """The file is intact as far as can be told, but no given identity or passphrase opens it."""


class FileKeyUnwrapper(Protocol):
    """An identity: recovers the file key from a stanza meant for it, else returns None."""

    def unwrap(self, stanza: Stanza, /) -> bytes | None: ...


WRONG_KEY = "wrong key: none of the given identities can open this file"
TRUNCATED = "file is truncated"


def decrypt_stream(
    source: ByteSource, destination: ByteSink, identities: Sequence[FileKeyUnwrapper]
) -> int:
    """Decrypt an age file from ``source`` into ``destination``; returns the plaintext size.

    Raises DecryptError (WrongKeyError for a key mismatch). On error, whatever was already
    written to ``destination`` must be thrown away (see the module docstring).
    ``destination`` is neither flushed nor closed.
    """
    total = 0
    for piece in iter_plaintext(source, identities):
        write_all(destination, piece)
        total += len(piece)
    return total


def iter_plaintext(
    source: ByteSource, identities: Sequence[FileKeyUnwrapper]
) -> Iterator[memoryview]:
    """Yield the plaintext chunk by chunk as each is authenticated (pull-style decryption).

    Each yielded view is valid only until the next one is requested. Raises DecryptError
    (possibly after some chunks were yielded: see the module docstring).
    """
    if not identities:
        raise ValueError("decryption needs at least one identity")
    header, after_header = read_header(source)
    file_key = _unwrap_file_key(header, identities)
    if not header.mac_matches(file_key):
        raise DecryptError("file is damaged or was tampered with (header authentication failed)")
    yield from _payload_chunks(PrefixedSource(after_header, source), file_key)


class DecryptingReader:
    """A read-only stream of an age file's plaintext, decrypted as it is read.

    Used to upload to a destination that must receive plaintext, without plaintext ever
    touching the disk. A damaged file raises DecryptError from ``read`` once the damage is
    reached, so the upload fails instead of completing.
    """

    def __init__(self, source: ByteSource, identities: Sequence[FileKeyUnwrapper]) -> None:
        self._chunks = iter_plaintext(source, identities)
        self._buffer = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = [self._buffer, *(bytes(chunk) for chunk in self._chunks)]
            self._buffer = b""
            self._done = True
            return b"".join(parts)
        while len(self._buffer) < size and not self._done:
            try:
                self._buffer += bytes(next(self._chunks))
            except StopIteration:
                self._done = True
        piece, self._buffer = self._buffer[:size], self._buffer[size:]
        return piece


def _unwrap_file_key(header: Header, identities: Sequence[FileKeyUnwrapper]) -> bytes:
    has_scrypt = any(stanza.tag == SCRYPT_TAG for stanza in header.stanzas)
    if has_scrypt and len(header.stanzas) != 1:
        # Otherwise a passphrase file could be silently re-targeted to another recipient.
        raise DecryptError(
            "file is damaged: its header is malformed (a passphrase stanza must be alone)"
        )
    for identity in identities:
        for stanza in header.stanzas:
            file_key = identity.unwrap(stanza)
            if file_key is not None:
                return file_key
    with_passphrase = [isinstance(identity, ScryptIdentity) for identity in identities]
    if has_scrypt and not any(with_passphrase):
        raise WrongKeyError("wrong key: this file is protected by a passphrase, not an age key")
    if has_scrypt:
        raise WrongKeyError("wrong passphrase: it does not open this file")
    if all(with_passphrase):
        raise WrongKeyError("wrong key: this file is encrypted to age keys, not a passphrase")
    raise WrongKeyError(WRONG_KEY)


def _payload_chunks(source: ByteSource, file_key: bytes) -> Iterator[memoryview]:
    payload_nonce = memoryview(bytearray(PAYLOAD_NONCE_SIZE))
    if fill_from(source, payload_nonce) < PAYLOAD_NONCE_SIZE:
        raise DecryptError(TRUNCATED)
    aead = ChaCha20Poly1305(payload_key(file_key, payload_nonce.tobytes()))
    current = memoryview(bytearray(SEALED_CHUNK_SIZE))
    following = memoryview(bytearray(SEALED_CHUNK_SIZE))  # the look-ahead that finds the end
    plaintext = memoryview(bytearray(CHUNK_SIZE))
    size = fill_from(source, current)
    counter = 0
    while True:
        next_size = fill_from(source, following) if size == SEALED_CHUNK_SIZE else 0
        last = next_size == 0
        if size < TAG_SIZE:
            raise DecryptError(TRUNCATED)
        sealed = current[:size]
        opened = plaintext[: size - TAG_SIZE]
        try:
            aead.decrypt_into(chunk_nonce(counter, last=last), sealed, None, opened)
        except InvalidTag:
            raise _diagnose(aead, sealed, counter, last=last) from None
        if last and counter > 0 and not opened:
            raise DecryptError("file is damaged or was tampered with (empty final chunk)")
        yield opened
        if last:
            return
        current, following = following, current
        size = next_size
        counter += 1


def _diagnose(
    aead: ChaCha20Poly1305, sealed: memoryview, counter: int, *, last: bool
) -> DecryptError:
    """Say why chunk ``counter`` failed: the other value of the last flag tells cuts from damage."""
    number = counter + 1  # people count chunks from 1
    if _opens(aead, sealed, counter, last=not last):
        if last:
            return DecryptError(
                f"{TRUNCATED} (it ends after chunk {number}, which is not the last)"
            )
        return DecryptError("file has unexpected data after its end (bytes were appended)")
    if last and len(sealed) < SEALED_CHUNK_SIZE:
        return DecryptError(
            f"file is damaged or truncated (chunk {number}, the last one, failed authentication)"
        )
    return DecryptError(
        f"file is damaged or was tampered with (chunk {number} failed authentication)"
    )


def _opens(aead: ChaCha20Poly1305, sealed: memoryview, counter: int, *, last: bool) -> bool:
    try:
        aead.decrypt(chunk_nonce(counter, last=last), sealed, None)
    except InvalidTag:
        return False
    return True
