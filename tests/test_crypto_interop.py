"""picsync's age files against independent implementations: the Debian `age` CLI and pyrage."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import random
import shutil
import subprocess
import threading
from pathlib import Path
from typing import BinaryIO

import pytest

from picsync.crypto import (
    AgeEncryptor,
    Identity,
    Recipient,
    decrypt_stream,
    encrypt_stream,
    parse_identities,
    parse_recipient,
    sealed_size,
    x25519_header_size,
)

AGE = shutil.which("age")
AGE_KEYGEN = shutil.which("age-keygen")
needs_age = pytest.mark.skipif(
    AGE is None or AGE_KEYGEN is None,
    reason="the age CLI (Debian package `age`) is not installed; it is the interop oracle",
)
CHUNK = 64 * 1024
SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 1, 10_000_000]


class KeyPair:
    """A key pair made by age-keygen, with its identity file on disk for `age -d -i`."""

    def __init__(self, directory: Path, name: str) -> None:
        assert AGE_KEYGEN is not None
        self.path = directory / f"{name}.txt"
        subprocess.run([AGE_KEYGEN, "-o", str(self.path)], check=True, capture_output=True)
        self.identity: Identity = parse_identities(self.path.read_text())[0]
        printed = subprocess.run(
            [AGE_KEYGEN, "-y", str(self.path)], check=True, capture_output=True, text=True
        ).stdout
        self.recipient: Recipient = parse_recipient(printed)


@pytest.fixture(scope="module")
def key_pairs(tmp_path_factory: pytest.TempPathFactory) -> list[KeyPair]:
    if AGE_KEYGEN is None:
        pytest.skip("age-keygen (Debian package `age`) is not installed")
    directory = tmp_path_factory.mktemp("keys")
    return [KeyPair(directory, "office"), KeyPair(directory, "escrow")]


def plaintext_of(size: int) -> bytes:
    return random.Random(size).randbytes(size)


def age_decrypt(ciphertext: bytes, key: KeyPair) -> bytes:
    """`age -d` reading stdin and writing stdout (age 1.1.1 makes no -o file for empty output)."""
    assert AGE is not None
    done = subprocess.run(
        [AGE, "-d", "-i", str(key.path)], input=ciphertext, capture_output=True, check=True
    )
    return done.stdout


def age_encrypt(plaintext: bytes, recipients: list[Recipient]) -> bytes:
    assert AGE is not None
    command = [AGE]
    for recipient in recipients:
        command += ["-r", str(recipient)]
    return subprocess.run(command, input=plaintext, capture_output=True, check=True).stdout


def picsync_encrypt(plaintext: bytes, recipients: list[Recipient]) -> bytes:
    sink = io.BytesIO()
    written = encrypt_stream(io.BytesIO(plaintext), sink, recipients)
    assert written == len(plaintext)
    return sink.getvalue()


def picsync_decrypt(ciphertext: bytes, identities: list[Identity]) -> bytes:
    sink = io.BytesIO()
    assert decrypt_stream(io.BytesIO(ciphertext), sink, identities) == len(sink.getvalue())
    return sink.getvalue()


@needs_age
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("recipient_count", [1, 2])
def test_age_cli_decrypts_picsync_output(
    key_pairs: list[KeyPair], size: int, recipient_count: int
) -> None:
    plaintext = plaintext_of(size)
    keys = key_pairs[:recipient_count]
    ciphertext = picsync_encrypt(plaintext, [key.recipient for key in keys])
    assert len(ciphertext) == sealed_size(size, x25519_header_size(recipient_count))
    for key in keys:  # each identity alone opens the file
        assert age_decrypt(ciphertext, key) == plaintext


@needs_age
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("recipient_count", [1, 2])
def test_picsync_decrypts_age_cli_output(
    key_pairs: list[KeyPair], size: int, recipient_count: int
) -> None:
    plaintext = plaintext_of(size)
    keys = key_pairs[:recipient_count]
    ciphertext = age_encrypt(plaintext, [key.recipient for key in keys])
    for key in keys:
        assert picsync_decrypt(ciphertext, [key.identity]) == plaintext


@needs_age
@pytest.mark.parametrize(
    "pieces",
    [[1], [7], [100 * 1024], [1, 65535, 65536, 3, 200_000], [65536], [131072, 1], [10**9]],
    ids=["1B", "7B", "100KiB", "mixed", "exact-chunk", "two-chunks-then-1", "one-write"],
)
def test_writes_in_odd_pieces_give_a_file_age_decrypts(
    key_pairs: list[KeyPair], pieces: list[int]
) -> None:
    plaintext = plaintext_of(300_001 if pieces != [1] else 140_001)
    sink = io.BytesIO()
    with AgeEncryptor(sink, [key_pairs[0].recipient]) as encryptor:
        position = 0
        turn = 0
        while position < len(plaintext):
            size = pieces[turn % len(pieces)]
            assert encryptor.write(plaintext[position : position + size]) == min(
                size, len(plaintext) - position
            )
            position += size
            turn += 1
    assert encryptor.plaintext_size == len(plaintext)
    assert not sink.closed  # close() finishes the stream but leaves the destination open
    assert len(sink.getvalue()) == sealed_size(len(plaintext), encryptor.header_size)
    assert age_decrypt(sink.getvalue(), key_pairs[0]) == plaintext


class ShortReads(io.RawIOBase):
    """A pipe-like source that returns at most a few hundred bytes per read."""

    def __init__(self, data: bytes, seed: int) -> None:
        self._data = memoryview(data)
        self._random = random.Random(seed)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = min(len(buffer), len(self._data), self._random.randint(1, 700))
        buffer[:count] = self._data[:count]
        self._data = self._data[count:]
        return count


@needs_age
def test_short_reads_do_not_end_the_stream_early(key_pairs: list[KeyPair]) -> None:
    plaintext = plaintext_of(3 * CHUNK + 5)
    sink = io.BytesIO()
    assert encrypt_stream(ShortReads(plaintext, 1), sink, [key_pairs[0].recipient]) == len(
        plaintext
    )
    assert age_decrypt(sink.getvalue(), key_pairs[0]) == plaintext
    assert picsync_decrypt_from(ShortReads(sink.getvalue(), 2), key_pairs[0]) == plaintext


def picsync_decrypt_from(source: io.RawIOBase, key: KeyPair) -> bytes:
    sink = io.BytesIO()
    decrypt_stream(source, sink, [key.identity])
    return sink.getvalue()


@needs_age
def test_a_real_pipe_fed_in_dribbles_is_encrypted_whole(key_pairs: list[KeyPair]) -> None:
    plaintext = plaintext_of(2 * CHUNK + 333)
    read_end, write_end = os.pipe()

    def feed() -> None:
        with os.fdopen(write_end, "wb", buffering=0) as pipe:
            for start in range(0, len(plaintext), 4093):
                pipe.write(plaintext[start : start + 4093])

    feeder = threading.Thread(target=feed)
    feeder.start()
    sink = io.BytesIO()
    with os.fdopen(read_end, "rb", buffering=0) as source:
        encrypt_stream(source, sink, [key_pairs[0].recipient])
    feeder.join()
    assert age_decrypt(sink.getvalue(), key_pairs[0]) == plaintext


def open_dev_full(buffering: int = -1) -> BinaryIO:
    if not Path("/dev/full").exists():
        pytest.skip("this system has no /dev/full device")
    return open("/dev/full", "wb", buffering=buffering)


def close_quietly(file: BinaryIO) -> None:
    # Closing a buffered /dev/full flushes again and fails again; that is not under test.
    with contextlib.suppress(OSError):
        file.close()


@pytest.mark.parametrize("size", [0, 100, 5000, 3 * CHUNK])
def test_disk_full_raises_from_the_encryptor_instead_of_succeeding(size: int) -> None:
    recipient = Identity(os.urandom(32)).recipient
    full = open_dev_full()  # buffered: the error appears at the latest when close() flushes
    try:
        with pytest.raises(OSError) as failure, AgeEncryptor(full, [recipient]) as encryptor:
            encryptor.write(plaintext_of(size))
        assert failure.value.errno == errno.ENOSPC
    finally:
        close_quietly(full)


def test_disk_full_unbuffered_fails_at_the_header() -> None:
    recipient = Identity(os.urandom(32)).recipient
    full = open_dev_full(buffering=0)
    try:
        with pytest.raises(OSError) as failure:
            encrypt_stream(io.BytesIO(b"x"), full, [recipient])
        assert failure.value.errno == errno.ENOSPC
    finally:
        close_quietly(full)


def test_after_a_write_error_the_encryptor_refuses_to_finish() -> None:
    recipient = Identity(os.urandom(32)).recipient
    full = open_dev_full()
    try:
        encryptor = AgeEncryptor(full, [recipient])
        with pytest.raises(OSError):
            encryptor.write(plaintext_of(3 * CHUNK))
        with pytest.raises(ValueError, match="incomplete"):
            encryptor.close()
        with pytest.raises(ValueError, match="incomplete"):
            encryptor.write(b"more")
    finally:
        close_quietly(full)


@needs_age
def test_an_exception_inside_the_block_leaves_a_file_that_does_not_decrypt(
    key_pairs: list[KeyPair],
) -> None:
    assert AGE is not None
    sink = io.BytesIO()

    class ScrubFailed(Exception):
        pass

    with pytest.raises(ScrubFailed), AgeEncryptor(sink, [key_pairs[0].recipient]) as encryptor:
        encryptor.write(plaintext_of(CHUNK + 10))
        raise ScrubFailed
    assert encryptor.closed
    done = subprocess.run(
        [AGE, "-d", "-i", str(key_pairs[0].path)], input=sink.getvalue(), capture_output=True
    )
    assert done.returncode != 0


# ---- pyrage (the Rust age crate) -------------------------------------------------------------

pyrage = pytest.importorskip("pyrage", reason="pyrage (test extra) is not installed")


@pytest.mark.parametrize("size", [0, 1, CHUNK, 200_000])
def test_pyrage_decrypts_picsync_output(size: int) -> None:
    office, escrow = pyrage.x25519.Identity.generate(), pyrage.x25519.Identity.generate()
    recipients = [parse_recipient(str(key.to_public())) for key in (office, escrow)]
    plaintext = plaintext_of(size)
    ciphertext = picsync_encrypt(plaintext, recipients)
    for key in (office, escrow):
        assert pyrage.decrypt(ciphertext, [key]) == plaintext


@pytest.mark.parametrize("size", [0, 1, CHUNK, 200_000])
def test_picsync_decrypts_pyrage_output(size: int) -> None:
    office, escrow = pyrage.x25519.Identity.generate(), pyrage.x25519.Identity.generate()
    plaintext = plaintext_of(size)
    ciphertext = pyrage.encrypt(plaintext, [office.to_public(), escrow.to_public()])
    for key in (office, escrow):
        identity = parse_identities(str(key))[0]
        assert picsync_decrypt(ciphertext, [identity]) == plaintext
