"""Pure apart from the CSPRNG: picsync's age v1 (age-encryption.org/v1) encryption layer.

Built on ``cryptography`` only. The station encrypts to X25519 recipients (public keys) and
never holds an identity; decryption and passphrase handling serve the records office's tools,
``picsync keygen``/``decrypt`` and the tests. Files interoperate with the ``age`` CLI, rage and
pyrage in both directions.

    parse_recipients_file(text) -> [Recipient]     key_epoch(recipients) -> "3f9a0c..."
    with AgeEncryptor(spool_file, recipients) as sealed: sealed.write(chunk)
    decrypt_stream(source, destination, identities)  # into a temp file, rename on success
"""

from picsync.crypto.errors import DecryptError, KeyFormatError
from picsync.crypto.keys import (
    contains_identity,
    identity_file_text,
    key_epoch,
    parse_identities,
    parse_identity,
    parse_recipient,
    parse_recipients_file,
)
from picsync.crypto.passphrase import (
    decrypt_with_passphrase,
    encrypt_with_passphrase,
    load_identity_file,
)
from picsync.crypto.payload import CHUNK_SIZE, chunk_count, sealed_size, x25519_header_size
from picsync.crypto.reader import DecryptingReader, WrongKeyError, decrypt_stream, iter_plaintext
from picsync.crypto.writer import AgeEncryptor, encrypt_stream
from picsync.crypto.x25519 import Identity, Recipient, generate_identity

__all__ = [
    "CHUNK_SIZE",
    "AgeEncryptor",
    "DecryptError",
    "DecryptingReader",
    "Identity",
    "KeyFormatError",
    "Recipient",
    "WrongKeyError",
    "chunk_count",
    "contains_identity",
    "decrypt_stream",
    "decrypt_with_passphrase",
    "encrypt_stream",
    "encrypt_with_passphrase",
    "generate_identity",
    "identity_file_text",
    "iter_plaintext",
    "key_epoch",
    "load_identity_file",
    "parse_identities",
    "parse_identity",
    "parse_recipient",
    "parse_recipients_file",
    "sealed_size",
    "x25519_header_size",
]
