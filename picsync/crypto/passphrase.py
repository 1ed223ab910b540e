"""Pure apart from the CSPRNG: passphrase-protected age files, as ``age -p`` reads and writes them.

The records office keeps every identity in such a file (``age -p -o id.age id.txt``, or
``picsync keygen --passphrase``); ``load_identity_file`` opens either form.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from picsync.crypto.errors import KeyFormatError
from picsync.crypto.header import ARMOR_INTRO, INTRO
from picsync.crypto.keys import parse_identities
from picsync.crypto.reader import decrypt_stream
from picsync.crypto.scrypt import (
    DEFAULT_WORK_FACTOR_LOG2,
    MAX_WORK_FACTOR_LOG2,
    ScryptIdentity,
    ScryptRecipient,
)
from picsync.crypto.writer import AgeEncryptor
from picsync.crypto.x25519 import Identity


def encrypt_with_passphrase(
    plaintext: bytes, passphrase: str, work_factor_log2: int = DEFAULT_WORK_FACTOR_LOG2
) -> bytes:
    """An age file of ``plaintext`` that opens with ``passphrase`` (scrypt, N = 2^work factor)."""
    sink = io.BytesIO()
    with AgeEncryptor(sink, [ScryptRecipient(passphrase, work_factor_log2)]) as encryptor:
        encryptor.write(plaintext)
    return sink.getvalue()


def decrypt_with_passphrase(
    data: bytes, passphrase: str, *, max_work_factor_log2: int = MAX_WORK_FACTOR_LOG2
) -> bytes:
    """The plaintext of a passphrase-protected age file; raises DecryptError."""
    sink = io.BytesIO()
    decrypt_stream(io.BytesIO(data), sink, [ScryptIdentity(passphrase, max_work_factor_log2)])
    return sink.getvalue()


def load_identity_file(data: bytes, passphrase_prompt: Callable[[], str] | None) -> list[Identity]:
    """The identities in a plain or passphrase-protected identity file.

    A protected file is recognised by its age header; ``passphrase_prompt`` is then called once.
    Raises KeyFormatError for an unusable file and DecryptError for a wrong passphrase.
    """
    if data.lstrip().startswith(ARMOR_INTRO):
        raise KeyFormatError(
            "identity file is ASCII-armored; protect it with `age -p` without `-a` instead"
        )
    if data.startswith(INTRO):
        if passphrase_prompt is None:
            raise KeyFormatError("identity file is protected by a passphrase; none was given")
        data = decrypt_with_passphrase(data, passphrase_prompt())
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyFormatError(
            "identity file is not text (nor a passphrase-protected age file)"
        ) from None
    return parse_identities(text)
