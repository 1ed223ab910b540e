"""Pure apart from the CSPRNG: age's scrypt (passphrase) stanza, used to protect identity files.

The wrap key is scrypt(passphrase, salt="age-encryption.org/v1/scrypt" || 16 random bytes,
N=2^logN, r=8, p=1). A file with an scrypt stanza must have no other stanza. Readers cap log N,
because a hostile file could otherwise demand gigabytes of memory and minutes of CPU.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from picsync.crypto.errors import DecryptError
from picsync.crypto.header import Stanza
from picsync.crypto.primitives import (
    WRAPPED_FILE_KEY_SIZE,
    b64decode_canonical,
    b64encode,
    unwrap_file_key,
    wrap_file_key,
)

STANZA_TAG = "scrypt"
DEFAULT_WORK_FACTOR_LOG2 = 18  # what age 1.1.1 writes: about 1 s and 256 MiB here
MAX_WORK_FACTOR_LOG2 = 22  # the reference age's cap when reading (4 GiB of memory)
_LABEL = b"age-encryption.org/v1/scrypt"
_SALT_SIZE = 16
_DECIMAL = re.compile(r"[1-9][0-9]*")


def _wrap_key(passphrase: str, salt: bytes, work_factor_log2: int) -> bytes:
    kdf = Scrypt(salt=_LABEL + salt, length=32, n=1 << work_factor_log2, r=8, p=1)
    return kdf.derive(passphrase.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class ScryptRecipient:
    """Encrypts a file key to a passphrase."""

    passphrase: str = field(repr=False)
    work_factor_log2: int = DEFAULT_WORK_FACTOR_LOG2

    def __post_init__(self) -> None:
        if not self.passphrase:
            raise ValueError("the passphrase must not be empty")
        if not 1 <= self.work_factor_log2 <= MAX_WORK_FACTOR_LOG2:
            raise ValueError(f"scrypt work factor must be 1..{MAX_WORK_FACTOR_LOG2} (log2)")

    def wrap(self, file_key: bytes) -> Stanza:
        salt = os.urandom(_SALT_SIZE)
        wrap_key = _wrap_key(self.passphrase, salt, self.work_factor_log2)
        args = (b64encode(salt), str(self.work_factor_log2))
        return Stanza(STANZA_TAG, args, wrap_file_key(wrap_key, file_key))


@dataclass(frozen=True, slots=True)
class ScryptIdentity:
    """Decrypts a file key protected by a passphrase, refusing work factors above the cap."""

    passphrase: str = field(repr=False)
    max_work_factor_log2: int = MAX_WORK_FACTOR_LOG2

    def unwrap(self, stanza: Stanza) -> bytes | None:
        if stanza.tag != STANZA_TAG:
            return None
        if len(stanza.args) != 2:
            raise _bad_stanza("wrong number of arguments")
        salt = b64decode_canonical(stanza.args[0])
        if salt is None or len(salt) != _SALT_SIZE:
            raise _bad_stanza("bad salt")
        if not _DECIMAL.fullmatch(stanza.args[1]):
            raise _bad_stanza("bad work factor")
        work_factor_log2 = int(stanza.args[1])
        if work_factor_log2 > self.max_work_factor_log2:
            raise DecryptError(
                f"passphrase work factor 2^{work_factor_log2} is above the allowed "
                f"2^{self.max_work_factor_log2}; refusing to spend that much memory and time"
            )
        if len(stanza.body) != WRAPPED_FILE_KEY_SIZE:
            raise _bad_stanza("body is not 32 bytes")
        return unwrap_file_key(_wrap_key(self.passphrase, salt, work_factor_log2), stanza.body)


def _bad_stanza(what: str) -> DecryptError:
    return DecryptError(f"file is damaged: its header is malformed (scrypt stanza: {what})")
