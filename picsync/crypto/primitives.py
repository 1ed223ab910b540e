"""Pure: the small cryptographic pieces age v1 is built from (base64, HKDF, key wrapping).

Everything here follows age-encryption.org/v1 (C2SP): HKDF-SHA-256 with 32-byte output,
ChaCha20-Poly1305 with an all-zero nonce to wrap the 16-byte file key, and the standard base64
alphabet without padding, which must be canonical when read.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FILE_KEY_SIZE = 16
WRAPPED_FILE_KEY_SIZE = FILE_KEY_SIZE + 16  # the key plus its Poly1305 tag
_ZERO_NONCE = bytes(12)


def b64encode(data: bytes) -> str:
    """Standard base64 without padding, as every age header field is written."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def b64decode_canonical(text: str | bytes) -> bytes | None:
    """Decode unpadded base64, or None unless ``text`` is exactly how b64encode writes it.

    Canonical means: standard alphabet, no padding, no whitespace, and zero unused bits, so that
    one value has exactly one encoding and the header MAC cannot be sidestepped.
    """
    raw = text.encode("ascii", "replace") if isinstance(text, str) else bytes(text)
    if len(raw) % 4 == 1 or b"=" in raw:
        return None
    try:
        decoded = base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(decoded).rstrip(b"=") != raw:
        return None
    return decoded


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    """HKDF-SHA-256 with a 32-byte output."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def wrap_file_key(wrap_key: bytes, file_key: bytes) -> bytes:
    """Encrypt the file key for one stanza body (key and nonce are never reused: fresh wrap_key)."""
    return ChaCha20Poly1305(wrap_key).encrypt(_ZERO_NONCE, file_key, None)


def unwrap_file_key(wrap_key: bytes, body: bytes) -> bytes | None:
    """The file key from a stanza body, or None if ``wrap_key`` does not open it."""
    try:
        return ChaCha20Poly1305(wrap_key).decrypt(_ZERO_NONCE, body, None)
    except InvalidTag:
        return None
