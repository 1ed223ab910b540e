"""Pure: read what picsync needs from EXIF and XMP, and write a minimal EXIF. Stdlib only.

EXIF is a TIFF structure (IFD0 -> ExifIFD, GPS IFD, Interop IFD; IFD1 = thumbnail). picsync never
copies it: it reads the display orientation, the capture time, the resolution and every value that
could identify someone (so the verifier can prove none of them reached the output), then writes a
fresh EXIF holding only what must survive (specs/deid.md rules 3 and 6).

The same TIFF bytes sit in a JPEG APP1 segment after ``Exif\\0\\0``, in a PNG ``eXIf`` chunk, and
in a HEIF ``Exif`` item after a 4-byte offset; callers strip those wrappers first.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from datetime import date, datetime

from picsync.errors import RefusedError
from picsync.scrub.verify import text_needles

__all__ = [
    "ExifInfo",
    "Resolution",
    "XmpInfo",
    "build_minimal_exif",
    "exif_date_stamp",
    "orientation_only_exif",
    "read_exif",
    "read_xmp",
]

ORIENTATION = 0x0112
_X_RESOLUTION, _Y_RESOLUTION, _RESOLUTION_UNIT = 0x011A, 0x011B, 0x0128
_DATE_TIME = 0x0132
_EXIF_IFD, _GPS_IFD, _INTEROP_IFD = 0x8769, 0x8825, 0xA005
_DATE_TIME_ORIGINAL, _CREATE_DATE = 0x9003, 0x9004
_OFFSET_TIME_ORIGINAL, _OFFSET_TIME_DIGITIZED = 0x9011, 0x9012
_MAKER_NOTE, _USER_COMMENT = 0x927C, 0x9286
_THUMBNAIL_OFFSET, _THUMBNAIL_LENGTH = 0x0201, 0x0202
_XP_TAGS = frozenset({0x9C9B, 0x9C9C, 0x9C9D, 0x9C9E, 0x9C9F})  # XPTitle..XPSubject, UTF-16LE
_GPS_COORDINATES = frozenset({2, 4, 6, 20, 22})  # latitude, longitude, altitude, dest lat/lon
_CHARSET_TEXT = frozenset({_USER_COMMENT, 0x001B, 0x001C})  # UserComment, GPSProcessing/Area
# Make and LensMake are not needles: vendor names recur in the copyright text of standard ICC
# profiles that picsync keeps ("Copyright Apple Inc."), where they identify nobody.
_MAKES = frozenset({0x010F, 0xA433})

# TIFF field types -> size of one value (BYTE, ASCII, SHORT, LONG, RATIONAL, SBYTE, UNDEFINED,
# SSHORT, SLONG, SRATIONAL, FLOAT, DOUBLE, IFD).
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_MAX_IFDS = 64  # a real EXIF has at most 6; more means a loop or a hostile file
_MAX_NEEDLE = 256


@dataclass(frozen=True, slots=True)
class Resolution:
    """EXIF XResolution/YResolution (as rationals) and ResolutionUnit (2 = inch, 3 = cm)."""

    x: tuple[int, int]
    y: tuple[int, int]
    unit: int


@dataclass(frozen=True, slots=True)
class ExifInfo:
    """What picsync takes from an EXIF block.

    Attributes:
        orientation: IFD0's Orientation as stored (any integer; 0 when the entry is present but
            unusable, as readers then ignore XMP too), or None when there is none.
        capture_time: ISO 8601 capture time (``2031-02-03T04:05:07``, offset appended if recorded).
        resolution: IFD0 resolution, if recorded.
        identifying: values that may identify someone (strings, GPS coordinates); needles for the
            verifier, never for logs.
        sections: PHI-free names of the parts present, e.g. ``("GPS", "MakerNote")``.
        thumbnail: the IFD1 JPEG thumbnail, if any (the caller reads its own metadata for needles).
    """

    orientation: int | None = None
    capture_time: str | None = None
    resolution: Resolution | None = None
    identifying: frozenset[bytes] = frozenset()
    sections: tuple[str, ...] = ()
    thumbnail: bytes | None = None


@dataclass(frozen=True, slots=True)
class XmpInfo:
    """What picsync takes from an XMP packet: orientation and capture time."""

    orientation: int | None = None
    capture_time: str | None = None


@dataclass(frozen=True, slots=True)
class _Entry:
    tag: int
    type: int
    count: int
    value: bytes


class _Tiff:
    """Bounds-checked access to a TIFF byte string."""

    def __init__(self, data: bytes) -> None:
        if len(data) < 8 or data[:4] not in (b"II*\x00", b"MM\x00*"):
            raise RefusedError("EXIF block does not start with a TIFF header")
        self.data = data
        self.order = "<" if data[:2] == b"II" else ">"

    def u16(self, offset: int) -> int:
        return int(struct.unpack_from(self.order + "H", self.data, offset)[0])

    def u32(self, offset: int) -> int:
        return int(struct.unpack_from(self.order + "I", self.data, offset)[0])

    def ifd(self, offset: int) -> tuple[list[_Entry], int] | None:
        """Entries and next-IFD offset; None when the entry table lies outside the block."""
        if offset < 8 or offset + 2 > len(self.data):
            return None
        count = self.u16(offset)
        end = offset + 2 + 12 * count + 4
        if end > len(self.data):
            return None
        entries = []
        for pos in range(offset + 2, offset + 2 + 12 * count, 12):
            tag, type_, n = struct.unpack_from(self.order + "HHI", self.data, pos)
            size = _TYPE_SIZES.get(type_)
            if size is None:
                continue  # unknown type: readers skip it, and picsync drops the whole block
            length = size * n
            start = pos + 8 if length <= 4 else self.u32(pos + 8)
            if start + length > len(self.data):
                continue  # value outside the block: readers skip it; nothing of it is here
            entries.append(_Entry(tag, type_, n, self.data[start : start + length]))
        return entries, self.u32(end - 4)

    def number(self, entry: _Entry) -> int | None:
        """The first value of an integer entry."""
        fmt = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i"}.get(entry.type)
        if fmt is None or entry.count < 1:
            return None
        return int(struct.unpack_from(self.order + fmt, entry.value)[0])

    def rational(self, entry: _Entry) -> tuple[int, int] | None:
        if entry.type != 5 or entry.count != 1:
            return None
        num, den = struct.unpack_from(self.order + "II", entry.value)
        return int(num), int(den)


def read_exif(tiff_bytes: bytes) -> ExifInfo:
    """Read orientation, capture time, resolution and identifying values from EXIF TIFF bytes.

    Raises ``RefusedError`` when the TIFF header or IFD0 cannot be read: without them picsync
    cannot know how the image is meant to be displayed. Damaged values elsewhere are skipped, as
    readers do; picsync never copies them anyway.
    """
    tiff = _Tiff(tiff_bytes)
    ifd0 = tiff.ifd(tiff.u32(4))
    if ifd0 is None:
        raise RefusedError("EXIF block has no readable first directory")
    tags: dict[int, _Entry] = {}
    needles: set[bytes] = set()
    sections: list[str] = []
    visited: set[int] = {tiff.u32(4)}
    entries, next_ifd = ifd0
    _collect(tiff, entries, tags, needles, sections, visited, depth=0)

    thumbnail: bytes | None = None
    ifd1 = tiff.ifd(next_ifd) if next_ifd not in visited else None
    if ifd1 is not None:
        sections.append("IFD1 thumbnail")
        thumb_tags: dict[int, _Entry] = {}
        _collect(tiff, ifd1[0], thumb_tags, needles, sections, visited | {next_ifd}, depth=1)
        thumbnail = _thumbnail(tiff, thumb_tags)

    ifd0_tags: dict[int, _Entry] = {}
    for entry in entries:
        ifd0_tags.setdefault(entry.tag, entry)
    return ExifInfo(
        orientation=_orientation(tiff, entries),
        capture_time=_capture_time(tags),
        resolution=_resolution(tiff, ifd0_tags),
        identifying=frozenset(needles),
        sections=tuple(dict.fromkeys(sections)),
        thumbnail=thumbnail,
    )


def _orientation(tiff: _Tiff, ifd0: list[_Entry]) -> int | None:
    """IFD0's Orientation as readers use it: None if absent, 0 if present but unusable.

    Readers disagree on which of two Orientation entries wins, so two different ones are
    refused rather than guessed at.
    """
    values = {
        tiff.number(entry) if entry.count == 1 else 0 for entry in ifd0 if entry.tag == ORIENTATION
    }
    if len(values) > 1:
        raise RefusedError("EXIF has conflicting orientation values")
    return (values.pop() or 0) if values else None


def _collect(
    tiff: _Tiff,
    entries: list[_Entry],
    tags: dict[int, _Entry],
    needles: set[bytes],
    sections: list[str],
    visited: set[int],
    depth: int,
) -> None:
    """Record ``entries``, then follow their Exif/GPS/Interop pointers.

    A directory's own entries are recorded before any sub-directory's, and the first occurrence
    of a tag wins, so IFD0's Orientation cannot be shadowed by a copy in a sub-directory.
    """
    pointers = []
    for entry in entries:
        tags.setdefault(entry.tag, entry)
        needles.update(_entry_needles(tiff, entry))
        if entry.tag == _MAKER_NOTE:
            sections.append("MakerNote")
        if entry.tag == _GPS_IFD:
            sections.append("GPS")
        if entry.tag in (_EXIF_IFD, _GPS_IFD, _INTEROP_IFD):
            pointers.append(entry)
    for entry in pointers:
        target = tiff.number(entry)
        if target is None or target in visited or len(visited) >= _MAX_IFDS or depth > 4:
            continue
        visited.add(target)
        sub = tiff.ifd(target)
        if sub is not None:
            _collect(tiff, sub[0], tags, needles, sections, visited, depth + 1)


def _entry_needles(tiff: _Tiff, entry: _Entry) -> set[bytes]:
    """The identifying values one entry may hold, as byte strings."""
    if entry.tag in _MAKES:
        return set()
    if entry.type == 2:
        return {_clip(part.strip()) for part in entry.value.split(b"\x00") if part.strip()}
    if entry.tag in _XP_TAGS and entry.type in (1, 7):
        text = entry.value.decode("utf-16-le", "replace").strip("\x00 ")
        return {_clip(text.encode("utf-8"))} if text else set()
    if entry.tag in _CHARSET_TEXT and entry.type == 7 and len(entry.value) > 8:
        charset, body = entry.value[:8], entry.value[8:]
        if charset.startswith(b"UNICODE"):
            codec = "utf-16-le" if tiff.order == "<" else "utf-16-be"
            body = body.decode(codec, "replace").encode("utf-8")
        body = body.strip(b"\x00 ")
        return {_clip(body)} if body else set()
    if entry.tag in _GPS_COORDINATES and entry.type == 5 and entry.count >= 1:
        return {entry.value} if entry.value.strip(b"\x00") else set()
    if entry.type == 7 and len(entry.value) >= 6:
        return {_clip(value) for value in text_needles(entry.value)}
    return set()


def _clip(value: bytes) -> bytes:
    # A long value that leaked whole would also leak its first bytes; a shorter needle is enough.
    return value[:_MAX_NEEDLE]


def _thumbnail(tiff: _Tiff, tags: dict[int, _Entry]) -> bytes | None:
    offset_entry, length_entry = tags.get(_THUMBNAIL_OFFSET), tags.get(_THUMBNAIL_LENGTH)
    if offset_entry is None or length_entry is None:
        return None
    offset, length = tiff.number(offset_entry), tiff.number(length_entry)
    if offset is None or length is None or offset + length > len(tiff.data):
        return None
    return tiff.data[offset : offset + length]


_EXIF_DATE = re.compile(rb"(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(rb"[+-]\d{2}:\d{2}")


def _capture_time(tags: dict[int, _Entry]) -> str | None:
    for tag, offset_tag in (
        (_DATE_TIME_ORIGINAL, _OFFSET_TIME_ORIGINAL),
        (_CREATE_DATE, _OFFSET_TIME_DIGITIZED),
        (_DATE_TIME, None),
    ):
        entry = tags.get(tag)
        match = _EXIF_DATE.match(entry.value) if entry and entry.type == 2 else None
        if match is None:
            continue
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        try:
            moment = datetime(year, month, day, hour, minute, second)
        except ValueError:
            continue  # "0000:00:00 00:00:00" and other placeholders
        offset_entry = tags.get(offset_tag) if offset_tag else None
        offset = _OFFSET.fullmatch(offset_entry.value.rstrip(b"\x00")) if offset_entry else None
        return moment.isoformat() + (offset.group().decode() if offset else "")
    return None


def _resolution(tiff: _Tiff, tags: dict[int, _Entry]) -> Resolution | None:
    x_entry, y_entry = tags.get(_X_RESOLUTION), tags.get(_Y_RESOLUTION)
    x = tiff.rational(x_entry) if x_entry else None
    y = tiff.rational(y_entry) if y_entry else None
    if x is None or y is None or 0 in (x[1], y[1]):
        return None
    unit_entry = tags.get(_RESOLUTION_UNIT)
    unit = tiff.number(unit_entry) if unit_entry else 2
    return Resolution(x, y, unit) if unit in (1, 2, 3) else None


# Pillow reads XMP orientation with exactly this pattern (Image.getexif); matching it keeps
# picsync's output displaying as Pillow displayed the input.
_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(="|>)([0-9])')
_XMP_DATE = re.compile(
    rb"(?:exif:DateTimeOriginal|xmp:CreateDate|photoshop:DateCreated)"
    rb"""(?:\s*=\s*["']|>)\s*([0-9][0-9T:.+-]*Z?)"""
)


def read_xmp(packet: bytes) -> XmpInfo:
    """Orientation (``tiff:Orientation``) and capture time from an XMP packet; never raises."""
    orientation = _XMP_ORIENTATION.search(packet)
    return XmpInfo(
        orientation=int(orientation.group(2)) if orientation else None,
        capture_time=_xmp_time(packet),
    )


def _xmp_time(packet: bytes) -> str | None:
    for match in _XMP_DATE.finditer(packet):
        text = match.group(1).decode("ascii").replace("Z", "+00:00")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            continue
        return moment.replace(microsecond=0).isoformat()
    return None


def build_minimal_exif(
    orientation: int | None = None,
    resolution: Resolution | None = None,
    capture_date: date | None = None,
) -> bytes:
    """Little-endian EXIF TIFF bytes holding only the given values (nothing else, ever).

    ``capture_date`` becomes DateTimeOriginal with the time of day left blank, as EXIF allows for
    unknown parts (deid.md rule 6: no time of day, no offset, no sub-seconds).
    """
    ifd0: list[tuple[int, int, int, bytes]] = []
    if orientation is not None:
        ifd0.append((ORIENTATION, 3, 1, struct.pack("<HH", orientation, 0)))
    if resolution is not None:
        ifd0.append((_X_RESOLUTION, 5, 1, struct.pack("<II", *resolution.x)))
        ifd0.append((_Y_RESOLUTION, 5, 1, struct.pack("<II", *resolution.y)))
        ifd0.append((_RESOLUTION_UNIT, 3, 1, struct.pack("<HH", resolution.unit, 0)))
    exif_ifd: list[tuple[int, int, int, bytes]] = []
    if capture_date is not None:
        stamp = exif_date_stamp(capture_date)
        exif_ifd.append((_DATE_TIME_ORIGINAL, 2, len(stamp), stamp))
        ifd0.append((_EXIF_IFD, 4, 1, b""))  # offset filled in below

    ifd0.sort()
    ifd0_size = 2 + 12 * len(ifd0) + 4
    ifd0_data = b"".join(value for _, _, _, value in ifd0 if len(value) > 4)
    exif_ifd_offset = 8 + ifd0_size + len(ifd0_data)
    out = bytearray(b"II*\x00" + struct.pack("<I", 8))
    out += _ifd_bytes(ifd0, data_offset=8 + ifd0_size, sub_ifd=exif_ifd_offset)
    out += ifd0_data
    if exif_ifd:
        exif_size = 2 + 12 * len(exif_ifd) + 4
        out += _ifd_bytes(exif_ifd, data_offset=exif_ifd_offset + exif_size, sub_ifd=0)
        out += b"".join(value for _, _, _, value in exif_ifd if len(value) > 4)
    return bytes(out)


def exif_date_stamp(capture_date: date) -> bytes:
    """DateTimeOriginal for a date alone: ``YYYY:MM:DD`` and blanks for the unknown time."""
    return capture_date.strftime("%Y:%m:%d").encode("ascii") + b"   :  :  \x00"


def _ifd_bytes(entries: list[tuple[int, int, int, bytes]], data_offset: int, sub_ifd: int) -> bytes:
    out = bytearray(struct.pack("<H", len(entries)))
    for tag, type_, count, value in sorted(entries):
        if tag == _EXIF_IFD:
            field = struct.pack("<I", sub_ifd)
        elif len(value) > 4:
            field = struct.pack("<I", data_offset)
            data_offset += len(value)
        else:
            field = value.ljust(4, b"\x00")
        out += struct.pack("<HHI", tag, type_, count) + field
    return bytes(out + b"\x00\x00\x00\x00")  # no IFD1: no thumbnail, ever


def orientation_only_exif(orientation: int) -> bytes:
    """EXIF TIFF bytes with IFD0 holding only Orientation.

    Use as a PNG ``eXIf`` payload as is, or as a JPEG APP1 body after ``b"Exif\\0\\0"``.
    """
    return build_minimal_exif(orientation=orientation)
