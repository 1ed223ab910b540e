"""Pure: the errors of picsync's age layer.

Messages say what is wrong and what to do, and never contain a key, a passphrase, a file name or
any byte of the file: they end up in logs and on the operator's screen.
"""

from __future__ import annotations

from picsync.errors import PicsyncError


class KeyFormatError(PicsyncError, ValueError):
    """A recipient, identity or key file cannot be used as it is.

    Also a ValueError so that configuration validators (pydantic) report it as a field error.
    """


class DecryptError(PicsyncError):
    """An age file cannot be decrypted: wrong key, damaged, truncated or not an age file.

    Bytes already written to the destination before this was raised must be discarded: the
    caller decrypts into a temporary file and renames it only when decryption succeeded.
    """
