"""The records office's recipients: read, checked, and never mixed up with an identity.

The station holds public age recipients only. A configuration or recipients file that contains
an identity (``AGE-SECRET-KEY-``) is refused outright: whoever holds it can read every photo.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from picsync.config.models import Settings
from picsync.config.yamlmap import KeyPath
from picsync.crypto import (
    KeyFormatError,
    Recipient,
    contains_identity,
    key_epoch,
    parse_recipient,
    parse_recipients_file,
)
from picsync.errors import describe_os_error

RECOMMENDED_RECIPIENTS = 2


@dataclass(slots=True)
class Recipients:
    recipients: list[Recipient] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def epoch(self) -> str:
        return key_epoch(self.recipients)


def identity_lines(text: str) -> list[int]:
    """Line numbers (1-based) of ``text`` that hold an age secret key."""
    return [number for number, line in enumerate(text.splitlines(), 1) if contains_identity(line)]


IDENTITY_HERE = (
    "holds an age secret key (AGE-SECRET-KEY-...): the station must hold only public "
    "recipients (age1...). Remove it from this machine; keep it at the records office"
)


def read_recipients(settings: Settings, at: Callable[[KeyPath, str], str]) -> Recipients:
    """Parse inline and file recipients; ``at(key, message)`` formats a problem for a key."""
    result = Recipients()
    keys = settings.keys
    for index, text in enumerate(keys.recipients):
        try:
            result.recipients.append(parse_recipient(text))
        except KeyFormatError as exc:
            result.problems.append(at(("keys", "recipients", index), str(exc)))
    if keys.recipients_file is not None:
        where: KeyPath = ("keys", "recipients_file")
        try:
            text = keys.recipients_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            detail = describe_os_error(exc) if isinstance(exc, OSError) else "not UTF-8 text"
            result.problems.append(at(where, f"cannot read the recipients file: {detail}"))
        else:
            lines = identity_lines(text)
            if lines:
                result.problems.append(at(where, f"the file's line {lines[0]} {IDENTITY_HERE}"))
            else:
                try:
                    result.recipients.extend(parse_recipients_file(text))
                except KeyFormatError as exc:
                    result.problems.append(at(where, str(exc)))
    if result.problems:
        return result
    seen: set[bytes] = set()
    for recipient in result.recipients:
        if recipient.to_string().encode() in seen:
            result.problems.append(at(("keys",), "the same recipient is listed twice"))
            return result
        seen.add(recipient.to_string().encode())
    if not result.recipients:
        result.problems.append(
            at(
                ("keys", "recipients"),
                "no age recipient: every file and manifest is encrypted to the records office's "
                "public keys; add one (`picsync keygen` at the records office prints it)",
            )
        )
    elif len(result.recipients) < RECOMMENDED_RECIPIENTS:
        result.warnings.append(
            f"only {len(result.recipients)} age recipient is set; add an escrow key kept offline "
            "so that losing one identity does not lose the photos"
        )
    return result
