"""Decryption rules: damage, truncation, appended bytes, wrong keys and hostile headers.

Where the `age` CLI is installed it must reject the same broken files, so the rules here are
age's rules and not only ours.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from picsync.crypto import (
    DecryptError,
    Identity,
    WrongKeyError,
    decrypt_stream,
    encrypt_stream,
    generate_identity,
    identity_file_text,
)
from picsync.crypto.header import Stanza, encode_header, read_header
from picsync.crypto.payload import chunk_nonce, payload_key
from picsync.crypto.primitives import b64encode

AGE = shutil.which("age")
CHUNK = 64 * 1024
SEALED = CHUNK + 16


@pytest.fixture(scope="module")
def identity() -> Identity:
    return generate_identity()


def seal(plaintext: bytes, identity: Identity) -> bytes:
    sink = io.BytesIO()
    encrypt_stream(io.BytesIO(plaintext), sink, [identity.recipient])
    return sink.getvalue()


def open_sealed(ciphertext: bytes, identities: list[Identity]) -> bytes:
    sink = io.BytesIO()
    decrypt_stream(io.BytesIO(ciphertext), sink, identities)
    return sink.getvalue()


def payload_start(ciphertext: bytes) -> int:
    """Offset of the first sealed chunk (after the header and the 16-byte nonce)."""
    return ciphertext.index(b"\n---") + len("\n--- ") + 43 + 1 + 16


def age_rejects(ciphertext: bytes, identity: Identity, tmp_path: Path) -> bool:
    assert AGE is not None
    key_file = tmp_path / "key.txt"
    key_file.write_text(identity_file_text(identity))
    done = subprocess.run([AGE, "-d", "-i", str(key_file)], input=ciphertext, capture_output=True)
    return done.returncode != 0


def expect_refusal(
    ciphertext: bytes,
    identity: Identity,
    tmp_path: Path,
    message: str,
    *,
    age_rejects_too: bool = True,
) -> DecryptError:
    with pytest.raises(DecryptError) as failure:
        open_sealed(ciphertext, [identity])
    assert message in str(failure.value)
    if AGE is not None and age_rejects_too:
        assert age_rejects(ciphertext, identity, tmp_path), "the age CLI accepted it"
    return failure.value


PLAINTEXT = random.Random(7).randbytes(4 * CHUNK + 1234)  # five chunks, the last one short


def test_intact_file_opens(identity: Identity) -> None:
    assert open_sealed(seal(PLAINTEXT, identity), [identity]) == PLAINTEXT


def test_wrong_key(identity: Identity, tmp_path: Path) -> None:
    ciphertext = seal(PLAINTEXT, identity)
    with pytest.raises(WrongKeyError, match="wrong key: none of the given identities"):
        open_sealed(ciphertext, [generate_identity(), generate_identity()])
    assert open_sealed(ciphertext, [generate_identity(), identity]) == PLAINTEXT


def test_tampered_header_mac(identity: Identity, tmp_path: Path) -> None:
    ciphertext = bytearray(seal(PLAINTEXT, identity))
    mac_at = ciphertext.index(b"\n--- ") + 6
    ciphertext[mac_at] = ord("A") if ciphertext[mac_at] != ord("A") else ord("B")
    expect_refusal(bytes(ciphertext), identity, tmp_path, "header authentication failed")


def test_header_changed_and_re_macked_without_the_key_fails(
    identity: Identity, tmp_path: Path
) -> None:
    # An attacker adds a stanza of their own; they cannot compute the MAC without the file key.
    ciphertext = seal(PLAINTEXT, identity)
    extra = b"-> grease-fake x\n" + b64encode(os.urandom(10)).encode() + b"\n"
    cut = ciphertext.index(b"---")
    expect_refusal(
        ciphertext[:cut] + extra + ciphertext[cut:], identity, tmp_path, "header authentication"
    )


def test_tampered_payload_names_the_chunk(identity: Identity, tmp_path: Path) -> None:
    ciphertext = bytearray(seal(PLAINTEXT, identity))
    ciphertext[payload_start(bytes(ciphertext)) + 2 * SEALED + 100] ^= 0x01
    expect_refusal(bytes(ciphertext), identity, tmp_path, "chunk 3 failed authentication")


def test_partial_plaintext_is_released_before_the_damage_is_found(identity: Identity) -> None:
    # Why restore tools must decrypt to a temporary file: chunk 1 reached the sink already.
    ciphertext = bytearray(seal(PLAINTEXT, identity))
    ciphertext[payload_start(bytes(ciphertext)) + SEALED + 5] ^= 0x80
    sink = io.BytesIO()
    with pytest.raises(DecryptError, match="chunk 2 failed"):
        decrypt_stream(io.BytesIO(bytes(ciphertext)), sink, [identity])
    assert sink.getvalue() == PLAINTEXT[:CHUNK]


@pytest.mark.parametrize("kept_chunks", [1, 2, 4])
def test_truncation_at_a_chunk_boundary(
    identity: Identity, tmp_path: Path, kept_chunks: int
) -> None:
    ciphertext = seal(PLAINTEXT, identity)
    cut = payload_start(ciphertext) + kept_chunks * SEALED
    error = expect_refusal(ciphertext[:cut], identity, tmp_path, "file is truncated")
    assert "damaged" not in str(error)


@pytest.mark.parametrize("cut_into_chunk", [1, 15, 16, 17, 5000, SEALED - 1])
def test_truncation_mid_chunk(identity: Identity, tmp_path: Path, cut_into_chunk: int) -> None:
    ciphertext = seal(PLAINTEXT, identity)
    cut = payload_start(ciphertext) + 2 * SEALED + cut_into_chunk
    expect_refusal(ciphertext[:cut], identity, tmp_path, "truncated")


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (0, "file is empty"),
        (10, "truncated (its header is incomplete)"),
        (60, "truncated (its header is incomplete)"),
        (-1, "file is truncated"),  # header complete, no nonce
        (-2, "file is truncated"),  # nonce, no chunk
    ],
)
def test_truncation_in_the_header_or_nonce(
    identity: Identity, tmp_path: Path, cut: int, message: str
) -> None:
    ciphertext = seal(PLAINTEXT, identity)
    header_end = ciphertext.index(b"\n---") + len("\n--- ") + 43 + 1
    length = {-1: header_end + 7, -2: header_end + 16}.get(cut, cut)
    with pytest.raises(DecryptError, match=message.replace("(", r"\(").replace(")", r"\)")):
        open_sealed(ciphertext[:length], [identity])
    if AGE is not None:
        assert age_rejects(ciphertext[:length], identity, tmp_path)


def test_appended_bytes_after_a_full_last_chunk(identity: Identity, tmp_path: Path) -> None:
    ciphertext = seal(PLAINTEXT[: 2 * CHUNK], identity)
    for extra in (b"\x00", os.urandom(100), os.urandom(SEALED)):
        expect_refusal(ciphertext + extra, identity, tmp_path, "bytes were appended")


def test_appended_bytes_after_a_short_last_chunk(identity: Identity, tmp_path: Path) -> None:
    ciphertext = seal(PLAINTEXT, identity)
    expect_refusal(ciphertext + b"\n", identity, tmp_path, "chunk 5, the last one, failed")


def test_not_an_age_file_and_armored_files(identity: Identity) -> None:
    for data, message in [
        (b"\xff\xd8\xff\xe0 a JPEG, not an age file", "not an age v1 file"),
        (b"age-encryption.org/v2\n-> X\n\n--- x\n", "not an age v1 file"),
        (b"-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n", "ASCII-armored"),
    ]:
        with pytest.raises(DecryptError, match=message):
            open_sealed(data, [identity])


# ---- hand-built headers: the rules a hostile or foreign file must meet ----------------------


def build(stanzas: list[Stanza], file_key: bytes, chunks: list[tuple[bytes, bool]]) -> bytes:
    """An age file with exactly these stanzas and payload chunks (plaintext, last flag)."""
    nonce = os.urandom(16)
    aead = ChaCha20Poly1305(payload_key(file_key, nonce))
    sealed = [
        aead.encrypt(chunk_nonce(index, last=last), data, None)
        for index, (data, last) in enumerate(chunks)
    ]
    return encode_header(stanzas, file_key) + nonce + b"".join(sealed)


def test_unknown_stanzas_are_ignored(identity: Identity, tmp_path: Path) -> None:
    file_key = os.urandom(16)
    grease = [
        Stanza("grease-7a", ("x", "!~"), os.urandom(48)),  # a 64-column body plus an empty line
        Stanza("m0n.k3y", (), b""),
    ]
    stanzas = [grease[0], identity.recipient.wrap(file_key), grease[1]]
    ciphertext = build(stanzas, file_key, [(b"hello, fake patient 0000", True)])
    assert b"\n\n" in ciphertext[: ciphertext.index(b"---")]
    assert open_sealed(ciphertext, [identity]) == b"hello, fake patient 0000"
    if AGE is not None:
        assert not age_rejects(ciphertext, identity, tmp_path)


def test_scrypt_stanza_must_be_alone(identity: Identity, tmp_path: Path) -> None:
    file_key = os.urandom(16)
    scrypt = Stanza("scrypt", (b64encode(os.urandom(16)), "10"), os.urandom(32))
    ciphertext = build([identity.recipient.wrap(file_key), scrypt], file_key, [(b"x", True)])
    # The age spec requires this; age 1.1.1 checks it only when decrypting with a passphrase.
    expect_refusal(
        ciphertext, identity, tmp_path, "passphrase stanza must be alone", age_rejects_too=False
    )


@pytest.mark.parametrize(
    ("stanza", "message"),
    [
        (Stanza("X25519", (b64encode(bytes(32)),), bytes(32)), "low-order point"),
        (Stanza("X25519", (b64encode(b"\x01" + bytes(31)),), bytes(32)), "low-order point"),
        (Stanza("X25519", (b64encode(os.urandom(32)),), os.urandom(31)), "not 32 bytes"),
        (Stanza("X25519", (b64encode(os.urandom(32)),), os.urandom(33)), "not 32 bytes"),
        (Stanza("X25519", (b64encode(os.urandom(31)),), os.urandom(32)), "bad ephemeral share"),
        (Stanza("X25519", ("a", "b"), os.urandom(32)), "wrong number of arguments"),
    ],
    ids=["zero-share", "order-1-share", "short-body", "long-body", "short-share", "two-args"],
)
def test_malformed_x25519_stanzas(
    identity: Identity, tmp_path: Path, stanza: Stanza, message: str
) -> None:
    file_key = os.urandom(16)
    ciphertext = build([stanza, identity.recipient.wrap(file_key)], file_key, [(b"x", True)])
    expect_refusal(ciphertext, identity, tmp_path, message)


def test_non_canonical_base64_in_the_header_is_refused(identity: Identity, tmp_path: Path) -> None:
    file_key = os.urandom(16)
    ciphertext = build([identity.recipient.wrap(file_key)], file_key, [(b"x", True)])
    share_at = ciphertext.index(b"-> X25519 ") + len(b"-> X25519 ") + 42
    last = ciphertext[share_at : share_at + 1]
    # 43 characters carry 258 bits for 256: change only the 2 unused bits of the last one.
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    twin = alphabet[alphabet.index(last) ^ 1 : (alphabet.index(last) ^ 1) + 1]
    broken = ciphertext[:share_at] + twin + ciphertext[share_at + 1 :]
    expect_refusal(broken, identity, tmp_path, "malformed")


def test_a_64_column_body_line_must_be_followed_by_a_shorter_one(identity: Identity) -> None:
    file_key = os.urandom(16)
    grease = Stanza("grease", (), os.urandom(48))
    ciphertext = build([grease, identity.recipient.wrap(file_key)], file_key, [(b"x", True)])
    broken = ciphertext.replace(b"\n\n->", b"\n->", 1)
    with pytest.raises(DecryptError, match="malformed"):
        open_sealed(broken, [identity])


def test_an_empty_final_chunk_after_data_is_refused(identity: Identity, tmp_path: Path) -> None:
    file_key = os.urandom(16)
    chunks = [(os.urandom(CHUNK), False), (b"", True)]
    ciphertext = build([identity.recipient.wrap(file_key)], file_key, chunks)
    expect_refusal(ciphertext, identity, tmp_path, "empty final chunk")


def test_a_header_without_stanzas_or_with_a_huge_size_is_refused(identity: Identity) -> None:
    with pytest.raises(DecryptError, match="no recipient stanzas"):
        open_sealed(b"age-encryption.org/v1\n--- " + b"A" * 43 + b"\n", [identity])
    endless = b"age-encryption.org/v1\n" + b"-> grease\n" + b"A" * 64 + b"\n"
    endless += (b"A" * 64 + b"\n") * 20_000
    with pytest.raises(DecryptError, match="too large"):
        open_sealed(endless, [identity])


def test_header_reader_hands_back_the_bytes_read_past_the_header(identity: Identity) -> None:
    ciphertext = seal(b"abc", identity)
    header, rest = read_header(io.BytesIO(ciphertext))
    assert len(header.stanzas) == 1 and header.stanzas[0].tag == "X25519"
    assert ciphertext.endswith(rest) and len(rest) == 16 + 3 + 16
