"""The encryptor as a stream: bounded memory, short writes downstream, odd buffers, lifecycle."""

from __future__ import annotations

import array
import io
import random
import tracemalloc

import pytest

from picsync.crypto import (
    AgeEncryptor,
    Identity,
    decrypt_stream,
    encrypt_stream,
    generate_identity,
    sealed_size,
    x25519_header_size,
)

CHUNK = 64 * 1024
IDENTITY = generate_identity()


class CountingSink:
    """Discards what it is given but counts and hashes nothing: a sink that holds no memory."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: memoryview) -> int:
        self.size += len(data)
        return len(data)


class TrickleSink(io.RawIOBase):
    """A raw destination that accepts at most ``limit`` bytes per write, like a pipe or socket."""

    def __init__(self, limit: int) -> None:
        self.received = bytearray()
        self.limit = limit

    def writable(self) -> bool:
        return True

    def write(self, data: memoryview) -> int:  # type: ignore[override]
        accepted = bytes(data[: self.limit])
        self.received += accepted
        return len(accepted)


def opened(ciphertext: bytes, identity: Identity = IDENTITY) -> bytes:
    sink = io.BytesIO()
    decrypt_stream(io.BytesIO(ciphertext), sink, [identity])
    return sink.getvalue()


def test_memory_stays_bounded_for_one_huge_write() -> None:
    plaintext = random.Random(1).randbytes(20_000_000)
    sink = CountingSink()
    tracemalloc.start()
    try:
        with AgeEncryptor(sink, [IDENTITY.recipient]) as encryptor:
            encryptor.write(plaintext)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.size == sealed_size(len(plaintext), x25519_header_size(1))
    assert peak < 3 * CHUNK + 32 * 1024  # one held-back chunk, one sealed chunk, small change


def test_memory_stays_bounded_when_decrypting() -> None:
    plaintext = random.Random(2).randbytes(5_000_000)
    ciphertext = io.BytesIO()
    encrypt_stream(io.BytesIO(plaintext), ciphertext, [IDENTITY.recipient])
    ciphertext.seek(0)
    sink = CountingSink()
    tracemalloc.start()
    try:
        decrypt_stream(ciphertext, sink, [IDENTITY])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.size == len(plaintext)
    assert peak < 4 * CHUNK + 32 * 1024  # two sealed chunks (look-ahead) and one plaintext


@pytest.mark.parametrize("limit", [1, 1000, CHUNK + 17])
def test_short_writes_downstream_are_completed(limit: int) -> None:
    plaintext = random.Random(limit).randbytes(2 * CHUNK + 99)
    sink = TrickleSink(limit)
    with AgeEncryptor(sink, [IDENTITY.recipient]) as encryptor:
        encryptor.write(plaintext)
    assert opened(bytes(sink.received)) == plaintext


def test_a_destination_that_would_block_is_an_error_not_a_loss() -> None:
    class WouldBlock:
        def write(self, data: memoryview) -> None:
            return None  # what a non-blocking raw file returns when it is not ready

    with pytest.raises(BlockingIOError):
        AgeEncryptor(WouldBlock(), [IDENTITY.recipient])


def test_a_source_that_would_block_is_an_error_not_the_end() -> None:
    class NotReady(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> None:  # type: ignore[override]
            return None

    with pytest.raises(BlockingIOError):
        encrypt_stream(NotReady(), io.BytesIO(), [IDENTITY.recipient])


def test_any_buffer_type_is_accepted_as_bytes() -> None:
    numbers = array.array("I", range(50_000))  # 4-byte items: counted in bytes, not items
    sink = io.BytesIO()
    with AgeEncryptor(sink, [IDENTITY.recipient]) as encryptor:
        assert encryptor.write(memoryview(numbers)) == len(numbers) * numbers.itemsize
        assert encryptor.write(bytearray(b"tail")) == 4
        assert encryptor.write(b"") == 0
    assert opened(sink.getvalue()) == numbers.tobytes() + b"tail"


def test_lifecycle_close_is_idempotent_and_leaves_the_destination_open() -> None:
    sink = io.BytesIO()
    encryptor = AgeEncryptor(sink, [IDENTITY.recipient])
    assert encryptor.writable() and not encryptor.closed
    encryptor.write(b"x" * (CHUNK + 1))
    encryptor.flush()
    encryptor.close()
    encryptor.close()
    assert encryptor.closed and not sink.closed
    with pytest.raises(ValueError, match="closed"):
        encryptor.write(b"more")
    assert opened(sink.getvalue()) == b"x" * (CHUNK + 1)


def test_a_read_only_source_without_readinto_works() -> None:
    class ReadOnly:
        def __init__(self, data: bytes) -> None:
            self._data = data

        def read(self, size: int = -1, /) -> bytes:
            piece, self._data = self._data[: min(size, 777)], self._data[min(size, 777) :]
            return piece

    plaintext = random.Random(3).randbytes(CHUNK * 2 + 5)
    sink = io.BytesIO()
    assert encrypt_stream(ReadOnly(plaintext), sink, [IDENTITY.recipient]) == len(plaintext)
    out = io.BytesIO()
    decrypt_stream(ReadOnly(sink.getvalue()), out, [IDENTITY])
    assert out.getvalue() == plaintext


def test_recipients_are_required_and_passphrases_stand_alone() -> None:
    from picsync.crypto.scrypt import ScryptRecipient

    with pytest.raises(ValueError, match="at least one recipient"):
        AgeEncryptor(io.BytesIO(), [])
    with pytest.raises(ValueError, match="only recipient"):
        AgeEncryptor(io.BytesIO(), [IDENTITY.recipient, ScryptRecipient("fake pass", 1)])
