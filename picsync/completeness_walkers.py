"""Pure: the TIFF and DICOM structure walks behind ``check_complete``, plus the bounded file view.

Both formats are trees of offsets (TIFF) or lengths (DICOM) rather than a stream with an end
marker, so "complete" means every offset and length they declare lands inside the file. Walks
seek and read small pieces; every loop has a fixed bound so garbage cannot stall the watcher.
Stdlib only. Reasons never name the file.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol


class IncompleteError(Exception):
    """Stops a walk; its message is the reason ``check_complete`` returns."""


class Seekable(Protocol):
    """What a walk needs of a file: an open file object, or any cheaper stand-in for one."""

    def seek(self, offset: int, whence: int = ..., /) -> int: ...

    def read(self, size: int, /) -> bytes: ...


class FileView:
    """Reads exact byte ranges of the first ``size`` bytes of an open file, never past them."""

    def __init__(self, f: Seekable, size: int) -> None:
        self.f = f
        self.size = size
        # The file's first bytes, read once: most structures (and small files whole) lie in
        # them, so most reads cost a slice instead of a seek and a read.
        self.head = b""

    def load_head(self, length: int) -> bytes:
        """Read the first ``length`` bytes once; later reads inside them are served from memory."""
        self.head = self.read(0, length, "file is shorter than its measured size")
        return self.head

    def read(self, offset: int, length: int, reason: str) -> bytes:
        """Return exactly ``length`` bytes at ``offset``, or raise ``IncompleteError(reason)``."""
        end = offset + length
        # Check before seeking: offsets from garbage can exceed what seek() accepts.
        self.require(end, reason)
        if end <= len(self.head):
            return self.head[offset:end]
        self.f.seek(offset)
        data = self.f.read(length)
        if len(data) != length:  # the file shrank since it was measured
            raise IncompleteError(reason)
        return data

    def require(self, end: int, reason: str) -> None:
        """Raise ``IncompleteError(reason)`` unless a range ending at ``end`` is in the file."""
        if end > self.size:
            raise IncompleteError(reason)


# --- TIFF -----------------------------------------------------------------------------------

_MAX_PAGES = 65_536
_MAX_ENTRIES = 65_535  # classic TIFF's own limit; BigTIFF allows more but no writer needs it
_MAX_TIFF_VALUES = 20_000_000  # entries + strips/tiles per file: a slide scanner's pyramid fits
_TABLE_CHUNK = 65_536  # values read per piece of a strip or tile table
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_TYPE_SIZES |= {16: 8, 17: 8, 18: 8}  # BigTIFF's LONG8, SLONG8, IFD8
_UINT_CODES = {3: "H", 4: "I", 13: "I", 16: "Q", 18: "Q"}  # SHORT, LONG, IFD, LONG8, IFD8
_IMAGE_DATA_TAGS = ((273, 279), (324, 325), (513, 514))  # strips, tiles, old-style JPEG
_CHILD_IFD_TAGS = (330, 34665, 34853)  # SubIFDs (DNG raw data), Exif, GPS
_DIRECTORY_PAST_END = "TIFF directory runs past the end of the file"
_TAG_PAST_END = "TIFF tag data runs past the end of the file"
_IMAGE_PAST_END = "TIFF image data runs past the end of the file"


@dataclass(frozen=True, slots=True)
class _TiffLayout:
    endian: str  # struct prefix: "<" for II, ">" for MM
    big: bool  # BigTIFF: 8-byte counts and offsets

    @property
    def word(self) -> str:  # struct code of an offset or an entry count
        return "Q" if self.big else "I"

    @property
    def inline_bytes(self) -> int:  # a tag value this small sits in the entry itself
        return 8 if self.big else 4


@dataclass(frozen=True, slots=True)
class _Entry:
    tag: int
    type: int
    count: int
    field: bytes  # the value itself when it fits, else its offset


def check_tiff(view: FileView) -> str | None:
    """Walk the IFD chain; every directory, tag value and strip or tile must be in the file."""
    header = view.read(0, 8, "TIFF ends inside its header")
    layout = _TiffLayout("<" if header[:2] == b"II" else ">", header[2:4] in (b"+\x00", b"\x00+"))
    if layout.big:
        header = view.read(0, 16, "TIFF ends inside its header")
        if struct.unpack(layout.endian + "HH", header[4:8]) != (8, 0):
            return "BigTIFF header is malformed"
    offset = struct.unpack(layout.endian + layout.word, header[8 if layout.big else 4 :])[0]
    if offset == 0:
        return "TIFF has no image directory"
    return _TiffWalker(view, layout).walk(offset)


class _TiffWalker:
    def __init__(self, view: FileView, layout: _TiffLayout) -> None:
        self.view, self.layout = view, layout
        self.budget = _MAX_TIFF_VALUES
        self.checked: set[int] = set()  # IFD offsets already checked

    def walk(self, offset: int) -> str | None:
        pages = 0
        while offset != 0:
            if offset in self.checked:
                return "TIFF directory chain loops back on itself"
            pages += 1
            if pages > _MAX_PAGES:
                return "TIFF has too many pages"
            self.checked.add(offset)
            entries, offset = self.read_ifd(offset)
            self.check_ifd_data(entries)
            for child in self.child_ifd_offsets(entries):  # one level only
                if child not in self.checked:
                    self.checked.add(child)
                    self.check_ifd_data(self.read_ifd(child)[0])
        return None

    def spend(self, values: int) -> None:
        """Count work done; garbage that chains huge tables stops here instead of stalling."""
        self.budget -= values
        if self.budget < 0:
            raise IncompleteError("TIFF has too many directory entries, strips or tiles")

    def read_ifd(self, offset: int) -> tuple[list[_Entry], int]:
        """Return an IFD's entries and the offset of the next IFD (0 at the end of the chain)."""
        layout = self.layout
        count_size, entry_size = (8, 20) if layout.big else (2, 12)
        raw_count = self.view.read(offset, count_size, _DIRECTORY_PAST_END)
        count = struct.unpack(layout.endian + ("Q" if layout.big else "H"), raw_count)[0]
        if count > _MAX_ENTRIES:
            raise IncompleteError("TIFF directory has too many entries")
        self.spend(count)
        word_size = layout.inline_bytes
        body_size = count * entry_size + word_size
        body = self.view.read(offset + count_size, body_size, _DIRECTORY_PAST_END)
        entry_format = layout.endian + ("HHQ" if layout.big else "HHI")
        entries = []
        for start in range(0, count * entry_size, entry_size):
            tag, type_, value_count = struct.unpack_from(entry_format, body, start)
            field = body[start + entry_size - word_size : start + entry_size]
            entries.append(_Entry(tag, type_, value_count, field))
        next_offset = struct.unpack(layout.endian + layout.word, body[-word_size:])[0]
        return entries, next_offset

    def value_offset(self, entry: _Entry) -> int | None:
        """Where an entry's value lives in the file; None if inline or of an unknown type."""
        type_size = _TYPE_SIZES.get(entry.type)
        if type_size is None or entry.count * type_size <= self.layout.inline_bytes:
            return None
        return int(struct.unpack(self.layout.endian + self.layout.word, entry.field)[0])

    def check_ifd_data(self, entries: list[_Entry]) -> None:
        """Every out-of-line tag value and every strip or tile of one IFD must be in the file."""
        for entry in entries:
            offset = self.value_offset(entry)
            if offset is not None:
                self.view.require(offset + entry.count * _TYPE_SIZES[entry.type], _TAG_PAST_END)
        by_tag = {entry.tag: entry for entry in entries}
        for offsets_tag, lengths_tag in _IMAGE_DATA_TAGS:
            if offsets_tag in by_tag and lengths_tag in by_tag:
                starts, lengths = self.uints(by_tag[offsets_tag]), self.uints(by_tag[lengths_tag])
                pairs = zip(starts, lengths, strict=False)  # unequal tables: check what pairs up
                # A zero length marks a strip or tile that was never written (sparse): no data.
                ends = (start + length for start, length in pairs if length)
                self.view.require(max(ends, default=0), _IMAGE_PAST_END)

    def child_ifd_offsets(self, entries: list[_Entry]) -> list[int]:
        children: list[int] = []
        for entry in entries:
            if entry.tag in _CHILD_IFD_TAGS:
                children.extend(offset for offset in self.uints(entry) if offset)
        return children

    def uints(self, entry: _Entry) -> Iterator[int]:
        """Yield an integer tag's values, reading big tables in bounded pieces; none if not ints."""
        code = _UINT_CODES.get(entry.type)
        if code is None:
            return
        self.spend(entry.count)
        endian, item_size = self.layout.endian, struct.calcsize(code)
        offset = self.value_offset(entry)
        if offset is None:
            inline = entry.field[: entry.count * item_size]
            yield from struct.unpack(f"{endian}{entry.count}{code}", inline)
            return
        for first in range(0, entry.count, _TABLE_CHUNK):
            n = min(_TABLE_CHUNK, entry.count - first)
            piece = self.view.read(offset + first * item_size, n * item_size, _TAG_PAST_END)
            yield from struct.unpack(f"{endian}{n}{code}", piece)


# --- DICOM ----------------------------------------------------------------------------------

_IMPLICIT_LE_UID = "1.2.840.10008.1.2"
_EXPLICIT_BE_UID = "1.2.840.10008.1.2.2"
_DEFLATED_UID = "1.2.840.10008.1.2.1.99"
_UNDEFINED = 0xFFFFFFFF
_LONG_VRS = frozenset(
    {b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"UC", b"UR", b"OD", b"OL", b"OV", b"SV", b"UV"}
)
_SHORT_VRS = frozenset(
    {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN"}
    | {b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"}
)
_ITEM, _ITEM_END, _SEQUENCE_END = (0xFFFE, 0xE000), (0xFFFE, 0xE00D), (0xFFFE, 0xE0DD)
_ROWS = (0x0028, 0x0010)
_PIXEL_TAGS = frozenset({(0x7FE0, 0x0010), (0x7FE0, 0x0008), (0x7FE0, 0x0009)})
_MAX_ELEMENTS = 1_000_000  # headers read per file, counting nested ones
_MAX_DEPTH = 32  # nested undefined-length sequences
_MAX_UID_BYTES = 64  # a UI value's maximum length
_META_START = 132  # 128-byte preamble + "DICM"
_ELEMENT_PAST_END = "DICOM element runs past the end of the file"


@dataclass(frozen=True, slots=True)
class _Syntax:
    explicit: bool  # each element states its VR
    endian: str  # struct prefix


_EXPLICIT_LE = _Syntax(explicit=True, endian="<")
_IMPLICIT_LE = _Syntax(explicit=False, endian="<")
_EXPLICIT_BE = _Syntax(explicit=True, endian=">")


@dataclass(frozen=True, slots=True)
class _Header:
    tag: tuple[int, int]
    vr: bytes  # b"" when the encoding states none (implicit VR, items, delimiters)
    length: int
    value_at: int


def check_dicom(view: FileView) -> str | None:
    """Walk the file meta group and data set; the walk must end exactly at the end of the file."""
    walker = _DicomWalker(view)
    dataset_at, transfer_syntax = walker.walk_meta()
    if dataset_at == view.size:  # also a file cut inside its file meta, between elements
        return "DICOM has no data set after its file meta"
    if transfer_syntax == _DEFLATED_UID:
        return None  # the data set is a deflate stream: the scrubber's inflate will tell
    syntax = _syntax_for(transfer_syntax) if transfer_syntax else walker.guess_syntax(dataset_at)
    return walker.walk_dataset(dataset_at, syntax)


def _syntax_for(transfer_syntax: str) -> _Syntax:
    if transfer_syntax == _IMPLICIT_LE_UID:
        return _IMPLICIT_LE
    if transfer_syntax == _EXPLICIT_BE_UID:
        return _EXPLICIT_BE
    return _EXPLICIT_LE  # explicit VR little endian and every compressed syntax


class _DicomWalker:
    def __init__(self, view: FileView) -> None:
        self.view = view
        self.budget = _MAX_ELEMENTS

    def walk_meta(self) -> tuple[int, str | None]:
        """Return where the data set starts and the transfer syntax UID (None if absent)."""
        pos, transfer_syntax = _META_START, None
        while pos < self.view.size:
            group = self.view.read(pos, 2, "DICOM ends inside an element header")
            if group != b"\x02\x00":  # the data set has begun
                break
            header = self.header(pos, _EXPLICIT_LE)  # file meta is always explicit VR LE
            if header.length == _UNDEFINED:
                raise IncompleteError("DICOM file meta is malformed")
            pos = header.value_at + header.length
            self.view.require(pos, _ELEMENT_PAST_END)
            if header.tag == (0x0002, 0x0010) and header.length <= _MAX_UID_BYTES:
                value = self.view.read(header.value_at, header.length, _ELEMENT_PAST_END)
                transfer_syntax = value.rstrip(b"\x00 ").decode("ascii", "replace")
        return pos, transfer_syntax

    def guess_syntax(self, pos: int) -> _Syntax:
        """Without a transfer syntax, tell explicit from implicit VR LE by a plausible VR."""
        vr = self.view.read(pos, 6, _ELEMENT_PAST_END)[4:6]
        return _EXPLICIT_LE if vr in _LONG_VRS | _SHORT_VRS else _IMPLICIT_LE

    def walk_dataset(self, pos: int, syntax: _Syntax) -> str | None:
        """Walk top-level elements to the end of the file."""
        seen_rows = seen_pixels = False
        while pos < self.view.size:
            header = self.header(pos, syntax)
            pos = self.skip_value(header, syntax, depth=0)
            seen_rows |= header.tag == _ROWS
            seen_pixels |= header.tag in _PIXEL_TAGS
        # No end marker exists: a file cut between elements parses cleanly. Image attributes
        # without pixel data catch the likeliest cut, a writer that stopped before the pixels.
        if seen_rows and not seen_pixels:
            return "DICOM ends before its pixel data"
        return None

    def header(self, pos: int, syntax: _Syntax) -> _Header:
        self.budget -= 1
        if self.budget < 0:
            raise IncompleteError("DICOM has too many elements")
        if pos == self.view.size:  # only nested walks get here: the outer loop stops at the end
            raise IncompleteError("DICOM ends inside a sequence")
        raw = self.view.read(pos, 8, "DICOM ends inside an element header")
        tag = struct.unpack(syntax.endian + "HH", raw[:4])
        if not syntax.explicit or tag[0] == 0xFFFE:  # items and delimiters never carry a VR
            return _Header(tag, b"", struct.unpack(syntax.endian + "I", raw[4:])[0], pos + 8)
        vr = raw[4:6]
        if vr in _LONG_VRS:
            raw_length = self.view.read(pos + 8, 4, "DICOM ends inside an element header")
            return _Header(tag, vr, struct.unpack(syntax.endian + "I", raw_length)[0], pos + 12)
        return _Header(tag, vr, struct.unpack(syntax.endian + "H", raw[6:])[0], pos + 8)

    def skip_value(self, header: _Header, syntax: _Syntax, depth: int) -> int:
        """Return where the element that ``header`` starts ends, walking undefined lengths."""
        if header.length != _UNDEFINED:
            end = header.value_at + header.length
            self.view.require(end, _ELEMENT_PAST_END)
            return end
        if depth >= _MAX_DEPTH:
            raise IncompleteError("DICOM sequences nest too deeply")
        # An undefined-length UN holds a sequence encoded in implicit VR LE (PS3.5 6.2.2).
        inner = _IMPLICIT_LE if header.vr == b"UN" else syntax
        return self.walk_items(header.value_at, inner, depth + 1)

    def walk_items(self, pos: int, syntax: _Syntax, depth: int) -> int:
        """Walk sequence items or pixel-data fragments to the sequence delimiter; return its end."""
        while True:
            header = self.header(pos, syntax)
            if header.tag == _SEQUENCE_END:
                return header.value_at
            if header.tag != _ITEM:
                raise IncompleteError("DICOM sequence item is malformed")
            if header.length != _UNDEFINED:
                pos = self.skip_value(header, syntax, depth)
                continue
            pos = header.value_at
            while (item := self.header(pos, syntax)).tag != _ITEM_END:
                pos = self.skip_value(item, syntax, depth)
            pos = item.value_at
