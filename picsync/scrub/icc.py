"""Pure: keep an ICC profile's colour, drop what could name a person or device. Stdlib only.

deid.md §2.9: a profile whose ``desc`` names a known standard colour space and that carries only
colour tags plus ``desc``/``cprt`` is kept byte for byte. Any other profile is rebuilt: every
colorimetric tag is copied byte for byte (shared tag data stays shared), text tags are replaced by
a neutral ``desc`` and ``cprt``, and the header's creation date, platform, CMM, device
manufacturer/model, vendor attribute bits, creator and profile ID are zeroed.
"""

from __future__ import annotations

import struct

from picsync.errors import RefusedError

__all__ = [
    "ICC_APP2_PREFIX",
    "NEUTRAL_DESCRIPTION",
    "app2_chunks",
    "is_standard_profile",
    "join_app2_chunks",
    "sanitise_icc",
]

NEUTRAL_DESCRIPTION = "Embedded colour profile"
_NEUTRAL_COPYRIGHT = "No copyright"
_HEADER = 128
_MAX_TAGS = 512

STANDARD_DESCRIPTIONS = frozenset(
    {
        "sRGB IEC61966-2.1",
        "sRGB IEC61966-2-1 black scaled",
        "sRGB built-in",
        "sRGB",
        "Display P3",
        "Adobe RGB (1998)",
        "ProPhoto RGB",
        "Generic RGB Profile",
        "Generic Gray Profile",
        "Generic Gray Gamma 2.2 Profile",
    }
)

# Tag -> the tag types it may have. Everything a CMM needs to reproduce the colours.
_CURVE = frozenset({b"curv", b"para"})
_LUT = frozenset({b"mft1", b"mft2", b"mAB ", b"mBA "})
_COLORIMETRIC: dict[bytes, frozenset[bytes]] = {
    **dict.fromkeys((b"rXYZ", b"gXYZ", b"bXYZ", b"wtpt", b"bkpt", b"lumi"), frozenset({b"XYZ "})),
    **dict.fromkeys((b"rTRC", b"gTRC", b"bTRC", b"kTRC"), _CURVE),
    **dict.fromkeys(
        (b"A2B0", b"A2B1", b"A2B2", b"B2A0", b"B2A1", b"B2A2", b"gamt", b"pre0", b"pre1", b"pre2"),
        _LUT,
    ),
    **dict.fromkeys(
        (b"D2B0", b"D2B1", b"D2B2", b"D2B3", b"B2D0", b"B2D1", b"B2D2", b"B2D3"),
        frozenset({b"mpet"}),
    ),
    b"chad": frozenset({b"sf32"}),
    b"chrm": frozenset({b"chrm"}),
    b"cicp": frozenset({b"cicp"}),
    b"meas": frozenset({b"meas"}),
    b"view": frozenset({b"view"}),
    b"tech": frozenset({b"sig "}),
    b"rig0": frozenset({b"sig "}),
    b"ciis": frozenset({b"sig "}),
}
_COPYRIGHT_WORDS = frozenset({"copyright", "(c)", "©", "domain", "cc0"})
_VERBATIM_TAGS = frozenset(_COLORIMETRIC) | {b"desc", b"cprt"}
_PARA_PARAMETERS = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}


def sanitise_icc(profile: bytes) -> bytes:
    """The profile itself if it is a clean standard one, else a rebuilt copy without identity.

    Raises ``RefusedError`` for a profile that does not parse (bad signature, tags outside the
    profile, a colour tag of an unexpected type): the image's colours could not be kept faithfully.
    """
    tags = _tag_table(profile)
    if is_standard_profile(profile):
        return profile
    kept: list[tuple[bytes, int, int]] = []
    for signature, offset, size in tags:
        allowed = _COLORIMETRIC.get(signature)
        if allowed is None:
            continue
        if profile[offset : offset + 4] not in allowed:
            raise RefusedError("ICC profile has a colour tag of an unexpected type")
        kept.append((signature, offset, _exact_size(profile, offset, size)))
    return _rebuild(profile, kept)


def is_standard_profile(profile: bytes) -> bool:
    """True for a well-formed profile named as a standard colour space, carrying only colour
    tags, its name and a copyright notice. Raises ``RefusedError`` if it does not parse."""
    tags = _tag_table(profile)
    signatures = {signature for signature, _, _ in tags}
    if struct.unpack_from(">I", profile)[0] != len(profile) or not signatures <= _VERBATIM_TAGS:
        return False
    texts = {sig: _text_values(profile[offset : offset + size]) for sig, offset, size in tags}
    names, notices = texts.get(b"desc", []), texts.get(b"cprt", ["copyright"])
    # A standard profile's cprt is a vendor's copyright notice; any other text gets sanitised.
    return (
        bool(names and notices)
        and all(name in STANDARD_DESCRIPTIONS for name in names)
        and all(
            _COPYRIGHT_WORDS & set(notice.lower().replace(",", " ").split()) for notice in notices
        )
    )


def _tag_table(profile: bytes) -> list[tuple[bytes, int, int]]:
    if len(profile) < _HEADER + 4 or profile[36:40] != b"acsp":
        raise RefusedError("ICC profile is malformed (no profile signature)")
    declared = struct.unpack_from(">I", profile)[0]
    if declared > len(profile) or declared < _HEADER + 4:
        raise RefusedError("ICC profile is malformed (size does not match its data)")
    count = struct.unpack_from(">I", profile, _HEADER)[0]
    if count > _MAX_TAGS or _HEADER + 4 + 12 * count > declared:
        raise RefusedError("ICC profile is malformed (tag table does not fit)")
    tags = []
    for index in range(count):
        signature, offset, size = struct.unpack_from(">4sII", profile, _HEADER + 4 + 12 * index)
        if size < 8 or offset < _HEADER or offset + size > declared:
            raise RefusedError("ICC profile is malformed (a tag lies outside the profile)")
        tags.append((bytes(signature), offset, size))
    return tags


def _text_values(tag: bytes) -> list[str]:
    """The strings of a ``desc`` (v2), ``text`` or ``mluc`` (v4) tag; [] if unreadable."""
    kind = tag[:4]
    try:
        if kind == b"desc":
            length = struct.unpack_from(">I", tag, 8)[0]
            return [tag[12 : 12 + length].split(b"\x00")[0].decode("ascii")]
        if kind == b"text":
            return [tag[8:].split(b"\x00")[0].decode("ascii")]
        if kind == b"mluc":
            count, record = struct.unpack_from(">II", tag, 8)
            if record < 12 or 16 + count * record > len(tag):
                return []  # records must fit in the tag; a huge count must not mean a long loop
            values = []
            for index in range(count):
                length, offset = struct.unpack_from(">II", tag, 16 + index * record + 4)
                values.append(tag[offset : offset + length].decode("utf-16-be").rstrip("\x00"))
            return values
    except (struct.error, UnicodeDecodeError):
        return []
    return []


def _exact_size(profile: bytes, offset: int, size: int) -> int:
    """The bytes a simple tag type really uses (padding after it may hide anything)."""
    kind = profile[offset : offset + 4]
    try:
        if kind == b"XYZ ":  # every kept XYZ tag holds one XYZNumber
            needed = 20
        elif kind == b"curv":
            needed = 12 + 2 * struct.unpack_from(">I", profile, offset + 8)[0]
        elif kind == b"para":
            function = struct.unpack_from(">H", profile, offset + 8)[0]
            needed = 12 + 4 * _PARA_PARAMETERS[function]
        elif kind == b"sf32":  # chad: a 3x3 matrix
            needed = 8 + 4 * 9
        elif kind == b"chrm":
            needed = 12 + 8 * struct.unpack_from(">H", profile, offset + 8)[0]
        elif kind in (b"sig ", b"cicp"):
            needed = 12
        elif kind in (b"meas", b"view"):
            needed = 36
        else:
            return size  # LUT types: their size is what the tag table declares
    except (struct.error, KeyError) as exc:
        raise RefusedError("ICC profile is malformed (unreadable colour tag)") from exc
    if needed > size:
        raise RefusedError("ICC profile is malformed (a colour tag is truncated)")
    return needed


def _rebuild(profile: bytes, kept: list[tuple[bytes, int, int]]) -> bytes:
    version4 = profile[8] >= 4
    text_tags = [
        (b"desc", _mluc(NEUTRAL_DESCRIPTION) if version4 else _desc(NEUTRAL_DESCRIPTION)),
        (b"cprt", _mluc(_NEUTRAL_COPYRIGHT) if version4 else _text(_NEUTRAL_COPYRIGHT)),
    ]
    count = len(kept) + len(text_tags)
    data_start = _HEADER + 4 + 12 * count
    data = bytearray()
    placed: dict[tuple[int, int] | bytes, int] = {}  # source (offset, size) or new data -> offset
    table = bytearray(struct.pack(">I", count))

    def place(key: tuple[int, int] | bytes, value: bytes) -> int:
        if key not in placed:
            data.extend(b"\x00" * (-len(data) % 4))  # tags start on 4-byte boundaries
            placed[key] = data_start + len(data)
            data.extend(value)
        return placed[key]

    for signature, value in text_tags:
        table += struct.pack(">4sII", signature, place(value, value), len(value))
    for signature, offset, size in kept:
        start = place((offset, size), profile[offset : offset + size])
        table += struct.pack(">4sII", signature, start, size)
    data.extend(b"\x00" * (-len(data) % 4))
    return _header(profile, data_start + len(data)) + bytes(table) + bytes(data)


def _header(profile: bytes, size: int) -> bytes:
    header = bytearray(profile[:_HEADER])
    header[0:4] = struct.pack(">I", size)
    header[4:8] = bytes(4)  # preferred CMM
    header[24:36] = bytes(12)  # creation date and time
    header[40:44] = bytes(4)  # primary platform
    header[44:48] = bytes([0, 0, header[46], header[47]])  # flags: keep the ICC bits only
    header[48:56] = bytes(8)  # device manufacturer and model
    header[56:60] = bytes(4)  # device attributes: vendor half
    header[80:84] = bytes(4)  # profile creator
    header[84:128] = bytes(44)  # profile ID (MD5; zero = not computed) and reserved bytes
    return bytes(header)


def _desc(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\x00"
    # textDescriptionType: ASCII part, empty Unicode part, empty 67-byte ScriptCode part
    return (
        b"desc" + bytes(4) + struct.pack(">I", len(ascii_text)) + ascii_text + bytes(4 + 4 + 3 + 67)
    )


def _text(text: str) -> bytes:
    return b"text" + bytes(4) + text.encode("ascii") + b"\x00"


def _mluc(text: str) -> bytes:
    utf16 = text.encode("utf-16-be")
    record = struct.pack(">2s2sII", b"en", b"US", len(utf16), 28)
    return b"mluc" + bytes(4) + struct.pack(">II", 1, 12) + record + utf16


ICC_APP2_PREFIX = b"ICC_PROFILE\x00"
_APP2_DATA = 65535 - 2 - len(ICC_APP2_PREFIX) - 2  # segment length field, prefix, seq, count


def join_app2_chunks(bodies: list[bytes]) -> bytes:
    """Reassemble a profile from JPEG APP2 bodies (prefix, sequence number, count, data).

    Readers reassemble by sequence number, so picsync does too; a set with gaps, repeats or
    disagreeing counts is refused rather than guessed at.
    """
    by_number: dict[int, bytes] = {}
    counts = set()
    for body in bodies:
        if len(body) < len(ICC_APP2_PREFIX) + 2:
            raise RefusedError("JPEG ICC profile segment is malformed")
        number, count = body[len(ICC_APP2_PREFIX)], body[len(ICC_APP2_PREFIX) + 1]
        if number in by_number or not 1 <= number <= count:
            raise RefusedError("JPEG ICC profile segments are numbered inconsistently")
        by_number[number] = body[len(ICC_APP2_PREFIX) + 2 :]
        counts.add(count)
    if len(counts) != 1 or len(by_number) != counts.pop():
        raise RefusedError("JPEG ICC profile segments are incomplete")
    return b"".join(by_number[number] for number in sorted(by_number))


def app2_chunks(profile: bytes) -> list[bytes]:
    """JPEG APP2 bodies carrying ``profile`` (at most 255 segments of 65519 bytes)."""
    parts = [profile[i : i + _APP2_DATA] for i in range(0, len(profile), _APP2_DATA)]
    if len(parts) > 255:
        raise RefusedError("ICC profile is too large to embed in a JPEG")
    return [ICC_APP2_PREFIX + bytes((n + 1, len(parts))) + part for n, part in enumerate(parts)]
