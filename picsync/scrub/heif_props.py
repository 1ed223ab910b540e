"""Pure: keep the HEIF item properties a decoder needs, each rebuilt to its exact size. Stdlib only.

deid.md §2.2 and rules 3-4: the coding configuration (``hvcC``, ``av1C``), geometry (``ispe``,
``pasp``, ``clap``), orientation (``irot``, ``imir``), pixel layout (``pixi``), alpha description
(``auxC``), AV1 layer selection and HDR display data survive; ``colr`` keeps ``nclx`` as is and
an ICC profile only after ``icc.sanitise_icc``. Fixed-size properties are cut to the bytes their
definition has, so nothing can hide after the fields a reader looks at; ``hvcC`` keeps only its
parameter sets (VPS, SPS, PPS), dropping SEI arrays, which a decoder does not need. Every other
property (user descriptions, creation times, vendor ``uuid`` boxes, anything unknown) is dropped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from picsync.errors import RefusedError
from picsync.scrub.heif_meta import Property
from picsync.scrub.icc import sanitise_icc
from picsync.scrub.isobmff import box
from picsync.scrub.verify import text_needles

__all__ = ["ALPHA_AUX_TYPES", "CleanProperty", "KEPT_PROPERTIES", "aux_type", "clean_property"]

ALPHA_AUX_TYPES = frozenset(
    {b"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha", b"urn:mpeg:hevc:2015:auxid:1"}
)

# Property type -> the exact payload size a reader uses (None: variable, checked otherwise).
_FIXED_SIZES: dict[bytes, int] = {
    b"ispe": 4 + 8,  # full box header, width, height
    b"clap": 32,  # four rationals
    b"pasp": 8,
    b"clli": 4,
    b"mdcv": 24,
    b"amve": 8,
    b"a1op": 1,
    b"lsel": 2,
}
_VERBATIM = frozenset({b"av1C", b"auxC", b"a1lx", b"cclv"})  # variable; meta is verified whole
KEPT_PROPERTIES = frozenset(
    {*_FIXED_SIZES, *_VERBATIM, b"hvcC", b"irot", b"imir", b"pixi", b"colr"}
)
_DROPPED_NAMES = {
    b"udes": "user description property",
    b"altt": "accessibility text property",
    b"crtt": "creation time property",
    b"mdft": "modification time property",
    b"uuid": "vendor (uuid) property",
    b"free": "free space in properties",
}
_HEVC_PARAMETER_SETS = frozenset({32, 33, 34})  # VPS, SPS, PPS NAL unit types


@dataclass(frozen=True, slots=True)
class CleanProperty:
    """A property as it will be written (``box`` is None when dropped), and what it cost."""

    box: bytes | None
    removed: tuple[str, ...] = ()
    needles: frozenset[bytes] = frozenset()


def clean_property(prop: Property) -> CleanProperty:
    """The allowlisted, exact-size form of one property, or a note that it was dropped."""
    payload = prop.payload
    if prop.type in _FIXED_SIZES:
        return CleanProperty(box(prop.type, _exact(prop.type, payload, _FIXED_SIZES[prop.type])))
    if prop.type in _VERBATIM:
        return CleanProperty(box(prop.type, payload))
    if prop.type == b"irot":
        # Two bits of angle; the six reserved bits above them must be zero.
        return CleanProperty(box(b"irot", bytes([_exact(b"irot", payload, 1)[0] & 0x03])))
    if prop.type == b"imir":
        return CleanProperty(box(b"imir", bytes([_exact(b"imir", payload, 1)[0] & 0x01])))
    if prop.type == b"pixi":
        return CleanProperty(box(b"pixi", _pixi(payload)))
    if prop.type == b"hvcC":
        return _hvcc(payload)
    if prop.type == b"colr":
        return _colr(payload)
    name = _DROPPED_NAMES.get(prop.type, "unknown item property")
    return CleanProperty(None, (name,), frozenset(text_needles(payload)))


def aux_type(prop: Property) -> bytes | None:
    """The URN an ``auxC`` property gives (what an auxiliary image is: alpha, depth...)."""
    if prop.type != b"auxC" or len(prop.payload) < 4:
        return None
    return prop.payload[4:].split(b"\x00", 1)[0]


def _exact(kind: bytes, payload: bytes, size: int) -> bytes:
    if len(payload) < size:
        raise RefusedError(f"HEIF {kind.decode('ascii')} property is too short")
    return payload[:size]


def _pixi(payload: bytes) -> bytes:
    """Version 0: channel count, then bits per channel. A later version is kept as it is (the
    meta box it ends up in is verified whole) rather than refusing a photo for it."""
    if len(payload) < 5:
        raise RefusedError("HEIF pixi property is malformed")
    return _exact(b"pixi", payload, 5 + payload[4]) if payload[0] == 0 else payload


def _hvcc(payload: bytes) -> CleanProperty:
    """``hvcC`` with its 22-byte header and only the parameter-set NAL arrays."""
    if len(payload) < 23:
        raise RefusedError("HEIF hvcC property is too short")
    pos = 23
    kept: list[bytes] = []
    dropped: list[bytes] = []
    for _ in range(payload[22]):
        start = pos
        if pos + 3 > len(payload):
            raise RefusedError("HEIF hvcC property is truncated")
        nal_type = payload[pos] & 0x3F
        count = struct.unpack_from(">H", payload, pos + 1)[0]
        pos += 3
        for _ in range(count):
            if pos + 2 > len(payload):
                raise RefusedError("HEIF hvcC property is truncated")
            pos += 2 + struct.unpack_from(">H", payload, pos)[0]
        if pos > len(payload):
            raise RefusedError("HEIF hvcC property is truncated")
        (kept if nal_type in _HEVC_PARAMETER_SETS else dropped).append(payload[start:pos])
    clean = payload[:22] + bytes([len(kept)]) + b"".join(kept)
    needles: set[bytes] = set()
    for array in dropped:
        needles |= text_needles(array)
    removed = ("HEVC SEI in decoder configuration",) if dropped else ()
    return CleanProperty(box(b"hvcC", clean), removed, frozenset(needles))


def _colr(payload: bytes) -> CleanProperty:
    colour_type = payload[:4]
    if colour_type == b"nclx":
        # colour primaries, transfer characteristics, matrix coefficients, full-range flag
        return CleanProperty(box(b"colr", _exact(b"colr", payload, 4 + 7)))
    if colour_type in (b"prof", b"rICC"):
        profile = payload[4:]
        clean = sanitise_icc(profile)
        if clean == profile:
            return CleanProperty(box(b"colr", payload))
        # Text that was in the profile and is not any more: desc, cprt, device tags, header.
        needles = frozenset(text_needles(profile) - text_needles(clean))
        return CleanProperty(box(b"colr", colour_type + clean), ("ICC profile text",), needles)
    return CleanProperty(None, ("unknown colour information",), frozenset(text_needles(payload)))
