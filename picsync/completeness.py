"""Pure: tell from a file's own structure whether it has been completely written.

``check_complete(f, size)`` looks at an open, seekable file of ``size`` bytes whose size and
mtime have already stopped changing, and returns None when its structure says it is whole, or a
short reason when it is not yet: a JPEG without its end-of-image marker, a PNG before its IEND
chunk, a PDF without a final ``%%EOF``, a TIFF, HEIF or DICOM offset or length past the end.
The watcher calls it while a file settles and quarantines files that never complete
(specs/watching.md §3, §10), so it reads the first 64 KiB once (a small file whole), then
seeks and reads bounded pieces (multi-GB files stay cheap), bounds every walk, and answers
garbage with a reason instead of an exception. Formats it cannot judge (video, raw, GIF,
unknown) count as complete: later stages decide what to do with them. Stdlib and
picsync.formats only; TIFF and DICOM walks live in ``completeness_walkers``. Reasons never name
the file.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from picsync.completeness_walkers import (
    FileView,
    IncompleteError,
    Seekable,
    check_dicom,
    check_tiff,
)
from picsync.formats import SNIFF_BYTES, Format, sniff

__all__ = ["check_complete"]


def check_complete(f: Seekable, size: int) -> str | None:
    """Return None if ``f`` (``size`` bytes) is completely written, else a short reason.

    Never raises on malformed content; ``OSError`` from reading ``f`` itself propagates.
    """
    if size <= 0:
        return "empty file"
    if f.seek(0, io.SEEK_END) != size:  # still being written, or replaced: not settled
        return "file changed size after it was measured"
    view = FileView(f, size)
    try:
        head = view.load_head(min(size, _HEAD_BYTES))[:SNIFF_BYTES]
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
# Read at once at the start: a small file whole, and a camera JPEG's header segments (EXIF is at
# most 64 KiB) or a TIFF's first directory, in one read instead of a seek and read per field.
_HEAD_BYTES = 64 << 10


def _too_short_to_tell(head: bytes) -> bool:
    """True for a file cut inside the bytes that would tell its format."""
    if len(head) >= _DICOM_PREAMBLE + 4:  # longer than any of the signatures below
        return False
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
    allowed. Markers and lengths inside the head are taken from memory: a small file costs one
    read. A file larger than the head with a single sequential scan is judged by its tail.
    """
    head, size = view.head, view.size
    in_head, search = len(head), _JPEG_MARKER.search  # locals: this loop runs per segment
    pos, seen_scan, frame = 2, False, _Frame()
    for _ in range(_MAX_JPEG_SEGMENTS):
        match = search(head, pos)
        if match is not None:
            marker_at = match.start()
            code = head[marker_at + 1]
        else:  # no marker in the head: look on in the file, overlapping the head's last byte
            found = _next_jpeg_marker(view, max(pos, in_head - 1))
            if found is None:
                return "JPEG has no end-of-image marker"
            marker_at, code = found
        if code == _EOI:
            return None if seen_scan else "JPEG ends before its image data"
        if code == _SOI:
            pos = marker_at + 2
            continue
        if marker_at + 4 <= in_head:
            length = head[marker_at + 2] << 8 | head[marker_at + 3]
        else:
            length = int.from_bytes(view.read(marker_at + 2, 2, _SEGMENT_PAST_END), "big")
        if length < 2:  # the length counts its own two bytes
            return "JPEG segment has an impossible length"
        pos = marker_at + 2 + length
        if pos > size:
            return _SEGMENT_PAST_END
        if code == _SOS:
            if (
                not seen_scan
                and frame.single_scan(head[marker_at:pos])
                and _ends_with_eoi(view, pos)
            ):
                return None
            seen_scan = True
        elif code in _FRAMES:
            frame.note(code, head[marker_at:pos])
    return "JPEG has too many segments"


_SEQUENTIAL_FRAMES = (0xC0, 0xC1)  # baseline and extended sequential, Huffman-coded
_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC} | {0xDE}  # not DHT, JPG, DAC; DHP


class _Frame:
    """Whether the image before its first scan is one sequential frame, and its components.

    A sequential scan that holds every component of the only frame is the whole image: in its
    entropy-coded data FF is always followed by 00 or a restart code, so FF D9 cannot occur in it
    and the next FF D9 is the EOI. Such a file that ends in FF D9 has its EOI (or ends with an
    appended MPF image's EOI, which comes after it), and its scan need not be read: the tail
    decides. A cut that ends exactly on FF D9 inside a segment after the scan (a DNL, say) would
    pass; the full walk would not. Everything else, and every file without FF D9 as its last two
    bytes (trailers, padding, cuts), gets the full walk.
    """

    def __init__(self) -> None:
        self.components = 0  # 0: no frame yet; -1: not one sequential frame

    def note(self, code: int, segment: bytes) -> None:
        """Fold in a frame segment (as far as the head holds it, from its marker on)."""
        if code in _SEQUENTIAL_FRAMES and self.components == 0 and len(segment) >= 10:
            self.components = segment[9]  # after marker, length, precision, height and width
        else:  # a second frame, another kind of frame, or a hierarchical image
            self.components = -1

    def single_scan(self, scan_header: bytes) -> bool:
        """Whether this first scan header (as far as the head holds it) names every component."""
        scan_components = scan_header[4] if len(scan_header) >= 5 else -1  # after marker, length
        return self.components > 0 and scan_components == self.components


def _ends_with_eoi(view: FileView, scan_at: int) -> bool:
    """True for a file larger than its head whose last two bytes, after the scan header, are EOI."""
    if view.size <= len(view.head) or view.size - 2 < scan_at:
        return False  # a file read whole is walked whole, exactly
    return view.read(view.size - 2, 2, _SEGMENT_PAST_END) == b"\xff\xd9"


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
