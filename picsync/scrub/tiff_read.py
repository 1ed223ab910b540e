"""Pure: bounded, fail-closed reading of TIFF structure (header, directories, values). Stdlib only.

A TIFF is a tree of offsets: a header points at the first image file directory (IFD), each IFD
holds 12-byte entries (20 in BigTIFF) whose values sit inline or at an offset, and ends with the
offset of the next IFD. ``TiffFile`` reads that tree from a seekable stream without ever trusting
an offset or a count: every read is checked against the file size before it is made, every loop
spends from a fixed budget, and anything that does not fit raises ``RefusedError`` with a reason
that names no value from the file. Image data (strips, tiles) is never read here.

The same class re-reads picsync's own output during verification (``size`` then is the size the
output will have; only the metadata at its start is in memory).
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass
from typing import BinaryIO

from picsync.errors import RefusedError

__all__ = [
    "ASCII",
    "BYTE",
    "DOUBLE",
    "FLOAT",
    "IFD",
    "IFD8",
    "LONG",
    "LONG8",
    "RATIONAL",
    "SBYTE",
    "SHORT",
    "SLONG",
    "SRATIONAL",
    "SSHORT",
    "TYPE_SIZES",
    "UNDEFINED",
    "Entry",
    "Layout",
    "TiffFile",
]

BYTE, ASCII, SHORT, LONG, RATIONAL, SBYTE, UNDEFINED = 1, 2, 3, 4, 5, 6, 7
SSHORT, SLONG, SRATIONAL, FLOAT, DOUBLE, IFD = 8, 9, 10, 11, 12, 13
LONG8, SLONG8, IFD8 = 16, 17, 18  # BigTIFF only
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
TYPE_SIZES |= {LONG8: 8, SLONG8: 8, IFD8: 8}
_UINT_CODES = {BYTE: "B", SHORT: "H", LONG: "I", IFD: "I", LONG8: "Q", IFD8: "Q"}

_MAX_ENTRIES = 4096  # per directory; real files have a few dozen
_BUDGET = 8_000_000  # directory entries + array values read per file: garbage cannot stall us
_TABLE_CHUNK = 65_536  # array values read per piece


@dataclass(frozen=True, slots=True)
class Layout:
    """Byte order and flavour (classic or BigTIFF) of a TIFF file."""

    order: str  # struct prefix: "<" for II, ">" for MM
    big: bool  # BigTIFF: 8-byte offsets and counts

    @property
    def offset_size(self) -> int:
        return 8 if self.big else 4

    @property
    def offset_code(self) -> str:
        return "Q" if self.big else "I"

    @property
    def count_size(self) -> int:  # the entry count at the start of an IFD
        return 8 if self.big else 2

    @property
    def entry_size(self) -> int:
        return 20 if self.big else 12

    @property
    def header_size(self) -> int:
        return 16 if self.big else 8

    @property
    def offset_type(self) -> int:  # the field type picsync writes offsets and byte counts as
        return LONG8 if self.big else LONG

    def header(self, first_ifd: int) -> bytes:
        mark = b"II" if self.order == "<" else b"MM"
        if self.big:
            return mark + struct.pack(self.order + "HHHQ", 43, 8, 0, first_ifd)
        return mark + struct.pack(self.order + "HI", 42, first_ifd)

    def pack_uints(self, type_: int, values: list[int]) -> bytes:
        return struct.pack(f"{self.order}{len(values)}{_UINT_CODES[type_]}", *values)


@dataclass(frozen=True, slots=True)
class Entry:
    """One directory entry as stored: ``field`` is the value when it fits, else its offset."""

    tag: int
    type: int
    count: int
    field: bytes

    @property
    def size(self) -> int | None:
        """Bytes of the whole value, or None for a type picsync does not know."""
        item = TYPE_SIZES.get(self.type)
        return None if item is None else item * self.count


class TiffFile:
    """Checked access to the structure of a TIFF file in a seekable stream."""

    def __init__(self, src: BinaryIO, size: int | None = None) -> None:
        self.src = src
        self.size = src.seek(0, 2) if size is None else size
        self.budget = _BUDGET
        # Byte ranges of every directory read and every out-of-line value in it: image data
        # that overlaps one of them would carry metadata past the allowlist.
        self.structure: list[tuple[int, int]] = []
        head = self.read_at(0, 8, "TIFF is truncated (it ends inside its header)")
        if head[:2] not in (b"II", b"MM"):
            raise RefusedError("not a TIFF (bad byte-order mark)")
        order = "<" if head[:2] == b"II" else ">"
        magic = struct.unpack_from(order + "H", head, 2)[0]
        if magic not in (42, 43):
            raise RefusedError("not a TIFF (bad magic number)")
        self.layout = Layout(order, magic == 43)
        if self.layout.big:
            head = self.read_at(0, 16, "TIFF is truncated (it ends inside its header)")
            if struct.unpack_from(order + "HH", head, 4) != (8, 0):
                raise RefusedError("BigTIFF header is malformed")
            self.first_ifd = int(struct.unpack_from(order + "Q", head, 8)[0])
        else:
            self.first_ifd = int(struct.unpack_from(order + "I", head, 4)[0])

    def spend(self, values: int) -> None:
        """Count work done; a file that chains huge tables stops here instead of stalling us."""
        self.budget -= values
        if self.budget < 0:
            raise RefusedError("TIFF has too many directory entries, strips or tiles")

    def read_at(self, offset: int, length: int, reason: str) -> bytes:
        """Exactly ``length`` bytes at ``offset``, or ``RefusedError(reason)``."""
        # Checked before seeking: offsets from garbage can exceed what seek() accepts.
        if offset < 0 or length < 0 or offset + length > self.size:
            raise RefusedError(reason)
        self.src.seek(offset)
        data = self.src.read(length)
        if len(data) != length:  # the file shrank since it was measured
            raise RefusedError(reason)
        return data

    def ifd(self, offset: int) -> tuple[list[Entry], int]:
        """A directory's entries (in file order) and the offset of the next one (0: none)."""
        layout = self.layout
        if offset < layout.header_size:
            raise RefusedError("TIFF directory offset points into the header")
        reason = "TIFF directory runs past the end of the file"
        raw_count = self.read_at(offset, layout.count_size, reason)
        count = int(struct.unpack(layout.order + ("Q" if layout.big else "H"), raw_count)[0])
        if count > _MAX_ENTRIES:
            raise RefusedError("TIFF directory has too many entries")
        self.spend(count + 1)
        body_size = count * layout.entry_size + layout.offset_size
        body = self.read_at(offset + layout.count_size, body_size, reason)
        entry_format = layout.order + ("HHQ" if layout.big else "HHI")
        entries = []
        for start in range(0, count * layout.entry_size, layout.entry_size):
            tag, type_, value_count = struct.unpack_from(entry_format, body, start)
            field = body[start + layout.entry_size - layout.offset_size : start + layout.entry_size]
            entries.append(Entry(tag, type_, int(value_count), field))
        self.structure.append((offset, offset + layout.count_size + body_size))
        for entry in entries:
            value_at = self.value_offset(entry)
            if value_at is not None and entry.size is not None:
                self.structure.append((value_at, min(value_at + entry.size, self.size)))
        next_offset = int(
            struct.unpack(layout.order + layout.offset_code, body[-layout.offset_size :])[0]
        )
        return entries, next_offset

    def value_offset(self, entry: Entry) -> int | None:
        """Where an entry's value lives; None when it is inline (or of an unknown type)."""
        size = entry.size
        if size is None or size <= self.layout.offset_size:
            return None
        return int(struct.unpack(self.layout.order + self.layout.offset_code, entry.field)[0])

    def value(self, entry: Entry, limit: int) -> bytes:
        """The whole value of an entry; ``RefusedError`` if it is unreadable or over ``limit``."""
        size = entry.size
        if size is None:
            raise RefusedError("TIFF tag has an unknown field type")
        if size > limit:
            raise RefusedError("TIFF tag value is too large")
        offset = self.value_offset(entry)
        if offset is None:
            return entry.field[:size]
        return self.read_at(offset, size, "TIFF tag value runs past the end of the file")

    def value_prefix(self, entry: Entry, limit: int) -> bytes | None:
        """Up to ``limit`` bytes of a value (for looking at what is dropped); None if unreadable."""
        size = entry.size
        if size is None:
            return None
        offset = self.value_offset(entry)
        if offset is None:
            return entry.field[:size]
        if offset + size > self.size:
            return None
        self.src.seek(offset)
        return self.src.read(min(size, limit))

    def uints(self, entry: Entry) -> array[int]:
        """The values of an unsigned integer entry, read in bounded pieces."""
        code = _UINT_CODES.get(entry.type)
        if code is None or (entry.type in (LONG8, IFD8) and not self.layout.big):
            raise RefusedError("TIFF tag has the wrong field type for a number")
        self.spend(entry.count)
        values: array[int] = array("Q")
        offset = self.value_offset(entry)
        if offset is None:
            values.extend(
                struct.unpack(f"{self.layout.order}{entry.count}{code}", self.value(entry, 8))
            )
            return values
        item = TYPE_SIZES[entry.type]
        reason = "TIFF tag value runs past the end of the file"
        if offset + entry.count * item > self.size:
            raise RefusedError(reason)
        for first in range(0, entry.count, _TABLE_CHUNK):
            n = min(_TABLE_CHUNK, entry.count - first)
            piece = self.read_at(offset + first * item, n * item, reason)
            values.extend(struct.unpack(f"{self.layout.order}{n}{code}", piece))
        return values

    def number(self, entry: Entry) -> int:
        """The single value of an unsigned integer entry of count 1."""
        if entry.count != 1:
            raise RefusedError("TIFF tag holds several values where one is expected")
        return self.uints(entry)[0]
