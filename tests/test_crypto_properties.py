"""Properties of the age writer and reader over random data, splits, damage and cuts."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from picsync.crypto import (
    AgeEncryptor,
    DecryptError,
    Identity,
    decrypt_stream,
    generate_identity,
    sealed_size,
    x25519_header_size,
)

CHUNK = 64 * 1024
IDENTITIES = [generate_identity() for _ in range(2)]
PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# Sizes cluster around chunk boundaries, where the look-ahead matters.
sizes = st.one_of(
    st.integers(0, 300),
    st.integers(0, 4).map(lambda n: n * CHUNK).flatmap(lambda s: st.integers(max(0, s - 3), s + 3)),
    st.integers(0, 3 * CHUNK + 100),
)


def sealed(plaintext: bytes, splits: list[int], recipients: list[Identity]) -> bytes:
    sink = io.BytesIO()
    with AgeEncryptor(sink, [identity.recipient for identity in recipients]) as encryptor:
        position = 0
        for piece in splits:
            encryptor.write(memoryview(plaintext)[position : position + piece])
            position += piece
        encryptor.write(plaintext[position:])
    return sink.getvalue()


def opened(ciphertext: bytes, identity: Identity) -> bytes:
    sink = io.BytesIO()
    decrypt_stream(io.BytesIO(ciphertext), sink, [identity])
    return sink.getvalue()


@PROPERTY_SETTINGS
@given(
    size=sizes,
    splits=st.lists(st.integers(0, 2 * CHUNK + 5), max_size=12),
    recipient_count=st.integers(1, 2),
    data=st.data(),
)
def test_roundtrip_with_random_write_splits(
    size: int, splits: list[int], recipient_count: int, data: st.DataObject
) -> None:
    plaintext = data.draw(st.binary(min_size=size, max_size=size), label="plaintext")
    recipients = IDENTITIES[:recipient_count]
    ciphertext = sealed(plaintext, splits, recipients)
    assert len(ciphertext) == sealed_size(size, x25519_header_size(recipient_count))
    for identity in recipients:
        assert opened(ciphertext, identity) == plaintext


@PROPERTY_SETTINGS
@given(size=sizes, where=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7))
def test_any_single_bit_flip_is_detected(size: int, where: float, bit: int) -> None:
    ciphertext = bytearray(sealed(bytes(size), [], IDENTITIES[:1]))
    ciphertext[int(where * len(ciphertext))] ^= 1 << bit
    with pytest.raises(DecryptError):
        opened(bytes(ciphertext), IDENTITIES[0])


@PROPERTY_SETTINGS
@given(size=sizes, where=st.floats(0, 1, exclude_max=True))
def test_any_truncation_is_detected(size: int, where: float) -> None:
    ciphertext = sealed(bytes(size), [], IDENTITIES[:1])
    with pytest.raises(DecryptError):
        opened(ciphertext[: int(where * len(ciphertext))], IDENTITIES[0])


@PROPERTY_SETTINGS
@given(size=sizes, extra=st.binary(min_size=1, max_size=CHUNK + 40))
def test_any_appended_bytes_are_detected(size: int, extra: bytes) -> None:
    ciphertext = sealed(bytes(size), [], IDENTITIES[:1])
    with pytest.raises(DecryptError):
        opened(ciphertext + extra, IDENTITIES[0])


@PROPERTY_SETTINGS
@given(size=sizes)
def test_every_file_gets_fresh_randomness(size: int) -> None:
    first = sealed(bytes(size), [], IDENTITIES[:1])
    second = sealed(bytes(size), [], IDENTITIES[:1])
    header_end = first.index(b"\n---") + 1
    assert first[:header_end] != second[:header_end]  # new ephemeral share and wrapped key
    assert first[-16:] != second[-16:]  # new file key and nonce, so new tags
