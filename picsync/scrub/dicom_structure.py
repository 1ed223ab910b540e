"""Pure: prove a DICOM file's bytes are one complete, well-formed data set. Stdlib only.

pydicom reads a truncated file without complaint (the last element comes back short), so
picsync walks the bytes itself before trusting pydicom's parse (deid.md rule 10): preamble and
``DICM``, then every element of the file meta group (explicit VR little endian) and of the data
set (in its transfer syntax), each value inside the file, every undefined-length sequence,
item and encapsulated pixel data closed by its delimiter, and the last element ending exactly at
the end of the file. Defined-length values are bounds-checked, not entered: pydicom parses them.
"""

from __future__ import annotations

import struct

from picsync.errors import RefusedError

__all__ = ["PREAMBLE", "check_structure", "pixel_data_value", "transfer_syntax"]

PREAMBLE = 128
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_PIXEL_DATA = 0x7FE00010
_TRANSFER_SYNTAX = 0x00020010
# Explicit VRs whose length field is 4 bytes after 2 reserved bytes (PS3.5 7.1.2).
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_MAX_DEPTH = 16
_MAX_ELEMENTS = 1_000_000


class _Walk:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.elements = 0

    def header(self, pos: int, explicit: bool) -> tuple[int, bytes, int, int]:
        """Tag, VR (b"" if implicit or an item tag), value length and value offset."""
        self._need(pos, 8)
        group, element = struct.unpack_from("<HH", self.data, pos)
        tag = group << 16 | element
        self.elements += 1
        if self.elements > _MAX_ELEMENTS:
            raise RefusedError("DICOM file has too many elements")
        if group == 0xFFFE or not explicit:
            return tag, b"", struct.unpack_from("<I", self.data, pos + 4)[0], pos + 8
        vr = self.data[pos + 4 : pos + 6]
        if not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
            raise RefusedError("DICOM element has an invalid value representation")
        if vr in _LONG_VRS:
            self._need(pos, 12)
            return tag, vr, struct.unpack_from("<I", self.data, pos + 8)[0], pos + 12
        return tag, vr, struct.unpack_from("<H", self.data, pos + 6)[0], pos + 8

    def dataset(self, pos: int, end: int | None, explicit: bool, depth: int) -> int:
        """Walk elements from ``pos`` to ``end`` (or to an item delimiter when ``end`` is None)."""
        if depth > _MAX_DEPTH:
            raise RefusedError("DICOM sequences are nested too deeply")
        previous = -1
        while end is None or pos < end:
            tag, vr, length, value = self.header(pos, explicit)
            if tag == _ITEM_END and end is None:
                return value
            if tag <= previous or tag >> 16 == 0xFFFE:
                raise RefusedError("DICOM elements are out of order")
            previous = tag
            if length == _UNDEFINED:
                pos = self.undefined(tag, vr, value, explicit, depth)
            else:
                pos = value + length
                self._need(value, length)
        if end is not None and pos != end:
            raise RefusedError("DICOM item length does not match its contents")
        if end is None:
            raise RefusedError("DICOM item has no end")
        return pos

    def undefined(self, tag: int, vr: bytes, pos: int, explicit: bool, depth: int) -> int:
        """Walk an undefined-length value (pixel fragments or a sequence); return its end."""
        if tag == _PIXEL_DATA:
            return self.fragments(pos)
        if vr in (b"SQ", b""):
            return self.sequence(pos, explicit, depth + 1)
        if vr == b"UN":  # a sequence of unknown VR: its items are implicit VR (PS3.5 6.2.2)
            return self.sequence(pos, False, depth + 1)
        raise RefusedError("DICOM element has an undefined length it may not have")

    def sequence(self, pos: int, explicit: bool, depth: int) -> int:
        while True:
            tag, _, length, value = self.header(pos, explicit=False)
            if tag == _SEQUENCE_END:
                return value
            if tag != _ITEM:
                raise RefusedError("DICOM sequence holds something other than items")
            if length == _UNDEFINED:
                pos = self.dataset(value, None, explicit, depth)
            else:
                self._need(value, length)
                pos = self.dataset(value, value + length, explicit, depth)

    def fragments(self, pos: int) -> int:
        """Encapsulated pixel data: items of defined length, then the sequence delimiter."""
        while True:
            tag, _, length, value = self.header(pos, explicit=False)
            if tag == _SEQUENCE_END:
                return value
            if tag != _ITEM or length == _UNDEFINED:
                raise RefusedError("DICOM encapsulated pixel data is malformed")
            self._need(value, length)
            pos = value + length

    def _need(self, pos: int, length: int) -> None:
        if pos + length > len(self.data):
            raise RefusedError("DICOM file is truncated (an element runs past its end)")


def transfer_syntax(data: bytes) -> str:
    """The Transfer Syntax UID in the file meta group (read before anything else is parsed)."""
    if len(data) < PREAMBLE + 4 or data[PREAMBLE : PREAMBLE + 4] != b"DICM":
        raise RefusedError("not a DICOM file (no DICM marker)")
    walk = _Walk(data)
    pos = PREAMBLE + 4
    while data[pos : pos + 2] == b"\x02\x00":
        tag, _, length, value = walk.header(pos, explicit=True)
        if length == _UNDEFINED:
            raise RefusedError("DICOM file meta element has an undefined length")
        walk._need(value, length)
        if tag == _TRANSFER_SYNTAX:
            return data[value : value + length].rstrip(b"\x00 ").decode("ascii", "replace")
        pos = value + length
    raise RefusedError("DICOM file meta information has no transfer syntax")


def check_structure(data: bytes, explicit: bool) -> None:
    """Raise ``RefusedError`` unless ``data`` is preamble, ``DICM``, file meta group and a data
    set in (little endian, ``explicit`` or implicit VR) that fills the file exactly."""
    if len(data) < PREAMBLE + 4 or data[PREAMBLE : PREAMBLE + 4] != b"DICM":
        raise RefusedError("not a DICOM file (no DICM marker)")
    walk = _Walk(data)
    pos = PREAMBLE + 4
    while pos < len(data) and data[pos : pos + 2] == b"\x02\x00":  # group 0002, always explicit
        _, _, length, value = walk.header(pos, explicit=True)
        if length == _UNDEFINED:
            raise RefusedError("DICOM file meta element has an undefined length")
        walk._need(value, length)
        pos = value + length
    if pos == PREAMBLE + 4:
        raise RefusedError("DICOM file has no file meta information")
    if walk.dataset(pos, len(data), explicit, depth=0) != len(data):
        raise RefusedError("DICOM file does not end where its last element ends")


def pixel_data_value(data: bytes, explicit: bool) -> tuple[int, int] | None:
    """Offset and length of the top-level Pixel Data value of a file that passed
    ``check_structure`` (for an encapsulated value: from the first item to past the delimiter)."""
    walk = _Walk(data)
    pos = PREAMBLE + 4
    while data[pos : pos + 2] == b"\x02\x00":
        _, _, length, value = walk.header(pos, explicit=True)
        pos = value + length
    while pos < len(data):
        tag, vr, length, value = walk.header(pos, explicit)
        if length == _UNDEFINED:
            end = walk.undefined(tag, vr, value, explicit, 0)
        else:
            end = value + length
        if tag == _PIXEL_DATA:
            return value, end - value
        pos = end
    return None
