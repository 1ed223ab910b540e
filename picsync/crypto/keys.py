"""Pure: age key text — recipients (``age1...``), identities (``AGE-SECRET-KEY-1...``) and files.

The station must hold public recipients only, so recipient parsing refuses anything that looks
like a secret key, and refuses recipient types the records office's age 1.1.1 cannot decrypt.
No message ever repeats the text it was given: a mistyped secret key must not reach a log.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from picsync.crypto import bech32
from picsync.crypto.errors import KeyFormatError
from picsync.crypto.x25519 import IDENTITY_HRP, KEY_SIZE, RECIPIENT_HRP, Identity, Recipient

SECRET_KEY_MARKER = "AGE-SECRET-KEY-"  # noqa: S105 (a marker to detect, not a secret)
_USE_X25519 = "use an age X25519 recipient (age1..., as printed by `age-keygen -y`)"
_PLUGIN_NAME = re.compile(r"[a-z0-9][a-z0-9+._-]{0,31}")
_SSH_PREFIXES = ("ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-")
_COPY_AGAIN = "copy the whole age1... recipient again from `age-keygen -y`"


def contains_identity(text: str) -> bool:
    """True if ``text`` contains an age secret key anywhere (any case), e.g. in a config file."""
    return SECRET_KEY_MARKER.lower() in text.lower()


def parse_recipient(text: str) -> Recipient:
    """Parse one ``age1...`` X25519 recipient; raise KeyFormatError saying what to do instead."""
    candidate = text.strip()
    if contains_identity(candidate):
        raise KeyFormatError(
            "this is a secret key (AGE-SECRET-KEY-...), not a public recipient: the station must "
            "only hold public keys. Remove it from this machine and use the recipient printed "
            "by `age-keygen -y` instead"
        )
    if not candidate:
        raise KeyFormatError(f"empty recipient; {_USE_X25519}")
    if candidate.startswith(_SSH_PREFIXES):
        raise KeyFormatError(f"SSH keys are not supported as recipients; {_USE_X25519}")
    lowered = candidate.lower()
    hrp = lowered[: lowered.rfind("1")] if "1" in lowered else ""
    if hrp.startswith(RECIPIENT_HRP + "1"):
        raise KeyFormatError(_unsupported_type(hrp[len(RECIPIENT_HRP) + 1 :]))
    if hrp != RECIPIENT_HRP:
        raise KeyFormatError(f"not an age recipient; {_USE_X25519}")
    try:
        decoded_hrp, key = bech32.decode(candidate)
    except KeyFormatError as exc:
        raise KeyFormatError(f"recipient is not valid: {exc}; {_COPY_AGAIN}") from None
    if decoded_hrp != RECIPIENT_HRP:
        raise KeyFormatError(f"recipient must be written in lowercase; {_COPY_AGAIN}")
    if len(key) != KEY_SIZE:
        raise KeyFormatError(f"recipient has the wrong length; {_COPY_AGAIN}")
    return Recipient(key)


def _unsupported_type(kind: str) -> str:
    if kind == "pq":
        return (
            "post-quantum recipients (age1pq1...) are not supported yet: the records office's "
            f"age 1.1.1 cannot decrypt them; {_USE_X25519}"
        )
    if kind in ("tag", "tagpq"):
        return (
            "hardware-token recipients (age1tag1..., age1tagpq1...) are not supported: the "
            f"records office's age 1.1.1 cannot decrypt them; {_USE_X25519}"
        )
    plugin = f" age-plugin-{kind}" if _PLUGIN_NAME.fullmatch(kind) else ""
    return (
        f"plugin recipients (for{plugin or ' an age plugin'}) are not supported: decrypting "
        f"would depend on the plugin being installed; {_USE_X25519}"
    )


def parse_recipients_file(text: str) -> list[Recipient]:
    """Parse age's ``-R`` format: one recipient per line, ``#`` comments and blank lines.

    Every problem is reported with its line number. A secret key anywhere, even in a comment,
    refuses the whole file. A repeated recipient is an error: it would count twice towards the
    minimum number of recipients without adding a reader.
    """
    recipients: list[Recipient] = []
    first_seen: dict[Recipient, int] = {}
    problems: list[str] = []
    for number, raw_line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        line = raw_line.strip()
        if contains_identity(line):
            problems.append(
                f"line {number}: a secret key (AGE-SECRET-KEY-...) is in the recipients file; "
                "the station must only hold public keys. Remove it from this machine and use "
                "the recipient printed by `age-keygen -y`"
            )
            continue
        if not line or line.startswith("#"):
            continue
        try:
            recipient = parse_recipient(line)
        except KeyFormatError as exc:
            problems.append(f"line {number}: {exc}")
            continue
        if recipient in first_seen:
            problems.append(
                f"line {number}: duplicate recipient (same as line {first_seen[recipient]})"
            )
            continue
        first_seen[recipient] = number
        recipients.append(recipient)
    if not problems and not recipients:
        problems.append("no recipients: the file holds no age1... line")
    if problems:
        raise KeyFormatError("; ".join(problems))
    return recipients


def key_epoch(recipients: Iterable[Recipient]) -> str:
    """A short stable fingerprint of a recipient list (order and repeats do not matter).

    The first 12 hex digits of SHA-256 over the sorted recipient strings, one per line; logged
    and stored with every sealed object so the office knows which identities open it.
    """
    names = sorted({recipient.to_string() for recipient in recipients})
    if not names:
        raise ValueError("a key epoch needs at least one recipient")
    return hashlib.sha256("\n".join(names).encode("ascii")).hexdigest()[:12]


def parse_identity(text: str) -> Identity:
    """Parse one ``AGE-SECRET-KEY-1...`` identity; errors never repeat the key."""
    candidate = text.strip()
    try:
        hrp, key = bech32.decode(candidate)
    except KeyFormatError as exc:
        raise KeyFormatError(f"identity is not valid: {exc}") from None
    if hrp.lower() != IDENTITY_HRP:
        raise KeyFormatError("not an age X25519 identity (AGE-SECRET-KEY-1...)")
    if len(key) != KEY_SIZE:
        raise KeyFormatError("identity has the wrong length (a part is missing or extra)")
    return Identity(key)


def parse_identities(text: str) -> list[Identity]:
    """Parse an age identity file: one key per line, ``#`` comments and blank lines allowed."""
    identities: list[Identity] = []
    problems: list[str] = []
    for number, raw_line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(parse_identity(line))
        except KeyFormatError as exc:
            problems.append(f"line {number}: {exc}")
    if not problems and not identities:
        problems.append("no identities: the file holds no AGE-SECRET-KEY-1... line")
    if problems:
        raise KeyFormatError("; ".join(problems))
    return identities


def identity_file_text(identity: Identity, *, created: datetime | None = None) -> str:
    """An identity file exactly as ``age-keygen`` writes it (creation time, public key, key)."""
    moment = (created or datetime.now()).astimezone().replace(microsecond=0)
    stamp = moment.isoformat()
    if moment.utcoffset() == timedelta(0):
        stamp = stamp.removesuffix("+00:00") + "Z"  # Go's RFC 3339 form, as age-keygen prints
    return (
        f"# created: {stamp}\n"
        f"# public key: {identity.recipient.to_string()}\n"
        f"{identity.to_string()}\n"
    )
