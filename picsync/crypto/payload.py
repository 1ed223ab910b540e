"""Pure: the age v1 payload layout (STREAM) shared by the writer and the reader, and its sizes.

After the header comes a 16-byte random nonce, then the plaintext in 64 KiB chunks, each
sealed with ChaCha20-Poly1305 under HKDF(file_key, salt=nonce, info="payload"). Chunk i uses the
nonce i (11 bytes, big-endian) followed by 0x01 for the last chunk and 0x00 for all others, so
that dropping or reordering chunks, or cutting the file at a chunk boundary, is detected. Only
the payload of an empty file has an empty (final) chunk.
"""

from __future__ import annotations

from picsync.crypto.header import INTRO
from picsync.crypto.primitives import hkdf_sha256

CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
SEALED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE
PAYLOAD_NONCE_SIZE = 16
_COUNTER_LIMIT = 1 << 88  # an 11-byte counter; unreachable in practice (2^104 bytes)

# One X25519 stanza is "-> X25519 " + 43 base64 characters + "\n" and one 43-character body line.
_X25519_STANZA_SIZE = len("-> X25519 ") + 43 + 1 + 43 + 1
_MAC_LINE_SIZE = len("--- ") + 43 + 1


def payload_key(file_key: bytes, payload_nonce: bytes) -> bytes:
    return hkdf_sha256(file_key, payload_nonce, b"payload")


def chunk_nonce(counter: int, *, last: bool) -> bytes:
    """The 12-byte nonce of chunk ``counter`` (0-based)."""
    if counter >= _COUNTER_LIMIT:
        raise OverflowError("age STREAM chunk counter exhausted")
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def chunk_count(plaintext_size: int) -> int:
    """How many chunks a plaintext of this size becomes: at least one, even when empty."""
    return max(1, -(-plaintext_size // CHUNK_SIZE))


def sealed_size(plaintext_size: int, header_size: int) -> int:
    """The exact size of an age file: header + nonce + plaintext + one tag per chunk."""
    if plaintext_size < 0 or header_size < 0:
        raise ValueError("sizes cannot be negative")
    return (
        header_size + PAYLOAD_NONCE_SIZE + plaintext_size + TAG_SIZE * chunk_count(plaintext_size)
    )


def x25519_header_size(recipient_count: int) -> int:
    """The exact header size picsync writes for this many X25519 recipients."""
    if recipient_count < 1:
        raise ValueError("an age header has at least one recipient")
    return len(INTRO) + _X25519_STANZA_SIZE * recipient_count + _MAC_LINE_SIZE
