"""Pure: names that leave the machine, and keyed hashes that stand in for local paths.

Remote names come only from the template fields DESIGN.md allows. The id is 128 random bits:
a ULID would carry its creation time to the millisecond, and on a camera station the time a file
is spooled is its capture time, which must not reach the cloud (specs/deid.md rule 6).
"""

from __future__ import annotations

import base64
import hmac
import os
from collections.abc import Callable
from datetime import datetime

from picsync.formats import Format

EXTENSIONS: dict[Format, str] = {
    Format.JPEG: ".jpg",
    Format.PNG: ".png",
    Format.TIFF: ".tif",
    Format.HEIF: ".heic",
    Format.PDF: ".pdf",
    Format.DICOM: ".dcm",
}


def new_remote_id(random_bytes: Callable[[int], bytes] = os.urandom) -> str:
    """26 lowercase base32 characters of fresh randomness, fixed once per file at spool time."""
    return base64.b32encode(random_bytes(16)).decode("ascii").rstrip("=").lower()


def extension_for(fmt: Format) -> str:
    """The extension a remote object gets, from the sniffed format (never from the source name)."""
    return EXTENSIONS.get(fmt, "")


def render_remote_base(
    template: str,
    *,
    station: str,
    source: str,
    remote_id: str,
    when: datetime,
    patient: str = "unassigned",
) -> str:
    """Fill a validated template; the result is the remote path without its suffix."""
    return template.format(
        station=station,
        source=source,
        patient=patient,
        id=remote_id,
        yyyy=f"{when.year:04d}",
        mm=f"{when.month:02d}",
        dd=f"{when.day:02d}",
    )


def path_key(key: bytes, source: str, rel_path: str) -> str:
    """A keyed hash of a source path: lets the ledger recognise a path without storing it."""
    message = f"{source}\0{rel_path}".encode("utf-8", "surrogateescape")
    # The one-shot form: the same HMAC-SHA256 without building an HMAC object (a catch-up scan
    # computes one per file).
    return hmac.digest(key, message, "sha256").hex()[:32]


def short_hash(path_key_value: str) -> str:
    """The part of a path key that logs show: enough to correlate lines, useless to guess names."""
    return path_key_value[:10]
