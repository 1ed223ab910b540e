"""Pure: tell from a file's own structure whether it has been completely written.

``check_complete(f, size)`` looks at an open, seekable file of ``size`` bytes whose size and
mtime have already stopped changing, and returns None when its structure says it is whole, or a
short reason when it is not yet: a JPEG without its end-of-image marker, a PNG before its IEND
chunk, a PDF without a final ``%%EOF``, a TIFF, HEIF or DICOM offset or length past the end.
The watcher calls it while a file settles and quarantines files that never complete
(specs/watching.md §3, §10), so it seeks and reads bounded pieces (multi-GB files stay cheap),
bounds every walk, and answers garbage with a reason instead of an exception. Formats it cannot
judge (video, raw, GIF, unknown) count as complete: later stages decide what to do with them.
Stdlib and picsync.formats only; TIFF and DICOM walks live in ``completeness_walkers``.
Reasons never name the file.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from picsync.completeness_walkers import FileView, IncompleteError, check_dicom, check_tiff
from picsync.formats import SNIFF_BYTES, Format, sniff

__all__ = ["check_complete"]


def check_complete(f: BinaryIO, size: int) -> str | None:
    """Return None if ``f`` (``size`` bytes) is completely written, else a short reason.

    Never raises on malformed content; ``OSError`` from reading ``f`` itself propagates.
    """
    if size <= 0:
        return "empty file"
    if f.seek(0, io.SEEK_END) != size:  # still being written, or replaced: not settled
        return "file changed size after it was measured"
    view = FileView(f, size)
    try:
        head = view.read(0, min(size, SNIFF_BYTES), "file is shorter than its measured size")
        if _too_short_to_tell(head):
            return "file is too short to tell its format"
        check = _CHECKS.get(sniff(head)[0])
        return None if check is None else check(view)
    except IncompleteError as stop:
        return str(stop)


_SIGNATURES = (
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"%PDF-",
    b"II*\x00",
    b"MM\x00*",
    b"II+\x00",
    b"MM\x00+",
)
_DICOM_PREAMBLE = 128


def _too_short_to_tell(head: bytes) -> bool:
    """True for a file cut inside the bytes that would tell its format."""
    if any(len(head) < len(sig) and sig.startswith(head) for sig in _SIGNATURES):
        return True
    if len(head) < 12 and b"ftyp".startswith(head[4:8]):  # ISOBMFF: size, "ftyp", brand
        return True
    # The usual DICOM preamble is zeros: zeros, then part of "DICM", is a DICOM file cut short.
    preamble, magic = head[:_DICOM_PREAMBLE], head[_DICOM_PREAMBLE:]
    return (
        len(head) < _DICOM_PREAMBLE + 4
        and not preamble.strip(b"\x00")
        and b"DICM".startswith(magic)
    )


# --- JPEG -----------------------------------------------------------------------------------

# The markers that matter are FF C0-FE, except D0-D7 (restart, inside scans). Inside a scan FF
# is followed by 00 (stuffing) or, in JPEG-LS, by a byte below 80; FF FF is fill.
_JPEG_MARKER = re.compile(rb"\xff[\xc0-\xcf\xd8-\xfe]")
_EOI, _SOS, _SOI = 0xD9, 0xDA, 0xD8  # SOI carries no length
_MAX_JPEG_SEGMENTS = 65_536
_FIRST_CHUNK, _MAX_CHUNK = 4096, 1 << 20
_SEGMENT_PAST_END = "JPEG segment runs past the end of the file"


def _check_jpeg(view: FileView) -> str | None:
    """Walk segments by their lengths, then scan entropy-coded data, until the EOI marker.

    Segments are skipped by length, never searched, so an EXIF thumbnail's own EOI in APP1 is
    not mistaken for the main image's. Bytes after EOI (phone trailers, motion-photo video) are
    allowed.
    """
    pos, seen_scan = 2, False
    for _ in range(_MAX_JPEG_SEGMENTS):
        found = _next_jpeg_marker(view, pos)
        if found is None:
            return "JPEG has no end-of-image marker"
        marker_at, code = found
        if code == _EOI:
            return None if seen_scan else "JPEG ends before its image data"
        if code == _SOI:
            pos = marker_at + 2
            continue
        length = int.from_bytes(view.read(marker_at + 2, 2, _SEGMENT_PAST_END), "big")
        if length < 2:  # the length counts its own two bytes
            return "JPEG segment has an impossible length"
        pos = marker_at + 2 + length
        view.require(pos, _SEGMENT_PAST_END)
        seen_scan |= code == _SOS
    return "JPEG has too many segments"


def _next_jpeg_marker(view: FileView, pos: int) -> tuple[int, int] | None:
    """Return (offset, code) of the first marker at or after ``pos``, or None before the end.

    Right after a segment this is the next marker itself (fill bytes skipped); after a scan's
    header it skips the entropy-coded data. Reads pieces growing from 4 KiB to 1 MiB (headers
    are small, scans big); pieces overlap by one byte so a marker split across two is found.
    """
    chunk_size = _FIRST_CHUNK
    while view.size - pos >= 2:
        chunk = view.read(pos, min(chunk_size, view.size - pos), _SEGMENT_PAST_END)
        match = _JPEG_MARKER.search(chunk)
        if match is not None:
            return pos + match.start(), chunk[match.start() + 1]
        pos += len(chunk) - 1
        chunk_size = min(chunk_size * 2, _MAX_CHUNK)
    return None


# --- PNG ------------------------------------------------------------------------------------

_PNG_SIGNATURE_SIZE = 8
_MAX_PNG_CHUNKS = 1_000_000


def _check_png(view: FileView) -> str | None:
    """Walk chunks by length to IEND, which must lie wholly in the file. CRCs are not checked."""
    pos = _PNG_SIGNATURE_SIZE
    for _ in range(_MAX_PNG_CHUNKS):
        header = view.read(pos, 8, "PNG ends before its IEND chunk")
        end = pos + 12 + int.from_bytes(header[:4], "big")  # length, type, data, CRC
        if header[4:] == b"IEND":
            view.require(end, "PNG ends inside its IEND chunk")
            return None
        view.require(end, "PNG chunk runs past the end of the file")
        pos = end
    return "PNG has too many chunks"


# --- PDF ------------------------------------------------------------------------------------

_PDF_TAIL = 1024
_PDF_WHITESPACE = b"\x00\t\n\x0c\r "


def _check_pdf(view: FileView) -> str | None:
    """The last ``%%EOF`` must sit in the last 1 KiB, followed by nothing but whitespace.

    Content after it (not whitespace) is an incremental update that was cut short.
    """
    tail_at = max(0, view.size - _PDF_TAIL)
    tail = view.read(tail_at, view.size - tail_at, "file is shorter than its measured size")
    eof_at = tail.rfind(b"%%EOF")
    if eof_at < 0:
        return "PDF has no %%EOF in its last 1 KiB"
    if tail[eof_at + 5 :].strip(_PDF_WHITESPACE):
        return "PDF has data after its last %%EOF"
    return None


# --- HEIF (ISOBMFF) -------------------------------------------------------------------------

_MAX_BOXES = 100_000
_MAX_ILOC_BYTES = 16 << 20
_BOX_PAST_END = "HEIF box runs past the end of the file"


@dataclass(frozen=True, slots=True)
class _Box:
    type: bytes
    body_at: int  # just after the header
    end: int


def _check_heif(view: FileView) -> str | None:
    """Top-level boxes must tile the file exactly, ``ftyp`` first, with a ``meta`` box.

    Box sizes alone accept a file cut between ``meta`` and ``mdat``, so the item locations in
    ``meta`` must also point inside the file.
    """
    pos, meta = 0, None
    for index in range(_MAX_BOXES):
        if pos == view.size:
            break
        box = _read_box(view, pos, view.size)
        if index == 0 and box.type != b"ftyp":
            return "HEIF does not start with an ftyp box"
        if box.type == b"meta" and meta is None:
            meta = box
        pos = box.end
    else:
        return "HEIF has too many top-level boxes"
    if meta is None:
        return "HEIF has no meta box"
    return _check_item_locations(view, meta)


def _read_box(view: FileView, pos: int, limit: int) -> _Box:
    """Read the box header at ``pos``; the box must end by ``limit`` (its parent's end)."""
    past_end = _BOX_PAST_END if limit == view.size else "HEIF box runs past its parent box"
    if limit - pos < 8:
        raise IncompleteError("HEIF ends inside a box header")
    size, box_type = struct.unpack(">I4s", view.read(pos, 8, past_end))
    body_at = pos + 8
    if size == 1:  # a 64-bit size follows the type
        size = int.from_bytes(view.read(pos + 8, 8, "HEIF ends inside a box header"), "big")
        body_at = pos + 16
    elif size == 0:  # extends to the end of its parent, so it can only be the last box
        size = limit - pos
    if size < body_at - pos:
        raise IncompleteError("HEIF box has an impossible size")
    if pos + size > limit:
        raise IncompleteError(past_end)
    return _Box(box_type, body_at, pos + size)


def _check_item_locations(view: FileView, meta: _Box) -> str | None:
    """Every item stored in this file (iloc construction method 0) must end inside it."""
    pos = meta.body_at + 4  # meta is a full box: version and flags come first
    for _ in range(_MAX_BOXES):
        if meta.end - pos < 8:
            return None  # no iloc: no item data to check
        child = _read_box(view, pos, meta.end)
        if child.type == b"iloc":
            if child.end - child.body_at > _MAX_ILOC_BYTES:
                return "HEIF item location box is too large"
            body = view.read(child.body_at, child.end - child.body_at, _BOX_PAST_END)
            if max(_item_extent_ends(body), default=0) > view.size:
                return "HEIF item data lies past the end of the file"
            return None
        pos = child.end
    return "HEIF meta box has too many boxes"


class _Cursor:
    """Reads big-endian unsigned fields from a box body; overrunning it means a malformed box."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def uint(self, size: int) -> int:
        if self.pos + size > len(self.data):
            raise IncompleteError("HEIF item locations are malformed")
        self.pos += size
        return int.from_bytes(self.data[self.pos - size : self.pos], "big")


def _item_extent_ends(body: bytes) -> Iterator[int]:
    """Yield the end offset of every extent stored in this file, from an iloc box body."""
    cursor = _Cursor(body)
    version = cursor.uint(4) >> 24  # then 24 bits of flags
    if version > 2:
        return  # a layout this code does not know: nothing to check
    sizes = cursor.uint(2)
    offset_size, length_size, base_size = sizes >> 12, (sizes >> 8) & 15, (sizes >> 4) & 15
    index_size = sizes & 15 if version > 0 else 0
    extent_bytes = index_size + offset_size + length_size
    for _ in range(cursor.uint(2 if version < 2 else 4)):
        cursor.uint(2 if version < 2 else 4)  # item ID
        method = cursor.uint(2) & 15 if version > 0 else 0
        data_reference = cursor.uint(2)
        in_this_file = method == 0 and data_reference == 0  # file offsets, in this very file
        base = cursor.uint(base_size)
        extent_count = cursor.uint(2)
        if extent_bytes == 0:
            continue  # zero-size fields: the extents say nothing and consume nothing
        for _ in range(extent_count):
            cursor.uint(index_size)
            end = base + cursor.uint(offset_size) + cursor.uint(length_size)
            if in_this_file:
                yield end


_CHECKS: dict[Format, Callable[[FileView], str | None]] = {
    Format.JPEG: _check_jpeg,
    Format.PNG: _check_png,
    Format.PDF: _check_pdf,
    Format.TIFF: check_tiff,
    Format.HEIF: _check_heif,
    Format.DICOM: check_dicom,
}
