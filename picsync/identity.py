"""Pure: who a file belongs to, read from its path (and its DICOM header), and the pseudonym
that may stand for that patient in remote names.

The identifiers themselves go only into the sealed manifest. ``{patient}`` in a remote-name
template is a keyed HMAC of the patient identifier: the same patient gets the same folder, and
nobody without the clinic's key can tell who it is or test a guess.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping

UNASSIGNED = "unassigned"
DICOM_PATIENT_ID = "patient_id"  # the key the DICOM scrubber reports PatientID under


def compile_rule(pattern: str) -> re.Pattern[str]:
    """A source's identity rule; it must name at least one group, e.g. ``(?P<mrn>\\d{6,10})``."""
    rule = re.compile(pattern)
    if not rule.groupindex:
        raise ValueError("identity_pattern needs a named group, e.g. ^(?P<mrn>\\d{6,10})/")
    return rule


def identifiers_from_path(rule: re.Pattern[str] | None, rel_path: str) -> dict[str, str]:
    """The named groups the rule finds at the start of the relative path (posix separators)."""
    if rule is None:
        return {}
    match = rule.search(rel_path)
    if match is None:
        return {}
    return {name: value for name, value in match.groupdict().items() if value}


def patient_identifier(rule: re.Pattern[str] | None, identifiers: Mapping[str, str]) -> str | None:
    """The value the pseudonym is made from: the group named ``patient``, else the rule's first
    named group, else DICOM's PatientID."""
    if rule is not None:
        names = sorted(rule.groupindex, key=rule.groupindex.__getitem__)
        for name in ("patient", *names):
            if identifiers.get(name):
                return identifiers[name]
    return identifiers.get(DICOM_PATIENT_ID) or None


def pseudonym(key: bytes, identifier: str | None) -> str:
    """``p`` + 16 base32 characters of HMAC-SHA256(key, identifier); stable for a patient."""
    if not identifier:
        return UNASSIGNED
    mac = hmac.new(key, b"picsync patient\0" + identifier.strip().encode(), hashlib.sha256)
    return "p" + base64.b32encode(mac.digest()[:10]).decode("ascii").lower()
