"""Pure apart from the CSPRNG: age X25519 recipients, identities and their stanzas.

A recipient wraps a file key for one reader: a fresh ephemeral key per stanza, HKDF over the
shared secret, ChaCha20-Poly1305 over the 16-byte file key. An identity unwraps it again. The
station only ever holds recipients; identities exist here for the records office's tools and
for tests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from picsync.crypto import bech32
from picsync.crypto.errors import DecryptError
from picsync.crypto.header import Stanza
from picsync.crypto.primitives import (
    WRAPPED_FILE_KEY_SIZE,
    b64decode_canonical,
    b64encode,
    hkdf_sha256,
    unwrap_file_key,
    wrap_file_key,
)

RECIPIENT_HRP = "age"
IDENTITY_HRP = "age-secret-key-"
STANZA_TAG = "X25519"
_LABEL = b"age-encryption.org/v1/X25519"
KEY_SIZE = 32


@dataclass(frozen=True, slots=True)
class Recipient:
    """An age X25519 public key (``age1...``). Safe to log: it can only encrypt."""

    public_key: bytes

    def __post_init__(self) -> None:
        if len(self.public_key) != KEY_SIZE:
            raise ValueError("an X25519 public key is 32 bytes")

    def __str__(self) -> str:
        return self.to_string()

    def to_string(self) -> str:
        return bech32.encode(RECIPIENT_HRP, self.public_key)

    def wrap(self, file_key: bytes) -> Stanza:
        """A stanza that lets this recipient's identity, and only it, recover ``file_key``."""
        ephemeral = X25519PrivateKey.from_private_bytes(os.urandom(KEY_SIZE))
        share = ephemeral.public_key().public_bytes_raw()
        shared_secret = ephemeral.exchange(X25519PublicKey.from_public_bytes(self.public_key))
        wrap_key = hkdf_sha256(shared_secret, share + self.public_key, _LABEL)
        return Stanza(STANZA_TAG, (b64encode(share),), wrap_file_key(wrap_key, file_key))


@dataclass(frozen=True, slots=True)
class Identity:
    """An age X25519 secret key (``AGE-SECRET-KEY-1...``). Never logged: repr hides the key."""

    secret_key: bytes = field(repr=False)
    recipient: Recipient = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.secret_key) != KEY_SIZE:
            raise ValueError("an X25519 secret key is 32 bytes")
        private = X25519PrivateKey.from_private_bytes(self.secret_key)
        object.__setattr__(self, "recipient", Recipient(private.public_key().public_bytes_raw()))

    def to_string(self) -> str:
        return bech32.encode(IDENTITY_HRP, self.secret_key, uppercase=True)

    def unwrap(self, stanza: Stanza) -> bytes | None:
        """The file key if ``stanza`` was made for this identity, else None.

        A malformed X25519 stanza is an error, not a mismatch, as in the reference age.
        """
        if stanza.tag != STANZA_TAG:
            return None
        if len(stanza.args) != 1:
            raise _bad_stanza("wrong number of arguments")
        share = b64decode_canonical(stanza.args[0])
        if share is None or len(share) != KEY_SIZE:
            raise _bad_stanza("bad ephemeral share")
        if len(stanza.body) != WRAPPED_FILE_KEY_SIZE:
            raise _bad_stanza("body is not 32 bytes")
        private = X25519PrivateKey.from_private_bytes(self.secret_key)
        try:
            shared_secret = private.exchange(X25519PublicKey.from_public_bytes(share))
        except ValueError:
            # An all-zero shared secret: the share is a low-order point, which age rejects.
            raise _bad_stanza("ephemeral share is a low-order point") from None
        wrap_key = hkdf_sha256(shared_secret, share + self.recipient.public_key, _LABEL)
        return unwrap_file_key(wrap_key, stanza.body)


def generate_identity() -> Identity:
    """A new identity from the operating system's CSPRNG."""
    return Identity(os.urandom(KEY_SIZE))


def _bad_stanza(what: str) -> DecryptError:
    return DecryptError(f"file is damaged: its header is malformed (X25519 stanza: {what})")
